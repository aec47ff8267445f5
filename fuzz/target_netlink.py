"""rtnetlink from the kernel: linkwatch events (only DecodeError) and address-request acks
(:func:`mag_ap.rtnl.ack_errno`: only its documented ValueError)."""

from __future__ import annotations

import contextlib

from mag_ap.rtnl import ack_errno
from mag_ap.wire import DecodeError
from mag_ap_linkwatch._netlink import LinkMessage, NeighbourMessage, decode_messages


def one_input(data: bytes) -> None:
    """Decode one datagram; every decoded message answers what the watcher asks of it."""
    with contextlib.suppress(ValueError):
        ack_errno(data, 1)
    try:
        messages = decode_messages(data)
    except DecodeError:
        return
    for msg in messages:
        if isinstance(msg, LinkMessage):
            _ = msg.up
        elif isinstance(msg, NeighbourMessage):
            _ = msg.alive
