"""The demo's pure report helpers on recorded ``ping -D -O`` output."""

from __future__ import annotations

from lab.demo_report import Timeline, parse_ping

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
