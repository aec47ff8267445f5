"""The rtnetlink requests of the handover path, as bytes: addresses, routes, rules, a MAC.

The DHCPv4 server adds the stations' default-router address (/32) and may pin
the access interface's MAC; the RA service adds its link-local address; the
datapath plugin writes each MN's routes, rules and addresses (and the seg6
endpoint's). The kernel offers all of it over rtnetlink, so the main package
runs no `ip` program, and a handover's objects go to the kernel as one buffer
of requests: the kernel applies them in order and acks each, in one round trip
of a few microseconds of encoding (pyroute2 spends about a millisecond of CPU
per request, which a loaded access point pays several times per handover;
pyroute2 stays the datapath plugin's for links, probes and dumps). Layouts are
linux/netlink.h, if_addr.h, rtnetlink.h, fib_rules.h, lwtunnel.h, seg6_iptunnel.h
and seg6_local.h, host byte order. Pure: the IO side is :mod:`mag_ap.runtime.rtnl_io`.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Interface, IPv6Interface, ip_address, ip_interface, ip_network
from typing import Final

NLMSG_ERROR: Final = 2
RTM_NEWLINK: Final = 16
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
RTM_NEWROUTE: Final = 24
RTM_DELROUTE: Final = 25
RTM_NEWRULE: Final = 32
RTM_DELRULE: Final = 33
NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLM_F_REPLACE: Final = 0x100
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
NLA_F_NESTED: Final = 0x8000
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_FLAGS: Final = 8
IFA_PROTO: Final = 11
IFA_F_NODAD: Final = 0x02
IFA_F_NOPREFIXROUTE: Final = 0x200
IFLA_ADDRESS: Final = 1
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_LINK: Final = 253
RT_SCOPE_NOWHERE: Final = 255  # on delete: match any scope, as iproute2 does
RTN_UNICAST: Final = 1
RTA_DST: Final = 1
RTA_OIF: Final = 4
RTA_METRICS: Final = 8
RTA_TABLE: Final = 15
RTA_ENCAP_TYPE: Final = 21
RTA_ENCAP: Final = 22
RTAX_LOCK: Final = 1
RTAX_MTU: Final = 2
LWTUNNEL_ENCAP_SEG6: Final = 5
LWTUNNEL_ENCAP_SEG6_LOCAL: Final = 7
SEG6_IPTUNNEL_SRH: Final = 1
SEG6_IPTUN_MODE_ENCAP_RED: Final = 3  # IPv6 header only, no SRH, for one segment
SEG6_LOCAL_ACTION: Final = 1
SEG6_LOCAL_NH4: Final = 4
SEG6_LOCAL_NH6: Final = 5
SEG6_LOCAL_ACTIONS: Final = {"End.DX6": 5, "End.DX4": 6}
IPV6_SRCRT_TYPE_4: Final = 4
FRA_DST: Final = 1
FRA_SRC: Final = 2
FRA_IIFNAME: Final = 3
FRA_PRIORITY: Final = 6
FRA_TABLE: Final = 15
FRA_PROTOCOL: Final = 21
FRA_IP_PROTO: Final = 22
FR_ACT_TO_TBL: Final = 1
_HDR: Final = struct.Struct("=IHHII")  # nlmsghdr
_IFADDR: Final = struct.Struct("=BBBBI")  # ifaddrmsg
_IFINFO: Final = struct.Struct("=BxHiII")  # ifinfomsg
_RTMSG: Final = struct.Struct("=BBBBBBBBI")  # rtmsg
_FIBRULE: Final = struct.Struct("=BBBBBBBBI")  # fib_rule_hdr


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return _HDR.pack(_HDR.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def address_request(
    add: bool,
    index: int,
    address: str,
    *,
    nodad: bool = False,
    noprefixroute: bool = False,
    proto: int | None = None,
    seq: int = 1,
) -> bytes:
    """RTM_NEWADDR (exclusive: EEXIST when present) or RTM_DELADDR for ``address`` (a/len).

    ``proto`` tags the address (IFA_PROTO, Linux 6.1; older kernels ignore it).
    """
    iface: IPv4Interface | IPv6Interface = ip_interface(address)
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    scope = RT_SCOPE_LINK if iface.version == 6 and iface.ip.is_link_local else RT_SCOPE_UNIVERSE
    flags = (IFA_F_NODAD if nodad else 0) | (IFA_F_NOPREFIXROUTE if noprefixroute else 0)
    body = _IFADDR.pack(family, iface.network.prefixlen, flags & 0xFF, scope, index)
    packed = iface.ip.packed
    body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
    if flags:
        body += _attr(IFA_FLAGS, struct.pack("=I", flags))
    if proto is not None:
        body += _attr(IFA_PROTO, bytes([proto]))
    kind, extra = (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL) if add else (RTM_DELADDR, 0)
    return _message(kind, extra, seq, body)


def _nested(kind: int, value: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, value)


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def route_request(
    add: bool,
    dst: str,
    *,
    table: int,
    proto: int,
    oif: int | None = None,
    mtu: int | None = None,
    seg6_segment: str | None = None,
    seg6local: str | None = None,
    seq: int = 1,
) -> bytes:
    """RTM_NEWROUTE (create or replace in place) or RTM_DELROUTE for ``dst`` (a network).

    ``seg6_segment``: SRv6 reduced encapsulation to that one segment (plain
    IP-in-IPv6, no SRH: the SRH below is only how the kernel is told the segment).
    ``seg6local``: "End.DX6" or "End.DX4" with an unspecified next hop. ``mtu`` is
    locked (not lowered by path MTU discovery). A delete matches table, protocol
    and destination, any scope and type.
    """
    net = ip_network(dst, strict=False)
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    encap = seg6_segment is not None or seg6local is not None
    if not add:
        scope, kind_of_route = RT_SCOPE_NOWHERE, 0
    elif net.version == 4 and not encap:
        scope, kind_of_route = RT_SCOPE_LINK, RTN_UNICAST  # on-link
    else:
        scope, kind_of_route = RT_SCOPE_UNIVERSE, RTN_UNICAST
    header_table = table if table < 256 else 0
    body = _RTMSG.pack(family, net.prefixlen, 0, 0, header_table, proto, scope, kind_of_route, 0)
    body += _attr(RTA_DST, net.network_address.packed) + _u32(RTA_TABLE, table)
    if add and oif is not None:
        body += _u32(RTA_OIF, oif)
    if add and mtu:
        body += _nested(RTA_METRICS, _u32(RTAX_LOCK, 1 << RTAX_MTU) + _u32(RTAX_MTU, mtu))
    if add and seg6_segment is not None:
        # struct seg6_iptunnel_encap: int mode, then ipv6_sr_hdr with the segment list
        srh = struct.pack("=BBBBBBH", 0, 2, IPV6_SRCRT_TYPE_4, 0, 0, 0, 0)
        srh += ip_address(seg6_segment).packed
        tunnel = struct.pack("=i", SEG6_IPTUN_MODE_ENCAP_RED) + srh
        body += _attr(RTA_ENCAP_TYPE, struct.pack("=H", LWTUNNEL_ENCAP_SEG6))
        body += _nested(RTA_ENCAP, _attr(SEG6_IPTUNNEL_SRH, tunnel))
    elif add and seg6local is not None:
        action = SEG6_LOCAL_ACTIONS[seg6local]
        nexthop = (
            _attr(SEG6_LOCAL_NH6, bytes(16))
            if seg6local == "End.DX6"
            else _attr(SEG6_LOCAL_NH4, bytes(4))
        )
        body += _attr(RTA_ENCAP_TYPE, struct.pack("=H", LWTUNNEL_ENCAP_SEG6_LOCAL))
        body += _nested(RTA_ENCAP, _u32(SEG6_LOCAL_ACTION, action) + nexthop)
    if add:
        return _message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq, body)
    return _message(RTM_DELROUTE, 0, seq, body)


def rule_request(
    add: bool,
    family: int,
    *,
    priority: int,
    table: int,
    proto: int,
    src: str | None = None,
    dst: str | None = None,
    iifname: str | None = None,
    ip_proto: int | None = None,
    seq: int = 1,
) -> bytes:
    """RTM_NEWRULE (exclusive: EEXIST when the same rule exists) or RTM_DELRULE.

    ``family`` is 4 or 6; a delete names the same fields, which the kernel matches.
    """
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    nets = {side: ip_network(v, strict=False) for side, v in (("src", src), ("dst", dst)) if v}
    dst_len = nets["dst"].prefixlen if "dst" in nets else 0
    src_len = nets["src"].prefixlen if "src" in nets else 0
    header_table = table if table < 256 else 0
    body = _FIBRULE.pack(af, dst_len, src_len, 0, header_table, 0, 0, FR_ACT_TO_TBL, 0)
    if "dst" in nets:
        body += _attr(FRA_DST, nets["dst"].network_address.packed)
    if "src" in nets:
        body += _attr(FRA_SRC, nets["src"].network_address.packed)
    if iifname is not None:
        body += _attr(FRA_IIFNAME, iifname.encode() + b"\0")
    body += _u32(FRA_PRIORITY, priority) + _u32(FRA_TABLE, table)
    body += _attr(FRA_PROTOCOL, bytes([proto]))
    if ip_proto is not None:
        body += _attr(FRA_IP_PROTO, bytes([ip_proto]))
    if add:
        return _message(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, seq, body)
    return _message(RTM_DELRULE, 0, seq, body)


def with_seq(message: bytes, seq: int) -> bytes:
    """``message`` with its header's sequence number set to ``seq``."""
    out = bytearray(message)
    struct.pack_into("=I", out, 8, seq)
    return bytes(out)


def link_address_request(index: int, mac: str, *, seq: int = 1) -> bytes:
    """RTM_NEWLINK setting the link-layer address of interface ``index``."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _attr(IFLA_ADDRESS, raw)
    return _message(RTM_NEWLINK, 0, seq, body)


def acks(data: bytes) -> list[tuple[int, int]]:
    """(sequence number, errno) of every ack (NLMSG_ERROR) in ``data``; 0 is success.

    :raises ValueError: a truncated or malformed message.
    """
    out = []
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, _flags, msg_seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size or offset + length > len(data):
            raise ValueError(f"netlink message length {length} at offset {offset} is invalid")
        if kind == NLMSG_ERROR:
            if length < _HDR.size + 4:
                raise ValueError(f"netlink error message too short at offset {offset}")
            (code,) = struct.unpack_from("=i", data, offset + _HDR.size)
            out.append((msg_seq, -int(code)))
        offset += (length + 3) & ~3
    return out


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
