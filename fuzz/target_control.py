"""Control-socket request lines: ``handle_line`` answers every line and never raises.

A line the parser cannot take must come back as ``{"ok": false, "error": ...}`` that
the server can encode; an escaping exception would kill that client's connection.
"""

from __future__ import annotations

from typing import Any

from mag_ap.runtime.control import MAX_LINE, ControlServer, Request, _encode, require_str


async def _status(request: Request) -> dict[str, Any]:
    return {"bindings": [], "echo": request.get("verbose")}


async def _detach(request: Request) -> dict[str, Any]:
    return {"detached": require_str(request, "mac")}


_SERVER = ControlServer("/nonexistent/fuzz.sock", {"status": _status, "detach": _detach})


def one_input(data: bytes) -> None:
    """One line as the server reads it (at most MAX_LINE octets, through the newline)."""
    line = data[:MAX_LINE]
    coro = _SERVER.handle_line(line)
    try:
        coro.send(None)
    except StopIteration as done:
        response = done.value
    else:  # the handlers never wait, so a suspended request is itself a finding
        coro.close()
        raise AssertionError("handle_line suspended on a request that needs no IO")
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise AssertionError(f"not a response object: {response!r}")
    _encode(response)
