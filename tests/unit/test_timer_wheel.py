"""TimerWheel: one-second buckets, the due second sorted once, stale slots skipped by value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mag_ap.core.timers import Timed, TimerWheel


class Item:
    def __init__(self, name: str) -> None:
        self.name = name
        self.timer_at: float | None = None


def drain(wheel: TimerWheel, now: float) -> list[str]:
    out = []
    while (item := wheel.pop_due(now)) is not None:
        assert isinstance(item, Item) and item.timer_at is None
        out.append(item.name)
    return out


def test_items_come_out_by_deadline_across_seconds_and_within_one() -> None:
    wheel = TimerWheel()
    a, b, c, d = Item("a"), Item("b"), Item("c"), Item("d")
    wheel.schedule(a, 10.7)
    wheel.schedule(b, 12.0)
    wheel.schedule(c, 10.2)  # same second as a, earlier: sorted when the second opens
    wheel.schedule(d, 11.5)
    assert wheel.next_deadline() == 10.2
    assert wheel.pop_due(10.1) is None
    assert drain(wheel, 11.5) == ["c", "a", "d"]
    assert wheel.next_deadline() == 12.0
    assert drain(wheel, 20.0) == ["b"]
    assert wheel.next_deadline() is None


def test_rescheduled_and_cleared_items_leave_only_stale_slots() -> None:
    wheel = TimerWheel()
    a, b = Item("a"), Item("b")
    wheel.schedule(a, 5.0)
    wheel.schedule(b, 6.0)
    wheel.schedule(a, 8.0)  # moved: its slot in second 5 is stale
    wheel.cancel(b)
    assert wheel.next_deadline() == 8.0
    assert drain(wheel, 7.0) == []
    assert drain(wheel, 8.0) == ["a"]
    assert drain(wheel, 100.0) == [] and wheel.next_deadline() is None


def test_back_to_an_equal_deadline_fires_once() -> None:
    wheel = TimerWheel()
    a = Item("a")
    wheel.schedule(a, 30.0)
    wheel.schedule(a, 3.0)
    wheel.schedule(a, 30.0)  # back: two references in second 30
    assert drain(wheel, 3.0) == []  # the slot in second 3 is stale
    assert drain(wheel, 30.0) == ["a"]
    assert drain(wheel, 30.0) == []  # the duplicate died when the first fired


def test_deadlines_scheduled_into_the_open_second_keep_the_order() -> None:
    wheel = TimerWheel()
    a, b, c, d = Item("a"), Item("b"), Item("c"), Item("d")
    wheel.schedule(a, 10.1)
    wheel.schedule(b, 10.9)
    assert drain(wheel, 10.1) == ["a"]  # second 10 is open now
    wheel.schedule(c, 10.5)  # into the open second, before b
    wheel.schedule(d, 9.0)  # in the past: due first
    wheel.schedule(a, 10.9)  # equal to b's: after b (scheduled later)
    assert wheel.next_deadline() == 9.0
    assert drain(wheel, 11.0) == ["d", "c", "b", "a"]


def test_cancelling_the_earliest_moves_next_deadline_on() -> None:
    wheel = TimerWheel()
    a, b = Item("a"), Item("b")
    wheel.schedule(a, 4.2)
    wheel.schedule(b, 4.6)
    assert wheel.next_deadline() == 4.2
    wheel.cancel(a)
    assert wheel.next_deadline() == 4.6
    wheel.schedule(b, 4.1)
    assert wheel.next_deadline() == 4.1


OPS = st.lists(
    st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 40)), st.integers(0, 7)),
    max_size=80,
)


@given(OPS)
def test_timer_wheel_fires_like_a_scan_of_all_deadlines(
    ops: list[tuple[int, int | None, int]],
) -> None:
    wheel = TimerWheel()
    items: list[Timed] = [Item(str(i)) for i in range(6)]
    model: dict[int, float] = {}
    now = 0.0
    for index, tenths, step in ops:
        if tenths is None:
            wheel.cancel(items[index])
            model.pop(index, None)
        else:
            wheel.schedule(items[index], now + tenths / 4)
            model[index] = now + tenths / 4
        assert wheel.next_deadline() == (min(model.values()) if model else None)
        now += step / 2
        fired = []
        while (item := wheel.pop_due(now)) is not None:
            fired.append(items.index(item))
        due = sorted((at, i) for i, at in model.items() if at <= now)
        assert [model[i] for i in fired] == sorted(model[i] for i in fired)
        assert sorted(fired) == sorted(i for _, i in due)
        for _, i in due:
            del model[i]
            assert items[i].timer_at is None
