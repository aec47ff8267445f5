"""The few rtnetlink requests the light plugins need, as bytes: addresses and a link's MAC.

The DHCPv4 server adds the stations' default-router address (/32) and may pin
the access interface's MAC; the RA service adds its link-local address. The
kernel offers both over rtnetlink, so the main package runs no `ip` program and
needs no ip-full/ip-tiny (pyroute2 stays the datapath plugin's). Layouts are
linux/netlink.h, linux/if_addr.h and linux/rtnetlink.h, host byte order. Pure:
the IO side is :mod:`mag_ap.runtime.rtnl_io`.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Interface, IPv6Interface, ip_interface
from typing import Final

NLMSG_ERROR: Final = 2
RTM_NEWLINK: Final = 16
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_FLAGS: Final = 8
IFA_F_NODAD: Final = 0x02
IFLA_ADDRESS: Final = 1
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_LINK: Final = 253
_HDR: Final = struct.Struct("=IHHII")  # nlmsghdr
_IFADDR: Final = struct.Struct("=BBBBI")  # ifaddrmsg
_IFINFO: Final = struct.Struct("=BxHiII")  # ifinfomsg


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return _HDR.pack(_HDR.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def address_request(
    add: bool, index: int, address: str, *, nodad: bool = False, seq: int = 1
) -> bytes:
    """RTM_NEWADDR (exclusive: EEXIST when present) or RTM_DELADDR for ``address`` (a/len)."""
    iface: IPv4Interface | IPv6Interface = ip_interface(address)
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    scope = RT_SCOPE_LINK if iface.version == 6 and iface.ip.is_link_local else RT_SCOPE_UNIVERSE
    flags = IFA_F_NODAD if nodad else 0
    body = _IFADDR.pack(family, iface.network.prefixlen, flags, scope, index)
    packed = iface.ip.packed
    body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
    if nodad:
        body += _attr(IFA_FLAGS, struct.pack("=I", flags))
    kind, extra = (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL) if add else (RTM_DELADDR, 0)
    return _message(kind, extra, seq, body)


def link_address_request(index: int, mac: str, *, seq: int = 1) -> bytes:
    """RTM_NEWLINK setting the link-layer address of interface ``index``."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _attr(IFLA_ADDRESS, raw)
    return _message(RTM_NEWLINK, 0, seq, body)


def ack_errno(data: bytes, seq: int) -> int | None:
    """The errno of the kernel's ack for ``seq`` (0: success); None when ``data`` holds none.

    :raises ValueError: a truncated or malformed message.
    """
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, _flags, msg_seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size or offset + length > len(data):
            raise ValueError(f"netlink message length {length} at offset {offset} is invalid")
        if kind == NLMSG_ERROR and msg_seq == seq:
            if length < _HDR.size + 4:
                raise ValueError(f"netlink error message too short at offset {offset}")
            (code,) = struct.unpack_from("=i", data, offset + _HDR.size)
            return -int(code)
        offset += (length + 3) & ~3
    return None
