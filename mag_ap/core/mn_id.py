"""MN identifiers as text, both ways (RFC 4283, RFC 8371 subtypes).

An NAI is itself; any other subtype is written ``<subtype>:<hex>`` (e.g. the
EUI-48 MN-ID ``5:020000000001``). The MAG, the LMA's binding cache and the
identity plugins all use this one spelling, so a PBA or a BRI matches its binding.
"""

from __future__ import annotations

import re

from mag_ap.mh.constants import MNIdentifierSubtype
from mag_ap.mh.options import MobileNodeIdentifier

_RAW = re.compile(r"^([2-8]):((?:[0-9a-f]{2})+)$")


def mn_key(option: MobileNodeIdentifier) -> str:
    """The text of an MN-ID option: the NAI itself, else ``<subtype>:<hex>``."""
    ident = option.identifier
    if isinstance(ident, str) and option.subtype == MNIdentifierSubtype.NAI:
        return ident
    raw = ident.encode("utf-8") if isinstance(ident, str) else ident
    return f"{int(option.subtype)}:{raw.hex()}"


def is_nai(mn_id: str) -> bool:
    """Whether :func:`mn_identifier_option` sends ``mn_id`` as an NAI (not a raw subtype)."""
    return _RAW.match(mn_id) is None


def mn_identifier_option(mn_id: str) -> MobileNodeIdentifier:
    """The MN-ID option for a text MN-ID (inverse of :func:`mn_key`)."""
    match = _RAW.match(mn_id)
    if match is None:  # is_nai
        return MobileNodeIdentifier.nai(mn_id)
    return MobileNodeIdentifier(
        subtype=MNIdentifierSubtype(int(match.group(1))),
        identifier=bytes.fromhex(match.group(2)),
    )
