"""RADIUS replies and accounting requests: only DecodeError may escape the codec.

The authenticator checks and the Access-Accept mapping never raise (they return a
reason or collect problems), so past ``decode`` nothing may escape at all.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from mag_ap.wire import DecodeError
from mag_ap_radius._mapping import parse_accept, profile_from
from mag_ap_radius.packet import decode, verify_request, verify_response

_SECRET = b"testing123"
_DEFAULT_LMA = IPv6Address("2001:db8::1")


def one_input(data: bytes) -> None:
    """Decode, verify both ways, and map as if the Accept were genuine."""
    try:
        packet = decode(data)
    except DecodeError:
        return
    verify_request(packet, _SECRET)
    verify_response(packet, bytes(16), _SECRET, require_message_authenticator=True)
    auth = parse_accept(packet)
    profile_from(auth, "mn@example", transport="ipv6", default_lma=_DEFAULT_LMA)
    profile_from(auth, "mn@example", transport="ipv4", default_lma=None, gre_key=True)
