"""The Access Network Identifier option (RFC 6757) and its sub-options, table-driven.

Sub-options the table (``ANI_SUB_OPTION_CLASSES``) does not know become
``UnknownANISubOption`` and are re-encoded byte-exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from ..wire import DecodeError
from .constants import ANISubOptionType, OptionType
from .options import MobilityOption, TlvItem, _as_bytes, _need, _text_or_bytes, tlv_items


@dataclass(frozen=True, kw_only=True)
class ANISubOption(TlvItem):
    """Base of the Access Network Identifier sub-options."""

    @property
    def sub_option_type(self) -> int:
        return self.TYPE


@dataclass(frozen=True, kw_only=True)
class NetworkIdentifier(ANISubOption):
    """Network-Identifier sub-option: network name (e.g. SSID) and access-point name.

    ``e_flag`` set means the name is encoded in UTF-8 (RFC 6757 section 3.1.1).
    """

    TYPE: ClassVar[int] = ANISubOptionType.NETWORK_IDENTIFIER
    e_flag: bool = False
    network_name: str | bytes = b""
    access_point_name: str | bytes = b""

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 3, offset, "ANI Network-Identifier", exact=False)
        name_len = body[1]
        ap_at = 2 + name_len
        if ap_at + 1 > len(body):
            raise DecodeError("ANI Network-Identifier: network name overruns sub-option", offset)
        ap_len = body[ap_at]
        if ap_at + 1 + ap_len != len(body):
            raise DecodeError(
                "ANI Network-Identifier: access-point name length mismatch", offset + ap_at
            )
        return cls(
            e_flag=bool(body[0] & 0x80),
            network_name=_text_or_bytes(body[2:ap_at]),
            access_point_name=_text_or_bytes(body[ap_at + 1 :]),
        )

    def encode_body(self) -> bytes:
        name = _as_bytes(self.network_name)
        ap = _as_bytes(self.access_point_name)
        return bytes([0x80 if self.e_flag else 0, len(name)]) + name + bytes([len(ap)]) + ap


@dataclass(frozen=True, kw_only=True)
class GeoLocation(ANISubOption):
    """Geo-Location sub-option (RFC 6757 section 3.1.2).

    Latitude and longitude are 24-bit two's-complement fixed point with 15
    fraction bits, kept as the signed wire integers; ``*_deg`` convert.
    """

    TYPE: ClassVar[int] = ANISubOptionType.GEO_LOCATION
    latitude: int = 0
    longitude: int = 0

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 6, offset, "ANI Geo-Location")
        return cls(
            latitude=int.from_bytes(body[0:3], "big", signed=True),
            longitude=int.from_bytes(body[3:6], "big", signed=True),
        )

    def encode_body(self) -> bytes:
        return self.latitude.to_bytes(3, "big", signed=True) + self.longitude.to_bytes(
            3, "big", signed=True
        )

    @property
    def latitude_deg(self) -> float:
        return self.latitude / 32768

    @property
    def longitude_deg(self) -> float:
        return self.longitude / 32768


@dataclass(frozen=True, kw_only=True)
class OperatorIdentifier(ANISubOption):
    """Operator-Identifier sub-option: type (1 private enterprise number, 2 realm) + id."""

    TYPE: ClassVar[int] = ANISubOptionType.OPERATOR_IDENTIFIER
    op_id_type: int = 1
    identifier: bytes = b""

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        _need(body, 1, offset, "ANI Operator-Identifier", exact=False)
        return cls(op_id_type=body[0], identifier=body[1:])

    def encode_body(self) -> bytes:
        return bytes([self.op_id_type]) + self.identifier


@dataclass(frozen=True, kw_only=True)
class UnknownANISubOption(ANISubOption):
    """An ANI sub-option we do not interpret, kept byte-exact."""

    sub_type: int = 0
    data: bytes = b""

    @property
    def sub_option_type(self) -> int:
        return self.sub_type

    def encode_body(self) -> bytes:
        return self.data


ANI_SUB_OPTION_CLASSES: dict[int, type[ANISubOption]] = {
    cls.TYPE: cls for cls in (NetworkIdentifier, GeoLocation, OperatorIdentifier)
}


@dataclass(frozen=True, kw_only=True)
class AccessNetworkIdentifier(MobilityOption):
    """Access Network Identifier (RFC 6757): a list of sub-options."""

    TYPE: ClassVar[int] = OptionType.ACCESS_NETWORK_IDENTIFIER
    sub_options: tuple[ANISubOption, ...] = ()

    @classmethod
    def decode_body(cls, body: bytes, offset: int) -> Self:
        subs: list[ANISubOption] = []
        items = tlv_items(body, offset, "ANI sub-option", "option", pad1=False, overrun_at=0)
        for sub_type, data, data_offset in items:
            sub_cls = ANI_SUB_OPTION_CLASSES.get(sub_type)
            if sub_cls is None:
                subs.append(UnknownANISubOption(sub_type=sub_type, data=data))
            else:
                subs.append(sub_cls.decode_body(data, data_offset))
        return cls(sub_options=tuple(subs))

    def encode_body(self) -> bytes:
        out = bytearray()
        for sub in self.sub_options:
            data = sub.encode_body()
            out += bytes([sub.sub_option_type, len(data)]) + data
        return bytes(out)
