"""TTL policy for resolved LMA names, kept in the shared :class:`mag_ap.ttl_cache.TtlCache`."""

from __future__ import annotations

from typing import Final

from mag_ap.core.types import Address
from mag_ap.ttl_cache import TtlCache

MAX_ENTRIES: Final = 1024

Key = tuple[str, str]


class AnswerCache:
    """(name, qtype) -> addresses until their TTL runs out, clamped to [min_ttl_s, max_ttl_s].

    An empty list (NXDOMAIN, no records) is kept for ``negative_ttl_s`` at most,
    so a typo in a profile does not send a query per attaching station.
    """

    def __init__(self, *, min_ttl_s: float, max_ttl_s: float, negative_ttl_s: float) -> None:
        self.min_ttl_s = min_ttl_s
        self.max_ttl_s = max_ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._cache: TtlCache[Key, tuple[Address, ...]] = TtlCache(MAX_ENTRIES)

    def get(self, key: Key, now: float) -> tuple[Address, ...] | None:
        return self._cache.get(key, now)

    def put(self, key: Key, addresses: tuple[Address, ...], ttl_s: float, now: float) -> float:
        """Keep the answer; returns the TTL actually used (0: not kept)."""
        if addresses:
            kept_s = min(self.max_ttl_s, max(self.min_ttl_s, ttl_s))
        else:
            kept_s = min(self.negative_ttl_s, ttl_s) if ttl_s > 0 else self.negative_ttl_s
        self._cache.put(key, addresses, kept_s, now)
        return max(kept_s, 0.0)

    def __len__(self) -> int:
        return len(self._cache)
