"""hostapd control interface client: an AF_UNIX datagram socket, asyncio-driven.

hostapd answers to the sender's address, so each client binds its own socket
file (in a private directory; an abstract name would not cross network
namespaces). Like ``hostapd_cli`` we use two sockets per interface: one for
request/reply (``PING``, ``STA``, ``STA-FIRST``) and one ``ATTACH``-ed monitor
that only carries events, so a reply is never mistaken for an event.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from typing import Final

from mag_ap.runtime import asyncio

MAX_DATAGRAM: Final = 65536
_counter = itertools.count()


class ControlError(OSError):
    """hostapd did not answer as expected (gone, restarted, or refused the command)."""


class ControlSocket:
    """One client socket connected to hostapd's ``ctrl_interface/<ifname>``."""

    def __init__(self, path: str, client_dir: str) -> None:
        self.path = path
        self.local = os.path.join(client_dir, f"c{os.getpid()}-{next(_counter)}")
        self.sock: socket.socket | None = None

    def open(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.local)
            sock.bind(self.local)
            sock.connect(self.path)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            self._unlink()
            raise ControlError(exc.errno, f"{self.path}: {exc.strerror or exc}") from exc
        self.sock = sock

    def _unlink(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.local)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._unlink()

    async def send(self, command: str) -> None:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(self.sock, command.encode())
        except OSError as exc:
            raise ControlError(
                exc.errno, f"{self.path}: send {command.split(maxsplit=1)[0]}: {exc}"
            ) from exc

    async def recv(self) -> bytes:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.sock_recv(self.sock, MAX_DATAGRAM)
        except OSError as exc:
            raise ControlError(exc.errno, f"{self.path}: recv: {exc}") from exc

    async def request(self, command: str, timeout_s: float) -> bytes:
        """Send ``command`` and return hostapd's reply (stale replies are drained first)."""
        assert self.sock is not None
        with contextlib.suppress(BlockingIOError):
            while True:  # a reply that came after an earlier timeout must not answer this one
                self.sock.recv(MAX_DATAGRAM)
        await self.send(command)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that races with the reply, and the daemon would not stop.
            async with asyncio.timeout(timeout_s):
                return await self.recv()
        except TimeoutError:
            raise ControlError(
                0, f"{self.path}: no reply to {command.split(maxsplit=1)[0]}"
            ) from None
