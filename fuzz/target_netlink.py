"""rtnetlink datagrams (link and neighbour events): only DecodeError may escape."""

from __future__ import annotations

from mag_ap.wire import DecodeError
from mag_ap_linkwatch._netlink import LinkMessage, NeighbourMessage, decode_messages


def one_input(data: bytes) -> None:
    """Decode one datagram; every decoded message answers what the watcher asks of it."""
    try:
        messages = decode_messages(data)
    except DecodeError:
        return
    for msg in messages:
        if isinstance(msg, LinkMessage):
            _ = msg.up
        elif isinstance(msg, NeighbourMessage):
            _ = msg.alive
