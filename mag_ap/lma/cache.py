"""Binding cache of the reference LMA (RFC 5213 section 5.1), keyed by MN identifier.

One entry per MN (this LMA does not do multihoming). A per-MAG index keeps
"which MNs sit behind this MAG" a dict lookup, for heartbeats and status.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from ipaddress import IPv4Interface, IPv6Address, IPv6Network
from typing import Any

from ..core.timers import Scheduled
from ..core.types import Address
from ..mh.options import MobileNodeIdentifier


class BceState(Enum):
    """Life of a binding cache entry."""

    REGISTERED = "registered"  # lifetime running; deadline_at = expiry
    DEREGISTERED_WAITING = "deregistered-waiting"  # MinDelayBeforeBCEDelete running
    REVOKING = "revoking"  # BRI sent, waiting for the BRA (RFC 5846)


class BindingCacheEntry(Scheduled):
    """What RFC 5213 section 5.1 says a BCE holds, plus bookkeeping for the LMA."""

    __slots__ = (
        "access_technology",
        "deregistered_at",
        "expires_at",
        "gre_key_from_mag",
        "gre_key_to_mag",
        "handoff_indicator",
        "handovers",
        "hnp",
        "ipv4_hoa",
        "last_sequence",
        "last_timestamp_ticks",
        "lifetime_s",
        "link_layer_id",
        "link_local",
        "mag",
        "mn_id",
        "mn_id_option",
        "registered_at",
        "registrations",
        "state",
    )

    def __init__(self, mn_id: str, mn_id_option: MobileNodeIdentifier, mag: Address) -> None:
        super().__init__()
        self.mn_id = mn_id
        self.mn_id_option = mn_id_option  # echoed in BRIs as it came
        self.mag = mag  # Proxy-CoA
        self.state = BceState.REGISTERED
        self.hnp: IPv6Network | None = None
        self.ipv4_hoa: IPv4Interface | None = None
        self.gre_key_to_mag: int | None = None  # the MAG's GRE Key option: downlink key
        self.gre_key_from_mag: int | None = None  # ours: the key the MAG puts on uplink
        self.lifetime_s = 0
        self.registered_at = 0.0
        self.expires_at = 0.0
        self.deregistered_at: float | None = None
        self.last_sequence = 0
        self.last_timestamp_ticks: int | None = None  # 48.16 fixed point, as on the wire
        self.access_technology = 0
        self.handoff_indicator = 0
        self.link_layer_id = b""
        self.link_local: IPv6Address | None = None
        self.registrations = 0
        self.handovers = 0

    def to_json(self, now: float) -> dict[str, Any]:
        left_s = max(0.0, self.expires_at - now) if self.state is BceState.REGISTERED else 0.0
        return {
            "mn_id": self.mn_id,
            "mag": str(self.mag),
            "hnp": None if self.hnp is None else str(self.hnp),
            "ipv4_hoa": None if self.ipv4_hoa is None else str(self.ipv4_hoa),
            "gre_key_to_mag": self.gre_key_to_mag,
            "gre_key_from_mag": self.gre_key_from_mag,
            "lifetime_s": self.lifetime_s,
            "lifetime_left_s": round(left_s, 3),
            "state": self.state.value,
            "registrations": self.registrations,
            "handovers": self.handovers,
            "access_technology": int(self.access_technology),
            "handoff_indicator": int(self.handoff_indicator),
            "link_layer_id": self.link_layer_id.hex(":") if self.link_layer_id else None,
        }


class BindingCache:
    """MN id -> entry, plus MAG -> MN ids behind it."""

    __slots__ = ("_by_mag", "_entries")

    def __init__(self) -> None:
        self._entries: dict[str, BindingCacheEntry] = {}
        self._by_mag: dict[Address, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[BindingCacheEntry]:
        return iter(self._entries.values())

    def get(self, mn_id: str) -> BindingCacheEntry | None:
        return self._entries.get(mn_id)

    def add(self, entry: BindingCacheEntry) -> None:
        self._entries[entry.mn_id] = entry
        self._by_mag.setdefault(entry.mag, set()).add(entry.mn_id)

    def move(self, entry: BindingCacheEntry, mag: Address) -> None:
        """Point the entry at another MAG (handover), keeping the per-MAG index right."""
        self._unindex(entry)
        entry.mag = mag
        self._by_mag.setdefault(mag, set()).add(entry.mn_id)

    def remove(self, entry: BindingCacheEntry) -> None:
        if self._entries.get(entry.mn_id) is entry:
            del self._entries[entry.mn_id]
            self._unindex(entry)

    def count_at(self, mag: Address) -> int:
        """Number of entries whose Proxy-CoA is ``mag``."""
        return len(self._by_mag.get(mag, ()))

    def _unindex(self, entry: BindingCacheEntry) -> None:
        ids = self._by_mag.get(entry.mag)
        if ids is not None:
            ids.discard(entry.mn_id)
            if not ids:
                del self._by_mag[entry.mag]
