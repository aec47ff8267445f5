"""The RADIUS codec, now shared: it lives in :mod:`mag_ap_radius._packet`.

The accounting listener and the RADIUS policy client (``mag_ap_radius``) use one
codec (one home for RADIUS wire code); this module re-exports it so that
``mag_ap_radacct`` keeps its import paths. Both plugins ship in one OpenWrt
package (``mag-ap-radius``), so the dependency costs nothing there.
"""

from __future__ import annotations

from mag_ap_radius._packet import (
    ATTRIBUTES,
    AcctStatusType,
    Attribute,
    Code,
    Packet,
    accounting_response,
    decode,
    encode_request,
    encode_response,
    verify_request,
)

__all__ = [
    "ATTRIBUTES",
    "AcctStatusType",
    "Attribute",
    "Code",
    "Packet",
    "accounting_response",
    "decode",
    "encode_request",
    "encode_response",
    "verify_request",
]
