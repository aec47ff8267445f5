"""Pure parser of hostapd control-interface text: events, ``STA`` replies, station lists.

No socket here (DESIGN.md rule 1), so every line hostapd (or a hostile local
process) can put on the socket is tested directly. An event datagram looks like
``<3>AP-STA-CONNECTED 02:00:00:00:00:01`` (the ``<N>`` is the wpa_msg level;
a global control interface prefixes ``IFNAME=wlan0 ``). Anything else parses to
:class:`Unknown`, which the IO side counts; nothing here raises on input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from mag_ap.mac import parse_mac

__all__ = [
    "EapFailure",
    "EapSuccess",
    "Event",
    "StaConnected",
    "StaDisconnected",
    "StaInfo",
    "Terminating",
    "Unknown",
    "parse_event",
    "parse_sta",
]

_LEVEL: Final = re.compile(r"^<\d>")
MAX_EVENT_LEN: Final = 4096  # hostapd's own reply buffers are 4 KiB; longer is not hostapd
# ``dot1xAuthPaeState`` of a station whose authentication finished (the AUTH_PAE state
# machine's AUTHENTICATED, printed 1-based by hostapd's MIB code)
AUTH_PAE_AUTHENTICATED: Final = "5"


@dataclass(frozen=True)
class StaConnected:
    """``AP-STA-CONNECTED``: the station is authorized (after EAP success with 802.1X)."""

    mac: str


@dataclass(frozen=True)
class StaDisconnected:
    """``AP-STA-DISCONNECTED``: the station left (logoff, deauth, timeout)."""

    mac: str


@dataclass(frozen=True)
class EapSuccess:
    """``CTRL-EVENT-EAP-SUCCESS`` (internal server) or ``-SUCCESS2`` (RADIUS server)."""

    mac: str


@dataclass(frozen=True)
class EapFailure:
    """``CTRL-EVENT-EAP-FAILURE`` / ``-FAILURE2``: authentication refused (never a binding)."""

    mac: str


@dataclass(frozen=True)
class Terminating:
    """``CTRL-EVENT-TERMINATING`` or ``AP-DISABLED``: hostapd is going away; reconnect."""

    what: str


@dataclass(frozen=True)
class Unknown:
    """Any other text: an event we do not use, or garbage. ``reason`` says which."""

    text: str
    reason: str


Event = StaConnected | StaDisconnected | EapSuccess | EapFailure | Terminating | Unknown

_WITH_MAC: Final[Mapping[str, type[StaConnected | StaDisconnected | EapSuccess | EapFailure]]] = {
    "AP-STA-CONNECTED": StaConnected,
    "AP-STA-DISCONNECTED": StaDisconnected,
    "CTRL-EVENT-EAP-SUCCESS": EapSuccess,
    "CTRL-EVENT-EAP-SUCCESS2": EapSuccess,
    "CTRL-EVENT-EAP-FAILURE": EapFailure,
    "CTRL-EVENT-EAP-FAILURE2": EapFailure,
}
_TERMINATING: Final = frozenset({"CTRL-EVENT-TERMINATING", "AP-DISABLED"})


def _text(data: bytes | str) -> str | None:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_event(data: bytes | str) -> Event:
    """One datagram from an attached control socket -> a typed event (never raises)."""
    if len(data) > MAX_EVENT_LEN:
        return Unknown(f"<{len(data)} bytes>", "too long")
    text = _text(data)
    if text is None:
        return Unknown(repr(data[:64]), "not UTF-8")
    line = text.strip()
    if line.startswith("IFNAME="):
        _, _, line = line.partition(" ")
    level = _LEVEL.match(line)
    if level is None:
        return Unknown(line[:128], "no <level> prefix")
    words = line[level.end() :].split()
    if not words:
        return Unknown(line[:128], "empty event")
    name = words[0]
    if name in _TERMINATING:
        return Terminating(name)
    kind = _WITH_MAC.get(name)
    if kind is None:
        return Unknown(line[:128], "unused event")
    mac = parse_mac(words[1]) if len(words) > 1 else None
    if mac is None:
        return Unknown(line[:128], f"{name} without a MAC address")
    return kind(mac)


@dataclass(frozen=True)
class StaInfo:
    """A ``STA <mac>`` / ``STA-FIRST`` / ``STA-NEXT`` reply: one station's fields."""

    mac: str
    flags: frozenset[str]
    fields: Mapping[str, str]

    @property
    def authorized(self) -> bool:
        """The port is open: 802.1X (or WPA) succeeded; a failed station stays listed."""
        return "AUTHORIZED" in self.flags

    @property
    def user_name(self) -> str | None:
        """The 802.1X identity (``dot1xAuthSessionUserName``); none without CTRL_IFACE_MIB.

        None also while an authorized station re-authenticates: hostapd then shows the
        new EAP-Identity (for PEAP/TTLS the anonymous outer one) until the Accept's
        User-Name replaces it, and only a finished authentication names the station.
        """
        state = self.fields.get("dot1xAuthPaeState")
        if state is not None and state != AUTH_PAE_AUTHENTICATED:
            return None
        name = self.fields.get("dot1xAuthSessionUserName", "")
        return name or None


_FLAG: Final = re.compile(r"\[([A-Z0-9_]+)\]")


def parse_sta(data: bytes | str) -> StaInfo | None:
    """A station reply -> :class:`StaInfo`; None for the empty end-of-list or ``FAIL``.

    The first line is the MAC, then ``key=value`` lines; lines without ``=`` are
    ignored (hostapd adds free text in some builds).
    """
    text = _text(data)
    if text is None:
        return None
    lines = text.splitlines()
    if not lines:
        return None
    mac = parse_mac(lines[0].strip())
    if mac is None:
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, eq, value = line.partition("=")
        if eq and key and key not in fields:
            fields[key] = value.strip()
    flags = frozenset(_FLAG.findall(fields.get("flags", "")))
    return StaInfo(mac=mac, flags=flags, fields=fields)
