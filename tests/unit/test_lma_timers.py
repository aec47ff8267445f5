"""The LMA's timer heap against a naive model: same items fire at the same times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mag_ap.core.timers import COMPACT_MIN_ENTRIES, Scheduled, TimerHeap

OPS = st.lists(
    st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 50)), st.integers(0, 10)),
    max_size=80,
)


@given(OPS)
def test_timer_heap_fires_like_a_scan_of_all_deadlines(
    ops: list[tuple[int, int | None, int]],
) -> None:
    heap = TimerHeap()
    items = [Scheduled() for _ in range(6)]
    model: dict[int, float] = {}
    now = 0.0
    for index, deadline, step in ops:
        if deadline is None:
            heap.schedule(items[index], None)
            model.pop(index, None)
        else:
            heap.schedule(items[index], now + deadline)
            model[index] = now + deadline
        assert heap.next_deadline() == (min(model.values()) if model else None)
        now += step
        fired = []
        while (item := heap.pop_due(now)) is not None:
            fired.append(items.index(item))
        due = sorted((at, i) for i, at in model.items() if at <= now)
        assert sorted(fired) == sorted(i for _, i in due)
        for _, i in due:
            del model[i]
            assert items[i].timer_at is None


def test_postponed_deadline_fires_once_at_the_new_time() -> None:
    heap = TimerHeap()
    item = Scheduled()
    heap.schedule(item, 10.0)
    heap.schedule(item, 20.0)  # later: no new heap entry
    assert len(heap) == 1
    assert heap.next_deadline() == 20.0
    assert heap.pop_due(19.9) is None
    assert heap.pop_due(20.0) is item
    assert heap.next_deadline() is None


def test_stale_entries_are_swept() -> None:
    heap = TimerHeap()
    items = [Scheduled() for _ in range(3000)]
    for i, item in enumerate(items):
        heap.schedule(item, 1000.0 + i)
    for earlier in (500.0, 100.0, 1.0):
        for item in items:
            heap.schedule(item, earlier)  # each leaves a stale entry behind
    assert len(heap) <= 2 * len(items) + 1
    for item in items[:2900]:
        heap.schedule(item, None)
    assert len(heap) <= COMPACT_MIN_ENTRIES
    fired = 0
    while heap.pop_due(5000.0) is not None:
        fired += 1
    assert fired == 100
