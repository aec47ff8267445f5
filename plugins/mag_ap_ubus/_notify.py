"""Pure parser of hostapd's ubus notifications as the ``ubus`` CLI prints them.

``ubus subscribe hostapd.wlan0`` prints one JSON object per notification,
``{ "<method>": { ...fields } }`` (on one line, or indented with ``-S`` off in
some builds: the parser accepts any JSON text split across lines). hostapd on
OpenWrt notifies ``assoc``, ``auth``, ``probe`` (requests), ``disassoc``,
``deauth`` and ``sta-authorized``, each with ``address`` (the station's MAC).
``ubus call hostapd.wlan0 get_clients`` answers ``{"clients": {"<mac>":
{"authorized": true, ...}}}``. Nothing here raises on input: bad text becomes
:class:`Unknown`, which the IO side counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from mag_ap.mac import parse_mac

__all__ = ["Notification", "NotificationStream", "Unknown", "authorized_clients", "parse_object"]

MAX_BUFFER: Final = 65536  # one notification is a few hundred bytes; more is garbage
ATTACH_METHODS: Final = frozenset({"sta-authorized", "assoc"})
DETACH_METHODS: Final = frozenset({"disassoc", "deauth"})

Action = Literal["attach", "detach", "ignore"]


@dataclass(frozen=True)
class Notification:
    """A station notification: ``method`` (``assoc``, ``sta-authorized``...) and its MAC."""

    method: str
    mac: str
    fields: dict[str, Any] = field(compare=False, default_factory=dict)

    def action(self, attach_on: str = "sta-authorized") -> Action:
        """What the trigger does: attach on ``attach_on`` only, detach on disassoc/deauth."""
        if self.method == attach_on:
            return "attach"
        if self.method in DETACH_METHODS:
            return "detach"
        return "ignore"


@dataclass(frozen=True)
class Unknown:
    """Text that is no station notification; ``reason`` says why."""

    text: str
    reason: str


def parse_object(obj: object) -> Notification | Unknown:
    """One decoded JSON value -> a notification (single key: the method)."""
    if not isinstance(obj, dict) or len(obj) != 1:
        return Unknown(str(obj)[:128], "not a single-method object")
    ((method, body),) = obj.items()
    if not isinstance(body, dict):
        return Unknown(str(obj)[:128], f"{method}: body is not an object")
    mac = parse_mac(body.get("address"))
    if mac is None:
        return Unknown(str(obj)[:128], f"{method}: no station address")
    return Notification(str(method), mac, body)


class NotificationStream:
    """Feed CLI output line by line; complete JSON values come out as they close.

    The bracket balance of the waiting text is kept between lines, so each octet is
    scanned once: re-scanning the whole buffer per line made 64 KiB of ``[`` lines
    cost a minute of the event loop (found by make fuzz).
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self._scan = _Balance()  # over self._buffer[: self._scan.end]

    def _set(self, text: str) -> None:
        if text is not self._buffer:
            self._scan = _Balance()
        self._buffer = text

    def feed(self, line: str) -> Iterator[Notification | Unknown]:
        self._buffer += line if line.endswith("\n") else line + "\n"
        while True:
            text = self._buffer.lstrip()
            if not text:
                self._set("")
                return
            if text[0] not in "{[":
                first, _, rest = text.partition("\n")
                self._set(rest)
                yield Unknown(first[:128], "not JSON")
                continue
            self._set(text)
            self._scan.advance(text)
            if not self._scan.closed_once:  # the first value cannot have ended yet
                if len(text) > MAX_BUFFER:
                    self._set("")
                    yield Unknown(text[:128], "bad JSON")
                return
            try:
                obj, end = self._decoder.raw_decode(text)
            except (json.JSONDecodeError, RecursionError):
                if len(text) > MAX_BUFFER or self._scan.depth <= 0:  # more lines cannot fix it
                    self._set("")
                    yield Unknown(text[:128], "bad JSON")
                    return
                return  # incomplete: wait for more lines
            self._set(text[end:])
            yield parse_object(obj)


class _Balance:
    """Brackets open (outside strings) over a prefix of the text, extended as it grows."""

    def __init__(self) -> None:
        self.end = 0
        self.depth = 0
        self.closed_once = False  # the depth came back to 0 (or below) after an opening
        self._in_string = False
        self._escape = False

    def advance(self, text: str) -> None:
        depth, in_string, escape, closed = (
            self.depth,
            self._in_string,
            self._escape,
            self.closed_once,
        )
        for ch in text[self.end :]:
            if in_string:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                closed = closed or depth <= 0
        self.end = len(text)
        self.depth, self._in_string, self._escape, self.closed_once = (
            depth,
            in_string,
            escape,
            closed,
        )


def authorized_clients(reply: str) -> set[str] | None:
    """``get_clients`` reply -> MACs with ``authorized: true``; None when it is no such reply."""
    try:
        obj = json.loads(reply)
    except (json.JSONDecodeError, RecursionError):
        return None
    clients = obj.get("clients") if isinstance(obj, dict) else None
    if not isinstance(clients, dict):
        return None
    out: set[str] = set()
    for key, info in clients.items():
        mac = parse_mac(key)
        if mac is not None and isinstance(info, dict) and info.get("authorized") is True:
            out.add(mac)
    return out
