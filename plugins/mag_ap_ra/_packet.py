"""Pure codec of Router Solicitations and Advertisements (RFC 4861) in Ethernet frames.

The MAG sends each mobile node a Router Advertisement carrying only that node's
home network prefix, to the node's unicast MAC with the IPv6 destination
ff02::1 (RFC 6085), so the frame is built here byte by byte: Ethernet, IPv6,
ICMPv6 with its checksum. Options are table driven (type -> class); unknown
options are kept opaque and re-encoded byte-exact. Every decode error is a
:class:`DecodeError` carrying the byte offset from the start of the frame (or
of the ICMPv6 message for :func:`decode_message`). No IO here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address
from typing import Final

from mag_ap.mac import mac_text
from mag_ap.wire import DecodeError, internet_checksum, ipv6_pseudo_header

__all__ = [
    "ALL_NODES",
    "ALL_ROUTERS",
    "ETH_P_IPV6",
    "INFINITE_LIFETIME",
    "ChecksumError",
    "Frame",
    "IcmpType",
    "LinkMtu",
    "NdOption",
    "PrefixInformation",
    "RouterAdvertisement",
    "RouterSolicitation",
    "SourceLinkLayerAddress",
    "TargetLinkLayerAddress",
    "UnknownOption",
    "ValidationError",
    "decode_frame",
    "decode_message",
    "encode_frame",
    "encode_message",
    "icmpv6_checksum",
    "multicast_mac",
    "station_signal",
]

ETH_P_IPV6: Final = 0x86DD
IPPROTO_ICMPV6: Final = 58
ND_HOP_LIMIT: Final = 255  # RFC 4861: sent with 255, accepted only with 255
INFINITE_LIFETIME: Final = 0xFFFFFFFF
MAX_ROUTER_LIFETIME_S: Final = 9000  # RFC 4861 section 4.2
ALL_NODES: Final = IPv6Address("ff02::1")
ALL_ROUTERS: Final = IPv6Address("ff02::2")

_ETH = struct.Struct("!6s6sH")
_IPV6 = struct.Struct("!IHBB16s16s")
_RA = struct.Struct("!BBHBBHII")  # type, code, checksum, cur hop limit, flags, lifetime, ...
_RS = struct.Struct("!BBHI")
_PIO = struct.Struct("!BBBBII4x16s")
_MTU = struct.Struct("!BBxxI")
ETH_LEN: Final = _ETH.size
IPV6_LEN: Final = _IPV6.size


class ChecksumError(DecodeError):
    """The ICMPv6 checksum does not match the pseudo-header and payload."""


class ValidationError(DecodeError):
    """Well-formed bytes that RFC 4861 section 6.1 says a receiver must discard."""


class IcmpType(IntEnum):
    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134


class OptionType(IntEnum):
    SOURCE_LINK_LAYER_ADDRESS = 1
    TARGET_LINK_LAYER_ADDRESS = 2
    PREFIX_INFORMATION = 3
    MTU = 5


# --- MAC helpers --------------------------------------------------------------------


def multicast_mac(group: IPv6Address) -> bytes:
    """The Ethernet group address of an IPv6 multicast address (RFC 2464 section 7)."""
    return b"\x33\x33" + group.packed[12:]


# --- options ------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceLinkLayerAddress:
    """Option 1: the sender's link-layer address (6 bytes on Ethernet)."""

    address: bytes

    @property
    def mac(self) -> str:
        return mac_text(self.address)


@dataclass(frozen=True)
class TargetLinkLayerAddress:
    """Option 2: the target's link-layer address (kept for completeness of the table)."""

    address: bytes


@dataclass(frozen=True)
class PrefixInformation:
    """Option 3: a prefix with its on-link (L) and autonomous (A) flags and lifetimes."""

    prefix: IPv6Address
    prefix_length: int
    on_link: bool = True
    autonomous: bool = True
    valid_lifetime_s: int = 2592000
    preferred_lifetime_s: int = 604800
    router_address: bool = False  # R flag (RFC 6275 section 7.2)


@dataclass(frozen=True)
class LinkMtu:
    """Option 5: the MTU hosts should use on the link."""

    mtu: int


@dataclass(frozen=True)
class UnknownOption:
    """Any other option, kept as its body (after type and length) for byte-exact re-encoding."""

    type: int
    data: bytes


NdOption = (
    SourceLinkLayerAddress | TargetLinkLayerAddress | PrefixInformation | LinkMtu | UnknownOption
)


def _check_u32(value: int, name: str) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{name} {value} does not fit in 32 bits")


def _pad_lladdr(address: bytes) -> bytes:
    body = address + b"\x00" * (-(2 + len(address)) % 8)
    if len(address) == 0 or 2 + len(body) > 255 * 8:
        raise ValueError(f"link-layer address of {len(address)} octets cannot be encoded")
    return body


def _encode_option(opt: NdOption) -> bytes:
    if isinstance(opt, SourceLinkLayerAddress | TargetLinkLayerAddress):
        kind = (
            OptionType.SOURCE_LINK_LAYER_ADDRESS
            if isinstance(opt, SourceLinkLayerAddress)
            else OptionType.TARGET_LINK_LAYER_ADDRESS
        )
        body = _pad_lladdr(opt.address)
        return bytes((kind, (2 + len(body)) // 8)) + body
    if isinstance(opt, PrefixInformation):
        if not 0 <= opt.prefix_length <= 128:
            raise ValueError(f"prefix length {opt.prefix_length} is not in 0..128")
        _check_u32(opt.valid_lifetime_s, "valid lifetime")
        _check_u32(opt.preferred_lifetime_s, "preferred lifetime")
        flags = (opt.on_link << 7) | (opt.autonomous << 6) | (opt.router_address << 5)
        return _PIO.pack(
            OptionType.PREFIX_INFORMATION,
            4,
            opt.prefix_length,
            flags,
            opt.valid_lifetime_s,
            opt.preferred_lifetime_s,
            opt.prefix.packed,
        )
    if isinstance(opt, LinkMtu):
        _check_u32(opt.mtu, "MTU")
        return _MTU.pack(OptionType.MTU, 1, opt.mtu)
    if not 0 <= opt.type <= 255 or opt.type in set(OptionType):
        raise ValueError(f"option type {opt.type} is not an unknown option type")
    if (2 + len(opt.data)) % 8 or not 8 <= 2 + len(opt.data) <= 255 * 8:
        raise ValueError(f"unknown option body of {len(opt.data)} octets breaks 8-octet units")
    return bytes((opt.type, (2 + len(opt.data)) // 8)) + opt.data


def _decode_lladdr(body: bytes) -> bytes:
    # Ethernet: 6 octets then 0 padding; other links: the whole body.
    return body[:6] if len(body) == 6 else body


def _pull_sll(body: bytes, offset: int) -> NdOption:
    return SourceLinkLayerAddress(_decode_lladdr(body))


def _pull_tll(body: bytes, offset: int) -> NdOption:
    return TargetLinkLayerAddress(_decode_lladdr(body))


def _pull_pio(body: bytes, offset: int) -> NdOption:
    if len(body) != 30:
        raise DecodeError(f"prefix information option of length {len(body) + 2} (need 32)", offset)
    plen, flags, valid, preferred, prefix = _PIO.unpack(bytes(2) + body)[2:]
    if plen > 128:
        raise DecodeError(f"prefix length {plen} exceeds 128", offset + 2)
    return PrefixInformation(
        prefix=IPv6Address(prefix),
        prefix_length=plen,
        on_link=bool(flags & 0x80),
        autonomous=bool(flags & 0x40),
        valid_lifetime_s=valid,
        preferred_lifetime_s=preferred,
        router_address=bool(flags & 0x20),
    )


def _pull_mtu(body: bytes, offset: int) -> NdOption:
    if len(body) != 6:
        raise DecodeError(f"MTU option of length {len(body) + 2} (need 8)", offset)
    return LinkMtu(_MTU.unpack(bytes(2) + body)[2])


_OPTION_DECODERS: Final[dict[int, Callable[[bytes, int], NdOption]]] = {
    OptionType.SOURCE_LINK_LAYER_ADDRESS: _pull_sll,
    OptionType.TARGET_LINK_LAYER_ADDRESS: _pull_tll,
    OptionType.PREFIX_INFORMATION: _pull_pio,
    OptionType.MTU: _pull_mtu,
}


def _decode_options(data: bytes, start: int, base: int) -> tuple[NdOption, ...]:
    """Options from ``data[start:]``; ``base`` is added to offsets in errors."""
    options: list[NdOption] = []
    pos = start
    while pos < len(data):
        if len(data) - pos < 2:
            raise DecodeError("truncated option header", base + pos)
        kind, units = data[pos], data[pos + 1]
        if units == 0:  # RFC 4861 4.6: length 0 -> discard the packet
            raise ValidationError(f"option type {kind} has length 0", base + pos + 1)
        end = pos + units * 8
        if end > len(data):
            raise DecodeError(f"option type {kind} length {units * 8} overruns", base + pos)
        body = data[pos + 2 : end]
        pull = _OPTION_DECODERS.get(kind)
        options.append(pull(body, base + pos) if pull else UnknownOption(kind, body))
        pos = end
    return tuple(options)


# --- messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class RouterSolicitation:
    """ICMPv6 type 133."""

    options: tuple[NdOption, ...] = ()

    def source_link_layer_address(self) -> bytes | None:
        return _find_sll(self.options)


@dataclass(frozen=True)
class RouterAdvertisement:
    """ICMPv6 type 134. ``preference`` is RFC 4191's Prf (0 medium, 1 high, 3 low)."""

    cur_hop_limit: int = 64
    managed: bool = False
    other: bool = False
    home_agent: bool = False
    preference: int = 0
    router_lifetime_s: int = 1800
    reachable_time_ms: int = 0
    retrans_timer_ms: int = 0
    options: tuple[NdOption, ...] = ()

    def source_link_layer_address(self) -> bytes | None:
        return _find_sll(self.options)

    def prefixes(self) -> tuple[PrefixInformation, ...]:
        return tuple(o for o in self.options if isinstance(o, PrefixInformation))


NdMessage = RouterSolicitation | RouterAdvertisement


def _find_sll(options: tuple[NdOption, ...]) -> bytes | None:
    for opt in options:
        if isinstance(opt, SourceLinkLayerAddress):
            return opt.address
    return None


def encode_message(msg: NdMessage) -> bytes:
    """The ICMPv6 message with a zero checksum (see :func:`icmpv6_checksum`)."""
    body = b"".join(_encode_option(o) for o in msg.options)
    if isinstance(msg, RouterSolicitation):
        return _RS.pack(IcmpType.ROUTER_SOLICITATION, 0, 0, 0) + body
    if not 0 <= msg.cur_hop_limit <= 255:
        raise ValueError(f"cur hop limit {msg.cur_hop_limit} is not in 0..255")
    if not 0 <= msg.router_lifetime_s <= 0xFFFF:
        raise ValueError(f"router lifetime {msg.router_lifetime_s} does not fit in 16 bits")
    if not 0 <= msg.preference <= 3:
        raise ValueError(f"preference {msg.preference} is not in 0..3")
    _check_u32(msg.reachable_time_ms, "reachable time")
    _check_u32(msg.retrans_timer_ms, "retrans timer")
    flags = (msg.managed << 7) | (msg.other << 6) | (msg.home_agent << 5) | (msg.preference << 3)
    head = _RA.pack(
        IcmpType.ROUTER_ADVERTISEMENT,
        0,
        0,
        msg.cur_hop_limit,
        flags,
        msg.router_lifetime_s,
        msg.reachable_time_ms,
        msg.retrans_timer_ms,
    )
    return head + body


def decode_message(data: bytes, base: int = 0) -> NdMessage:
    """An RS or RA from its ICMPv6 bytes (checksum not checked here).

    :raises DecodeError: any other ICMPv6 type, a short message or bad options.
    :raises ValidationError: code not 0 or an option of length 0 (RFC 4861 6.1).
    """
    if len(data) < 4:
        raise DecodeError(f"ICMPv6 message of {len(data)} octets is too short", base)
    kind, code = data[0], data[1]
    if kind == IcmpType.ROUTER_SOLICITATION:
        if len(data) < _RS.size:
            raise ValidationError(f"router solicitation of {len(data)} octets (need 8)", base)
        if code != 0:
            raise ValidationError(f"router solicitation with code {code}", base + 1)
        return RouterSolicitation(_decode_options(data, _RS.size, base))
    if kind == IcmpType.ROUTER_ADVERTISEMENT:
        if len(data) < _RA.size:
            raise ValidationError(f"router advertisement of {len(data)} octets (need 16)", base)
        if code != 0:
            raise ValidationError(f"router advertisement with code {code}", base + 1)
        _, _, _, hop, flags, lifetime, reachable, retrans = _RA.unpack_from(data)
        return RouterAdvertisement(
            cur_hop_limit=hop,
            managed=bool(flags & 0x80),
            other=bool(flags & 0x40),
            home_agent=bool(flags & 0x20),
            preference=(flags >> 3) & 3,
            router_lifetime_s=lifetime,
            reachable_time_ms=reachable,
            retrans_timer_ms=retrans,
            options=_decode_options(data, _RA.size, base),
        )
    raise DecodeError(f"ICMPv6 type {kind} is not a router solicitation or advertisement", base)


# --- checksum and frames ------------------------------------------------------------


def icmpv6_checksum(src: IPv6Address, dst: IPv6Address, message: bytes) -> int:
    """The RFC 4443 checksum of ``message`` (its checksum field taken as it is)."""
    return internet_checksum(ipv6_pseudo_header(src, dst, len(message), IPPROTO_ICMPV6) + message)


@dataclass(frozen=True)
class Frame:
    """An Ethernet frame carrying one RS or RA."""

    dst_mac: bytes
    src_mac: bytes
    src: IPv6Address
    dst: IPv6Address
    message: NdMessage
    hop_limit: int = ND_HOP_LIMIT


def encode_frame(frame: Frame) -> bytes:
    """Ethernet + IPv6 + ICMPv6 with the checksum filled in."""
    if len(frame.dst_mac) != 6 or len(frame.src_mac) != 6:
        raise ValueError("Ethernet addresses must be 6 octets")
    icmp = bytearray(encode_message(frame.message))
    struct.pack_into("!H", icmp, 2, icmpv6_checksum(frame.src, frame.dst, bytes(icmp)))
    ip = _IPV6.pack(
        6 << 28, len(icmp), IPPROTO_ICMPV6, frame.hop_limit, frame.src.packed, frame.dst.packed
    )
    return _ETH.pack(frame.dst_mac, frame.src_mac, ETH_P_IPV6) + ip + bytes(icmp)


def decode_frame(data: bytes) -> Frame:
    """A frame as read from an AF_PACKET socket; offsets count from the frame start.

    Checks RFC 4861 section 6.1: hop limit 255, checksum, code 0, and for an RS
    no Source Link-Layer Address option when the source is unspecified.
    Extension headers are not followed (an RS never needs one); trailing
    Ethernet padding beyond the IPv6 payload length is ignored.
    """
    if len(data) < ETH_LEN + IPV6_LEN:
        raise DecodeError(f"frame of {len(data)} octets is too short for IPv6", 0)
    dst_mac, src_mac, ethertype = _ETH.unpack_from(data)
    if ethertype != ETH_P_IPV6:
        raise DecodeError(f"ethertype 0x{ethertype:04x} is not IPv6", 12)
    vtf, plen, next_header, hop_limit, src, dst = _IPV6.unpack_from(data, ETH_LEN)
    if vtf >> 28 != 6:
        raise DecodeError(f"IP version {vtf >> 28} is not 6", ETH_LEN)
    if next_header != IPPROTO_ICMPV6:
        raise DecodeError(f"next header {next_header} is not ICMPv6", ETH_LEN + 6)
    start = ETH_LEN + IPV6_LEN
    if start + plen > len(data):
        raise DecodeError(f"payload length {plen} overruns the frame", ETH_LEN + 4)
    icmp = data[start : start + plen]
    src_ip, dst_ip = IPv6Address(src), IPv6Address(dst)
    message = decode_message(icmp, start)
    if icmpv6_checksum(src_ip, dst_ip, icmp) != 0:
        raise ChecksumError("ICMPv6 checksum mismatch", start + 2)
    if hop_limit != ND_HOP_LIMIT:
        raise ValidationError(f"hop limit {hop_limit} is not 255", ETH_LEN + 7)
    if (
        isinstance(message, RouterSolicitation)
        and src_ip.is_unspecified
        and message.source_link_layer_address() is not None
    ):
        raise ValidationError("solicitation from :: carries a source link-layer address", start)
    return Frame(dst_mac, src_mac, src_ip, dst_ip, message, hop_limit)


ICMPV6_NEIGHBOR_SOLICITATION: Final = 135
ICMPV6_MLDV2_REPORT: Final = 143
IPPROTO_HOPOPTS: Final = 0


def station_signal(data: bytes) -> tuple[bytes, str] | None:
    """(source MAC, what) when a frame says a station is setting up IPv6 here, else None.

    A station joining a link sends an MLDv2 report (RFC 3810, after a Hop-by-Hop
    header with the Router Alert) and Duplicate Address Detection solicitations
    from ``::`` (RFC 4862 section 5.4), whether or not it sends a Router
    Solicitation: a station that has RSs switched off or already sent them at
    another AP still shows itself this way. Only the headers are looked at, as
    a trigger: the MAC still goes through identity and policy before anything
    is installed, so nothing here reaches the kernel or a station.
    """
    if len(data) < ETH_LEN + IPV6_LEN + 4:
        return None
    _, src_mac, ethertype = _ETH.unpack_from(data)
    if ethertype != ETH_P_IPV6 or src_mac[0] & 1:
        return None
    vtf, _, next_header, hop_limit, src, _ = _IPV6.unpack_from(data, ETH_LEN)
    if vtf >> 28 != 6:
        return None
    at = ETH_LEN + IPV6_LEN
    if next_header == IPPROTO_HOPOPTS:
        inner, ext_len = data[at], data[at + 1]
        at += 8 * (ext_len + 1)
        if inner != IPPROTO_ICMPV6 or len(data) < at + 4:
            return None
        if data[at] == ICMPV6_MLDV2_REPORT and hop_limit == 1:
            return src_mac, "mld-report"
        return None
    if next_header != IPPROTO_ICMPV6:
        return None
    if (
        data[at] == ICMPV6_NEIGHBOR_SOLICITATION
        and hop_limit == ND_HOP_LIMIT
        and IPv6Address(src).is_unspecified
    ):
        return src_mac, "dad"
    return None
