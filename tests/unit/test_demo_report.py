"""The demo's pure report helpers on recorded ``ping -D -O`` output."""

from __future__ import annotations

from lab.demo_report import Timeline, breakdown, parse_ping, percentile

RECORDED = """\
PING 198.51.100.2 (198.51.100.2) 56(84) bytes of data.
[100.000000] 64 bytes from 198.51.100.2: icmp_seq=1 ttl=63 time=0.100 ms
[100.020000] 64 bytes from 198.51.100.2: icmp_seq=2 ttl=63 time=0.100 ms
[100.060000] no answer yet for icmp_seq=3
[100.080000] no answer yet for icmp_seq=4
[100.100000] 64 bytes from 198.51.100.2: icmp_seq=5 ttl=63 time=0.500 ms
[100.120000] 64 bytes from 198.51.100.2: icmp_seq=6 ttl=63 time=0.100 ms

--- 198.51.100.2 ping statistics ---
6 packets transmitted, 4 received, 33.3333% packet loss, time 120ms
"""


def test_replies_give_ups_and_summary() -> None:
    log = parse_ping(RECORDED)
    assert sorted(log.replies) == [1, 2, 5, 6]
    assert sorted(log.unanswered_at) == [3, 4]
    assert (log.transmitted, log.received, log.lost) == (6, 4, 2)
    assert log.sent_at(5) == 100.1 - 0.0005
    assert log.sent_at(3) == 100.06


def test_windows_and_interruption() -> None:
    log = parse_ping(RECORDED)
    assert log.window(100.05, 100.09) == (2, 2)
    assert log.window(0, 200) == (6, 2)
    assert log.interruption_ms(100.03, 100.09) == 80.0  # 100.020 -> 100.100
    assert log.first_reply_after(100.03) == (5, 100.1)
    assert log.last_reply_before(100.05) == (2, 100.02)
    assert log.first_reply_after(200) is None


def test_killed_ping_without_summary_is_counted_from_its_lines() -> None:
    text = "\n".join(RECORDED.splitlines()[:5])  # replies 1, 2 and give-ups 3, 4
    log = parse_ping(text)
    assert (log.transmitted, log.received) == (4, 2)


def test_timeline_is_sorted_and_relative() -> None:
    timeline = Timeline(start_wall=1000.0)
    timeline.add(1002.5, "second")
    timeline.add(1001.25, "first")
    assert timeline.rows() == [
        {"t_s": 1.25, "event": "first"},
        {"t_s": 2.5, "event": "second"},
    ]
    assert timeline.render().splitlines()[0].strip() == "1.250 s  first"


def test_breakdown_covers_the_gap_and_reports_what_no_step_explains() -> None:
    marks: dict[str, float | None] = {
        "last_reply": 10.000,
        "leave": 10.004,
        "associated": 10.006,
        "eap_started": 10.006,
        "eap_success": 10.016,
        "trigger": 10.017,
        "attach": 10.018,
        "pbu": 10.018,
        "pba": 10.020,
        "lma_route": 10.019,
        "lma_route_done": 10.021,
        "datapath_done": 10.023,
        "ra_done": 10.024,
        # 10.024 .. 10.027: nothing explains these 3 ms
        "first_echo_sent": 10.027,
        "first_reply": 10.028,
        "old_down": None,  # not seen: reported missing, not guessed
    }
    b = breakdown(marks)
    assert b is not None
    assert b.gap_ms == 28.0
    assert b.missing == ["old MAG: departure to binding down"]
    steps = {s["step"]: s["ms"] for s in b.steps}
    assert steps["802.1X at the new AP"] == 10.0
    assert steps["waiting for the next echo (ping granularity)"] == 4.0  # from "restored"
    assert b.unaccounted_ms == 0.0  # the wait for the echo covers it
    del marks["first_echo_sent"]
    b2 = breakdown(marks)
    # without the echo's send time neither the wait nor the round trip is explained
    assert b2 is not None and b2.unaccounted_ms == 4.0
    assert breakdown({"last_reply": 1.0}) is None


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0
    assert percentile([float(i) for i in range(1, 21)], 100) == 20.0
