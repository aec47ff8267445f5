"""Wire helpers every codec shares (DESIGN.md rule 9): one decode error, one checksum.

The Mobility Header codec (:mod:`mag_ap.mh`) and the plugins' codecs (DHCPv4, router
advertisements, RADIUS, rtnetlink) raise :class:`DecodeError` and sum with
:func:`internet_checksum`, so a bad packet reads alike in every log. Pure: no IO.
"""

from __future__ import annotations

import struct
from ipaddress import IPv6Address


class DecodeError(ValueError):
    """Bytes that are not a well-formed message of the codec that raised it.

    ``offset`` is the byte offset (from the start of what that codec reads) where the
    problem was found, so a log line points at the bad byte of a capture.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at offset {offset})")
        self.reason = reason
        self.offset = offset


def internet_checksum(data: bytes) -> int:
    """The RFC 1071 checksum of ``data``: 0 when ``data`` holds a right checksum field."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv6_pseudo_header(src: IPv6Address, dst: IPv6Address, length: int, next_header: int) -> bytes:
    """The IPv6 pseudo-header upper-layer checksums cover (RFC 8200 section 8.1)."""
    return src.packed + dst.packed + struct.pack("!I3xB", length, next_header)


__all__ = ["DecodeError", "internet_checksum", "ipv6_pseudo_header"]
