"""Send rtnetlink requests (:mod:`mag_ap.rtnl`) and wait for the kernel's acks.

A fresh NETLINK_ROUTE socket per request or batch: these run a few times per
binding, the kernel answers at once, and no state is kept between calls (a late
ack of an abandoned exchange can never be taken for another's).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import Sequence
from typing import Final

from ..rtnl import ack_errno, acks, address_request, link_address_request, with_seq

ACK_TIMEOUT_S: Final = 5.0
# Requests per send: their acks (an error ack quotes its request) stay far below the
# socket's receive buffer, so none is dropped however many objects a stop removes.
BATCH_MAX: Final = 64
_seq = itertools.count(1)


async def exchange(requests: Sequence[bytes]) -> list[int]:
    """Send ``requests`` in order, many per datagram; the errno of each (0: success).

    The kernel handles the requests of one datagram one after the other, in
    order, and goes on after a failed one: a run of dependent objects (routes,
    then the rules that point at their table) costs one round trip.
    """
    if not requests:
        return []
    loop = asyncio.get_running_loop()
    first = next(_seq)
    seqs = [first, *(next(_seq) for _ in requests[1:])]
    codes: dict[int, int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                       socket.NETLINK_ROUTE) as sock:  # fmt: skip
        sock.bind((0, 0))
        async with asyncio.timeout(ACK_TIMEOUT_S):
            for start in range(0, len(requests), BATCH_MAX):
                chunk = range(start, min(start + BATCH_MAX, len(requests)))
                await loop.sock_sendall(
                    sock, b"".join(with_seq(requests[i], seqs[i]) for i in chunk)
                )
                while any(seqs[i] not in codes for i in chunk):
                    data = await loop.sock_recv(sock, 65536)
                    codes.update(acks(data))
    return [codes[seq] for seq in seqs]


async def _request(build: bytes, seq: int) -> int:
    """Send ``build``; the errno of the ack (0: success)."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                       socket.NETLINK_ROUTE) as sock:  # fmt: skip
        sock.bind((0, 0))
        await loop.sock_sendall(sock, build)
        async with asyncio.timeout(ACK_TIMEOUT_S):
            while True:
                data = await loop.sock_recv(sock, 65536)
                code = ack_errno(data, seq)
                if code is not None:
                    return code


async def change_address(add: bool, ifname: str, address: str, *, nodad: bool = False) -> int:
    """Add or delete ``address`` (a/len) on ``ifname``; the errno (0, EEXIST, EADDRNOTAVAIL...).

    :raises OSError: the interface does not exist (ENODEV).
    """
    index = socket.if_nametoindex(ifname)
    seq = next(_seq)
    return await _request(address_request(add, index, address, nodad=nodad, seq=seq), seq)


async def set_link_address(ifname: str, mac: str) -> None:
    """Set the MAC of ``ifname``; OSError with the kernel's errno on failure."""
    index = socket.if_nametoindex(ifname)
    seq = next(_seq)
    code = await _request(link_address_request(index, mac, seq=seq), seq)
    if code:
        raise OSError(code, f"set {ifname} address {mac}: {os.strerror(code)}")


__all__ = ["change_address", "exchange", "set_link_address"]
