"""One heap of deadlines with lazy deletion, so the LMA never scans its whole cache.

An item (binding cache entry, peer, pending revocation) carries ``deadline_at``
(None: nothing scheduled) and ``heap_at`` (the earliest heap entry it owns).
Moving a deadline later costs nothing: the old entry fires, sees the later
deadline and is pushed again. Moving it earlier pushes one new entry and
leaves the old one stale. Stale entries are skipped when popped and swept
when they make up half the heap.
"""

from __future__ import annotations

import heapq
from itertools import count

COMPACT_MIN_ENTRIES = 1024  # below this, stale entries are cheaper to skip than to sweep


class Scheduled:
    """Something with at most one live deadline."""

    __slots__ = ("deadline_at", "heap_at")

    def __init__(self) -> None:
        self.deadline_at: float | None = None
        self.heap_at: float | None = None


class TimerHeap:
    """Deadlines of ``Scheduled`` items; ``pop_due`` hands back the items that are due."""

    __slots__ = ("_heap", "_stale", "_tiebreak")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Scheduled]] = []
        self._tiebreak = count()
        self._stale = 0  # entries known to be dead (upper bound)

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, item: Scheduled, deadline_at: float | None) -> None:
        """Set (or clear, with None) the item's deadline."""
        item.deadline_at = deadline_at
        if deadline_at is None:
            if item.heap_at is not None:
                self._stale += 1
                self._maybe_compact()
            return
        if item.heap_at is None or deadline_at < item.heap_at:
            if item.heap_at is not None:
                self._stale += 1
            item.heap_at = deadline_at
            heapq.heappush(self._heap, (deadline_at, next(self._tiebreak), item))
            self._maybe_compact()

    def next_at(self) -> float | None:
        """The earliest live deadline (settles stale and postponed entries on the way)."""
        heap = self._heap
        while heap:
            at, _, item = heap[0]
            if item.heap_at != at or item.deadline_at is None:
                heapq.heappop(heap)
                if item.heap_at == at:
                    item.heap_at = None
                self._stale = max(0, self._stale - 1)
                continue
            if item.deadline_at > at:  # postponed: move the entry to the new deadline
                item.heap_at = item.deadline_at
                heapq.heapreplace(heap, (item.deadline_at, next(self._tiebreak), item))
                continue
            return at
        return None

    def pop_due(self, now: float) -> Scheduled | None:
        """The next item whose deadline has passed, already unscheduled; None when none is due."""
        at = self.next_at()
        if at is None or at > now:
            return None
        _, _, item = heapq.heappop(self._heap)
        item.heap_at = None
        item.deadline_at = None
        return item

    def _maybe_compact(self) -> None:
        if self._stale * 2 > len(self._heap) > COMPACT_MIN_ENTRIES:
            self._compact()

    def _compact(self) -> None:
        live = []
        for entry in self._heap:
            at, _, item = entry
            if item.heap_at != at:
                continue
            if item.deadline_at is None:
                item.heap_at = None
                continue
            live.append(entry)
        heapq.heapify(live)
        self._heap = live
        self._stale = 0
