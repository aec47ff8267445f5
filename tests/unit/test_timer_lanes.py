"""TimerLanes: FIFO lanes with a heap for out-of-order deadlines, lazy deletion by identity."""

from __future__ import annotations

from mag_ap.core.timer_lanes import MAX_LANES, TimerLanes


class Item:
    def __init__(self, name: str) -> None:
        self.name = name
        self.timer_at: float | None = None


def drain(lanes: TimerLanes, now: float) -> list[str]:
    out = []
    while (item := lanes.pop_due(now)) is not None:
        assert isinstance(item, Item) and item.timer_at is None
        out.append(item.name)
    return out


def test_items_come_out_by_deadline_across_lanes_and_the_heap() -> None:
    lanes = TimerLanes()
    a, b, c, d = Item("a"), Item("b"), Item("c"), Item("d")
    lanes.schedule(a, 10.0, "refresh")
    lanes.schedule(b, 12.0, "refresh")
    lanes.schedule(c, 11.0, "refresh")  # earlier than the lane's tail: the heap takes it
    lanes.schedule(d, 10.5, "retransmit")
    assert lanes.next_at() == 10.0
    assert lanes.pop_due(9.9) is None
    assert drain(lanes, 11.0) == ["a", "d", "c"]
    assert lanes.next_at() == 12.0
    assert drain(lanes, 20.0) == ["b"]
    assert lanes.next_at() is None


def test_rescheduled_and_cleared_items_leave_only_stale_slots() -> None:
    lanes = TimerLanes()
    a, b = Item("a"), Item("b")
    lanes.schedule(a, 5.0, "x")
    lanes.schedule(b, 6.0, "x")
    lanes.schedule(a, 8.0, "y")  # moved: its slot in "x" is stale
    lanes.schedule(b, None)  # cleared
    assert lanes.next_at() == 8.0
    assert drain(lanes, 7.0) == []
    assert drain(lanes, 8.0) == ["a"]
    assert drain(lanes, 100.0) == [] and lanes.next_at() is None


def test_back_to_an_equal_deadline_fires_once() -> None:
    lanes = TimerLanes()
    a = Item("a")
    expires = 30.0
    lanes.schedule(a, expires, "expiry")
    lanes.schedule(a, 3.0, "retransmit")
    lanes.schedule(a, expires, "expiry")  # the same object again: two live-looking slots
    assert drain(lanes, 3.0) == []  # the retransmit slot is stale (timer_at is expires)
    assert drain(lanes, 30.0) == ["a"]
    assert drain(lanes, 30.0) == []  # the duplicate slot died when the first fired


def test_lanes_beyond_the_limit_use_the_heap() -> None:
    lanes = TimerLanes()
    items = [Item(str(i)) for i in range(MAX_LANES + 5)]
    for i, item in enumerate(items):
        lanes.schedule(item, 100.0 - i, ("lane", i))
    assert drain(lanes, 100.0) == [item.name for item in reversed(items)]
