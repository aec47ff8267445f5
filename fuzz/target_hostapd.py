"""hostapd control-socket lines (events and STA replies): the parsers never raise."""

from __future__ import annotations

from mag_ap_hostapd._events import parse_event, parse_sta


def one_input(data: bytes) -> None:
    """One datagram as an event and as a station reply."""
    parse_event(data)
    info = parse_sta(data)
    if info is not None:
        _ = (info.authorized, info.user_name)
