"""Binding cache of the reference LMA (RFC 5213 section 5.1), keyed by MN identifier.

One entry per MN (this LMA does not do multihoming). A per-MAG index keeps
"which MNs sit behind this MAG" a dict lookup, for heartbeats and status.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from enum import Enum
from ipaddress import IPv4Interface, IPv6Address, IPv6Network
from typing import Any, Generic, TypeVar, overload

from ..core.types import Address
from ..mh.constants import MNIdentifierSubtype
from ..mh.options import MobileNodeIdentifier


class BceState(Enum):
    """Life of a binding cache entry."""

    REGISTERED = "registered"  # lifetime running; timer_at = expiry
    DEREGISTERED_WAITING = "deregistered-waiting"  # MinDelayBeforeBCEDelete running
    REVOKING = "revoking"  # BRI sent, waiting for the BRA (RFC 5846)


#: The numbers of one entry, packed: one 112-byte ``bytes`` instead of a dozen int and
#: float objects (a 128-bit HNP alone is a 44-byte int). Field order = the tuple order.
RECORD = struct.Struct("<dddq16sIIIIIIHBBBBB")
(
    EXPIRES_AT,
    DEREGISTERED_AT,
    TIMER_AT,
    TIMESTAMP_TICKS,
    HNP,
    IPV4,
    GRE_TO_MAG,
    GRE_FROM_MAG,
    LIFETIME_S,
    REGISTRATIONS,
    HANDOVERS,
    SEQUENCE,
    HNP_LENGTH,
    IPV4_LENGTH,
    ACCESS_TECHNOLOGY,
    HANDOFF_INDICATOR,
    FLAGS,
) = range(17)
HAS_HNP, HAS_IPV4, HAS_GRE_TO, HAS_GRE_FROM = 1, 2, 4, 8  # bits of FLAGS
_NAN = float("nan")
_ZERO_HNP = bytes(16)
#: A new entry's record: no deadline, no timestamp, nothing granted (shared until written).
EMPTY_RECORD = RECORD.pack(0.0, _NAN, _NAN, -1, _ZERO_HNP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_FORMATS = ("d", "d", "d", "q", "16s", "I", "I", "I", "I", "I", "I", "H", "B", "B", "B", "B", "B")
_OFFSETS = (0, 8, 16, 24, 32, 48, 52, 56, 60, 64, 68, 72, 74, 75, 76, 77, 78)
_FLAGS_AT = _OFFSETS[FLAGS]

T = TypeVar("T")


class _Packed(Generic[T]):
    """One field of the record as an attribute (the general path and status read these;
    the fast path unpacks and packs the whole record at once)."""

    __slots__ = ("_at", "_bit", "_struct")

    def __init__(self, index: int, bit: int = 0) -> None:
        self._struct = struct.Struct("<" + _FORMATS[index])
        self._at = _OFFSETS[index]
        self._bit = bit

    @overload
    def __get__(self, entry: None, owner: type[Any]) -> _Packed[T]: ...
    @overload
    def __get__(self, entry: BindingCacheEntry, owner: type[Any]) -> T: ...
    def __get__(self, entry: BindingCacheEntry | None, owner: type[Any]) -> Any:
        if entry is None:
            return self
        record = entry.record
        if self._bit and not record[_FLAGS_AT] & self._bit:
            return None
        value = self._struct.unpack_from(record, self._at)[0]
        if isinstance(value, float) and math.isnan(value):  # NaN: None
            return None
        if self._at == _OFFSETS[TIMESTAMP_TICKS] and value < 0:
            return None
        return value

    def __set__(self, entry: BindingCacheEntry, value: T) -> None:
        buf = bytearray(entry.record)
        if value is None:
            if self._bit:
                buf[_FLAGS_AT] &= ~self._bit
            else:
                none = _NAN if self._struct.format.endswith("d") else -1
                self._struct.pack_into(buf, self._at, none)
        else:
            self._struct.pack_into(buf, self._at, value)
            buf[_FLAGS_AT] |= self._bit
        entry.record = bytes(buf)


class BindingCacheEntry:
    """What RFC 5213 section 5.1 says a BCE holds, plus bookkeeping for the LMA.

    Compact (issue 14: <= 500 bytes per binding with pools and timers): the numbers
    live in one packed ``record`` (see :data:`RECORD`), the rare extras (a non-NAI
    MN-ID option, a link-local address) in one slot, and no timer heap entry: the
    LMA's :class:`~mag_ap.core.timers.TimerWheel` keeps ``timer_at`` by the second.
    """

    __slots__ = ("_extra", "link_layer_id", "mag", "mn_id", "record", "state")

    expires_at = _Packed[float](EXPIRES_AT)
    deregistered_at = _Packed[float | None](DEREGISTERED_AT)
    timer_at = _Packed[float | None](TIMER_AT)  # when the LMA's wheel fires it
    last_timestamp_ticks = _Packed[int | None](TIMESTAMP_TICKS)  # 48.16 fixed point, as on the wire
    ipv4_address = _Packed[int | None](IPV4, HAS_IPV4)
    gre_key_to_mag = _Packed[int | None](GRE_TO_MAG, HAS_GRE_TO)  # the MAG's key: downlink
    gre_key_from_mag = _Packed[int | None](GRE_FROM_MAG, HAS_GRE_FROM)  # ours: uplink
    lifetime_s = _Packed[int](LIFETIME_S)
    registrations = _Packed[int](REGISTRATIONS)
    handovers = _Packed[int](HANDOVERS)
    last_sequence = _Packed[int](SEQUENCE)
    hnp_length = _Packed[int](HNP_LENGTH)
    ipv4_length = _Packed[int](IPV4_LENGTH)
    access_technology = _Packed[int](ACCESS_TECHNOLOGY)
    handoff_indicator = _Packed[int](HANDOFF_INDICATOR)

    def __init__(self, mn_id: str, mn_id_option: MobileNodeIdentifier | None, mag: Address) -> None:
        self.mn_id = mn_id
        self.mag = mag  # Proxy-CoA
        self.state = BceState.REGISTERED
        self.record = EMPTY_RECORD
        self.link_layer_id = b""
        # Echoed in BRIs as it came; an NAI (the common case) is rebuilt from mn_id instead.
        if mn_id_option is not None and _is_plain_nai(mn_id_option):
            mn_id_option = None
        self._extra: tuple[MobileNodeIdentifier | None, IPv6Address | None] | None = (
            None if mn_id_option is None else (mn_id_option, None)
        )

    @property
    def hnp_address(self) -> int | None:
        """The HNP's network address as an integer (None: no HNP granted)."""
        record = self.record
        if not record[_FLAGS_AT] & HAS_HNP:
            return None
        return int.from_bytes(record[32:48], "big")

    @hnp_address.setter
    def hnp_address(self, value: int | None) -> None:
        buf = bytearray(self.record)
        if value is None:
            buf[_FLAGS_AT] &= ~HAS_HNP
        else:
            buf[32:48] = value.to_bytes(16, "big")
            buf[_FLAGS_AT] |= HAS_HNP
        self.record = bytes(buf)

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
        extra = self._extra
        if extra is None or extra[0] is None:
            return MobileNodeIdentifier.nai(self.mn_id)
        return extra[0]

    @property
    def link_local(self) -> IPv6Address | None:
        extra = self._extra
        return None if extra is None else extra[1]

    @link_local.setter
    def link_local(self, value: IPv6Address | None) -> None:
        option = None if self._extra is None else self._extra[0]
        self._extra = None if option is None and value is None else (option, value)

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
