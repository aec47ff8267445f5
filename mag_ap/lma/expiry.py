"""Deadlines of the LMA's binding cache entries in one-second buckets (a timer wheel).

A heap entry per binding cost ~110 bytes (a tuple, a tie-break int and the heap
slot) and a push per refresh. Here an entry is one reference in the list of the
second its deadline falls in: a refresh that moves the deadline to another
second appends it there and leaves the old reference, which is skipped when its
second comes (the entry's own ``deadline_at`` says where it belongs). The
earliest bucket's exact minimum is found by one scan when asked, so the driver's
one timer still fires at the exact deadline, and due entries come out in
deadline order (then in the order they were scheduled), as from the heap.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import BindingCacheEntry

__all__ = ["ExpiryWheel"]

_FIRING = -math.inf  # deadline_at of an entry taken out of its bucket, due, not yet handed out


class ExpiryWheel:
    """``schedule``/``next_at``/``pop_due`` of :class:`~mag_ap.core.timers.TimerHeap`, for BCEs."""

    __slots__ = ("_buckets", "_due", "_keys", "_min_at")

    def __init__(self) -> None:
        self._buckets: dict[int, list[BindingCacheEntry]] = {}
        self._keys: list[int] = []  # bucket seconds, a heap (one entry per bucket)
        self._due: list[tuple[float, BindingCacheEntry]] = []  # taken out, latest first
        self._min_at: float | None = None  # exact earliest deadline of the first bucket

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets.values()) + len(self._due)

    def schedule(self, entry: BindingCacheEntry, deadline_at: float | None) -> None:
        """Set (None: clear) the entry's deadline."""
        old = entry.deadline_at
        entry.deadline_at = deadline_at
        if deadline_at is not None:
            self.moved(entry, old, deadline_at)
        # else: its reference stays where it is and is skipped when its second comes

    def moved(self, entry: BindingCacheEntry, old: float | None, deadline_at: float) -> None:
        """The entry's ``deadline_at`` went from ``old`` to ``deadline_at`` (already set:
        the fast path writes it with the rest of the record)."""
        key = math.floor(deadline_at)
        if old is not None and old != _FIRING and math.floor(old) == key:
            self._note_min(key, deadline_at)
            return  # already referenced in that second's bucket
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
            heapq.heappush(self._keys, key)
        bucket.append(entry)
        self._note_min(key, deadline_at)

    def _note_min(self, key: int, deadline_at: float) -> None:
        if self._keys[0] == key and self._min_at is not None:
            self._min_at = min(self._min_at, deadline_at)
        elif self._keys[0] == key:
            self._min_at = None  # rescanned when asked
        elif self._min_at is not None and deadline_at < self._min_at:
            self._min_at = None

    def next_at(self) -> float | None:
        """The earliest live deadline."""
        due = self._due
        while due:
            at, entry = due[-1]
            if entry.deadline_at == _FIRING:
                return at
            due.pop()  # cleared or moved since it was taken out
        if self._min_at is not None:
            return self._min_at
        keys, buckets = self._keys, self._buckets
        while keys:
            key = keys[0]
            live = [e for e in buckets[key] if _in_bucket(e, key)]
            if live:
                self._min_at = min(_deadline(e) for e in live)
                return self._min_at
            heapq.heappop(keys)
            del buckets[key]
        return None

    def pop_due(self, now: float) -> BindingCacheEntry | None:
        """The next entry whose deadline has passed, already unscheduled; None when none is due."""
        while True:
            at = self.next_at()
            if at is None or at > now:
                return None
            due = self._due
            if due:
                _, entry = due.pop()
                entry.deadline_at = None
                return entry
            self._take_due(now)

    def _take_due(self, now: float) -> None:
        """Move the first bucket's due entries to ``_due``; keep the rest in the bucket."""
        key = self._keys[0]
        bucket = self._buckets[key]
        due: list[tuple[float, int, BindingCacheEntry]] = []
        keep: list[BindingCacheEntry] = []
        seen: set[int] = set()
        for entry in bucket:
            if not _in_bucket(entry, key) or id(entry) in seen:
                continue
            seen.add(id(entry))
            at = _deadline(entry)
            if at <= now:
                due.append((at, len(due), entry))
                entry.deadline_at = _FIRING
            else:
                keep.append(entry)
        due.sort(reverse=True)
        self._due = [(at, entry) for at, _, entry in due]
        self._min_at = None
        if keep:
            self._buckets[key] = keep
        else:
            heapq.heappop(self._keys)
            del self._buckets[key]


def _deadline(entry: BindingCacheEntry) -> float:
    at = entry.deadline_at
    assert at is not None
    return at


def _in_bucket(entry: BindingCacheEntry, key: int) -> bool:
    at = entry.deadline_at
    return at is not None and at != _FIRING and math.floor(at) == key
