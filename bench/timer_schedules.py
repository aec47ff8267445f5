"""The core's schedules with many bindings: CPU per firing and bytes per slot.

``n`` items with deadlines spread evenly over a 60 s refresh cycle, fired one
at a time at their exact deadlines (as the driver's one timer does) and each
rescheduled 60 s on, for two cycles. Bytes per slot: tracemalloc after the
first ``n`` schedules and a ``next_deadline()``. Compares
:class:`~mag_ap.core.timers.TimerWheel` (bindings) with
:class:`~mag_ap.core.timers.TimerHeap` (peers, revocations). In process, no root.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from mag_ap.core.timers import Scheduled, TimerHeap, TimerWheel

from .common import BenchResult

TITLE = "core schedules: CPU per firing and bytes per slot, many spread deadlines"
SIZES = (1000, 10_000, 40_000)
CYCLE_S = 60.0
TARGET_WHEEL_US_PER_FIRING = 3.0
TARGET_WHEEL_BYTES_PER_SLOT = 12.0


class _Item:
    __slots__ = ("timer_at",)

    def __init__(self) -> None:
        self.timer_at: float | None = None


def _curve(kind: str, n: int) -> dict[str, Any]:
    rnd = random.Random(n)
    starts = sorted(rnd.uniform(0.0, CYCLE_S) for _ in range(n))
    ops: tuple[Any, ...]  # (schedule, next_deadline, pop_due) of either shape
    if kind == "wheel":
        wheel = TimerWheel()
        items: list[Any] = [_Item() for _ in range(n)]
        ops = (wheel.schedule, wheel.next_deadline, wheel.pop_due)
    else:
        heap = TimerHeap()
        items = [Scheduled() for _ in range(n)]
        ops = (heap.schedule, heap.next_deadline, heap.pop_due)
    schedule: Callable[[Any, float], None] = ops[0]
    next_deadline: Callable[[], float | None] = ops[1]
    pop_due: Callable[[float], Any] = ops[2]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for item, at in zip(items, starts, strict=True):
            schedule(item, at)
        next_deadline()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    fired = 0
    t0 = time.process_time()
    while (due_at := next_deadline()) is not None and due_at <= 2 * CYCLE_S:
        while (item := pop_due(due_at)) is not None:
            fired += 1
            schedule(item, due_at + CYCLE_S)
    cpu_s = time.process_time() - t0
    return {
        "schedule": kind,
        "items": n,
        "fired": fired,
        "us_per_firing": round(1e6 * cpu_s / max(1, fired), 2),
        "bytes_per_slot": round(used / n, 1),
    }


def run(sizes: Sequence[int] = SIZES) -> BenchResult:
    result = BenchResult("timer_schedules", TITLE)
    rows = [_curve(kind, n) for n in sizes for kind in ("wheel", "heap")]
    result.metrics["curves"] = rows
    top = [row for row in rows if row["schedule"] == "wheel"][-1]
    result.target(
        f"wheel_us_per_firing_at_{top['items']}",
        top["us_per_firing"],
        TARGET_WHEEL_US_PER_FIRING,
        "<=",
        "us",
    )
    result.target(
        f"wheel_bytes_per_slot_at_{top['items']}",
        top["bytes_per_slot"],
        TARGET_WHEEL_BYTES_PER_SLOT,
        "<=",
        "B",
    )
    return result
