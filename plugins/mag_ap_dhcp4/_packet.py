"""Pure DHCPv4 codec (RFC 2131 header, RFC 2132 options, RFC 3396 long options).

No sockets here: :func:`decode` turns bytes into a :class:`DhcpMessage`,
:func:`encode` does the reverse, :func:`make_reply` builds OFFER/ACK/NAK from a
request (RFC 2131 table 3, RFC 6842 client identifier echo), and
:func:`encode_udp_frame` wraps a payload in Ethernet/IPv4/UDP headers for the
packet socket that reaches clients which have no address yet.

Options are read through one table from code to (field, kind). An option that
appears more than once is concatenated before it is read (RFC 3396). Option
overload (52) is honoured on decode (options, then ``file``, then ``sname``);
the encoder never produces it and refuses it. Unknown options are kept in
``other_options`` in arrival order. Every fault raises :class:`DecodeError`
with the byte offset; nothing else escapes :func:`decode`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum
from ipaddress import IPv4Address
from typing import Any, Final

from mag_ap.mac import mac_text
from mag_ap.wire import DecodeError, internet_checksum

BOOTREQUEST: Final = 1
BOOTREPLY: Final = 2
HTYPE_ETHERNET: Final = 1
MAGIC_COOKIE: Final = b"\x63\x82\x53\x63"
SERVER_PORT: Final = 67
CLIENT_PORT: Final = 68
FLAG_BROADCAST: Final = 0x8000
HEADER_LEN: Final = 236  # fixed BOOTP fields, before the magic cookie
MIN_BOOTP_LEN: Final = 300  # RFC 1542 2.1: pad replies to the old BOOTP size
UNSPECIFIED: Final = IPv4Address(0)
BROADCAST: Final = IPv4Address("255.255.255.255")

_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


class MessageType(IntEnum):
    """DHCP Message Type option values (RFC 2132 9.6)."""

    DHCPDISCOVER = 1
    DHCPOFFER = 2
    DHCPREQUEST = 3
    DHCPDECLINE = 4
    DHCPACK = 5
    DHCPNAK = 6
    DHCPRELEASE = 7
    DHCPINFORM = 8


class OptionCode(IntEnum):
    """The option codes this codec reads into named fields (RFC 2132)."""

    Pad = 0
    SubnetMask = 1
    Router = 3
    DomainNameServer = 6
    HostName = 12
    InterfaceMTU = 26
    RequestedIPAddress = 50
    IPAddressLeaseTime = 51
    OptionOverload = 52
    DHCPMessageType = 53
    ServerIdentifier = 54
    ParameterRequestList = 55
    Message = 56
    MaximumDHCPMessageSize = 57
    RenewalTimeValue = 58
    RebindingTimeValue = 59
    ClientIdentifier = 61
    End = 255


@dataclass(frozen=True, kw_only=True)
class DhcpMessage:
    """One BOOTP/DHCP message; known options are fields, the rest ``other_options``."""

    op: int = BOOTREQUEST
    htype: int = HTYPE_ETHERNET
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: IPv4Address = UNSPECIFIED
    yiaddr: IPv4Address = UNSPECIFIED
    siaddr: IPv4Address = UNSPECIFIED
    giaddr: IPv4Address = UNSPECIFIED
    chaddr: bytes = bytes(16)  # always 16 octets; the first hlen are the address
    sname: bytes = b""  # without trailing zeros
    file: bytes = b""
    # options with a meaning for this server, by field (None / empty: absent)
    message_type: int | None = None
    subnet_mask: IPv4Address | None = None
    routers: tuple[IPv4Address, ...] = ()
    dns_servers: tuple[IPv4Address, ...] = ()
    host_name: bytes | None = None
    interface_mtu: int | None = None
    requested_ip: IPv4Address | None = None
    lease_time_s: int | None = None
    server_id: IPv4Address | None = None
    parameter_request_list: tuple[int, ...] = ()
    message: bytes | None = None
    max_message_size: int | None = None
    renewal_time_s: int | None = None
    rebinding_time_s: int | None = None
    client_id: bytes | None = None
    other_options: tuple[tuple[int, bytes], ...] = field(default=())

    @property
    def broadcast(self) -> bool:
        """The client asked for broadcast replies (RFC 2131 4.1, the B flag)."""
        return bool(self.flags & FLAG_BROADCAST)

    @property
    def client_mac(self) -> str | None:
        """``aa:bb:cc:dd:ee:ff`` for an Ethernet chaddr, else None."""
        if self.htype != HTYPE_ETHERNET or self.hlen != 6:
            return None
        return mac_text(self.chaddr[:6])


# --- option kinds: how the value of one option is read and written ----------------


def _ip(data: bytes) -> IPv4Address:
    if len(data) != 4:
        raise ValueError(f"length {len(data)}, expected 4")
    return IPv4Address(data)


def _ip_list(data: bytes) -> tuple[IPv4Address, ...]:
    if not data or len(data) % 4:
        raise ValueError(f"length {len(data)}, expected a non-zero multiple of 4")
    return tuple(IPv4Address(data[i : i + 4]) for i in range(0, len(data), 4))


def _uint(size: int) -> tuple[Any, Any]:
    fmt = {1: "!B", 2: "!H", 4: "!I"}[size]

    def read(data: bytes) -> int:
        if len(data) != size:
            raise ValueError(f"length {len(data)}, expected {size}")
        return int(struct.unpack(fmt, data)[0])

    def write(value: int) -> bytes:
        return struct.pack(fmt, value)

    return read, write


def _octets(minimum: int) -> tuple[Any, Any]:
    def read(data: bytes) -> bytes:
        if len(data) < minimum:
            raise ValueError(f"length {len(data)}, expected at least {minimum}")
        return bytes(data)

    def write(value: bytes) -> bytes:
        if len(value) < minimum:
            raise ValueError(f"needs at least {minimum} octets")
        return bytes(value)

    return read, write


def _codes(data: bytes) -> tuple[int, ...]:
    if not data:
        raise ValueError("length 0, expected at least 1")
    return tuple(data)


_U8 = _uint(1)
_U16 = _uint(2)
_U32 = _uint(4)
_IP = (_ip, lambda v: v.packed)
_IP_LIST = (_ip_list, lambda v: b"".join(a.packed for a in v) if v else _ip_list(b""))
_TEXT = _octets(1)
_CLIENT_ID = _octets(2)  # type octet + at least one octet (RFC 2132 9.14)
_CODES = (_codes, lambda v: bytes(_codes(bytes(v))))


@dataclass(frozen=True)
class _Spec:
    name: str  # DhcpMessage field
    read: Any  # bytes -> value, ValueError on a bad length
    write: Any  # value -> bytes


#: code -> field; the encoder writes them in this order (53 and 54 first, as servers do).
OPTIONS: Final[dict[int, _Spec]] = {
    OptionCode.DHCPMessageType: _Spec("message_type", *_U8),
    OptionCode.ServerIdentifier: _Spec("server_id", *_IP),
    OptionCode.IPAddressLeaseTime: _Spec("lease_time_s", *_U32),
    OptionCode.RenewalTimeValue: _Spec("renewal_time_s", *_U32),
    OptionCode.RebindingTimeValue: _Spec("rebinding_time_s", *_U32),
    OptionCode.SubnetMask: _Spec("subnet_mask", *_IP),
    OptionCode.Router: _Spec("routers", *_IP_LIST),
    OptionCode.DomainNameServer: _Spec("dns_servers", *_IP_LIST),
    OptionCode.InterfaceMTU: _Spec("interface_mtu", *_U16),
    OptionCode.HostName: _Spec("host_name", *_TEXT),
    OptionCode.RequestedIPAddress: _Spec("requested_ip", *_IP),
    OptionCode.ParameterRequestList: _Spec("parameter_request_list", *_CODES),
    OptionCode.Message: _Spec("message", *_TEXT),
    OptionCode.MaximumDHCPMessageSize: _Spec("max_message_size", *_U16),
    OptionCode.ClientIdentifier: _Spec("client_id", *_CLIENT_ID),
}
_ABSENT: Final = {f.name: f.default for f in fields(DhcpMessage)}
_RESERVED: Final = (OptionCode.Pad, OptionCode.End, OptionCode.OptionOverload)


# --- decoding ------------------------------------------------------------------------


def _scan(
    buf: bytes, start: int, end: int, where: str, *, found: dict[int, bytearray], at: dict[int, int]
) -> None:
    """Collect options of one area into ``found`` (concatenating repeats, RFC 3396).

    ``at`` keeps the offset of each code's first occurrence, for error messages.
    """
    pos = start
    while pos < end:
        code = buf[pos]
        if code == OptionCode.Pad:
            pos += 1
            continue
        if code == OptionCode.End:
            return
        if pos + 1 >= end:
            raise DecodeError(f"option {code} in {where} has no length octet", pos)
        length = buf[pos + 1]
        if pos + 2 + length > end:
            raise DecodeError(f"option {code} length {length} overruns the {where} field", pos)
        if code == OptionCode.OptionOverload and where != "options":
            raise DecodeError(f"option overload inside the {where} field", pos)
        found.setdefault(code, bytearray()).extend(buf[pos + 2 : pos + 2 + length])
        at.setdefault(code, pos)
        pos += 2 + length
    raise DecodeError(f"the {where} field has no end option", end)


def decode(buf: bytes) -> DhcpMessage:
    """Read one DHCP message (UDP payload). Raises only :class:`DecodeError`."""
    buf = bytes(buf)
    if len(buf) < HEADER_LEN + len(MAGIC_COOKIE):
        raise DecodeError(f"{len(buf)} octets is shorter than a DHCP header", len(buf))
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname,
     file) = _HEADER.unpack_from(buf, 0)  # fmt: skip
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise DecodeError(f"op {op} is neither BOOTREQUEST nor BOOTREPLY", 0)
    if hlen > 16:
        raise DecodeError(f"hlen {hlen} exceeds the 16-octet chaddr field", 2)
    if buf[HEADER_LEN : HEADER_LEN + 4] != MAGIC_COOKIE:
        raise DecodeError("no DHCP magic cookie (plain BOOTP is not served)", HEADER_LEN)

    found: dict[int, bytearray] = {}
    at: dict[int, int] = {}
    _scan(buf, HEADER_LEN + 4, len(buf), "options", found=found, at=at)
    overload = found.pop(OptionCode.OptionOverload, None)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            value = bytes(overload).hex()
            raise DecodeError(f"option overload value {value} is not 1, 2 or 3", at[52])
        if overload[0] & 1:  # RFC 3396 order: options, file, sname
            _scan(buf, 108, 236, "file", found=found, at=at)
            file = b""
        if overload[0] & 2:
            _scan(buf, 44, 108, "sname", found=found, at=at)
            sname = b""

    kwargs: dict[str, Any] = {}
    other: list[tuple[int, bytes]] = []
    for code, raw in found.items():
        spec = OPTIONS.get(code)
        if spec is None:
            other.append((code, bytes(raw)))
            continue
        try:
            kwargs[spec.name] = spec.read(bytes(raw))
        except ValueError as exc:
            raise DecodeError(f"option {code} ({spec.name}): {exc}", at[code]) from None
    return DhcpMessage(
        op=op,
        htype=htype,
        hlen=hlen,
        hops=hops,
        xid=xid,
        secs=secs,
        flags=flags,
        ciaddr=IPv4Address(ciaddr),
        yiaddr=IPv4Address(yiaddr),
        siaddr=IPv4Address(siaddr),
        giaddr=IPv4Address(giaddr),
        chaddr=chaddr,
        sname=sname.rstrip(b"\0"),
        file=file.rstrip(b"\0"),
        other_options=tuple(other),
        **kwargs,
    )


# --- encoding ------------------------------------------------------------------------


def _option_bytes(code: int, value: bytes) -> bytes:
    """One option, split into 255-octet pieces when longer (RFC 3396).

    An empty value is a zero-length option (Rapid Commit, RFC 4039, is one), as decode reads it.
    """
    if not value:
        return bytes((code, 0))
    out = bytearray()
    for i in range(0, len(value), 255):
        piece = value[i : i + 255]
        out += bytes((code, len(piece))) + piece
    return bytes(out)


def encode(msg: DhcpMessage, *, pad_to: int = MIN_BOOTP_LEN) -> bytes:
    """Write ``msg``; refuses what :func:`decode` would refuse (ValueError)."""
    if msg.op not in (BOOTREQUEST, BOOTREPLY):
        raise ValueError(f"op {msg.op} is neither BOOTREQUEST nor BOOTREPLY")
    if msg.hlen > 16 or len(msg.chaddr) != 16:
        raise ValueError("chaddr must be 16 octets and hlen at most 16")
    if len(msg.sname) > 64 or len(msg.file) > 128:
        raise ValueError("sname is at most 64 octets and file at most 128")
    header = _HEADER.pack(
        msg.op, msg.htype, msg.hlen, msg.hops, msg.xid, msg.secs, msg.flags,
        msg.ciaddr.packed, msg.yiaddr.packed, msg.siaddr.packed, msg.giaddr.packed,
        msg.chaddr, msg.sname, msg.file,
    )  # fmt: skip
    out = bytearray(header + MAGIC_COOKIE)
    for code, spec in OPTIONS.items():
        value = getattr(msg, spec.name)
        if value == _ABSENT[spec.name]:
            continue
        out += _option_bytes(code, spec.write(value))
    for code, data in msg.other_options:
        if code in OPTIONS or code in _RESERVED or not 0 < code < 255:
            raise ValueError(f"option {code} cannot be an opaque option")
        out += _option_bytes(code, data)
    out.append(OptionCode.End)
    if len(out) < pad_to:
        out += bytes(pad_to - len(out))
    return bytes(out)


def make_reply(
    request: DhcpMessage,
    message_type: MessageType,
    *,
    server_id: IPv4Address,
    yiaddr: IPv4Address = UNSPECIFIED,
    **options: Any,
) -> DhcpMessage:
    """A server reply to ``request`` with the header fields RFC 2131 table 3 asks for.

    ``ciaddr`` is echoed only in an ACK (it is zero in DISCOVER/init-reboot and
    must be zero in OFFER/NAK); the client identifier is echoed (RFC 6842).
    ``options`` are further :class:`DhcpMessage` option fields.
    """
    echo_ciaddr = message_type == MessageType.DHCPACK
    return replace(
        DhcpMessage(),
        op=BOOTREPLY,
        htype=request.htype,
        hlen=request.hlen,
        xid=request.xid,
        flags=request.flags,
        ciaddr=request.ciaddr if echo_ciaddr else UNSPECIFIED,
        yiaddr=yiaddr,
        giaddr=request.giaddr,
        chaddr=request.chaddr,
        message_type=message_type,
        server_id=server_id,
        client_id=request.client_id,
        **options,
    )


# --- Ethernet / IPv4 / UDP, for the packet socket ----------------------------------

ETH_P_IP: Final = 0x0800
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


def encode_udp_frame(
    *,
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: IPv4Address,
    dst_ip: IPv4Address,
    src_port: int,
    dst_port: int,
    payload: bytes,
    ttl: int = 64,
) -> bytes:
    """An Ethernet II frame carrying IPv4/UDP with both checksums filled in."""
    udp_len = _UDP.size + len(payload)
    total_len = _IPV4.size + udp_len
    if total_len > 0xFFFF:
        raise ValueError(f"UDP payload of {len(payload)} octets does not fit an IPv4 packet")
    pseudo = src_ip.packed + dst_ip.packed + struct.pack("!BBH", 0, 17, udp_len)
    udp = _UDP.pack(src_port, dst_port, udp_len, 0) + payload
    udp_sum = internet_checksum(pseudo + udp) or 0xFFFF  # zero means "no checksum"
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = _IPV4.pack(0x45, 0x10, total_len, 0, 0, ttl, 17, 0, src_ip.packed, dst_ip.packed)
    ip = ip[:10] + struct.pack("!H", internet_checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + udp


@dataclass(frozen=True, kw_only=True)
class UdpFrame:
    """What :func:`decode_udp_frame` read: addresses, ports and the UDP payload."""

    src_mac: bytes
    dst_mac: bytes
    src_ip: IPv4Address
    dst_ip: IPv4Address
    src_port: int
    dst_port: int
    payload: bytes


def decode_udp_frame(frame: bytes) -> UdpFrame:
    """Read an Ethernet/IPv4/UDP frame, checking both checksums (DecodeError otherwise)."""
    if len(frame) < 14 + _IPV4.size + _UDP.size:
        raise DecodeError("frame too short for Ethernet/IPv4/UDP", len(frame))
    if frame[12:14] != struct.pack("!H", ETH_P_IP):
        raise DecodeError("not an IPv4 frame", 12)
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ihl < 20 or len(ip) < ihl + _UDP.size:
        raise DecodeError("bad IPv4 header", 14)
    if internet_checksum(ip[:ihl]) != 0:
        raise DecodeError("bad IPv4 header checksum", 24)
    (total_len,) = struct.unpack_from("!H", ip, 2)
    if ip[9] != 17 or not ihl + _UDP.size <= total_len <= len(ip):
        raise DecodeError("not a whole UDP packet", 14)
    src_port, dst_port, udp_len, udp_sum = _UDP.unpack_from(ip, ihl)
    if udp_len != total_len - ihl:
        raise DecodeError("UDP length disagrees with the IPv4 length", 14 + ihl + 4)
    udp = ip[ihl:total_len]
    if udp_sum:
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, udp_len)
        if internet_checksum(pseudo + udp) != 0:
            raise DecodeError("bad UDP checksum", 14 + ihl + 6)
    return UdpFrame(
        src_mac=frame[6:12],
        dst_mac=frame[0:6],
        src_ip=IPv4Address(ip[12:16]),
        dst_ip=IPv4Address(ip[16:20]),
        src_port=src_port,
        dst_port=dst_port,
        payload=udp[_UDP.size :],
    )
