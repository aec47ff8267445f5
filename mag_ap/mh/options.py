"""Mobility options: one frozen dataclass per option type (RFC 6275, 5213, 5844, 5847 ...).

Each class knows its type number, its alignment requirement (RFC 6275 section
6.2.1 notation ``xn+y``) and how to decode and encode its body (the bytes after
the type and length octets). Options the table (``OPTION_CLASSES`` in
:mod:`.option_area`) does not know become ``UnknownOption`` and are re-encoded
byte-exact. The Access Network Identifier (RFC 6757) and its sub-options are in
:mod:`.ani`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import ClassVar, Self

from ..wire import DecodeError
from .constants import (
    AccessTechnologyType,
    HandoffIndicator,
    IPv4HoAReplyStatus,
    MNIdentifierSubtype,
    OptionType,
    enum_or_int,
)

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def _need(body: bytes, size: int, offset: int, name: str, exact: bool = True) -> None:
    """Refuse a body whose length does not match the option's layout."""
    if (len(body) != size) if exact else (len(body) < size):
        want = f"{size}" if exact else f"at least {size}"
        raise DecodeError(f"{name}: body length {len(body)}, expected {want}", offset)


def _text_or_bytes(raw: bytes) -> str | bytes:
    """UTF-8 identifiers become str; anything else is kept as bytes, byte-exact."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return text if text.encode("utf-8") == raw else raw


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _check(ok: bool, what: str) -> None:
    """Encoder side of a length/range rule the decoder enforces: never emit what we refuse."""
    if not ok:
        raise ValueError(what)


def tlv_items(
    data: bytes, base_offset: int, what: str, container: str, *, pad1: bool, overrun_at: int
) -> Iterator[tuple[int, bytes, int]]:
    """``(type, body, offset of body)`` of each Type-Length-Value item of ``data``.

    Options and ANI sub-options share this framing (RFC 6275 section 6.2, RFC 6757
    section 3.1). With ``pad1`` a zero type octet is a lone Pad1 with an empty body.
    An item overrunning ``data`` (the ``container``) is reported at its octet ``overrun_at``.
    """
    pos = 0
    while pos < len(data):
        item_type = data[pos]
        if pad1 and item_type == OptionType.PAD1:
            yield item_type, b"", base_offset + pos + 1
            pos += 1
            continue
        if pos + 2 > len(data):
            raise DecodeError(f"{what} header truncated", base_offset + pos)
        end = pos + 2 + data[pos + 1]
        if end > len(data):
            raise DecodeError(
                f"{what} type {item_type} length {data[pos + 1]} overruns the {container}",
                base_offset + pos + overrun_at,
            )
        yield item_type, data[pos + 2 : end], base_offset + pos + 2
        pos = end


@dataclass(frozen=True, kw_only=True)
class TlvItem:
    """Base of a Type-Length-Value item (an option or an ANI sub-option): its body codec."""

    TYPE: ClassVar[int] = -1

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        raise NotImplementedError

    def encode_body(self) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class MobilityOption(TlvItem):
    """Base of every option. ``ALIGN = (x, y)`` means the type octet sits at xn+y."""

    ALIGN: ClassVar[tuple[int, int]] = (1, 0)

    @property
    def option_type(self) -> int:
        return self.TYPE


@dataclass(frozen=True, kw_only=True)
class Pad1(MobilityOption):
    """A single zero octet with no length field (RFC 6275 section 6.2.2)."""

    TYPE: ClassVar[int] = OptionType.PAD1

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        return cls()

    def encode_body(self) -> bytes:
        return b""


@dataclass(frozen=True, kw_only=True)
class PadN(MobilityOption):
    """``length`` zero octets of padding after type and length (RFC 6275 section 6.2.3)."""

    TYPE: ClassVar[int] = OptionType.PADN
    length: int = 0

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        return cls(length=len(body))

    def encode_body(self) -> bytes:
        return bytes(self.length)


@dataclass(frozen=True, kw_only=True)
class MobileNodeIdentifier(MobilityOption):
    """MN-ID (RFC 4283): an NAI is kept as text, other subtypes as raw bytes."""

    TYPE: ClassVar[int] = OptionType.MOBILE_NODE_IDENTIFIER
    subtype: MNIdentifierSubtype | int = MNIdentifierSubtype.NAI
    identifier: str | bytes = b""

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 2, offset, "Mobile Node Identifier", exact=False)
        subtype = enum_or_int(MNIdentifierSubtype, body[0])
        raw = body[1:]
        ident = _text_or_bytes(raw) if subtype == MNIdentifierSubtype.NAI else raw
        return cls(subtype=subtype, identifier=ident)

    def encode_body(self) -> bytes:
        ident = _as_bytes(self.identifier)
        _check(bool(ident), "Mobile Node Identifier: identifier must not be empty")
        return bytes([self.subtype]) + ident

    @classmethod
    def nai(cls, nai: str) -> Self:
        return cls(subtype=MNIdentifierSubtype.NAI, identifier=nai)


@dataclass(frozen=True, kw_only=True)
class VendorSpecific(MobilityOption):
    """Vendor Specific Mobility Option (RFC 5094)."""

    TYPE: ClassVar[int] = OptionType.VENDOR_SPECIFIC
    ALIGN: ClassVar[tuple[int, int]] = (4, 2)
    vendor_id: int = 0
    subtype: int = 0
    data: bytes = b""

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 5, offset, "Vendor Specific", exact=False)
        return cls(vendor_id=_U32.unpack_from(body)[0], subtype=body[4], data=body[5:])

    def encode_body(self) -> bytes:
        return _U32.pack(self.vendor_id) + bytes([self.subtype]) + self.data


@dataclass(frozen=True, kw_only=True)
class ServiceSelection(MobilityOption):
    """Service Selection (RFC 5149): an APN-like identifier, UTF-8."""

    TYPE: ClassVar[int] = OptionType.SERVICE_SELECTION
    identifier: str | bytes = ""

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 1, offset, "Service Selection", exact=False)
        return cls(identifier=_text_or_bytes(body))

    def encode_body(self) -> bytes:
        ident = _as_bytes(self.identifier)
        _check(bool(ident), "Service Selection: identifier must not be empty")
        return ident


@dataclass(frozen=True, kw_only=True)
class HomeNetworkPrefix(MobilityOption):
    """HNP (RFC 5213 section 8.3). All-zero ``::/0`` asks the LMA to assign one.

    Prefix and length are kept apart (not an ``IPv6Network``) so bits beyond the
    prefix length survive a decode/encode round trip.
    """

    TYPE: ClassVar[int] = OptionType.HOME_NETWORK_PREFIX
    ALIGN: ClassVar[tuple[int, int]] = (8, 4)
    prefix_length: int = 0
    prefix: IPv6Address = IPv6Address(0)

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 18, offset, "Home Network Prefix")
        if body[1] > 128:
            raise DecodeError(f"Home Network Prefix: prefix length {body[1]} > 128", offset + 1)
        return cls(prefix_length=body[1], prefix=IPv6Address(body[2:18]))

    def encode_body(self) -> bytes:
        _check(0 <= self.prefix_length <= 128, "Home Network Prefix: prefix_length not in 0..128")
        return bytes([0, self.prefix_length]) + self.prefix.packed

    @property
    def network(self) -> IPv6Network:
        return IPv6Network((self.prefix, self.prefix_length), strict=False)

    @classmethod
    def of(cls, network: IPv6Network) -> Self:
        return cls(prefix_length=network.prefixlen, prefix=network.network_address)


@dataclass(frozen=True, kw_only=True)
class HandoffIndicatorOption(MobilityOption):
    """Handoff Indicator (RFC 5213 section 8.4)."""

    TYPE: ClassVar[int] = OptionType.HANDOFF_INDICATOR
    indicator: HandoffIndicator | int = HandoffIndicator.NEW_INTERFACE

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 2, offset, "Handoff Indicator")
        return cls(indicator=enum_or_int(HandoffIndicator, body[1]))

    def encode_body(self) -> bytes:
        return bytes([0, self.indicator])


@dataclass(frozen=True, kw_only=True)
class AccessTechnologyTypeOption(MobilityOption):
    """Access Technology Type (RFC 5213 section 8.5)."""

    TYPE: ClassVar[int] = OptionType.ACCESS_TECHNOLOGY_TYPE
    access_technology: AccessTechnologyType | int = AccessTechnologyType.IEEE_802_11

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 2, offset, "Access Technology Type")
        return cls(access_technology=enum_or_int(AccessTechnologyType, body[1]))

    def encode_body(self) -> bytes:
        return bytes([0, self.access_technology])


@dataclass(frozen=True, kw_only=True)
class MNLinkLayerIdentifier(MobilityOption):
    """Mobile Node Link-layer Identifier (RFC 5213 section 8.6), e.g. a 6-byte MAC."""

    TYPE: ClassVar[int] = OptionType.MN_LINK_LAYER_IDENTIFIER
    link_layer_identifier: bytes = b""

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 3, offset, "MN Link-layer Identifier", exact=False)
        return cls(link_layer_identifier=body[2:])

    def encode_body(self) -> bytes:
        _check(bool(self.link_layer_identifier), "MN Link-layer Identifier must not be empty")
        return b"\x00\x00" + self.link_layer_identifier


@dataclass(frozen=True, kw_only=True)
class LinkLocalAddress(MobilityOption):
    """Link-local Address (RFC 5213 section 8.7); ``::`` asks the LMA for the MAG's."""

    TYPE: ClassVar[int] = OptionType.LINK_LOCAL_ADDRESS
    ALIGN: ClassVar[tuple[int, int]] = (8, 6)
    address: IPv6Address = IPv6Address(0)

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 16, offset, "Link-local Address")
        return cls(address=IPv6Address(body))

    def encode_body(self) -> bytes:
        return self.address.packed


@dataclass(frozen=True, kw_only=True)
class Timestamp(MobilityOption):
    """Timestamp (RFC 5213 section 8.8): 48-bit Unix seconds + 16-bit 1/65536 s.

    The two integer fields keep the wire value exact; ``unix_time_s`` and
    ``at_unix_time`` convert at the edge.
    """

    TYPE: ClassVar[int] = OptionType.TIMESTAMP
    ALIGN: ClassVar[tuple[int, int]] = (8, 2)
    seconds: int = 0
    fraction: int = 0

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 8, offset, "Timestamp")
        value = int.from_bytes(body, "big")
        return cls(seconds=value >> 16, fraction=value & 0xFFFF)

    def encode_body(self) -> bytes:
        return ((self.seconds << 16) | self.fraction).to_bytes(8, "big")

    @property
    def unix_time_s(self) -> float:
        return self.seconds + self.fraction / 65536

    @classmethod
    def at_unix_time(cls, unix_time_s: float) -> Self:
        ticks = round(unix_time_s * 65536)
        return cls(seconds=ticks >> 16, fraction=ticks & 0xFFFF)


@dataclass(frozen=True, kw_only=True)
class RestartCounter(MobilityOption):
    """Restart Counter (RFC 5847 section 5.2): bumped on every restart of the sender."""

    TYPE: ClassVar[int] = OptionType.RESTART_COUNTER
    ALIGN: ClassVar[tuple[int, int]] = (4, 2)
    counter: int = 0

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 4, offset, "Restart Counter")
        return cls(counter=_U32.unpack(body)[0])

    def encode_body(self) -> bytes:
        return _U32.pack(self.counter)


@dataclass(frozen=True, kw_only=True)
class _ReservedIPv4(MobilityOption):
    """Shared layout: 16 reserved bits then an IPv4 address."""

    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    address: IPv4Address = IPv4Address(0)

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 6, offset, cls.__name__)
        return cls(address=IPv4Address(body[2:6]))

    def encode_body(self) -> bytes:
        return b"\x00\x00" + self.address.packed


@dataclass(frozen=True, kw_only=True)
class IPv4CareOfAddress(_ReservedIPv4):
    """IPv4 Care-of Address (RFC 5555 section 3.1.1.2): the MAG's IPv4 transport address."""

    TYPE: ClassVar[int] = OptionType.IPV4_CARE_OF_ADDRESS


@dataclass(frozen=True, kw_only=True)
class IPv4DefaultRouterAddress(_ReservedIPv4):
    """IPv4 Default-Router Address (RFC 5844 section 3.1.3)."""

    TYPE: ClassVar[int] = OptionType.IPV4_DEFAULT_ROUTER_ADDRESS


@dataclass(frozen=True, kw_only=True)
class GREKey(MobilityOption):
    """GRE Key (RFC 5845 section 3.1): the key the sender wants to receive with."""

    TYPE: ClassVar[int] = OptionType.GRE_KEY
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    key: int = 0

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 6, offset, "GRE Key")
        return cls(key=_U32.unpack_from(body, 2)[0])

    def encode_body(self) -> bytes:
        return b"\x00\x00" + _U32.pack(self.key)


@dataclass(frozen=True, kw_only=True)
class IPv4HomeAddressRequest(MobilityOption):
    """IPv4 HoA Request (RFC 5844 section 3.1.1); ``0.0.0.0`` asks for dynamic assignment."""

    TYPE: ClassVar[int] = OptionType.IPV4_HOME_ADDRESS_REQUEST
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    prefix_length: int = 0
    address: IPv4Address = IPv4Address(0)

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 6, offset, "IPv4 Home Address Request")
        plen = body[0] >> 2
        if plen > 32:
            raise DecodeError(f"IPv4 Home Address Request: prefix length {plen} > 32", offset)
        return cls(prefix_length=plen, address=IPv4Address(body[2:6]))

    def encode_body(self) -> bytes:
        _check(0 <= self.prefix_length <= 32, "IPv4 HoA Request: prefix_length not in 0..32")
        return bytes([self.prefix_length << 2, 0]) + self.address.packed


@dataclass(frozen=True, kw_only=True)
class IPv4HomeAddressReply(MobilityOption):
    """IPv4 HoA Reply (RFC 5844 section 3.1.2): status, prefix length, assigned address."""

    TYPE: ClassVar[int] = OptionType.IPV4_HOME_ADDRESS_REPLY
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    status: IPv4HoAReplyStatus | int = IPv4HoAReplyStatus.SUCCESS
    prefix_length: int = 0
    address: IPv4Address = IPv4Address(0)

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 6, offset, "IPv4 Home Address Reply")
        plen = body[1] >> 2
        if plen > 32:
            raise DecodeError(f"IPv4 Home Address Reply: prefix length {plen} > 32", offset + 1)
        return cls(
            status=enum_or_int(IPv4HoAReplyStatus, body[0]),
            prefix_length=plen,
            address=IPv4Address(body[2:6]),
        )

    def encode_body(self) -> bytes:
        _check(0 <= self.prefix_length <= 32, "IPv4 HoA Reply: prefix_length not in 0..32")
        return bytes([self.status, self.prefix_length << 2]) + self.address.packed


@dataclass(frozen=True, kw_only=True)
class IPv4DHCPSupportMode(MobilityOption):
    """IPv4 DHCP Support Mode (RFC 5844 section 3.1.4).

    ``s_flag`` set: the MAG acts as a DHCP server (RFC 5844 section 3.1.4);
    clear: the MAG is a DHCP relay.
    """

    TYPE: ClassVar[int] = OptionType.IPV4_DHCP_SUPPORT_MODE
    s_flag: bool = True

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 2, offset, "IPv4 DHCP Support Mode")
        return cls(s_flag=bool(body[1] & 0x01))

    def encode_body(self) -> bytes:
        return bytes([0, 0x01 if self.s_flag else 0])


@dataclass(frozen=True, kw_only=True)
class MobileNodeGroupIdentifier(MobilityOption):
    """Mobile Node Group Identifier (RFC 6602 section 3): subtype 1 is bulk binding."""

    TYPE: ClassVar[int] = OptionType.MOBILE_NODE_GROUP_IDENTIFIER
    ALIGN: ClassVar[tuple[int, int]] = (4, 0)
    subtype: int = 1
    group_identifier: int = 0

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 6, offset, "Mobile Node Group Identifier")
        return cls(subtype=body[0], group_identifier=_U32.unpack_from(body, 2)[0])

    def encode_body(self) -> bytes:
        return bytes([self.subtype, 0]) + _U32.pack(self.group_identifier)


@dataclass(frozen=True, kw_only=True)
class UnknownOption(MobilityOption):
    """An option type we do not interpret: kept opaque and re-encoded byte-exact."""

    type_number: int = 0
    data: bytes = b""

    @property
    def option_type(self) -> int:
        return self.type_number

    def encode_body(self) -> bytes:
        return self.data
