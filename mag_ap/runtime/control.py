"""The control socket: line-delimited JSON over AF_UNIX, for the CLI, tests and benchmarks.

One JSON object per line in, one per line out, on a stream socket that only
root can open (mode 0600). Requests: ``{"cmd": "status"}``,
``{"cmd": "attach", "mac": M, "mn_id": ID}``, ``{"cmd": "detach", "mac": M}``,
``{"cmd": "revoke", "mn_id": ID}`` (LMA), ``{"cmd": "stop"}``. Answers carry
``"ok": true`` plus the command's data, or ``{"ok": false, "error": "..."}``.
A bad request never closes the daemon, only (on garbage) the connection.

The client side is synchronous (plain ``socket``) so that the CLI does not pay
for importing asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("mag_ap.runtime.control")

MAX_LINE = 1 << 20  # a status with thousands of bindings still fits
Request = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]


class ControlError(Exception):
    """A request the daemon refuses; its text goes back to the client as ``error``."""


class NoDaemonError(ConnectionError):
    """Nobody answers on the control socket path."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no daemon at {path} (is it running?)")
        self.path = path


class ControlServer:
    """Serves the line protocol; ``handlers`` maps a ``cmd`` to an async function."""

    def __init__(self, path: str | os.PathLike[str], handlers: dict[str, Handler]) -> None:
        self.path = Path(path)
        self.handlers = handlers
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.counters: dict[str, int] = {"requests": 0, "errors": 0}

    async def start(self) -> None:
        """Bind (refusing to steal a live daemon's socket) with mode 0600 and listen."""
        self._remove_stale()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o177)  # no window in which the socket is group/world-usable
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    def _remove_stale(self) -> None:
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{self.path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(self.path))
        except OSError:
            # ECONNREFUSED: a dead daemon's leftover; remove it and take over.
            self.path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise ControlError(f"another daemon is listening on {self.path}")

    async def close(self) -> None:
        """Stop listening, drop open connections and remove the socket file."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            for task in list(self._connections):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(_encode({"ok": False, "error": "request line too long"}))
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                writer.write(_encode(await self.handle_line(line)))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def handle_line(self, line: bytes) -> Response:
        """One request line -> one response object (exposed for tests)."""
        self.counters["requests"] += 1
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._error(f"request is not JSON: {exc}")
        except RecursionError:  # json recurses per nested array/object (found by make fuzz)
            return self._error("request is not JSON: nested too deeply")
        if not isinstance(request, dict):
            return self._error("request must be a JSON object")
        cmd = request.get("cmd")
        if not isinstance(cmd, str):
            return self._error('request needs "cmd" (a string)')
        handler = self.handlers.get(cmd)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return self._error(f"unknown command {cmd!r} (known: {known})")
        try:
            response = await handler(request)
        except ControlError as exc:
            return self._error(str(exc))
        except Exception as exc:
            log.exception("control command %s failed", cmd)
            return self._error(f"internal error: {type(exc).__name__}: {exc}")
        return {"ok": True, **response}

    def _error(self, message: str) -> Response:
        self.counters["errors"] += 1
        return {"ok": False, "error": message}


def _encode(obj: Response) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def require_str(request: Request, key: str) -> str:
    """A mandatory non-empty string field of a request."""
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise ControlError(f'"{key}" (a non-empty string) is required')
    return value


def request(path: str | os.PathLike[str], payload: Request, *, timeout_s: float = 10.0) -> Response:
    """Send one request, return the daemon's answer (raises NoDaemonError, ControlError)."""
    text = str(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        try:
            sock.connect(text)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoDaemonError(text) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK):
                raise NoDaemonError(text) from exc
            raise ControlError(f"cannot connect to {text}: {exc.strerror or exc}") from exc
        sock.sendall(json.dumps(payload).encode() + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n"):
            try:
                chunk = sock.recv(65536)
            except TimeoutError as exc:
                raise ControlError(f"no answer from {text} within {timeout_s:g} s") from exc
            if not chunk:
                raise ControlError(f"daemon at {text} closed the connection without answering")
            buf += chunk
    finally:
        sock.close()
    answer = json.loads(buf)
    if not isinstance(answer, dict):
        raise ControlError(f"daemon at {text} sent a non-object answer")
    return answer
