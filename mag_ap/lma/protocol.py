"""The reference LMA as a sans-IO protocol object (RFC 5213 section 5, RFC 5844-5847).

Bytes and ``now`` go in; datagrams, route actions and log events come out.
The runtime owns sockets and the clock. One instance serves every MAG: the
peer address decides where replies go (IPv6: raw MH socket, IPv4: UDP 5436
per RFC 5844 section 4, same MH bytes).

Size (over 600 lines, on purpose): one class. The handlers of ``LmaProtocol``
(registration, handover, de-registration, heartbeats, revocation) share one binding
cache, the pools and one timer heap; what stands alone is beside it: per-peer and
per-revocation state in :mod:`.peers`, the PBU checks in :mod:`.pbu_checks`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from ..core.heartbeat import Verdict
from ..core.mn_id import mn_key
from ..core.sequence import SEQUENCE_MODULO
from ..core.timers import TimerHeap, TimerWheel
from ..core.types import (
    Action,
    Address,
    Datagram,
    LmaSettings,
    LogEvent,
    MobileRouteDown,
    MobileRouteUp,
    PeerRestarted,
)
from ..mh.constants import (
    LIFETIME_UNIT_S,
    MAX_LIFETIME_S,
    BindingAckStatus,
    BindingErrorStatus,
    HandoffIndicator,
    IPv4HoAReplyStatus,
    RevocationStatus,
    RevocationTrigger,
)
from ..mh.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    MobilityMessage,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    UnknownMessage,
    decode_message,
    encode_message,
)
from ..mh.options import (
    AccessTechnologyTypeOption,
    GREKey,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    MobilityOption,
    RestartCounter,
    Timestamp,
)
from ..wire import DecodeError
from . import fastpath
from .cache import BceState, BindingCache, BindingCacheEntry
from .fastpath import FastPbuPath
from .pbu_checks import PBU_CHECKS, _Grant, _Pbu, _ticks
from .peers import BRI_MAX_RETRANSMIT_NUMBER, PeerState, PendingRevocation
from .pools import GreKeyAllocator, HnpPool, IPv4HoaPool, SlotLedger, is_unspecified_prefix

COUNTER_NAMES = (
    "pbu_received",
    "pba_sent_accepted",
    "registrations",
    "refreshes",
    "handovers",
    "new_attachments_after_deregistration",
    "deregistrations",
    "deregistrations_unknown_binding",
    "late_deregistrations",
    "expirations",
    "deletions_after_deregistration",
    "revocations",
    "bri_sent",
    "bri_retransmissions",
    "bra_received",
    "bra_unknown",
    "revocations_timed_out",
    "handover_bri_sent",
    "handover_bri_unanswered",
    "heartbeat_requests_received",
    "heartbeat_responses_sent",
    "heartbeat_requests_sent",
    "heartbeat_responses_received",
    "heartbeat_responses_unexpected",
    "heartbeats_missed",
    "heartbeats_ignored",  # interop switch lma.heartbeats: dropped or refused
    "peer_restarts",
    "peers_unreachable",
    "peers_heartbeats_unsupported",
    "decode_errors",
    "binding_errors_sent",
    "unexpected_messages",
)


class LmaProtocol:
    """Binding cache, pools, heartbeats and revocation of the reference LMA, without IO."""

    def __init__(
        self, settings: LmaSettings, *, wall_clock_offset_s: float = 0.0, fast_path: bool = True
    ) -> None:
        self.settings = settings
        self.wall_clock_offset_s = wall_clock_offset_s  # unix time = now + offset
        self._max_lifetime_s = min(MAX_LIFETIME_S, max(0, settings.max_lifetime_s))
        self._max_lifetime_s -= self._max_lifetime_s % LIFETIME_UNIT_S
        ledger = SlotLedger()  # what each MN held last, in all three pools: one dict entry
        self._hnp_pool = (
            None
            if settings.hnp_pool is None
            else HnpPool(settings.hnp_pool, settings.hnp_length, ledger)
        )
        self._ipv4_pool = (
            None if settings.ipv4_pool is None else IPv4HoaPool(settings.ipv4_pool, ledger)
        )
        self._gre_keys = GreKeyAllocator(ledger)
        self._cache = BindingCache()
        self._timers = TimerHeap()  # peers (heartbeats) and pending revocations
        self._expiry = TimerWheel()  # binding cache entries, by the second
        self._peers: dict[Address, PeerState] = {}
        self._revocations: dict[int, PendingRevocation] = {}  # by BRI sequence
        self._revocation_of: dict[str, PendingRevocation] = {}  # by MN id
        self._bri_sequence = 0
        self._outbox: list[Datagram] = []
        self._actions: deque[Action] = deque()
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.rejected_by_status: dict[str, int] = {}
        self._handlers: dict[type[MobilityMessage], Callable[[Any, Address, float], None]] = {
            ProxyBindingUpdate: self._on_pbu,
            Heartbeat: self._on_heartbeat,
            BindingRevocationAcknowledgement: self._on_bra,
            BindingRevocationIndication: self._on_bri,
            UnknownMessage: self._on_unknown_type,
        }
        self._fast = FastPbuPath(self) if fast_path and fastpath.supports(settings) else None

    # --- SansIOEndpoint ------------------------------------------------------------

    def receive_datagram(
        self, data: bytes, src: Address, now: float, *, received_at: float | None = None
    ) -> None:
        """Handle one Mobility Header from ``src``; bad input is counted, never raised.

        ``received_at`` is when the datagram reached the host (the kernel's receive
        time on the protocol clock), ``now`` when we read it: a PBU's timestamp is
        judged at arrival (RFC 5213 section 5.5), not after it waited in our queue.
        """
        arrived = now if received_at is None else min(received_at, now)
        fast = self._fast
        if fast is not None and fast.handle(data, src, now, arrived):
            return  # an accepted PBU of the common shape (see fastpath.py)
        try:
            msg = decode_message(data)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            self._log(
                "warning",
                "dropped undecodable Mobility Header",
                peer=str(src),
                reason=exc.reason,
                offset=exc.offset,
                size=len(data),
            )
            return
        handler = self._handlers.get(type(msg))
        if handler is None:
            self.counters["unexpected_messages"] += 1
            self._log(
                "info",
                "ignored message an LMA does not expect",
                peer=str(src),
                message_type=type(msg).__name__,
            )
            return
        if isinstance(msg, ProxyBindingUpdate):
            self._on_pbu(msg, src, now, arrived)
            return
        handler(msg, src, now)

    def datagrams_to_send(self, now: float) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def next_action(self) -> Action | None:
        return self._actions.popleft() if self._actions else None

    def get_timer(self) -> float | None:
        heap_at, wheel_at = self._timers.next_deadline(), self._expiry.next_deadline()
        if heap_at is None or wheel_at is None:
            return wheel_at if heap_at is None else heap_at
        return min(heap_at, wheel_at)

    def handle_timer(self, now: float) -> None:
        timers, expiry = self._timers, self._expiry
        while True:
            heap_at, wheel_at = timers.next_deadline(), expiry.next_deadline()
            if wheel_at is not None and wheel_at <= now and (heap_at is None or wheel_at < heap_at):
                entry = expiry.pop_due(now)
                if isinstance(entry, BindingCacheEntry):
                    self._on_entry_deadline(entry, now)
                continue
            item = timers.pop_due(now)
            if item is None:
                return
            if isinstance(item, PeerState):
                self._on_heartbeat_due(item, now)
            elif isinstance(item, PendingRevocation):
                self._on_revocation_timeout(item, now)

    def status(self, now: float) -> dict[str, Any]:
        counters: dict[str, Any] = dict(self.counters)
        counters["pba_sent_rejected"] = dict(self.rejected_by_status)
        pools: dict[str, Any] = {}
        if self._hnp_pool is not None:
            pools["hnp"] = {
                "in_use": self._hnp_pool.pool.in_use,
                "available": self._hnp_pool.pool.available,
            }
        if self._ipv4_pool is not None:
            pools["ipv4"] = {
                "in_use": self._ipv4_pool.pool.in_use,
                "available": self._ipv4_pool.pool.available,
            }
        return {
            "bindings": [entry.to_json(now) for entry in self._cache],
            "counters": counters,
            "peers": [self._peer_json(peer, now) for peer in self._peers.values()],
            "pools": pools,
        }

    # --- operator API --------------------------------------------------------------

    def revoke(
        self,
        mn_id: str,
        now: float,
        trigger: RevocationTrigger = RevocationTrigger.ADMINISTRATIVE_REASON,
    ) -> bool:
        """Start revoking a binding with a BRI (RFC 5846); False if the MN has none.

        With the interop switch ``revocation = false`` the runtime refuses first.
        """
        entry = self._cache.get(mn_id)
        if entry is None or not self.settings.revocation:
            return False
        if entry.state is BceState.REVOKING:
            return True
        self.counters["revocations"] += 1
        if entry.state is BceState.DEREGISTERED_WAITING:  # the MAG already let go
            self._remove(entry, "revoked", now)
            return True
        pending = self._send_bri(entry, entry.mag, trigger, now)
        self._revocation_of[mn_id] = pending
        entry.state = BceState.REVOKING
        self._expiry.cancel(entry)  # the revocation decides the end now
        self._log(
            "info",
            "revoking binding",
            mn_id=mn_id,
            mag=str(entry.mag),
            trigger=int(trigger),
            sequence=pending.sequence,
        )
        return True

    def _send_bri(
        self,
        entry: BindingCacheEntry,
        mag: Address,
        trigger: RevocationTrigger,
        now: float,
        *,
        handover: bool = False,
    ) -> PendingRevocation:
        """One BRI for ``entry`` to ``mag``, retransmitted until its BRA (RFC 5846)."""
        self._bri_sequence = (self._bri_sequence + 1) % SEQUENCE_MODULO
        options: tuple[MobilityOption, ...] = (entry.mn_id_option,)
        if entry.hnp is not None:
            options += (HomeNetworkPrefix.of(entry.hnp),)
        bri = BindingRevocationIndication(
            trigger=trigger, sequence=self._bri_sequence, p=True, options=options
        )
        data = encode_message(bri)
        pending = PendingRevocation(
            entry, self._bri_sequence, trigger, data, mag, handover=handover
        )
        self._revocations[pending.sequence] = pending
        self._outbox.append(Datagram(data, mag))
        self.counters["bri_sent"] += 1
        self._timers.schedule(pending, now + pending.timeout_s)
        return pending

    def _tell_previous_mag(
        self, entry: BindingCacheEntry, previous: Address, same_att: bool, now: float
    ) -> None:
        """Make-before-break: the old MAG still holds the binding; revoke it there now.

        Without this the old MAG keeps routes and a refresh timer for a station
        it may never see leave (RFC 5846 section 6.1, inter-MAG handover).
        """
        trigger = (
            RevocationTrigger.INTER_MAG_HANDOVER_SAME_ATT
            if same_att
            else RevocationTrigger.INTER_MAG_HANDOVER_UNKNOWN
        )
        pending = self._send_bri(entry, previous, trigger, now, handover=True)
        self.counters["handover_bri_sent"] += 1
        self._log(
            "info",
            "handover: revoking the binding at the previous MAG",
            mn_id=entry.mn_id,
            previous_mag=str(previous),
            mag=str(entry.mag),
            sequence=pending.sequence,
        )

    def unix_time_s(self, now: float) -> float:
        return now + self.wall_clock_offset_s

    # --- PBU -----------------------------------------------------------------------

    def _on_pbu(
        self, msg: ProxyBindingUpdate, src: Address, now: float, received_at: float | None = None
    ) -> None:
        self.counters["pbu_received"] += 1
        arrived = now if received_at is None else received_at
        pbu = _Pbu(msg, src, now, self._peer(src, now), received_at=arrived)
        for opt in msg.options:
            match opt:
                case MobileNodeIdentifier() if pbu.mn_option is None:
                    pbu.mn_option = opt
                case HomeNetworkPrefix() if pbu.hnp is None:
                    pbu.hnp = opt
                case HandoffIndicatorOption() if pbu.handoff is None:
                    pbu.handoff = opt
                case AccessTechnologyTypeOption() if pbu.att is None:
                    pbu.att = opt
                case MNLinkLayerIdentifier() if pbu.link_layer is None:
                    pbu.link_layer = opt
                case LinkLocalAddress() if pbu.link_local is None:
                    pbu.link_local = opt
                case Timestamp() if pbu.timestamp is None:
                    pbu.timestamp = opt
                case GREKey() if pbu.gre_key is None:
                    pbu.gre_key = opt
                case IPv4HomeAddressRequest() if pbu.ipv4_request is None:
                    pbu.ipv4_request = opt
                case _:
                    pass
        if pbu.mn_option is not None:
            pbu.mn_id = mn_key(pbu.mn_option)
            pbu.entry = self._cache.get(pbu.mn_id)
            if pbu.entry is not None:
                pbu.mn_id = pbu.entry.mn_id  # one string per MN in the cache and the pools
        for check, status in PBU_CHECKS:
            if check(self, pbu):
                self._reject(pbu, status)
                return
        if msg.lifetime_s == 0:
            self._deregister(pbu)
        else:
            self._register(pbu)

    def _register(self, pbu: _Pbu) -> None:
        entry, now = pbu.entry, pbu.now
        if entry is not None and entry.state is BceState.REVOKING:
            self._reject(pbu, BindingAckStatus.ADMINISTRATIVELY_PROHIBITED)
            return
        if (
            entry is not None
            and entry.state is BceState.DEREGISTERED_WAITING
            and entry.mag != pbu.src
            and not self._takes_over(entry, pbu)
        ):
            self.counters["new_attachments_after_deregistration"] += 1
            self._remove(entry, "deregistered", now)
            entry = None
        grant = self._grant(pbu, entry)
        if not isinstance(grant, _Grant):
            self._reject(pbu, grant)
            return
        mn_id = pbu.mn_id
        route_changed = False
        if entry is None:
            assert pbu.mn_option is not None  # checked by PBU_CHECKS
            entry = BindingCacheEntry(mn_id, pbu.mn_option, pbu.src)
            self._cache.add(entry)
            self.counters["registrations"] += 1
            route_changed = True
        else:
            if entry.mag != pbu.src:
                previous, was_registered = entry.mag, entry.state is BceState.REGISTERED
                same_att = pbu.att is not None and pbu.att.access_technology == (
                    entry.access_technology
                )
                self._cache.move(entry, pbu.src)
                entry.handovers += 1
                self.counters["handovers"] += 1
                route_changed = True
                if was_registered and self.settings.revocation:  # interop switch: no BRIs
                    self._tell_previous_mag(entry, previous, same_att, now)
            else:
                self.counters["refreshes"] += 1
            self._release_dropped(entry, grant)
            route_changed = route_changed or (
                entry.hnp != grant.hnp
                or entry.ipv4_hoa != grant.ipv4_hoa
                or entry.gre_key_from_mag != grant.gre_key_from_mag
                or entry.gre_key_to_mag != grant.gre_key_to_mag
            )
        entry.hnp = grant.hnp
        entry.ipv4_hoa = grant.ipv4_hoa
        entry.gre_key_from_mag = grant.gre_key_from_mag
        entry.gre_key_to_mag = grant.gre_key_to_mag
        entry.state = BceState.REGISTERED
        entry.deregistered_at = None
        lifetime_s = min(pbu.msg.lifetime_s, self._max_lifetime_s)
        entry.lifetime_s = lifetime_s
        entry.expires_at = now + lifetime_s
        entry.registrations += 1
        self._note_order(entry, pbu)
        if pbu.att is not None:
            entry.access_technology = pbu.att.access_technology
        if pbu.handoff is not None:
            entry.handoff_indicator = pbu.handoff.indicator
        if pbu.link_layer is not None:
            entry.link_layer_id = pbu.link_layer.link_layer_identifier
        if pbu.link_local is not None and int(pbu.link_local.address) and entry.link_local is None:
            entry.link_local = pbu.link_local.address
        self._expiry.schedule(entry, entry.expires_at)
        self._start_heartbeats(pbu.peer, now)
        if route_changed:
            self._actions.append(
                MobileRouteUp(
                    mn_id=mn_id,
                    mag=entry.mag,
                    hnp=None,
                    ipv4_hoa=None,
                    gre_key_to_mag=entry.gre_key_to_mag,
                    gre_key_from_mag=entry.gre_key_from_mag,
                    hnp_address=entry.hnp_address,
                    hnp_length=entry.hnp_length,
                    ipv4_address=entry.ipv4_address,
                    ipv4_length=entry.ipv4_length,
                )
            )
        self._send_pba(pbu, BindingAckStatus.ACCEPTED, lifetime_s, entry, grant)

    def _takes_over(self, entry: BindingCacheEntry, pbu: _Pbu) -> bool:
        """May a new MAG's PBU take over an entry waiting after de-registration?

        HI 3 (MAG change) within MinDelayBeforeBCEDelete, HI 4 (unknown) within
        MaxDelayBeforeNewBCEAssign (RFC 5213 section 5.3.5, 5.4.1); otherwise it
        is a new attachment and gets a fresh entry.
        """
        indicator = pbu.handoff.indicator if pbu.handoff is not None else 0
        if indicator == HandoffIndicator.MAG_CHANGE:
            window_s = self.settings.min_delay_before_bce_delete_s
        elif indicator == HandoffIndicator.UNKNOWN:
            window_s = self.settings.max_delay_before_new_bce_assign_s
        else:
            return False
        since = entry.deregistered_at if entry.deregistered_at is not None else pbu.now
        return pbu.now - since <= window_s

    def _grant(self, pbu: _Pbu, entry: BindingCacheEntry | None) -> _Grant | BindingAckStatus:
        """Prefix, address and key for this registration, or the status refusing it."""
        grant = _Grant()
        mn_id = pbu.mn_id
        hnp_pool, ipv4_pool = self._hnp_pool, self._ipv4_pool
        if pbu.hnp is not None:
            if hnp_pool is None:
                if pbu.ipv4_request is None:
                    return BindingAckStatus.NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE
            elif is_unspecified_prefix(pbu.hnp.prefix):
                grant.hnp = hnp_pool.allocate(mn_id)
                if grant.hnp is None:
                    return BindingAckStatus.INSUFFICIENT_RESOURCES
            else:
                wanted = pbu.hnp.network
                if entry is not None and entry.hnp is not None and entry.hnp != wanted:
                    return BindingAckStatus.BCE_PBU_PREFIX_SET_DO_NOT_MATCH
                if not hnp_pool.claim(mn_id, wanted):
                    return BindingAckStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
                grant.hnp = wanted
        request = pbu.ipv4_request
        if request is not None:
            if ipv4_pool is None:
                failure = (
                    IPv4HoAReplyStatus.ADMINISTRATIVELY_PROHIBITED,
                    BindingAckStatus.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
                )
            elif not int(request.address):
                grant.ipv4_hoa = ipv4_pool.allocate(mn_id)
                failure = (
                    IPv4HoAReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE,
                    BindingAckStatus.INSUFFICIENT_RESOURCES,
                )
            else:
                held = entry.ipv4_hoa if entry is not None else None
                if (held is None or held.ip == request.address) and ipv4_pool.claim(
                    mn_id, request.address
                ):
                    grant.ipv4_hoa = IPv4Interface((request.address, ipv4_pool.prefix_length))
                failure = (
                    IPv4HoAReplyStatus.INCORRECT_IPV4_HOME_ADDRESS,
                    BindingAckStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                )
            if grant.ipv4_hoa is None:
                if grant.hnp is None:  # IPv4-only registration: refuse it whole
                    return failure[1]
                grant.ipv4_status = failure[0]  # IPv6 part accepted, IPv4 refused (RFC 5844)
            else:
                grant.ipv4_status = IPv4HoAReplyStatus.SUCCESS
        if pbu.gre_key is not None and self.settings.gre_keys:
            grant.gre_key_from_mag = self._gre_keys.allocate(mn_id)
            grant.gre_key_to_mag = pbu.gre_key.key
        return grant

    def _release_dropped(self, entry: BindingCacheEntry, grant: _Grant) -> None:
        """Give back what the entry held and this registration no longer asks for."""
        mn_id = entry.mn_id
        if entry.hnp is not None and entry.hnp != grant.hnp and self._hnp_pool is not None:
            self._hnp_pool.release(mn_id, entry.hnp)
        if (
            entry.ipv4_hoa is not None
            and entry.ipv4_hoa != grant.ipv4_hoa
            and self._ipv4_pool is not None
        ):
            self._ipv4_pool.release(mn_id, entry.ipv4_hoa)
        if entry.gre_key_from_mag is not None and entry.gre_key_from_mag != grant.gre_key_from_mag:
            self._gre_keys.release(mn_id, entry.gre_key_from_mag)

    def _deregister(self, pbu: _Pbu) -> None:
        entry, now = pbu.entry, pbu.now
        if entry is None:
            self.counters["deregistrations_unknown_binding"] += 1
        elif pbu.late_deregistration:
            self.counters["late_deregistrations"] += 1
            self._log(
                "info",
                "late de-registration from a previous MAG ignored",
                mn_id=pbu.mn_id,
                peer=str(pbu.src),
                current_mag=str(entry.mag),
            )
            entry = None  # acknowledge, touch nothing
        elif entry.state is BceState.REVOKING:  # the MAG answered the BRI by de-registering
            self._remove(entry, "revoked", now)
            entry = None
        else:
            if entry.state is BceState.REGISTERED:
                self.counters["deregistrations"] += 1
                entry.state = BceState.DEREGISTERED_WAITING
                entry.deregistered_at = now
                self._expiry.schedule(entry, now + self.settings.min_delay_before_bce_delete_s)
            self._note_order(entry, pbu)
        self._send_pba(pbu, BindingAckStatus.ACCEPTED, 0, entry, None)

    def _note_order(self, entry: BindingCacheEntry, pbu: _Pbu) -> None:
        entry.last_sequence = pbu.msg.sequence
        if pbu.timestamp is not None:
            entry.last_timestamp_ticks = _ticks(pbu.timestamp)

    def _reject(self, pbu: _Pbu, status: BindingAckStatus) -> None:
        name = status.name
        self.rejected_by_status[name] = self.rejected_by_status.get(name, 0) + 1
        self._log(
            "info",
            "PBU rejected",
            status=int(status),
            reason=name,
            mn_id=pbu.mn_id or None,
            peer=str(pbu.src),
            sequence=pbu.msg.sequence,
        )
        self._send_pba(pbu, status, 0, None, None)

    def _send_pba(
        self,
        pbu: _Pbu,
        status: BindingAckStatus,
        lifetime_s: int,
        entry: BindingCacheEntry | None,
        grant: _Grant | None,
    ) -> None:
        """PBA to the PBU's source, echoing what RFC 5213 section 5.3.6 says to echo."""
        options: list[MobilityOption] = []
        if pbu.mn_option is not None:
            options.append(pbu.mn_option)
        if grant is not None:
            if self.settings.echo_requested_hnp and pbu.hnp is not None:
                options.append(pbu.hnp)  # interop switch: the bug of some minimal LMAs
            elif grant.hnp is not None:
                options.append(HomeNetworkPrefix.of(grant.hnp))
        elif pbu.hnp is not None:
            options.append(pbu.hnp)
        if pbu.handoff is not None:
            options.append(pbu.handoff)
        if pbu.att is not None:
            options.append(pbu.att)
        if pbu.link_layer is not None:
            options.append(pbu.link_layer)
        if pbu.link_local is not None:
            known = entry.link_local if entry is not None else None
            options.append(LinkLocalAddress(address=known) if known else pbu.link_local)
        sequence = pbu.msg.sequence
        if not self.settings.pba_timestamps:
            pass  # interop switch: an LMA that never sends the Timestamp option
        elif status == BindingAckStatus.TIMESTAMP_MISMATCH:
            # Our clock when the PBU arrived: the MAG compares it with its send and receive times.
            options.append(Timestamp.at_unix_time(self.unix_time_s(pbu.received_at)))
        elif pbu.timestamp is not None:
            options.append(pbu.timestamp)
        if status == BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW and pbu.entry is not None:
            sequence = pbu.entry.last_sequence
        if grant is not None:
            if grant.gre_key_from_mag is not None:
                options.append(GREKey(key=grant.gre_key_from_mag))
            if grant.ipv4_status is not None:
                pool = self._ipv4_pool
                hoa = grant.ipv4_hoa
                options.append(
                    IPv4HomeAddressReply(
                        status=grant.ipv4_status,
                        prefix_length=0 if pool is None else pool.prefix_length,
                        address=hoa.ip if hoa is not None else IPv4Address(0),
                    )
                )
                if hoa is not None and pool is not None:
                    options.append(IPv4DefaultRouterAddress(address=pool.default_router))
        accepted = status < 128
        pba = ProxyBindingAcknowledgement(
            status=status,
            sequence=sequence,
            lifetime_s=lifetime_s,
            p=True,
            t=accepted and pbu.msg.t,
            options=tuple(options),
        )
        if accepted:
            self.counters["pba_sent_accepted"] += 1
        self._outbox.append(Datagram(encode_message(pba), pbu.src))

    # --- binding removal and timers ----------------------------------------------

    def _remove(self, entry: BindingCacheEntry, reason: str, now: float) -> None:
        """Delete the entry, give its resources back (remembered for the MN), route down."""
        self._cache.remove(entry)
        self._expiry.cancel(entry)
        mn_id = entry.mn_id
        if entry.hnp is not None and self._hnp_pool is not None:
            self._hnp_pool.release(mn_id, entry.hnp)
        if entry.ipv4_hoa is not None and self._ipv4_pool is not None:
            self._ipv4_pool.release(mn_id, entry.ipv4_hoa)
        if entry.gre_key_from_mag is not None:
            self._gre_keys.release(mn_id, entry.gre_key_from_mag)
        pending = self._revocation_of.pop(mn_id, None)
        if pending is not None:
            self._revocations.pop(pending.sequence, None)
            self._timers.cancel(pending)
        self._actions.append(
            MobileRouteDown(
                mn_id=mn_id,
                mag=entry.mag,
                hnp=None,
                ipv4_hoa=None,
                reason=reason,
                hnp_address=entry.hnp_address,
                hnp_length=entry.hnp_length,
                ipv4_address=entry.ipv4_address,
                ipv4_length=entry.ipv4_length,
            )
        )

    def _on_entry_deadline(self, entry: BindingCacheEntry, now: float) -> None:
        if self._cache.get(entry.mn_id) is not entry:
            return
        if entry.state is BceState.REGISTERED:
            self.counters["expirations"] += 1
            self._remove(entry, "expired", now)
        elif entry.state is BceState.DEREGISTERED_WAITING:
            self.counters["deletions_after_deregistration"] += 1
            self._remove(entry, "deregistered", now)

    # --- heartbeats (RFC 5847) -----------------------------------------------------

    def _peer(self, address: Address, now: float) -> PeerState:
        peer = self._peers.get(address)
        if peer is None:
            nets = self.settings.authorized_mags
            authorized = not nets or any(address in net for net in nets)
            peer = self._peers[address] = PeerState(address, authorized, now)
        peer.last_seen_at = now
        return peer

    def _start_heartbeats(self, peer: PeerState, now: float) -> None:
        if self.settings.heartbeats != "answer":
            return  # interop switch: an LMA without RFC 5847 sends none either
        if peer.timer_at is None and self.settings.heartbeat_interval_s > 0:
            self._timers.schedule(peer, now + self.settings.heartbeat_interval_s)

    def _on_heartbeat_due(self, peer: PeerState, now: float) -> None:
        hb = peer.heartbeat
        if self._cache.count_at(peer.address) == 0:  # nothing bound there: stop asking
            hb.stop()
            return
        if hb.missed:
            self.counters["heartbeats_missed"] += 1
        interval_s = self.settings.heartbeat_interval_s
        sequence, verdict = hb.request_due(
            now, interval_s, self.settings.missing_heartbeats_allowed
        )
        if sequence is None:  # Verdict.UNSUPPORTED: it never answered, so nothing is lost
            hb.mark_unsupported()
            self.counters["peers_heartbeats_unsupported"] += 1
            self._log("info", "MAG does not answer heartbeats: not asking", peer=str(peer.address))
            return
        if verdict is Verdict.LOST:
            self.counters["peers_unreachable"] += 1
            self._actions.append(PeerRestarted(peer=peer.address, reason="missing heartbeats"))
            self._log(
                "warning",
                "MAG stopped answering heartbeats",
                peer=str(peer.address),
                missed=hb.missed - 1,
            )
        request = Heartbeat(
            sequence=sequence,
            options=(RestartCounter(counter=self.settings.restart_counter),),
        )
        self._outbox.append(Datagram(encode_message(request), peer.address))
        self.counters["heartbeat_requests_sent"] += 1
        self._timers.schedule(peer, now + self.settings.heartbeat_interval_s)

    def _on_heartbeat(self, msg: Heartbeat, src: Address, now: float) -> None:
        peer = self._peer(src, now)
        if self.settings.heartbeats == "drop":  # interop switch: RFC 5847 unknown, ignored
            self.counters["heartbeats_ignored"] += 1
            return
        if self.settings.heartbeats == "binding_error":  # ... or refused as unknown MH type
            self.counters["heartbeats_ignored"] += 1
            self.counters["binding_errors_sent"] += 1
            error = BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE)
            self._outbox.append(Datagram(encode_message(error), src))
            return
        counter = msg.find(RestartCounter)
        if counter is not None:
            self._check_restart_counter(peer, counter.counter)
        if msg.r:
            was_lost = peer.heartbeat.lost
            if peer.heartbeat.response(msg.sequence, now):
                self.counters["heartbeat_responses_received"] += 1
                if was_lost:
                    self._log("info", "MAG answers heartbeats again", peer=str(src))
            else:
                self.counters["heartbeat_responses_unexpected"] += 1
            return
        self.counters["heartbeat_requests_received"] += 1
        response = Heartbeat(
            sequence=msg.sequence,
            r=True,
            options=(RestartCounter(counter=self.settings.restart_counter),),
        )
        self._outbox.append(Datagram(encode_message(response), src))
        self.counters["heartbeat_responses_sent"] += 1

    def _check_restart_counter(self, peer: PeerState, counter: int) -> None:
        """A new Restart Counter means the MAG lost its state (RFC 5847 section 5.2).

        Its bindings stay until they expire or the MAG registers them again.
        """
        previous = peer.heartbeat.restart_counter_seen(counter)
        if previous is None:
            return
        self.counters["peer_restarts"] += 1
        self._actions.append(
            PeerRestarted(peer=peer.address, reason=f"restart counter {previous} -> {counter}")
        )
        self._log(
            "warning",
            "MAG restarted",
            peer=str(peer.address),
            previous=previous,
            restart_counter=counter,
            bindings=self._cache.count_at(peer.address),
        )

    # --- revocation (RFC 5846) -----------------------------------------------------

    def _on_revocation_timeout(self, pending: PendingRevocation, now: float) -> None:
        if self._revocations.get(pending.sequence) is not pending:
            return
        entry = pending.entry
        if pending.retransmissions < BRI_MAX_RETRANSMIT_NUMBER:
            pending.retransmissions += 1
            pending.timeout_s *= 2
            self._outbox.append(Datagram(pending.data, pending.mag))
            self.counters["bri_retransmissions"] += 1
            self._timers.schedule(pending, now + pending.timeout_s)
            return
        if pending.handover:  # the binding lives on at the new MAG; its lifetime bounds the old
            del self._revocations[pending.sequence]
            self.counters["handover_bri_unanswered"] += 1
            return
        self.counters["revocations_timed_out"] += 1
        self._log(
            "warning",
            "no Binding Revocation Acknowledgement, binding removed",
            mn_id=entry.mn_id,
            mag=str(entry.mag),
            sequence=pending.sequence,
        )
        self._remove(entry, "revoked", now)

    def _on_bra(self, msg: BindingRevocationAcknowledgement, src: Address, now: float) -> None:
        self._peer(src, now)
        self.counters["bra_received"] += 1
        pending = self._revocations.get(msg.sequence)
        if pending is None or pending.mag != src:
            self.counters["bra_unknown"] += 1
            self._log(
                "info",
                "Binding Revocation Acknowledgement matches no BRI",
                peer=str(src),
                sequence=msg.sequence,
            )
            return
        if msg.status != RevocationStatus.SUCCESS:
            self._log(
                "info",
                "MAG acknowledged revocation with a non-success status",
                peer=str(src),
                mn_id=pending.entry.mn_id,
                status=int(msg.status),
            )
        if pending.handover:
            del self._revocations[pending.sequence]
            self._timers.cancel(pending)
            return
        self._remove(pending.entry, "revoked", now)

    def _on_bri(self, msg: BindingRevocationIndication, src: Address, now: float) -> None:
        """MAG-initiated revocation is not supported by this LMA: say so (RFC 5846 6.2)."""
        self._peer(src, now)
        self.counters["unexpected_messages"] += 1
        bra = BindingRevocationAcknowledgement(
            status=RevocationStatus.REVOCATION_FUNCTION_NOT_SUPPORTED,
            sequence=msg.sequence,
            p=msg.p,
            g=msg.g,
        )
        self._outbox.append(Datagram(encode_message(bra), src))

    # --- the rest ------------------------------------------------------------------

    def _on_unknown_type(self, msg: UnknownMessage, src: Address, now: float) -> None:
        """Unrecognised MH type: Binding Error status 2 (RFC 6275 section 9.2)."""
        self._peer(src, now)
        self.counters["binding_errors_sent"] += 1
        self._log("info", "unknown Mobility Header type", peer=str(src), mh_type=msg.mh_type)
        error = BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE)
        self._outbox.append(Datagram(encode_message(error), src))

    def _log(self, level: str, text: str, **fields: Any) -> None:
        self._actions.append(LogEvent(level=level, message=text, fields=fields))

    def _peer_json(self, peer: PeerState, now: float) -> dict[str, Any]:
        return {
            "address": str(peer.address),
            "authorized": peer.authorized,
            "bindings": self._cache.count_at(peer.address),
            "restart_counter": peer.heartbeat.restart_counter,
            "missed_heartbeats": max(
                0, peer.heartbeat.missed - 1
            ),  # the request out is no miss yet
            "unreachable": peer.heartbeat.lost,
            "heartbeats": "unsupported"
            if peer.heartbeat.unsupported
            else "supported"
            if peer.heartbeat.answered
            else "unknown",
            "last_seen_s_ago": round(now - peer.last_seen_at, 3),
        }
