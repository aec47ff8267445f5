"""Deadlines of many items in a few FIFO lanes: O(1) per schedule, per pop and per peek.

Most deadlines of a MAG are ``base + constant`` with a base that only grows:
``now + timeout`` for a retransmission, ``PBU sent + lifetime - lead`` for a
refresh. Deadlines of one kind with one constant therefore arrive in due
order, and a FIFO (``deque``) per (kind, constant) keeps them sorted for free,
where a heap paid an entry (a tuple and a rank) and O(log n) per binding per
refresh. A deadline earlier than its lane's tail (a PBA answering an older
retransmission, a lane limit reached) goes to one small heap instead.

Lazy deletion by identity: an item carries ``timer_at``, the deadline object
it is scheduled for (None: nothing). A lane slot is live while its item's
``timer_at`` *is* the float object stored beside it; rescheduling stores a new
object, so the old slot turns stale without being searched for, and is
dropped when it reaches the head. Two lane slots per item (the item and its
deadline, shared with the item) cost 16 bytes, no tuple.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable
from itertools import count
from typing import Protocol

MAX_LANES = 64  # beyond this many (kind, constant) pairs, new deadlines use the heap


class Timed(Protocol):
    """Something with at most one live deadline (``timer_at``, None: none)."""

    timer_at: float | None


class _Lane:
    __slots__ = ("at", "items")

    def __init__(self) -> None:
        self.at: deque[float] = deque()
        self.items: deque[Timed] = deque()


class TimerLanes:
    """``schedule(item, at, lane)``; ``next_at()`` and ``pop_due(now)`` hand the earliest back.

    Items due at the same time come out lane by lane in the order the lanes
    were first used, then in the order they were scheduled; the heap's before
    a lane's on a tie.
    """

    __slots__ = ("_heap", "_lanes", "_tiebreak")

    def __init__(self) -> None:
        self._lanes: dict[Hashable, _Lane] = {}
        self._heap: list[tuple[float, int, Timed]] = []
        self._tiebreak = count()

    def __len__(self) -> int:
        """Slots held, stale ones included (an upper bound of the live deadlines)."""
        return len(self._heap) + sum(len(lane.at) for lane in self._lanes.values())

    def schedule(self, item: Timed, at: float | None, lane: Hashable = None) -> None:
        """Set (None: clear) the item's deadline; ``lane`` names the kind and constant."""
        if at is item.timer_at:
            return
        item.timer_at = at
        if at is None:
            return  # the old slot is stale now
        fifo = self._lanes.get(lane)
        if fifo is None and len(self._lanes) < MAX_LANES:
            fifo = self._lanes[lane] = _Lane()
        if fifo is not None and (not fifo.at or fifo.at[-1] <= at):
            fifo.at.append(at)
            fifo.items.append(item)
        else:
            heapq.heappush(self._heap, (at, next(self._tiebreak), item))

    def _head(self) -> tuple[float, _Lane | None] | None:
        """The earliest live slot (dropping stale heads on the way): its deadline and lane."""
        best: tuple[float, _Lane | None] | None = None
        heap = self._heap
        while heap:
            at, _, item = heap[0]
            if item.timer_at is at:
                best = (at, None)
                break
            heapq.heappop(heap)
        for fifo in self._lanes.values():
            ats, items = fifo.at, fifo.items
            while ats:
                at = ats[0]
                if items[0].timer_at is at:
                    if best is None or at < best[0]:
                        best = (at, fifo)
                    break
                ats.popleft()
                items.popleft()
        return best

    def next_at(self) -> float | None:
        """The earliest live deadline."""
        head = self._head()
        return None if head is None else head[0]

    def pop_due(self, now: float) -> Timed | None:
        """The item whose deadline is earliest and has passed, unscheduled; None if none is."""
        head = self._head()
        if head is None or head[0] > now:
            return None
        fifo = head[1]
        if fifo is None:
            item = heapq.heappop(self._heap)[2]
        else:
            fifo.at.popleft()
            item = fifo.items.popleft()
        item.timer_at = None
        return item
