"""One heap of deadlines with lazy deletion, so no engine ever scans all its items.

Shared by the LMA (binding cache entries, peers, pending revocations) and the
MAG (binding update list entries). An item carries ``deadline_at`` (None:
nothing scheduled) and ``heap_at`` (the earliest heap entry it owns). Moving a
deadline later costs nothing: the old entry fires, sees the later deadline and
is pushed again. Moving it earlier pushes one new entry and leaves the old one
stale. Stale entries are skipped when popped and swept when they make up half
the heap.

Items due at the same time come out in ``rank`` order (a tuple the owner
chooses, empty by default), then in the order they were pushed.
"""

from __future__ import annotations

import heapq
from itertools import count

COMPACT_MIN_ENTRIES = 1024  # below this, stale entries are cheaper to skip than to sweep

Rank = tuple[int, ...]
_NO_RANK: Rank = ()


class Scheduled:
    """Something with at most one live deadline."""

    __slots__ = ("deadline_at", "heap_at", "heap_rank", "rank")

    def __init__(self) -> None:
        self.deadline_at: float | None = None
        self.rank: Rank = _NO_RANK
        self.heap_at: float | None = None
        self.heap_rank: Rank = _NO_RANK


class TimerHeap:
    """Deadlines of ``Scheduled`` items; ``pop_due`` hands back the items that are due."""

    __slots__ = ("_heap", "_stale", "_tiebreak")

    def __init__(self) -> None:
        self._heap: list[tuple[float, Rank, int, Scheduled]] = []
        self._tiebreak = count()
        self._stale = 0  # entries known to be dead (upper bound)

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, item: Scheduled, deadline_at: float | None, rank: Rank = _NO_RANK) -> None:
        """Set (or clear, with None) the item's deadline and its rank among equal deadlines."""
        item.deadline_at = deadline_at
        item.rank = rank
        if deadline_at is None:
            if item.heap_at is not None:
                self._stale += 1
                self._maybe_compact()
            return
        heap_at = item.heap_at
        if heap_at is None or (deadline_at, rank) < (heap_at, item.heap_rank):
            if heap_at is not None:
                self._stale += 1
            item.heap_at = deadline_at
            item.heap_rank = rank
            heapq.heappush(self._heap, (deadline_at, rank, next(self._tiebreak), item))
            self._maybe_compact()

    def next_at(self) -> float | None:
        """The earliest live deadline (settles stale and postponed entries on the way)."""
        heap = self._heap
        while heap:
            at, rank, _, item = heap[0]
            owned = item.heap_at == at and item.heap_rank == rank
            if not owned or item.deadline_at is None:
                heapq.heappop(heap)
                if owned:
                    item.heap_at = None
                self._stale = max(0, self._stale - 1)
                continue
            if (item.deadline_at, item.rank) > (at, rank):  # postponed: move to the new key
                item.heap_at, item.heap_rank = item.deadline_at, item.rank
                heapq.heapreplace(heap, (item.deadline_at, item.rank, next(self._tiebreak), item))
                continue
            return at
        return None

    def pop_due(self, now: float) -> Scheduled | None:
        """The next item whose deadline has passed, already unscheduled; None when none is due."""
        at = self.next_at()
        if at is None or at > now:
            return None
        item = heapq.heappop(self._heap)[3]
        item.heap_at = None
        item.deadline_at = None
        return item

    def _maybe_compact(self) -> None:
        if self._stale * 2 > len(self._heap) > COMPACT_MIN_ENTRIES:
            self._compact()

    def _compact(self) -> None:
        live = []
        for entry in self._heap:
            at, rank, _, item = entry
            if item.heap_at != at or item.heap_rank != rank:
                continue
            if item.deadline_at is None:
                item.heap_at = None
                continue
            live.append(entry)
        heapq.heapify(live)
        self._heap = live
        self._stale = 0
