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
    """Feed CLI output line by line; complete JSON values come out as they close."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, line: str) -> Iterator[Notification | Unknown]:
        self._buffer += line if line.endswith("\n") else line + "\n"
        while True:
            text = self._buffer.lstrip()
            if not text:
                self._buffer = ""
                return
            if text[0] not in "{[":
                first, _, rest = text.partition("\n")
                self._buffer = rest
                yield Unknown(first[:128], "not JSON")
                continue
            try:
                obj, end = self._decoder.raw_decode(text)
            except (json.JSONDecodeError, RecursionError):
                if len(text) > MAX_BUFFER or _complete(text):  # more lines cannot fix it
                    self._buffer = ""
                    yield Unknown(text[:128], "bad JSON")
                    return
                self._buffer = text  # incomplete: wait for more lines
                return
            self._buffer = text[end:]
            yield parse_object(obj)


def _complete(text: str) -> bool:
    """Braces balance (outside strings), so more lines cannot repair this text."""
    depth = 0
    in_string = escape = False
    for ch in text:
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
    return depth <= 0


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
