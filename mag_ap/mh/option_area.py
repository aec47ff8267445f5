"""The option area of a Mobility Header message: the table of option types and its framing.

``decode_options`` walks Type-Length-Value options (RFC 6275 section 6.2) through
``OPTION_CLASSES``; ``encode_options`` adds the Pad1/PadN alignment each option asks for.
"""

from __future__ import annotations

import struct

from .ani import AccessNetworkIdentifier
from .constants import OptionType
from .options import (
    AccessTechnologyTypeOption,
    GREKey,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4CareOfAddress,
    IPv4DefaultRouterAddress,
    IPv4DHCPSupportMode,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    MNLinkLayerIdentifier,
    MobileNodeGroupIdentifier,
    MobileNodeIdentifier,
    MobilityOption,
    Pad1,
    PadN,
    RestartCounter,
    ServiceSelection,
    Timestamp,
    UnknownOption,
    VendorSpecific,
    tlv_items,
)

OPTION_CLASSES: dict[int, type[MobilityOption]] = {
    cls.TYPE: cls
    for cls in (
        Pad1,
        PadN,
        MobileNodeIdentifier,
        VendorSpecific,
        ServiceSelection,
        HomeNetworkPrefix,
        HandoffIndicatorOption,
        AccessTechnologyTypeOption,
        MNLinkLayerIdentifier,
        LinkLocalAddress,
        Timestamp,
        RestartCounter,
        IPv4CareOfAddress,
        GREKey,
        IPv4HomeAddressRequest,
        IPv4HomeAddressReply,
        IPv4DefaultRouterAddress,
        IPv4DHCPSupportMode,
        MobileNodeGroupIdentifier,
        AccessNetworkIdentifier,
    )
}


def decode_options(data: bytes, base_offset: int) -> tuple[MobilityOption, ...]:
    """Parse an option area; ``base_offset`` is where ``data`` starts in the MH."""
    options: list[MobilityOption] = []
    items = tlv_items(data, base_offset, "option", "message", pad1=True, overrun_at=1)
    for opt_type, body, body_offset in items:
        if opt_type == OptionType.PAD1:
            options.append(Pad1())
            continue
        opt_cls = OPTION_CLASSES.get(opt_type)
        if opt_cls is None:
            options.append(UnknownOption(type_number=opt_type, data=body))
        else:
            options.append(opt_cls.decode_body(body, body_offset))
    return tuple(options)


def _padding(size: int) -> bytes:
    """Encoded Pad1/PadN filling ``size`` octets (RFC 6275 section 6.2.2/6.2.3)."""
    if size == 0:
        return b""
    if size == 1:
        return b"\x00"
    return bytes([OptionType.PADN, size - 2]) + bytes(size - 2)


def _encode_checked(item: MobilityOption) -> bytes:
    """Encode a body; a field out of its wire range is a ValueError naming the option."""
    try:
        return item.encode_body()
    except (struct.error, OverflowError, ValueError) as exc:
        raise ValueError(f"{type(item).__name__}: field out of range ({exc})") from None


def encode_options(options: tuple[MobilityOption, ...], start: int) -> bytes:
    """Encode options that start at MH offset ``start``, ending on an 8-octet boundary.

    With no Pad1/PadN in ``options`` the encoder inserts the minimal padding
    each option's alignment needs. If the caller (or the decoder) placed pads
    explicitly, the layout is kept as given so decode/encode is byte-exact.
    """
    explicit = any(isinstance(opt, Pad1 | PadN) for opt in options)
    out = bytearray()
    for opt in options:
        if isinstance(opt, Pad1):
            out += b"\x00"
            continue
        body = _encode_checked(opt)
        if len(body) > 255:
            raise ValueError(f"{type(opt).__name__}: body of {len(body)} octets exceeds 255")
        if not explicit:
            x, y = opt.ALIGN
            out += _padding((y - (start + len(out))) % x)
        out += bytes([opt.option_type, len(body)]) + body
    out += _padding(-(start + len(out)) % 8)
    return bytes(out)
