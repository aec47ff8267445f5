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
from ..mh.constants import MNIdentifierSubtype
from ..mh.options import MobileNodeIdentifier


class BceState(Enum):
    """Life of a binding cache entry."""

    REGISTERED = "registered"  # lifetime running; deadline_at = expiry
    DEREGISTERED_WAITING = "deregistered-waiting"  # MinDelayBeforeBCEDelete running
    REVOKING = "revoking"  # BRI sent, waiting for the BRA (RFC 5846)


class BindingCacheEntry(Scheduled):
    """What RFC 5213 section 5.1 says a BCE holds, plus bookkeeping for the LMA."""

    __slots__ = (
        "_mn_id_option",
        "access_technology",
        "deregistered_at",
        "expires_at",
        "gre_key_from_mag",
        "gre_key_to_mag",
        "handoff_indicator",
        "handovers",
        "hnp_address",
        "hnp_length",
        "ipv4_address",
        "ipv4_length",
        "last_sequence",
        "last_timestamp_ticks",
        "lifetime_s",
        "link_layer_id",
        "link_local",
        "mag",
        "mn_id",
        "registered_at",
        "registrations",
        "state",
    )

    def __init__(self, mn_id: str, mn_id_option: MobileNodeIdentifier | None, mag: Address) -> None:
        super().__init__()
        self.mn_id = mn_id
        # Echoed in BRIs as it came; an NAI (the common case) is rebuilt from mn_id instead.
        if mn_id_option is not None and _is_plain_nai(mn_id_option):
            mn_id_option = None
        self._mn_id_option = mn_id_option
        self.mag = mag  # Proxy-CoA
        self.state = BceState.REGISTERED
        # Prefix and home address as integers: an ipaddress object costs ~300 B each
        # (see the hnp and ipv4_hoa properties for the objects).
        self.hnp_address: int | None = None
        self.hnp_length = 0
        self.ipv4_address: int | None = None
        self.ipv4_length = 0
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

    @property
    def hnp(self) -> IPv6Network | None:
        address = self.hnp_address
        return None if address is None else IPv6Network((address, self.hnp_length))

    @hnp.setter
    def hnp(self, value: IPv6Network | None) -> None:
        if value is None:
            self.hnp_address = None
        else:
            self.hnp_address = int(value.network_address)
            self.hnp_length = value.prefixlen

    @property
    def ipv4_hoa(self) -> IPv4Interface | None:
        address = self.ipv4_address
        return None if address is None else IPv4Interface((address, self.ipv4_length))

    @ipv4_hoa.setter
    def ipv4_hoa(self, value: IPv4Interface | None) -> None:
        if value is None:
            self.ipv4_address = None
        else:
            self.ipv4_address = int(value.ip)
            self.ipv4_length = value.network.prefixlen

    @property
    def mn_id_option(self) -> MobileNodeIdentifier:
        """The MN-ID option as the MAG sent it (None stored: the NAI ``mn_id``)."""
        if self._mn_id_option is None:
            return MobileNodeIdentifier.nai(self.mn_id)
        return self._mn_id_option

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


def _is_plain_nai(option: MobileNodeIdentifier) -> bool:
    return option.subtype == MNIdentifierSubtype.NAI and isinstance(option.identifier, str)


class BindingCache:
    """MN id -> entry, plus how many entries each MAG holds."""

    __slots__ = ("_by_mag", "_entries")

    def __init__(self) -> None:
        self._entries: dict[str, BindingCacheEntry] = {}
        # Counts, not sets of MN ids: heartbeats and status only ask "how many" (and a
        # set entry per binding cost ~65 B).
        self._by_mag: dict[Address, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[BindingCacheEntry]:
        return iter(self._entries.values())

    def get(self, mn_id: str) -> BindingCacheEntry | None:
        return self._entries.get(mn_id)

    def add(self, entry: BindingCacheEntry) -> None:
        previous = self._entries.get(entry.mn_id)
        if previous is not None:
            self._unindex(previous)
        self._entries[entry.mn_id] = entry
        self._by_mag[entry.mag] = self._by_mag.get(entry.mag, 0) + 1

    def move(self, entry: BindingCacheEntry, mag: Address) -> None:
        """Point the entry at another MAG (handover), keeping the per-MAG counts right."""
        self._unindex(entry)
        entry.mag = mag
        self._by_mag[mag] = self._by_mag.get(mag, 0) + 1

    def remove(self, entry: BindingCacheEntry) -> None:
        if self._entries.get(entry.mn_id) is entry:
            del self._entries[entry.mn_id]
            self._unindex(entry)

    def count_at(self, mag: Address) -> int:
        """Number of entries whose Proxy-CoA is ``mag``."""
        return self._by_mag.get(mag, 0)

    def _unindex(self, entry: BindingCacheEntry) -> None:
        count = self._by_mag.get(entry.mag, 0) - 1
        if count > 0:
            self._by_mag[entry.mag] = count
        else:
            self._by_mag.pop(entry.mag, None)
