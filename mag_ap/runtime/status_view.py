"""``mag-ap status`` for humans: the control socket's JSON answer as a table and counters.

Pure text formatting, no IO, so the CLI imports it cheaply and tests call it
directly. Missing fields print as ``-`` so a newer or older daemon still renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Column = tuple[str, Callable[[Mapping[str, Any]], str]]


def _field(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    def get(row: Mapping[str, Any]) -> str:
        for key in keys:
            value = row.get(key)
            if value is not None and value != "":
                return str(value)
        return "-"

    return get


def _seconds(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    def get(row: Mapping[str, Any]) -> str:
        for key in keys:
            value = row.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return f"{value:.0f}s"
        return "-"

    return get


def _millis(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    def get(row: Mapping[str, Any]) -> str:
        for key in keys:
            value = row.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return f"{value:.1f}ms"
        return "-"

    return get


MAG_COLUMNS: Sequence[Column] = (
    ("MN-ID", _field("mn_id")),
    ("MAC", _field("mac")),
    ("STATE", _field("state")),
    ("LMA", _field("lma")),
    ("HNP", _field("hnp")),
    ("IPv4 HoA", _field("ipv4_hoa")),
    ("LIFETIME LEFT", _seconds("lifetime_left_s", "expires_in_s")),
    ("LAST REG DELAY", _millis("last_registration_delay_ms")),
)

LMA_COLUMNS: Sequence[Column] = (
    ("MN-ID", _field("mn_id")),
    ("MAG", _field("mag")),
    ("STATE", _field("state")),
    ("HNP", _field("hnp")),
    ("IPv4 HoA", _field("ipv4_hoa")),
    ("LIFETIME LEFT", _seconds("lifetime_left_s", "expires_in_s")),
    ("REGS", _field("registrations")),
    ("HANDOVERS", _field("handovers")),
)


# MAG: one row per LMA; HEARTBEATS is "unsupported" for an LMA without RFC 5847.
PEER_COLUMNS: Sequence[Column] = (
    ("LMA", _field("address")),
    ("BINDINGS", _field("bindings")),
    ("HEARTBEATS", _field("heartbeats")),
    ("MISSED", _field("missed_heartbeats")),
    ("RESTART COUNTER", _field("restart_counter")),
)


def bindings_of(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The binding rows of an endpoint status, whether a list or a dict keyed by id."""
    raw = status.get("bindings", [])
    if isinstance(raw, Mapping):
        return [row for row in raw.values() if isinstance(row, Mapping)]
    if isinstance(raw, list):
        return [row for row in raw if isinstance(row, Mapping)]
    return []


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """A left-aligned text table with a header line."""
    cells = [[get(row) for _, get in columns] for row in rows]
    widths = [len(title) for title, _ in columns]
    for line in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, line, strict=True)]
    out = ["  ".join(t.ljust(w) for (t, _), w in zip(columns, widths, strict=True)).rstrip()]
    out += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    return "\n".join(out) + "\n"


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    elif isinstance(value, int | float | str | bool) or value is None:
        out.append((prefix, str(value)))


def render_status(answer: Mapping[str, Any]) -> str:
    """The whole human view: header, bindings table, then every counter as ``name value``."""
    role = str(answer.get("role", "mag"))
    status = answer.get("status") or {}
    runtime = answer.get("runtime") or {}
    rows = bindings_of(status)
    head = f"{role.upper()} {runtime.get('own_address', '')}".rstrip()
    extras = []
    if "restart_counter" in runtime:
        extras.append(f"restart counter {runtime['restart_counter']}")
    if "uptime_s" in runtime:
        extras.append(f"up {float(runtime['uptime_s']):.0f}s")
    extras.append(f"{len(rows)} binding{'s' if len(rows) != 1 else ''}")
    parts = [f"{head} ({', '.join(extras)})\n"]
    if rows:
        parts.append(render_table(rows, LMA_COLUMNS if role == "lma" else MAG_COLUMNS))
    peers = status.get("peers")
    if role == "mag" and isinstance(peers, list) and peers:
        rows_p = [p for p in peers if isinstance(p, Mapping)]
        parts.append("\n" + render_table(rows_p, PEER_COLUMNS))
    counters: list[tuple[str, str]] = []
    _flatten("", status.get("counters", {}), counters)
    for section in ("mag", "driver", "socket", "control"):
        _flatten(section, runtime.get(section, {}), counters)
    for key, value in status.items():
        if key not in ("bindings", "counters"):
            _flatten(key, value, counters)
    if counters:
        width = max(len(name) for name, _ in counters)
        parts.append("\ncounters:\n")
        parts.extend(f"  {name.ljust(width)}  {value}\n" for name, value in counters)
    return "".join(parts)
