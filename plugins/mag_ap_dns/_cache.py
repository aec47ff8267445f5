"""TTL cache of resolved LMA names (pure: the caller passes ``now``)."""

from __future__ import annotations

from typing import Final

from mag_ap.core.types import Address

MAX_ENTRIES: Final = 1024


class AnswerCache:
    """(name, qtype) -> addresses until their TTL runs out, clamped to [min_ttl_s, max_ttl_s].

    An empty list (NXDOMAIN, no records) is kept for ``negative_ttl_s`` at most,
    so a typo in a profile does not send a query per attaching station.
    """

    def __init__(self, *, min_ttl_s: float, max_ttl_s: float, negative_ttl_s: float) -> None:
        self.min_ttl_s = min_ttl_s
        self.max_ttl_s = max_ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._entries: dict[tuple[str, str], tuple[float, tuple[Address, ...]]] = {}

    def get(self, key: tuple[str, str], now: float) -> tuple[Address, ...] | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires_at, addresses = found
        if now >= expires_at:
            del self._entries[key]
            return None
        return addresses

    def put(
        self, key: tuple[str, str], addresses: tuple[Address, ...], ttl_s: float, now: float
    ) -> float:
        """Keep the answer; returns the TTL actually used (0: not kept)."""
        if addresses:
            kept_s = min(self.max_ttl_s, max(self.min_ttl_s, ttl_s))
        else:
            kept_s = min(self.negative_ttl_s, ttl_s) if ttl_s > 0 else self.negative_ttl_s
        if kept_s <= 0:
            self._entries.pop(key, None)
            return 0.0
        if key not in self._entries and len(self._entries) >= MAX_ENTRIES:
            for old in [k for k, (at, _) in self._entries.items() if now >= at]:
                del self._entries[old]
            if len(self._entries) >= MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + kept_s, addresses)
        return kept_s

    def __len__(self) -> int:
        return len(self._entries)
