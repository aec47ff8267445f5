"""PBU acceptance at the LMA: a received PBU's options, what the pools grant, and the checks.

The checks are one table in the order of RFC 5213 section 5.3.1, one row per rejection
status: the first predicate that holds names the status of the PBA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Network
from typing import TYPE_CHECKING

from ..core.sequence import sequence_newer
from ..core.types import Address
from ..mh.constants import BindingAckStatus, IPv4HoAReplyStatus
from ..mh.messages import ProxyBindingUpdate
from ..mh.options import (
    AccessTechnologyTypeOption,
    GREKey,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    Timestamp,
)
from .cache import BindingCacheEntry
from .peers import PeerState

if TYPE_CHECKING:
    from .protocol import LmaProtocol


@dataclass(slots=True)
class _Pbu:
    """A received PBU with its options picked out in one pass."""

    msg: ProxyBindingUpdate
    src: Address
    now: float
    peer: PeerState
    mn_option: MobileNodeIdentifier | None = None
    mn_id: str = ""
    hnp: HomeNetworkPrefix | None = None
    handoff: HandoffIndicatorOption | None = None
    att: AccessTechnologyTypeOption | None = None
    link_layer: MNLinkLayerIdentifier | None = None
    link_local: LinkLocalAddress | None = None
    timestamp: Timestamp | None = None
    gre_key: GREKey | None = None
    ipv4_request: IPv4HomeAddressRequest | None = None
    entry: BindingCacheEntry | None = None
    received_at: float = 0.0  # arrival on the protocol clock (<= now): the timestamp's reference

    @property
    def late_deregistration(self) -> bool:
        """A de-registration from a MAG the binding already left (RFC 5213 section 5.3.5)."""
        return self.msg.lifetime_s == 0 and self.entry is not None and self.entry.mag != self.src


@dataclass(slots=True)
class _Grant:
    """What a registration gets from the pools."""

    hnp: IPv6Network | None = None
    ipv4_hoa: IPv4Interface | None = None
    ipv4_status: IPv4HoAReplyStatus | None = None  # None: no IPv4 HoA Request
    gre_key_from_mag: int | None = None  # ours, sent in the PBA's GRE Key option
    gre_key_to_mag: int | None = None  # the MAG's, from the PBU's GRE Key option


# --- PBU validation (RFC 5213 section 5.3.1 order), one row per rejection status ----


def _no_proxy_flag(lma: LmaProtocol, pbu: _Pbu) -> bool:
    return not pbu.msg.p


def _no_mn_identifier(lma: LmaProtocol, pbu: _Pbu) -> bool:
    return pbu.mn_option is None


def _mag_not_authorized(lma: LmaProtocol, pbu: _Pbu) -> bool:
    return not pbu.peer.authorized


def _timestamp_outside_window(lma: LmaProtocol, pbu: _Pbu) -> bool:
    if not lma.settings.use_timestamps:
        return False
    if pbu.timestamp is None:
        return True  # TimestampBasedApproachInUse and no Timestamp option (section 5.5)
    return timestamp_outside_window(
        pbu.timestamp.unix_time_s,
        lma.unix_time_s(pbu.received_at),
        lma.settings.timestamp_validity_window_s,
    )


def timestamp_outside_window(stamp_unix_s: float, arrival_unix_s: float, window_s: float) -> bool:
    """RFC 5213 section 5.5: the PBU's time against ours *when it arrived*.

    The arrival time, not the time we got round to it: a burst of PBUs that waited in
    our receive queue longer than the window (300 ms by default) was sent in time, and
    refusing it makes the MAG retry into the same queue. Every PBU path (the table
    here and any fast path) must judge with this function.
    """
    return abs(stamp_unix_s - arrival_unix_s) > window_s


def _timestamp_older(lma: LmaProtocol, pbu: _Pbu) -> bool:
    entry = pbu.entry
    if not lma.settings.use_timestamps or entry is None or entry.last_timestamp_ticks is None:
        return False
    if pbu.timestamp is None or pbu.late_deregistration:
        return False
    return _ticks(pbu.timestamp) < entry.last_timestamp_ticks


def _sequence_out_of_window(lma: LmaProtocol, pbu: _Pbu) -> bool:
    # MAGs keep independent counters: only the current MAG's sequence is comparable.
    entry = pbu.entry
    if lma.settings.use_timestamps or entry is None or entry.mag != pbu.src:
        return False
    return not sequence_newer(pbu.msg.sequence, entry.last_sequence)


def _no_prefix_requested(lma: LmaProtocol, pbu: _Pbu) -> bool:
    return pbu.hnp is None and pbu.ipv4_request is None


def _no_handoff_indicator(lma: LmaProtocol, pbu: _Pbu) -> bool:
    return pbu.handoff is None


def _no_access_technology(lma: LmaProtocol, pbu: _Pbu) -> bool:
    return pbu.att is None


PBU_CHECKS: tuple[tuple[Callable[[LmaProtocol, _Pbu], bool], BindingAckStatus], ...] = (
    (_no_proxy_flag, BindingAckStatus.PROXY_REG_NOT_ENABLED),
    (_no_mn_identifier, BindingAckStatus.MISSING_MN_IDENTIFIER_OPTION),
    (_mag_not_authorized, BindingAckStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),
    (_timestamp_outside_window, BindingAckStatus.TIMESTAMP_MISMATCH),
    (_timestamp_older, BindingAckStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED),
    (_sequence_out_of_window, BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW),
    (_no_prefix_requested, BindingAckStatus.MISSING_HOME_NETWORK_PREFIX_OPTION),
    (_no_handoff_indicator, BindingAckStatus.MISSING_HANDOFF_INDICATOR_OPTION),
    (_no_access_technology, BindingAckStatus.MISSING_ACCESS_TECH_TYPE_OPTION),
)


def _ticks(timestamp: Timestamp) -> int:
    return (timestamp.seconds << 16) | timestamp.fraction
