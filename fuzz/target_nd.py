"""RS/RA frames from the access link (RFC 4861): only DecodeError (and its kinds) may escape."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

from mag_ap.wire import DecodeError
from mag_ap_ra._packet import ETH_LEN, IPV6_LEN, decode_frame, icmpv6_checksum

_START = ETH_LEN + IPV6_LEN


def _with_checksum(data: bytes) -> bytes | None:
    """``data`` with a right ICMPv6 checksum, so the checks past the checksum get fuzzed too."""
    if len(data) < _START + 4:
        return None
    plen = struct.unpack_from("!H", data, ETH_LEN + 4)[0]
    icmp = bytearray(data[_START : _START + plen])
    if len(icmp) < 4:
        return None
    icmp[2:4] = b"\0\0"
    src = IPv6Address(data[ETH_LEN + 8 : ETH_LEN + 24])
    dst = IPv6Address(data[ETH_LEN + 24 : ETH_LEN + 40])
    struct.pack_into("!H", icmp, 2, icmpv6_checksum(src, dst, bytes(icmp)))
    return data[:_START] + bytes(icmp) + data[_START + len(icmp) :]


def one_input(data: bytes) -> None:
    """Decode the frame as read, then with its checksum made right."""
    for frame in (data, _with_checksum(data)):
        if frame is None:
            continue
        try:
            decoded = decode_frame(frame)
        except DecodeError:
            continue
        message = decoded.message
        _ = (repr(decoded), message.source_link_layer_address())
