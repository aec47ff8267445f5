"""Mobility Header messages, framing and the MH-type table (RFC 6275 section 6.1).

``decode_message(data)`` takes the Mobility Header as a raw protocol-135 socket
delivers it (starting with the Payload Proto octet) and returns a frozen
dataclass; ``encode_message(msg)`` is its exact inverse. Every length is
checked; the only exception the decoder raises is ``DecodeError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import ClassVar, TypeVar

from ..wire import DecodeError
from .constants import (
    IPPROTO_NONE,
    LIFETIME_UNIT_S,
    MAX_LIFETIME_S,
    BindingAckStatus,
    BindingErrorStatus,
    BindingRevocationType,
    MHType,
    NotificationAckStatus,
    NotificationReason,
    RevocationStatus,
    RevocationTrigger,
    enum_or_int,
)
from .option_area import decode_options, encode_options
from .options import MobilityOption

HEADER_LEN = 6  # Payload Proto, Header Len, MH Type, Reserved, Checksum

OptT = TypeVar("OptT", bound=MobilityOption)


def _lifetime_units(lifetime_s: int) -> int:
    """Seconds to the 4-second wire unit; refuses what the field cannot carry."""
    if lifetime_s < 0 or lifetime_s > MAX_LIFETIME_S or lifetime_s % LIFETIME_UNIT_S:
        raise ValueError(
            f"lifetime_s={lifetime_s} must be a multiple of {LIFETIME_UNIT_S} "
            f"between 0 and {MAX_LIFETIME_S}"
        )
    return lifetime_s // LIFETIME_UNIT_S


def _flags(value: int, names: tuple[tuple[str, int], ...]) -> dict[str, bool]:
    return {name: bool(value & bit) for name, bit in names}


def _pack_flags(msg: object, names: tuple[tuple[str, int], ...]) -> int:
    value = 0
    for name, bit in names:
        if getattr(msg, name):
            value |= bit
    return value


@dataclass(frozen=True, kw_only=True)
class MobilityMessage:
    """Base of every message: the MH header fields plus the option list.

    ``checksum`` is carried as received (the kernel fills and checks it on raw
    sockets); ``payload_proto`` should be 59 (no next header).
    """

    MH_TYPE: ClassVar[int] = -1
    FIXED_LEN: ClassVar[int] = 0  # octets of message data before the options

    options: tuple[MobilityOption, ...] = ()
    checksum: int = 0
    payload_proto: int = IPPROTO_NONE

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        """Fields of the fixed part; ``data`` is exactly FIXED_LEN octets."""
        raise NotImplementedError

    def encode_fixed(self) -> bytes:
        raise NotImplementedError

    @property
    def mh_type(self) -> int:
        return self.MH_TYPE

    def find(self, option_cls: type[OptT]) -> OptT | None:
        """The first option of the given class, or None."""
        for opt in self.options:
            if isinstance(opt, option_cls):
                return opt
        return None

    def find_all(self, option_cls: type[OptT]) -> list[OptT]:
        return [opt for opt in self.options if isinstance(opt, option_cls)]


_PBU_FLAGS = (
    ("a", 0x8000),
    ("h", 0x4000),
    ("l", 0x2000),
    ("k", 0x1000),
    ("m", 0x0800),
    ("r", 0x0400),
    ("p", 0x0200),
    ("f", 0x0100),
    ("t", 0x0080),
    ("b", 0x0040),
    ("s", 0x0020),
    ("d", 0x0010),
)
_SEQ_FLAGS_LIFE = struct.Struct("!HHH")


@dataclass(frozen=True, kw_only=True)
class ProxyBindingUpdate(MobilityMessage):
    """(Proxy) Binding Update, MH type 5. A PMIPv6 PBU sets A, H and P (the defaults)."""

    MH_TYPE: ClassVar[int] = MHType.BINDING_UPDATE
    FIXED_LEN: ClassVar[int] = 6
    sequence: int = 0
    lifetime_s: int = 0
    a: bool = True
    h: bool = True
    l: bool = False  # noqa: E741 - the RFC's flag name
    k: bool = False
    m: bool = False
    r: bool = False
    p: bool = True
    f: bool = False
    t: bool = False
    b: bool = False
    s: bool = False
    d: bool = False

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        seq, flags, life = _SEQ_FLAGS_LIFE.unpack(data)
        return {"sequence": seq, "lifetime_s": life * LIFETIME_UNIT_S, **_flags(flags, _PBU_FLAGS)}

    def encode_fixed(self) -> bytes:
        return _SEQ_FLAGS_LIFE.pack(
            self.sequence, _pack_flags(self, _PBU_FLAGS), _lifetime_units(self.lifetime_s)
        )


_PBA_FLAGS = (
    ("k", 0x80),
    ("r", 0x40),
    ("p", 0x20),
    ("t", 0x10),
    ("b", 0x08),
    ("s", 0x04),
    ("d", 0x02),
)
_PBA_FIXED = struct.Struct("!BBHH")


@dataclass(frozen=True, kw_only=True)
class ProxyBindingAcknowledgement(MobilityMessage):
    """(Proxy) Binding Acknowledgement, MH type 6; status < 128 means accepted."""

    MH_TYPE: ClassVar[int] = MHType.BINDING_ACKNOWLEDGEMENT
    FIXED_LEN: ClassVar[int] = 6
    status: BindingAckStatus | int = BindingAckStatus.ACCEPTED
    sequence: int = 0
    lifetime_s: int = 0
    k: bool = False
    r: bool = False
    p: bool = True
    t: bool = False
    b: bool = False
    s: bool = False
    d: bool = False

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        status, flags, seq, life = _PBA_FIXED.unpack(data)
        return {
            "status": enum_or_int(BindingAckStatus, status),
            "sequence": seq,
            "lifetime_s": life * LIFETIME_UNIT_S,
            **_flags(flags, _PBA_FLAGS),
        }

    def encode_fixed(self) -> bytes:
        return _PBA_FIXED.pack(
            self.status,
            _pack_flags(self, _PBA_FLAGS),
            self.sequence,
            _lifetime_units(self.lifetime_s),
        )

    @property
    def accepted(self) -> bool:
        return self.status < 128


@dataclass(frozen=True, kw_only=True)
class BindingError(MobilityMessage):
    """Binding Error, MH type 7 (RFC 6275 section 6.1.9)."""

    MH_TYPE: ClassVar[int] = MHType.BINDING_ERROR
    FIXED_LEN: ClassVar[int] = 18
    status: BindingErrorStatus | int = BindingErrorStatus.UNRECOGNIZED_MH_TYPE
    home_address: IPv6Address = IPv6Address(0)

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        return {
            "status": enum_or_int(BindingErrorStatus, data[0]),
            "home_address": IPv6Address(data[2:18]),
        }

    def encode_fixed(self) -> bytes:
        return bytes([self.status, 0]) + self.home_address.packed


_HB_FIXED = struct.Struct("!HI")


@dataclass(frozen=True, kw_only=True)
class Heartbeat(MobilityMessage):
    """Heartbeat, MH type 13 (RFC 5847 section 3.1): R set on a response, U unsolicited."""

    MH_TYPE: ClassVar[int] = MHType.HEARTBEAT
    FIXED_LEN: ClassVar[int] = 6
    sequence: int = 0
    u: bool = False
    r: bool = False

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        flags, seq = _HB_FIXED.unpack(data)
        return {"sequence": seq, "u": bool(flags & 0x0002), "r": bool(flags & 0x0001)}

    def encode_fixed(self) -> bytes:
        return _HB_FIXED.pack((0x0002 if self.u else 0) | (0x0001 if self.r else 0), self.sequence)


_BR_FIXED = struct.Struct("!BBHH")
_BR_FLAGS = (("p", 0x8000), ("v", 0x4000), ("g", 0x2000))


@dataclass(frozen=True, kw_only=True)
class BindingRevocationIndication(MobilityMessage):
    """Binding Revocation Indication, MH type 16 with B.R. type 1 (RFC 5846 section 6.1).

    P: proxy binding; V: revoke the IPv4 HoA binding only; G: global
    revocation (every binding of the peer, named by a group identifier).
    """

    MH_TYPE: ClassVar[int] = MHType.BINDING_REVOCATION
    BR_TYPE: ClassVar[int] = BindingRevocationType.INDICATION
    FIXED_LEN: ClassVar[int] = 6
    trigger: RevocationTrigger | int = RevocationTrigger.UNSPECIFIED
    sequence: int = 0
    p: bool = True
    v: bool = False
    g: bool = False

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        _, trigger, seq, flags = _BR_FIXED.unpack(data)
        return {
            "trigger": enum_or_int(RevocationTrigger, trigger),
            "sequence": seq,
            **_flags(flags, _BR_FLAGS),
        }

    def encode_fixed(self) -> bytes:
        return _BR_FIXED.pack(
            self.BR_TYPE, self.trigger, self.sequence, _pack_flags(self, _BR_FLAGS)
        )


@dataclass(frozen=True, kw_only=True)
class BindingRevocationAcknowledgement(MobilityMessage):
    """Binding Revocation Acknowledgement, MH type 16 with B.R. type 2 (RFC 5846 section 6.2)."""

    MH_TYPE: ClassVar[int] = MHType.BINDING_REVOCATION
    BR_TYPE: ClassVar[int] = BindingRevocationType.ACKNOWLEDGEMENT
    FIXED_LEN: ClassVar[int] = 6
    status: RevocationStatus | int = RevocationStatus.SUCCESS
    sequence: int = 0
    p: bool = True
    v: bool = False
    g: bool = False

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        _, status, seq, flags = _BR_FIXED.unpack(data)
        return {
            "status": enum_or_int(RevocationStatus, status),
            "sequence": seq,
            **_flags(flags, _BR_FLAGS),
        }

    def encode_fixed(self) -> bytes:
        return _BR_FIXED.pack(
            self.BR_TYPE, self.status, self.sequence, _pack_flags(self, _BR_FLAGS)
        )


_UPN_FIXED = struct.Struct("!HBB")


@dataclass(frozen=True, kw_only=True)
class UpdateNotification(MobilityMessage):
    """Update Notification, MH type 19 (RFC 7077 section 4.1).

    A: an Update Notification Acknowledgement is requested; D: the D flag of
    RFC 7077 (carried, not interpreted here).
    """

    MH_TYPE: ClassVar[int] = MHType.UPDATE_NOTIFICATION
    FIXED_LEN: ClassVar[int] = 4
    sequence: int = 0
    reason: NotificationReason | int = NotificationReason.FORCE_REREGISTRATION
    a: bool = True
    d: bool = False

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        seq, reason, flags = _UPN_FIXED.unpack(data)
        return {
            "sequence": seq,
            "reason": enum_or_int(NotificationReason, reason),
            "a": bool(flags & 0x80),
            "d": bool(flags & 0x40),
        }

    def encode_fixed(self) -> bytes:
        flags = (0x80 if self.a else 0) | (0x40 if self.d else 0)
        return _UPN_FIXED.pack(self.sequence, self.reason, flags)


@dataclass(frozen=True, kw_only=True)
class UpdateNotificationAcknowledgement(MobilityMessage):
    """Update Notification Acknowledgement, MH type 20 (RFC 7077 section 4.2)."""

    MH_TYPE: ClassVar[int] = MHType.UPDATE_NOTIFICATION_ACK
    FIXED_LEN: ClassVar[int] = 4
    sequence: int = 0
    status: NotificationAckStatus | int = NotificationAckStatus.SUCCESS

    @classmethod
    def decode_fixed(cls, data: bytes) -> dict[str, object]:
        seq, status, _ = _UPN_FIXED.unpack(data)
        return {"sequence": seq, "status": enum_or_int(NotificationAckStatus, status)}

    def encode_fixed(self) -> bytes:
        return _UPN_FIXED.pack(self.sequence, self.status, 0)


@dataclass(frozen=True, kw_only=True)
class UnknownMessage(MobilityMessage):
    """An MH type we do not interpret; the body after the header is kept opaque.

    The MAG answers one of these with a Binding Error (status 2).
    """

    type_number: int = 0
    data: bytes = field(default=b"")

    @property
    def mh_type(self) -> int:
        return self.type_number


MESSAGE_CLASSES: dict[int, type[MobilityMessage]] = {
    cls.MH_TYPE: cls
    for cls in (
        ProxyBindingUpdate,
        ProxyBindingAcknowledgement,
        BindingError,
        Heartbeat,
        UpdateNotification,
        UpdateNotificationAcknowledgement,
    )
}
REVOCATION_CLASSES: dict[int, type[MobilityMessage]] = {
    BindingRevocationType.INDICATION: BindingRevocationIndication,
    BindingRevocationType.ACKNOWLEDGEMENT: BindingRevocationAcknowledgement,
}

M = TypeVar("M", bound=MobilityMessage)


def _message_class(mh_type: int, data: bytes) -> type[MobilityMessage] | None:
    if mh_type == MHType.BINDING_REVOCATION:
        if len(data) <= HEADER_LEN:
            raise DecodeError("Binding Revocation message has no B.R. type", HEADER_LEN)
        br_type = data[HEADER_LEN]
        cls = REVOCATION_CLASSES.get(br_type)
        if cls is None:
            raise DecodeError(f"unknown Binding Revocation type {br_type}", HEADER_LEN)
        return cls
    return MESSAGE_CLASSES.get(mh_type)


def decode_message(data: bytes) -> MobilityMessage:
    """Decode one Mobility Header; raises DecodeError and nothing else."""
    if len(data) < 8:
        raise DecodeError(f"Mobility Header of {len(data)} octets is shorter than 8", 0)
    total = (data[1] + 1) * 8
    if total != len(data):
        raise DecodeError(f"Header Len {data[1]} says {total} octets, datagram has {len(data)}", 1)
    payload_proto, _, mh_type, _, checksum = struct.unpack_from("!BBBBH", data)
    cls = _message_class(mh_type, data)
    if cls is None:
        return UnknownMessage(
            type_number=mh_type,
            data=bytes(data[HEADER_LEN:]),
            checksum=checksum,
            payload_proto=payload_proto,
        )
    opts_at = HEADER_LEN + cls.FIXED_LEN
    if opts_at > total:
        raise DecodeError(
            f"{cls.__name__} needs {cls.FIXED_LEN} octets of message data", HEADER_LEN
        )
    fields = cls.decode_fixed(bytes(data[HEADER_LEN:opts_at]))
    options = decode_options(bytes(data[opts_at:]), opts_at)
    return cls(options=options, checksum=checksum, payload_proto=payload_proto, **fields)


def encode_message(msg: MobilityMessage) -> bytes:
    """Encode a message, padding options to their alignment and the MH to 8 octets."""
    if isinstance(msg, UnknownMessage):
        body = msg.data
        if (HEADER_LEN + len(body)) % 8:
            raise ValueError("UnknownMessage data must make the MH a multiple of 8 octets")
    else:
        try:
            fixed = msg.encode_fixed()
        except (struct.error, OverflowError) as exc:
            raise ValueError(f"{type(msg).__name__}: field out of range ({exc})") from None
        body = fixed + encode_options(msg.options, HEADER_LEN + len(fixed))
    total = HEADER_LEN + len(body)
    hlen = total // 8 - 1
    if hlen > 255:
        raise ValueError(f"Mobility Header of {total} octets exceeds 2048")
    header = struct.pack("!BBBBH", msg.payload_proto, hlen, msg.mh_type, 0, msg.checksum)
    return header + body


def decode_as(data: bytes, cls: type[M]) -> M:
    """Decode and insist on one message class (handy for tests and tools)."""
    msg = decode_message(data)
    if not isinstance(msg, cls):
        raise DecodeError(f"expected {cls.__name__}, got {type(msg).__name__}", 2)
    return msg


__all__ = [
    "HEADER_LEN",
    "MESSAGE_CLASSES",
    "BindingError",
    "BindingRevocationAcknowledgement",
    "BindingRevocationIndication",
    "Heartbeat",
    "MobilityMessage",
    "ProxyBindingAcknowledgement",
    "ProxyBindingUpdate",
    "UnknownMessage",
    "UpdateNotification",
    "UpdateNotificationAcknowledgement",
    "decode_as",
    "decode_message",
    "encode_message",
]
