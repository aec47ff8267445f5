"""Address pools of the reference LMA: HNPs, IPv4 home addresses and GRE keys.

All three are an ``IndexPool`` underneath: slot ``i`` of a pool maps to the
``i``-th prefix, address or key. Allocation is lazy (an integer cursor walks
never-used slots, released slots go to a FIFO free list), so a /16 or a
2**32 key space costs nothing until used and every operation is O(1)
amortised. Each MN remembers its last slot for the lifetime of the process,
so a de-registration followed by a re-registration (or a handover) yields the
same prefix, address and key; a remembered slot is only handed to another MN
once the never-used slots are exhausted, oldest release first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network

_BITMAP_MAX_SLOTS = 1 << 24  # slots below this: "in use" is one byte each, grown as used


class SlotLedger:
    """MN -> remembered slot of several pools in ONE dict, one packed int per MN.

    Each pool owns a bit field of the int (slot + 1, zero: none). With an HNP, an
    IPv4 and a GRE key pool, a dict entry and an int per MN per pool cost ~70 bytes
    a pool; sharing them is one entry and one (wider) int for all three.
    """

    __slots__ = ("_next_shift", "_slots")

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}
        self._next_shift = 0

    def field(self, size: int) -> tuple[int, int]:
        """A new field wide enough for slots ``0..size-1``: (shift, mask)."""
        width = size.bit_length() + 1
        shift = self._next_shift
        self._next_shift += width
        return shift, (1 << width) - 1

    def get(self, mn_id: str, shift: int, mask: int) -> int | None:
        packed = self._slots.get(mn_id)
        if packed is None:
            return None
        value = (packed >> shift) & mask
        return value - 1 if value else None

    def put(self, mn_id: str, shift: int, mask: int, index: int) -> None:
        packed = self._slots.get(mn_id, 0)
        self._slots[mn_id] = (packed & ~(mask << shift)) | ((index + 1) << shift)

    def forget(self, mn_id: str, shift: int, mask: int) -> None:
        packed = self._slots.get(mn_id, 0) & ~(mask << shift)
        if packed:
            self._slots[mn_id] = packed
        else:
            self._slots.pop(mn_id, None)


class IndexPool:
    """Slots ``0..size-1`` handed out to MN ids, stable per MN, O(1) per operation."""

    __slots__ = (
        "_busy",
        "_busy_set",
        "_count",
        "_cursor",
        "_far_owner",
        "_free",
        "_ledger",
        "_mask",
        "_owners",
        "_shift",
        "reserved",
        "size",
    )

    def __init__(
        self, size: int, reserved: Iterable[int] = (), ledger: SlotLedger | None = None
    ) -> None:
        if size < 0:
            raise ValueError(f"pool size {size} is negative")
        self.size = size
        self.reserved = frozenset(i for i in reserved if 0 <= i < size)
        self._cursor = 0  # slots >= cursor were never handed out by allocate()
        self._free: deque[int] = deque()  # released slots, oldest first (may hold stale ones)
        # Which slots are held now: a byte per slot (grown as slots are used), a set
        # beyond _BITMAP_MAX_SLOTS. The holder is always the slot's last owner.
        self._busy = bytearray()
        self._busy_set: set[int] = set()
        self._count = 0
        # Slot -> MN that holds it or held it last: a list grown as slots are used (one
        # reference per slot, the MN's own string) below _BITMAP_MAX_SLOTS, a dict beyond.
        self._owners: list[str | None] = []
        self._far_owner: dict[int, str] = {}
        # MN -> its slot (held now or last held), in a ledger the LMA's pools share.
        self._ledger = SlotLedger() if ledger is None else ledger
        self._shift, self._mask = self._ledger.field(size)

    @property
    def in_use(self) -> int:
        return self._count

    @property
    def available(self) -> int:
        return self.size - len(self.reserved) - self._count

    def _held(self, index: int) -> bool:
        if index < _BITMAP_MAX_SLOTS:
            return index < len(self._busy) and self._busy[index] == 1
        return index in self._busy_set

    def _set_held(self, index: int, held: bool) -> None:
        if self._held(index) == held:
            return
        self._count += 1 if held else -1
        if index >= _BITMAP_MAX_SLOTS:
            if held:
                self._busy_set.add(index)
            else:
                self._busy_set.discard(index)
            return
        busy = self._busy
        if index >= len(busy):  # grow by half again (at least to the index): amortised O(1)
            grown = max(index + 1, len(busy) + len(busy) // 2, 1024)
            busy.extend(bytes(min(grown, _BITMAP_MAX_SLOTS) - len(busy)))
        busy[index] = held

    def owner(self, index: int) -> str | None:
        """The MN holding ``index`` now, if any."""
        if not 0 <= index < self.size or not self._held(index):
            return None
        return self._last_owner(index)

    def _last_owner(self, index: int) -> str | None:
        if index >= _BITMAP_MAX_SLOTS:
            return self._far_owner.get(index)
        owners = self._owners
        return owners[index] if index < len(owners) else None

    def _set_last_owner(self, index: int, mn_id: str) -> None:
        if index >= _BITMAP_MAX_SLOTS:
            self._far_owner[index] = mn_id
            return
        owners = self._owners
        if index >= len(owners):  # grown like the byte map: amortised O(1)
            grown = max(index + 1, len(owners) + len(owners) // 2, 1024)
            owners.extend([None] * (min(grown, _BITMAP_MAX_SLOTS) - len(owners)))
        owners[index] = mn_id

    def remembered(self, mn_id: str) -> int | None:
        """The slot this MN holds or held last (what it gets again on allocate)."""
        return self._ledger.get(mn_id, self._shift, self._mask)

    def would_reallocate(self, mn_id: str, index: int) -> bool:
        """Would :meth:`allocate` give this MN ``index``, which it holds, changing nothing?

        (A refresh asking again: the fast path's cheaper way to the same answer.)
        """
        return (
            self._ledger.get(mn_id, self._shift, self._mask) == index
            and self._held(index)
            and self._last_owner(index) == mn_id
        )

    def allocate(self, mn_id: str) -> int | None:
        """This MN's slot: its remembered one if still free, else a fresh one; None if full."""
        index = self._ledger.get(mn_id, self._shift, self._mask)
        if index is not None:
            holder = self.owner(index)
            if holder is None or holder == mn_id:
                self._take(mn_id, index)
                return index
        while self._cursor < self.size:
            index = self._cursor
            self._cursor += 1
            if index not in self.reserved and self._last_owner(index) is None:
                self._take(mn_id, index)
                return index
        while self._free:
            index = self._free.popleft()
            if not self._held(index):
                self._take(mn_id, index)
                return index
        return None

    def claim(self, mn_id: str, index: int) -> bool:
        """Take a specific slot (an MN asking for a given prefix/address); False if not free."""
        if not 0 <= index < self.size or index in self.reserved:
            return False
        holder = self.owner(index)
        if holder is not None:
            return holder == mn_id
        self._take(mn_id, index)
        return True

    def release(self, mn_id: str, index: int) -> None:
        """Give the slot back; the MN keeps it as its preferred slot until someone needs it."""
        if self.owner(index) == mn_id:
            self._set_held(index, False)
            self._free.append(index)

    def _take(self, mn_id: str, index: int) -> None:
        previous = self._last_owner(index)
        ledger, shift, mask = self._ledger, self._shift, self._mask
        if (
            previous is not None
            and previous != mn_id
            and ledger.get(previous, shift, mask) == index
        ):
            ledger.forget(previous, shift, mask)  # the slot moves on: its old owner gets a new one
        self._set_held(index, True)
        if previous != mn_id:
            self._set_last_owner(index, mn_id)
            ledger.put(mn_id, shift, mask, index)


class HnpPool:
    """Home Network Prefixes of ``prefix_length`` carved out of ``network`` (RFC 5213 5.3.2)."""

    __slots__ = ("_base", "_network_mask", "_shift", "network", "pool", "prefix_length")

    def __init__(
        self, network: IPv6Network, prefix_length: int, ledger: SlotLedger | None = None
    ) -> None:
        if not network.prefixlen <= prefix_length <= 128:
            raise ValueError(f"HNP length /{prefix_length} does not fit in {network}")
        self.network = network
        self.prefix_length = prefix_length
        self._shift = 128 - prefix_length
        self._base = int(network.network_address)
        self._network_mask = int(network.netmask)
        self.pool = IndexPool(1 << (prefix_length - network.prefixlen), ledger=ledger)

    def prefix(self, index: int) -> IPv6Network:
        return IPv6Network((self.address(index), self.prefix_length))

    def address(self, index: int) -> int:
        """The prefix of slot ``index`` as an integer (its network address)."""
        return self._base + (index << self._shift)

    def index_of(self, prefix: IPv6Network) -> int | None:
        """Slot of ``prefix``, or None when it is not one of this pool's prefixes."""
        if prefix.prefixlen != self.prefix_length:
            return None
        return self.index_of_address(int(prefix.network_address))

    def index_of_address(self, address: int) -> int | None:
        """Slot of the pool prefix whose network address is ``address`` (an integer)."""
        if address & self._network_mask != self._base:
            return None
        return (address - self._base) >> self._shift

    def allocate(self, mn_id: str) -> IPv6Network | None:
        index = self.pool.allocate(mn_id)
        return None if index is None else self.prefix(index)

    def allocate_address(self, mn_id: str, held: int | None = None) -> int | None:
        """:meth:`allocate` as the prefix's integer network address (no object made).

        ``held``: the prefix the MN's binding holds, returned as is when allocating
        again would give it back unchanged (a refresh).
        """
        if held is not None:
            index = self.index_of_address(held)
            if index is not None and self.pool.would_reallocate(mn_id, index):
                return held
        index = self.pool.allocate(mn_id)
        return None if index is None else self._base + (index << self._shift)

    def holds(self, mn_id: str, address: int) -> bool:
        """Does ``mn_id`` hold the prefix with this integer network address now?"""
        index = self.index_of_address(address)
        return index is not None and self.pool.owner(index) == mn_id

    def claim(self, mn_id: str, prefix: IPv6Network) -> bool:
        index = self.index_of(prefix)
        return index is not None and self.pool.claim(mn_id, index)

    def release(self, mn_id: str, prefix: IPv6Network) -> None:
        index = self.index_of(prefix)
        if index is not None:
            self.pool.release(mn_id, index)


class IPv4HoaPool:
    """IPv4 home addresses of one subnet (RFC 5844); the interface's own address is the
    MNs' default router and is never handed out, nor are the network and broadcast addresses."""

    __slots__ = ("_base", "interface", "pool")

    def __init__(self, interface: IPv4Interface, ledger: SlotLedger | None = None) -> None:
        self.interface = interface
        network = interface.network
        self._base = int(network.network_address)
        size = network.num_addresses
        reserved = {int(interface.ip) - self._base}
        if network.prefixlen <= 30:
            reserved |= {0, size - 1}
        self.pool = IndexPool(size, reserved, ledger)

    @property
    def prefix_length(self) -> int:
        return self.interface.network.prefixlen

    @property
    def default_router(self) -> IPv4Address:
        return self.interface.ip

    def address(self, index: int) -> IPv4Interface:
        return IPv4Interface((self._base + index, self.prefix_length))

    def index_of(self, address: IPv4Address) -> int | None:
        if address not in self.interface.network:
            return None
        return int(address) - self._base

    def allocate(self, mn_id: str) -> IPv4Interface | None:
        index = self.pool.allocate(mn_id)
        return None if index is None else self.address(index)

    def allocate_address(self, mn_id: str, held: int | None = None) -> int | None:
        """:meth:`allocate` as the address's integer (no object made); ``held`` as for
        :meth:`HnpPool.allocate_address`."""
        if held is not None and self.pool.would_reallocate(mn_id, held - self._base):
            return held
        index = self.pool.allocate(mn_id)
        return None if index is None else self._base + index

    def holds(self, mn_id: str, address: int) -> bool:
        """Does ``mn_id`` hold this (integer) address now?"""
        index = address - self._base
        return 0 <= index < self.pool.size and self.pool.owner(index) == mn_id

    def claim(self, mn_id: str, address: IPv4Address) -> bool:
        index = self.index_of(address)
        return index is not None and self.pool.claim(mn_id, index)

    def release(self, mn_id: str, address: IPv4Interface) -> None:
        index = self.index_of(address.ip)
        if index is not None:
            self.pool.release(mn_id, index)


class GreKeyAllocator:
    """Downlink GRE keys the LMA asks MAGs to use (RFC 5845): 1..2**32-1, stable per MN."""

    __slots__ = ("pool",)

    def __init__(self, ledger: SlotLedger | None = None) -> None:
        self.pool = IndexPool(0xFFFFFFFF, ledger=ledger)  # key = slot + 1: zero is never handed out

    def allocate(self, mn_id: str) -> int | None:
        index = self.pool.allocate(mn_id)
        return None if index is None else index + 1

    def release(self, mn_id: str, key: int) -> None:
        self.pool.release(mn_id, key - 1)


def is_unspecified_prefix(prefix: IPv6Address) -> bool:
    """An all-zero HNP asks the LMA to pick one (RFC 5213 section 6.9.1.1)."""
    return not int(prefix)
