"""The Mobility Header checksum (RFC 6275 section 6.1.1, IPv6 pseudo-header).

Linux fills and checks it on raw protocol-135 sockets; this helper is for
tests, captures and transports that do not (e.g. UDP encapsulation).
"""

from __future__ import annotations

from ipaddress import IPv6Address

from ..wire import internet_checksum, ipv6_pseudo_header
from .constants import IPPROTO_MH


def mh_checksum(src: IPv6Address, dst: IPv6Address, mh: bytes) -> int:
    """Checksum of ``mh`` as it would be sent from ``src`` to ``dst`` (field bytes ignored)."""
    zeroed = mh[:4] + b"\x00\x00" + mh[6:]
    return internet_checksum(ipv6_pseudo_header(src, dst, len(mh), IPPROTO_MH) + zeroed)


def with_checksum(src: IPv6Address, dst: IPv6Address, mh: bytes) -> bytes:
    """``mh`` with its checksum field filled in."""
    return mh[:4] + mh_checksum(src, dst, mh).to_bytes(2, "big") + mh[6:]


def checksum_ok(src: IPv6Address, dst: IPv6Address, mh: bytes) -> bool:
    """True when the checksum field of ``mh`` is right for this address pair."""
    return (
        len(mh) >= 6
        and internet_checksum(ipv6_pseudo_header(src, dst, len(mh), IPPROTO_MH) + mh) == 0
    )
