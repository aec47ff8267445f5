"""The one MAC address parser (DESIGN.md rule 9): every plugin and the core spell MACs alike.

Accepted spellings (case-insensitive, surrounding white space ignored): ``02:00:00:00:00:01``,
``02-00-00-00-00-01``, ``0200.0000.0001`` (Cisco dots) and bare ``020000000001``. The canonical
form, used as the key everywhere (bindings, identity maps, status), is lower-case with colons.
Pure: no IO, nothing but the standard library's ``re``.
"""

from __future__ import annotations

import re
from typing import Final

_SPELLINGS: Final = re.compile(
    r"[0-9a-f]{2}(?P<sep>[:-])[0-9a-f]{2}(?:(?P=sep)[0-9a-f]{2}){4}"
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}"
    r"|[0-9a-f]{12}"
)


def parse_mac(text: object) -> str | None:
    """Any accepted spelling -> ``aa:bb:cc:dd:ee:ff``; None for anything else (never raises)."""
    if not isinstance(text, str):
        return None
    low = text.strip().lower()
    if not _SPELLINGS.fullmatch(low):
        return None
    digits = re.sub(r"[:\-.]", "", low)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_mac(mac: str) -> str:
    """Like :func:`parse_mac`, for callers to whom a malformed MAC is a bug: ValueError."""
    normal = parse_mac(mac)
    if normal is None:
        raise ValueError(f"not a MAC address: {mac!r}")
    return normal


def mac_bytes(mac: str) -> bytes:
    """Any accepted spelling -> 6 octets (ValueError otherwise)."""
    normal = parse_mac(mac)
    if normal is None:
        raise ValueError(f"{mac!r} is not a 48-bit MAC address")
    return bytes.fromhex(normal.replace(":", ""))


def mac_text(raw: bytes) -> str:
    """Octets -> ``aa:bb:cc:dd:ee:ff`` (the canonical spelling)."""
    return ":".join(f"{b:02x}" for b in raw)


__all__ = ["mac_bytes", "mac_text", "normalize_mac", "parse_mac"]
