"""The status port: ``ubus call mag-ap status`` without a Python interpreter per call.

rpcd runs an exec plugin per ubus call; a Python plugin costs an interpreter
start each time (slow on an AP's CPU). Stock OpenWrt has no tool that talks to
a unix socket, but busybox ``nc`` talks TCP. So the daemon also listens on
``127.0.0.1:status_port``: a client sends one line, the token, and gets the
``status`` answer as one JSON line (the control socket's own handler and
encoding, made blobmsg-safe by :func:`mag_ap.openwrt.ubus_status.to_ubus`),
then the connection closes. The rpcd plugin is a shell script:
``printf '%s\\n' "$token" | nc 127.0.0.1 PORT``.

A loopback port is open to every local user, the control socket only to root.
The token keeps it that way: a fresh random one per daemon start, in
``<control_socket>.token`` with mode 0600 (only root reads it, as only root
opens the control socket). A wrong or missing token gets an error line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from .control import ControlServer, _encode

log = logging.getLogger("mag_ap.runtime.status_port")

STATUS_REQUEST = b'{"cmd":"status"}'
TOKEN_READ_TIMEOUT_S = 2.0


def token_path(control_socket: str) -> Path:
    """Where the token of the status port is: beside the control socket."""
    return Path(f"{control_socket}.token")


class StatusPort:
    """One status line per connection on a loopback TCP port, for holders of the token."""

    def __init__(
        self, port: int, control: ControlServer, token_file: Path, host: str = "127.0.0.1"
    ) -> None:
        self.port = port
        self.host = host
        self.control = control
        self.token_file = token_file
        self.token = secrets.token_hex(16).encode()
        self._server: asyncio.Server | None = None
        self.counters: dict[str, int] = {"answered": 0, "refused": 0}

    async def start(self) -> None:
        """Write the token (0600, atomically), then listen."""
        tmp = self.token_file.with_name(self.token_file.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.token + b"\n")
        os.replace(tmp, self.token_file)
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.token_file.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), TOKEN_READ_TIMEOUT_S)
            except (TimeoutError, ValueError, asyncio.LimitOverrunError):
                line = b""
            if hmac.compare_digest(line.strip(), self.token):
                from ..openwrt.ubus_status import to_ubus

                self.counters["answered"] += 1
                answer = to_ubus(await self.control.handle_line(STATUS_REQUEST))
            else:
                self.counters["refused"] += 1
                answer = {"ok": False, "error": "status port: wrong token"}
            writer.write(_encode(answer))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
