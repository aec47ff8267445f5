"""The schedules of the core: one vocabulary, two shapes, one per kind of population.

Every schedule offers ``schedule(item, at)``, ``cancel(item)``, ``next_deadline()``
and ``pop_due(now)`` (the next due item, already unscheduled); an item carries
its own deadline in ``timer_at`` (None: nothing scheduled), so a schedule never
searches for an item's old slot: slots whose item moved on are stale and skipped.

* :class:`TimerHeap`: a few items with unrelated deadlines (the LMA's peers and
  pending revocations). A heap entry per item; items due at the same time come
  out in ``rank`` order (a tuple the owner chooses, empty by default), then in
  the order they were pushed.
* :class:`TimerWheel`: many items, most of which are moved long before they
  fire (binding cache entries at the LMA, binding update list entries at the
  MAG). One-second buckets: a slot is one reference (8 bytes) and O(1) per
  schedule; a second that comes due is sorted once and then fired in exact
  deadline order, O(1) per firing. It replaced the MAG's FIFO lanes (16 bytes
  a slot, and the deadline float kept by identity, which the LMA's packed
  records cannot keep) and the LMA's wheel that rescanned its earliest bucket
  for every firing (bench/timer_schedules.py measures both shapes).

The driver's one timer fires at ``next_deadline()``, exactly (no rounding).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from itertools import count
from typing import Protocol

COMPACT_MIN_ENTRIES = 1024  # below this, stale entries are cheaper to skip than to sweep

Rank = tuple[int, ...]
_NO_RANK: Rank = ()


class Scheduled:
    """Something with at most one live deadline."""

    __slots__ = ("heap_at", "heap_rank", "rank", "timer_at")

    def __init__(self) -> None:
        self.timer_at: float | None = None
        self.rank: Rank = _NO_RANK
        self.heap_at: float | None = None
        self.heap_rank: Rank = _NO_RANK


class TimerHeap:
    """A heap of ``Scheduled`` items, lazy deletion: postponing is free, stale entries are swept."""

    __slots__ = ("_heap", "_stale", "_tiebreak")

    def __init__(self) -> None:
        self._heap: list[tuple[float, Rank, int, Scheduled]] = []
        self._tiebreak = count()
        self._stale = 0  # entries known to be dead (upper bound)

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, item: Scheduled, at: float | None, rank: Rank = _NO_RANK) -> None:
        """Set (or clear, with None) the item's deadline and its rank among equal deadlines."""
        item.timer_at = at
        item.rank = rank
        if at is None:
            if item.heap_at is not None:
                self._stale += 1
                self._maybe_compact()
            return
        heap_at = item.heap_at
        if heap_at is None or (at, rank) < (heap_at, item.heap_rank):
            if heap_at is not None:
                self._stale += 1
            item.heap_at = at
            item.heap_rank = rank
            heapq.heappush(self._heap, (at, rank, next(self._tiebreak), item))
            self._maybe_compact()

    def cancel(self, item: Scheduled) -> None:
        """Clear the item's deadline (its heap entry turns stale)."""
        self.schedule(item, None)

    def next_deadline(self) -> float | None:
        """The earliest live deadline (settles stale and postponed entries on the way)."""
        heap = self._heap
        while heap:
            at, rank, _, item = heap[0]
            owned = item.heap_at == at and item.heap_rank == rank
            if not owned or item.timer_at is None:
                heapq.heappop(heap)
                if owned:
                    item.heap_at = None
                self._stale = max(0, self._stale - 1)
                continue
            if (item.timer_at, item.rank) > (at, rank):  # postponed: move to the new key
                item.heap_at, item.heap_rank = item.timer_at, item.rank
                heapq.heapreplace(heap, (item.timer_at, item.rank, next(self._tiebreak), item))
                continue
            return at
        return None

    def pop_due(self, now: float) -> Scheduled | None:
        """The next item whose deadline has passed, already unscheduled; None when none is due."""
        at = self.next_deadline()
        if at is None or at > now:
            return None
        item = heapq.heappop(self._heap)[3]
        item.heap_at = None
        item.timer_at = None
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
            if item.timer_at is None:
                item.heap_at = None
                continue
            live.append(entry)
        heapq.heapify(live)
        self._heap = live
        self._stale = 0


class Timed(Protocol):
    """An item of a :class:`TimerWheel`: its deadline (None: none), kept by the item
    (a plain attribute, or a descriptor such as the LMA's packed record field)."""

    @property
    def timer_at(self) -> float | None: ...

    @timer_at.setter
    def timer_at(self, value: float | None) -> None: ...


class TimerWheel:
    """One-second buckets of items, for many deadlines that mostly move before they fire.

    A bucket is a list of items (one reference each) whose ``timer_at`` fell in
    its second when scheduled: moving a deadline within its second costs nothing,
    to another second one append, and the old reference is skipped when its
    second comes (``timer_at`` says where the item belongs now). Asked for the
    next deadline, the wheel scans the earliest bucket once and keeps its
    minimum. When that second is due it is *opened*: its live items, sorted by
    deadline (then by the order they were scheduled), go into two parallel lists
    read from ``_open_pos``, and deadlines scheduled into it (or before it) are
    inserted there by bisection. Each firing is then O(1), where a scan of the
    bucket per firing cost O(bucket) for every timer of a busy second; a bucket
    that never fires (refreshed bindings) is never sorted.
    """

    __slots__ = (
        "_buckets",
        "_keys",
        "_min_at",
        "_open_at",
        "_open_items",
        "_open_key",
        "_open_pos",
    )

    def __init__(self) -> None:
        self._buckets: dict[int, list[Timed]] = {}
        self._keys: list[int] = []  # bucket seconds, a heap (one entry per bucket)
        self._min_at: float | None = None  # earliest deadline in bucket _keys[0] (None: scan)
        self._open_key: int | None = None  # the opened second; later ones are in buckets
        self._open_at: list[float] = []  # its deadlines, ascending from _open_pos
        self._open_items: list[Timed] = []
        self._open_pos = 0

    def __len__(self) -> int:
        """Slots held, stale ones included (an upper bound of the live deadlines)."""
        open_slots = len(self._open_at) - self._open_pos
        return open_slots + sum(len(bucket) for bucket in self._buckets.values())

    def schedule(self, item: Timed, at: float | None) -> None:
        """Set (None: clear) the item's deadline."""
        old = item.timer_at
        item.timer_at = at
        if at is None:
            self._forget(old)
        else:
            self.moved(item, old, at)

    def cancel(self, item: Timed) -> None:
        """Clear the item's deadline (its slot turns stale)."""
        old = item.timer_at
        item.timer_at = None
        self._forget(old)

    def moved(self, item: Timed, old: float | None, at: float) -> None:
        """The item's ``timer_at`` went from ``old`` to ``at``, already written (the LMA's
        fast path writes it with the rest of its packed record)."""
        if old is not None and old == at:
            return  # its slot holds the same deadline
        self._forget(old)
        key = math.floor(at)
        open_key = self._open_key
        if open_key is not None and key <= open_key:
            ats = self._open_at
            index = bisect_right(ats, at, self._open_pos)
            ats.insert(index, at)
            self._open_items.insert(index, item)
            return
        keys = self._keys
        if old is None or math.floor(old) != key:  # else already referenced in that bucket
            bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = [item]
                heapq.heappush(keys, key)
                if keys[0] == key:
                    self._min_at = at  # a new earliest bucket, with this item only
                return
            bucket.append(item)
        if keys[0] == key and self._min_at is not None and at < self._min_at:
            self._min_at = at

    def _forget(self, old: float | None) -> None:
        """A deadline left: the cached minimum may have been it."""
        if old is not None and old == self._min_at:
            self._min_at = None

    def next_deadline(self) -> float | None:
        """The earliest live deadline (drops stale slots and empty buckets on the way)."""
        ats, items = self._open_at, self._open_items
        pos = self._open_pos
        while pos < len(ats):
            at = ats[pos]
            if items[pos].timer_at == at:
                self._open_pos = pos
                return at
            pos += 1
        if pos:
            self._close()
        if self._min_at is not None:
            return self._min_at
        keys, buckets = self._keys, self._buckets
        while keys:
            key = keys[0]
            best: float | None = None
            for item in buckets[key]:
                deadline = item.timer_at
                if (
                    deadline is not None
                    and (best is None or deadline < best)
                    and math.floor(deadline) == key
                ):
                    best = deadline
            if best is not None:
                self._min_at = best
                return best
            heapq.heappop(keys)
            del buckets[key]
        return None

    def pop_due(self, now: float) -> Timed | None:
        """The item whose deadline is earliest and has passed, unscheduled; None if none is."""
        at = self.next_deadline()
        if at is None or at > now:
            return None
        if self._open_pos >= len(self._open_at):
            self._open_first()  # the earliest bucket is due: sort it once
        pos = self._open_pos
        item = self._open_items[pos]
        if pos + 1 < len(self._open_at):
            self._open_pos = pos + 1
        else:
            self._close()  # spent: free its lists now, not at the next peek
        item.timer_at = None
        return item

    def _close(self) -> None:
        """The open second is spent: later deadlines go to buckets again."""
        self._open_key = None
        self._open_at, self._open_items, self._open_pos = [], [], 0

    def _open_first(self) -> None:
        """Sort the live items of the earliest bucket into the open lists."""
        key = heapq.heappop(self._keys)
        slots: list[tuple[float, int, Timed]] = []
        seen: set[int] = set()
        for item in self._buckets.pop(key):
            at = item.timer_at
            if at is not None and math.floor(at) == key and id(item) not in seen:
                seen.add(id(item))
                slots.append((at, len(slots), item))
        slots.sort()
        self._min_at = None
        self._open_key = key
        self._open_at = [slot[0] for slot in slots]
        self._open_items = [slot[2] for slot in slots]
        self._open_pos = 0
