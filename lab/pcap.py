"""Minimal classic-pcap writer for crafted test captures (no third-party dependency).

Records use ``LINKTYPE_RAW`` (101): each one is an IP packet with no link-layer
header, which tshark and tcpdump read everywhere.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from ipaddress import IPv6Address
from pathlib import Path

LINKTYPE_RAW = 101  # raw IP; the version nibble says IPv4 or IPv6
PCAP_MAGIC = 0xA1B2C3D4
SNAPLEN = 65535
_GLOBAL_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_IPV6_HEADER = struct.Struct("!IHBB16s16s")


def ipv6_packet(
    src: IPv6Address, dst: IPv6Address, next_header: int, payload: bytes, hop_limit: int = 64
) -> bytes:
    """An IPv6 header (no extension headers) followed by ``payload``."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"IPv6 payload of {len(payload)} octets needs a jumbogram")
    header = _IPV6_HEADER.pack(
        6 << 28, len(payload), next_header, hop_limit, src.packed, dst.packed
    )
    return header + payload


def write_pcap(
    path: Path, packets: Iterable[bytes], linktype: int = LINKTYPE_RAW, start_s: int = 1_700_000_000
) -> int:
    """Write ``packets`` one second apart from ``start_s``; returns how many were written."""
    count = 0
    with path.open("wb") as out:
        out.write(_GLOBAL_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, linktype))
        for count, packet in enumerate(packets, start=1):
            if len(packet) > SNAPLEN:
                raise ValueError(f"packet of {len(packet)} octets exceeds the snap length")
            out.write(_RECORD_HEADER.pack(start_s + count - 1, 0, len(packet), len(packet)))
            out.write(packet)
    return count
