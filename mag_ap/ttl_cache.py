"""The one TTL cache (DESIGN.md rule 9), driven by the caller's clock (pure: tests pass ``now``).

The RADIUS policy client keeps profiles in it and the DNS discovery plugin keeps
resolved LMA addresses (its TTL clamping is policy on top, in ``mag_ap_dns``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values that expire ``ttl_s`` after they were put; at most ``max_entries`` kept.

    When full, expired entries go first, then the oldest one put.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K, now: float) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires_at, value = found
        if now >= expires_at:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, ttl_s: float, now: float) -> None:
        """Keep ``value`` for ``ttl_s``; a TTL of 0 or less keeps nothing (and drops the old)."""
        if ttl_s <= 0:
            self._entries.pop(key, None)
            return
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self.expire(now)
            if len(self._entries) >= self.max_entries:  # still full: drop the oldest entry
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + ttl_s, value)

    def expire(self, now: float) -> None:
        for key in [k for k, (at, _) in self._entries.items() if now >= at]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["TtlCache"]
