"""Pure parts of ``make demo``: ping output -> per-packet facts, loss windows, the timeline text.

No IO here: the demo hands in text and wall-clock times, so this is unit-tested
on recorded output. ``ping -D -O`` prints one line per reply
(``[1732700000.123456] 64 bytes from ...: icmp_seq=7 ttl=62 time=0.21 ms``) and
one per packet still unanswered when the next one leaves
(``[...] no answer yet for icmp_seq=8``), then a summary.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STEPS", "Breakdown", "PingLog", "Timeline", "breakdown", "parse_ping", "percentile"]

_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) .*time=([\d.]+) ms")
_NO_ANSWER = re.compile(r"^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)")
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


@dataclass
class PingLog:
    """What one ping run showed: reply times by sequence, and its own summary."""

    replies: dict[int, float] = field(default_factory=dict)  # icmp_seq -> wall time of reply
    rtt_ms: dict[int, float] = field(default_factory=dict)
    unanswered_at: dict[int, float] = field(default_factory=dict)  # seq -> when ping gave up
    transmitted: int = 0
    received: int = 0

    @property
    def lost(self) -> int:
        return self.transmitted - self.received

    def sent_at(self, seq: int) -> float | None:
        """When ``seq`` left: reply time minus RTT, else the next packet's 'no answer' line."""
        if seq in self.replies:
            return self.replies[seq] - self.rtt_ms[seq] / 1000
        return self.unanswered_at.get(seq)

    def first_reply_after(self, wall: float) -> tuple[int, float] | None:
        """(seq, time) of the first reply received after ``wall``."""
        later = [(t, s) for s, t in self.replies.items() if t > wall]
        if not later:
            return None
        t, s = min(later)
        return s, t

    def last_reply_before(self, wall: float) -> tuple[int, float] | None:
        earlier = [(t, s) for s, t in self.replies.items() if t <= wall]
        if not earlier:
            return None
        t, s = max(earlier)
        return s, t

    def window(self, start: float, end: float) -> tuple[int, int]:
        """(sent, lost) among the packets that left between ``start`` and ``end``."""
        sent = lost = 0
        for seq in range(1, self.transmitted + 1):
            at = self.sent_at(seq)
            if at is None or not start <= at <= end:
                continue
            sent += 1
            lost += seq not in self.replies
        return sent, lost

    def interruption_ms(self, start: float, end: float) -> float | None:
        """The longest silence between two consecutive replies that touches [start, end]."""
        times = sorted(self.replies.values())
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times) if b >= start and a <= end]
        return round(max(gaps), 1) if gaps else None


def parse_ping(text: str) -> PingLog:
    """Parse ``ping -D -O`` output (replies, give-ups, the summary line)."""
    log = PingLog()
    for line in text.splitlines():
        if m := _REPLY.match(line):
            seq = int(m.group(2))
            log.replies.setdefault(seq, float(m.group(1)))
            log.rtt_ms.setdefault(seq, float(m.group(3)))
        elif m := _NO_ANSWER.match(line):
            log.unanswered_at.setdefault(int(m.group(2)), float(m.group(1)))
        elif m := _SUMMARY.search(line):
            log.transmitted, log.received = int(m.group(1)), int(m.group(2))
    if not log.transmitted and (log.replies or log.unanswered_at):
        # no summary (ping killed): count what we saw
        log.transmitted = max([*log.replies, *log.unanswered_at])
        log.received = len(log.replies)
    return log


@dataclass
class Timeline:
    """Events at wall-clock times, shown relative to the demo's start."""

    start_wall: float
    events: list[tuple[float, str]] = field(default_factory=list)

    def add(self, wall: float, text: str) -> None:
        self.events.append((wall, text))

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"t_s": round(wall - self.start_wall, 3), "event": text}
            for wall, text in sorted(self.events, key=lambda e: e[0])
        ]

    def render(self) -> str:
        return "\n".join(f"  {row['t_s']:8.3f} s  {row['event']}" for row in self.rows())


# --- per-handover breakdown ------------------------------------------------------------

# (label, start milestone, end milestone): each step of a handover as two real events.
# Milestones are monotonic times taken from the demo's own actions, the supplicant's
# log, the daemons' JSON logs (``mono``) and the ping capture; a step whose events
# were not seen is reported as missing, never guessed.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("echo interval before the station left (ping granularity)", "last_reply", "leave"),
    ("old MAG: departure to binding down", "leave", "old_down"),
    ("radio: move and association report (lab)", "leave", "associated"),
    ("802.1X at the new AP", "eap_started", "eap_success"),
    ("hostapd event to the MAG's trigger", "eap_success", "trigger"),
    # the daemon logs "attach" after the core has sent the PBU: the PBU ends this step
    ("identity and policy, PBU sent", "trigger", "pbu"),
    ("PBU to PBA (LMA round trip)", "pbu", "pba"),
    ("LMA route switch", "lma_route", "lma_route_done"),
    ("datapath install at the new MAG", "pba", "datapath_done"),
    ("unicast RA to the station", "datapath_done", "ra_done"),
    ("waiting for the next echo (ping granularity)", "restored", "first_echo_sent"),
    ("first echo round trip", "first_echo_sent", "first_reply"),
)


@dataclass
class Breakdown:
    """One handover's gap for one family, cut into steps; what no step covers is unaccounted."""

    gap_ms: float
    steps: list[dict[str, Any]]
    unaccounted_ms: float
    missing: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "gap_ms": self.gap_ms,
            "steps": self.steps,
            "unaccounted_ms": self.unaccounted_ms,
            "missing": self.missing,
        }


def breakdown(milestones: dict[str, float | None]) -> Breakdown | None:
    """Steps of the gap [last_reply, first_reply] and the time none of them covers.

    ``restored`` (traffic can flow both ways) is the later of the LMA's route
    switch and the new MAG's datapath, when the caller did not give it (the
    station keeps its addresses and router: the RA runs beside, not before).
    Durations are the steps' own; coverage is clipped to the gap and merged, so
    overlapping steps (the old MAG's teardown runs beside the new MAG's attach)
    are not counted twice.
    """
    start, end = milestones.get("last_reply"), milestones.get("first_reply")
    if start is None or end is None or end < start:
        return None
    marks = dict(milestones)
    if marks.get("restored") is None:
        parts = [marks.get(k) for k in ("lma_route_done", "datapath_done")]
        known = [p for p in parts if p is not None]
        marks["restored"] = max(known) if known else None
    steps, spans, missing = [], [], []
    for label, a, b in STEPS:
        t0, t1 = marks.get(a), marks.get(b)
        if t0 is None or t1 is None:
            missing.append(label)
            continue
        steps.append(
            {
                "step": label,
                "start_ms": round((t0 - start) * 1000, 1),
                "ms": round((t1 - t0) * 1000, 1),
            }
        )
        lo, hi = max(t0, start), min(t1, end)
        if hi > lo:
            spans.append((lo, hi))
    covered = 0.0
    cursor = start
    for lo, hi in sorted(spans):
        begin = max(lo, cursor)
        if hi > begin:
            covered += hi - begin
            cursor = hi
    gap = end - start
    return Breakdown(
        gap_ms=round(gap * 1000, 1),
        steps=steps,
        unaccounted_ms=round(max(0.0, gap - covered) * 1000, 1),
        missing=missing,
    )


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of the values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]
