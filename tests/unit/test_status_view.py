"""`mag-ap status` for humans shows each LMA's heartbeat support."""

from __future__ import annotations

from mag_ap.runtime.status_view import render_status


def test_peers_table_says_heartbeats_are_unsupported() -> None:
    answer = {
        "role": "mag",
        "status": {
            "bindings": [],
            "counters": {"heartbeat_unsupported": 1},
            "peers": [
                {"address": "2001:db8::1", "bindings": 2, "heartbeats": "unsupported",
                 "missed_heartbeats": 0, "restart_counter": None},
            ],
        },
        "runtime": {"own_address": "2001:db8::2"},
    }  # fmt: skip
    text = render_status(answer)
    header = next(line for line in text.splitlines() if line.startswith("LMA "))
    assert header.split() == ["LMA", "BINDINGS", "HEARTBEATS", "MISSED", "RESTART", "COUNTER"]
    row = next(line for line in text.splitlines() if line.startswith("2001:db8::1"))
    assert row.split() == ["2001:db8::1", "2", "unsupported", "0", "-"]
    assert "heartbeat_unsupported  1" in text


def test_lma_view_has_no_peer_table() -> None:
    answer = {"role": "lma", "status": {"bindings": [], "counters": {}, "peers": [{"a": 1}]}}
    assert "HEARTBEATS" not in render_status(answer)
