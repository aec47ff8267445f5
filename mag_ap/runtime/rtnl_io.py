"""Send one rtnetlink request (:mod:`mag_ap.rtnl`) and wait for the kernel's ack.

A fresh NETLINK_ROUTE socket per request: these run a few times per binding,
the kernel answers at once, and no state is kept between calls.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from typing import Final

from ..rtnl import ack_errno, address_request, link_address_request

ACK_TIMEOUT_S: Final = 5.0
_seq = itertools.count(1)


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


__all__ = ["change_address", "set_link_address"]
