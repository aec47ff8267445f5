"""DHCPv4 from a station: the UDP payload and the raw frame; only DecodeError may escape."""

from __future__ import annotations

import contextlib

from mag_ap.wire import DecodeError
from mag_ap_dhcp4._packet import decode, decode_udp_frame


def one_input(data: bytes) -> None:
    """The server decodes payloads; the frame decoder reads the same bytes as a frame."""
    try:
        msg = decode(data)
    except DecodeError:
        pass
    else:
        _ = (msg.client_mac, msg.broadcast, repr(msg))
    with contextlib.suppress(DecodeError):
        decode_udp_frame(data)
