"""Mobility Header (PBU/PBA/BRI/Heartbeat...): only :class:`DecodeError` may escape."""

from __future__ import annotations

from mag_ap.mh import decode_message, message_to_json
from mag_ap.wire import DecodeError


def one_input(data: bytes) -> None:
    """Decode one MH datagram; a decoded message must also print and show as JSON."""
    try:
        msg = decode_message(data)
    except DecodeError:
        return
    repr(msg)
    message_to_json(msg)  # the status view and `mag-ap mh` print decoded messages
