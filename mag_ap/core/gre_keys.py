"""Per-MN GRE keys the MAG asks the LMA to use towards it (RFC 5845)."""

from __future__ import annotations

GRE_KEY_MAX = 0xFFFFFFFF


class GreKeyAllocator:
    """Hands out unique non-zero 32-bit keys; the datapath demultiplexes on them."""

    def __init__(self, first: int = 1) -> None:
        self._next = first
        self._in_use: set[int] = set()

    def allocate(self) -> int:
        """A key no live binding of this MAG uses."""
        if len(self._in_use) >= GRE_KEY_MAX:
            raise RuntimeError("every GRE key is in use")
        while self._next in self._in_use or self._next == 0:
            self._next = self._next % GRE_KEY_MAX + 1
        key = self._next
        self._in_use.add(key)
        self._next = key % GRE_KEY_MAX + 1
        return key

    def release(self, key: int) -> None:
        self._in_use.discard(key)

    @property
    def in_use(self) -> frozenset[int]:
        return frozenset(self._in_use)
