"""The MAG binding engine (RFC 5213 section 6, RFC 5844, 5845, 5846, 5847), sans-IO.

``MagProtocol`` keeps one binding-update-list entry per attached MAC, speaks the
Mobility Header to the LMAs and tells the runtime what changed through actions.
Nothing here reads a clock or touches a socket: every entry point takes ``now``
(monotonic seconds) and the runtime drains ``datagrams_to_send`` and
``next_action`` after each call and re-arms its single timer from ``get_timer``.

Size (over 600 lines, on purpose): one state machine. The step handlers of
``MagProtocol`` share its binding update list, timer heap and transactions; the
pure parts that stand alone are modules of their own (bul, pbu, pba_status,
heartbeat, retransmit, timers, sequence, gre_keys, mn_id).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Network
from typing import Any

from mag_ap.core.bul import (
    BindingEvent,
    BindingState,
    BindingUpdateListEntry,
    Step,
    pack_ipv6_network,
)
from mag_ap.core.fastpath import PbuTemplates, RefreshPba, matches_held, parse_refresh_pba
from mag_ap.core.gre_keys import GreKeyAllocator
from mag_ap.core.heartbeat import HeartbeatPeer, Verdict
from mag_ap.core.mn_id import mn_key
from mag_ap.core.pba_checks import Grant, PbaRequest, Refusal, check_pba
from mag_ap.core.pba_status import TRANSIENT_STATUSES, PbaOutcome, classify_pba_status, status_name
from mag_ap.core.pbu import build_pbu, timestamp_value_offset, wire_lifetime_s
from mag_ap.core.retransmit import Transaction, TransactionKind
from mag_ap.core.sequence import SequenceCounter, sequence_newer
from mag_ap.core.timers import TimerWheel
from mag_ap.core.types import (
    Action,
    Address,
    BindingDown,
    BindingRejected,
    BindingUp,
    Datagram,
    LogEvent,
    MagSettings,
    MobileNodeProfile,
    PeerRestarted,
)
from mag_ap.mac import normalize_mac
from mag_ap.mh.constants import (
    AccessTechnologyType,
    BindingAckStatus,
    BindingErrorStatus,
    HandoffIndicator,
    MHType,
    RevocationStatus,
    RevocationTrigger,
)
from mag_ap.mh.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    MobilityMessage,
    ProxyBindingAcknowledgement,
    UnknownMessage,
    decode_message,
    encode_message,
)
from mag_ap.mh.options import (
    MobileNodeIdentifier,
    MobilityOption,
    RestartCounter,
    Timestamp,
)
from mag_ap.wire import DecodeError

COUNTER_NAMES = (
    "pbu_sent",  # every PBU transmission, retransmissions included
    "retransmissions",  # PBUs sent again after a timeout
    "deregistrations_sent",  # lifetime-0 PBUs (first transmission only)
    "pba_received",
    "pba_accepted",
    "pba_rejected",  # final rejections (after any resync/retry)
    "pba_unmatched",  # no entry with the PBA's MN-ID (or no MN-ID option)
    "pba_wrong_source",  # the MN-ID is known but bound to another LMA
    "pba_stale",  # nothing awaiting that sequence: duplicate, late or superseded
    "pba_invalid",  # accepted, but a granted value failed pba_checks: refused, de-registered
    "pba_without_timestamp",  # timestamp mode, accepted PBA without a Timestamp: used anyway
    "sequence_resyncs",  # status 135 handled
    "timestamp_retries",  # status 156/157 handled
    "clock_corrections",  # a 156/157 whose Timestamp shows skew beyond the round trip
    "registrations_given_up",
    "registration_retries",
    "deregistrations_unanswered",
    "bindings_expired",
    "bindings_revoked",
    "heartbeat_requests_sent",
    "heartbeat_responses_received",
    "heartbeat_requests_received",
    "heartbeat_responses_sent",
    "heartbeat_unmatched",
    "heartbeat_losses",
    "heartbeat_unsupported",  # an LMA that never answered a heartbeat: we stopped asking
    "peer_restarts",
    "bri_received",
    "bra_sent",
    "binding_errors_sent",
    "binding_errors_received",
    "mh_decode_errors",
    "mh_unknown_type",
    "mh_unexpected",
)

_PBA_TYPE = int(MHType.BINDING_ACKNOWLEDGEMENT)
_MAX_TIMER_STEPS = 100_000  # a runaway guard, far above any real burst of due timers
_NO_ANSWER = "no answer from LMA"
MOVED_AWAY_MEMORY_S = 600.0  # how long a BRI "moved to another MAG" makes a return HI 3
MOVED_AWAY_MAX = 4096  # MN-IDs remembered for that (oldest forgotten first)
_INTER_MAG_HANDOVER = frozenset(
    {
        RevocationTrigger.INTER_MAG_HANDOVER_SAME_ATT,
        RevocationTrigger.INTER_MAG_HANDOVER_DIFFERENT_ATT,
        RevocationTrigger.INTER_MAG_HANDOVER_UNKNOWN,
    }
)


@dataclass(frozen=True)
class _EventInfo:
    """What a step handler needs to know about the event that triggered it."""

    pba: ProxyBindingAcknowledgement | None = None
    status: int | None = None
    reason: str = ""
    grant: Grant | None = None  # the checked values of an accepted registration PBA


_NOTHING = _EventInfo()


def _nai(option: MobileNodeIdentifier | None) -> str | None:
    """The MN-ID text of an option (NAI or ``<subtype>:<hex>``), as bindings are keyed."""
    return None if option is None else mn_key(option)


class _Others:
    """``value in view``: held by an MN other than ``key`` (the one being checked).

    The owner maps are keyed by packed ints (``pack``), as the entries keep them.
    """

    __slots__ = ("_key", "_owners", "_pack")

    def __init__(self, owners: dict[int, str], key: str, pack: Callable[[Any], int]) -> None:
        self._owners, self._key, self._pack = owners, key, pack

    def __contains__(self, value: object) -> bool:
        return self._owners.get(self._pack(value), self._key) != self._key


MAX_POLICIES = 1024  # distinct shared policy profiles kept; more: the table starts over


def _mac_key(mac: str) -> int:
    """The 48-bit int a MAC is indexed by (any accepted spelling; ValueError otherwise)."""
    return int(normalize_mac(mac).replace(":", ""), 16)


def _json(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class MagProtocol:
    """Sans-IO Mobile Access Gateway: satisfies ``mag_ap.core.types.SansIOEndpoint``."""

    def __init__(
        self,
        settings: MagSettings,
        *,
        wall_clock_offset_s: float = 0.0,
        initial_sequence: int = 0,
        access_technology: AccessTechnologyType = AccessTechnologyType.IEEE_802_11,
        fast_refresh: bool = True,
    ) -> None:
        self._settings = settings
        # Refreshes that change nothing, on bytes (fastpath.py); False: always the general path.
        self._fast_refresh = fast_refresh
        self._pbu_templates = PbuTemplates()
        self._wall_clock_offset_s = wall_clock_offset_s
        self._access_technology = access_technology
        self._sequence = SequenceCounter(initial_sequence)
        self._gre_keys = GreKeyAllocator()
        # The live entries: by MAC those not de-registering (attach order), and the few
        # de-registering ones by id. One more index, by MN-ID (an entry, or a tuple of
        # them in attach order when a MN-ID has several); LMA-wide events scan.
        self._active: dict[int, BindingUpdateListEntry] = {}  # by mac_int
        self._leaving: dict[int, BindingUpdateListEntry] = {}
        self._by_mn_id: dict[str, BindingUpdateListEntry | tuple[BindingUpdateListEntry, ...]] = {}
        # Policy profiles (MN-ID blanked) shared by the entries: one object per policy.
        self._policies: dict[MobileNodeProfile, MobileNodeProfile] = {}
        self._routers: dict[int, int] = {}  # IPv4 default routers granted, shared the same way
        # LMA -> how many active entries have the datapath up (heartbeats run while > 0)
        self._up_count_by_lma: dict[Address, int] = {}
        self._timers = TimerWheel()  # one deadline per entry: the earliest of deadlines()
        self._peers: dict[Address, HeartbeatPeer] = {}
        self._clock_correction_s: dict[Address, float] = {}  # LMA clock minus ours (156/157)
        self._skew_bounds: dict[Address, tuple[float, float]] = {}  # what 156s proved of it
        # MN-ID -> when the LMA told us it moved to another MAG (BRI, inter-MAG handover)
        self._moved_away: dict[str, float] = {}
        # Prefixes and IPv4 home addresses installed (datapath up), by MN-ID: another
        # MN must not get them (its routes would collide). Keys packed as the entries'.
        self._hnp_owner: dict[int, str] = {}  # pack_ipv6_network(hnp) -> MN-ID
        self._hoa_owner: dict[int, str] = {}  # int(IPv4 home address) -> MN-ID
        self._no_timestamp_warned: set[Address] = set()
        self._datagrams: list[Datagram] = []
        self._actions: deque[Action] = deque()
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._steps = {
            Step.BIND: self._step_bind,
            Step.REJECT: self._step_reject,
            Step.REJECT_AND_HOLD: self._step_reject_and_hold,
            Step.RESEND_NOW: self._step_resend_now,
            Step.RETRANSMIT: self._step_retransmit,
            Step.GIVE_UP: self._step_give_up,
            Step.START_REFRESH: self._step_start_refresh,
            Step.EXPIRE: self._step_expire,
            Step.DEREGISTER: self._step_deregister,
            Step.REVOKE: self._step_revoke,
            Step.REREGISTER: self._step_reregister,
            Step.FINISH_DEREGISTRATION: self._step_finish_deregistration,
            Step.RETRY: self._step_retry,
            Step.REFUSE_GRANT: self._step_refuse_grant,
        }

    # --- the runtime's entry points ------------------------------------------------

    def attach(
        self,
        mac: str,
        profile: MobileNodeProfile,
        now: float,
        *,
        handoff: HandoffIndicator | None = None,
    ) -> None:
        """A station appeared: start its initial registration (PBU out at once).

        Attaching an already attached MAC with the same profile is a no-op (triggers
        repeat themselves); with another profile the old binding is de-registered first.
        """
        mac = normalize_mac(mac)
        key = _mac_key(mac)
        existing = self._active.get(key)
        policy = self._policy_of(profile)
        if existing is not None:
            same_policy = existing.policy is policy or existing.policy == policy
            if same_policy and existing.mn_id == profile.mn_id:
                self._log("debug", "attach of an attached station ignored", mac=mac)
                return
            self.detach(mac, now, reason="profile changed")
        self._cancel_deregistrations(profile, now)
        lifetime_s = wire_lifetime_s(profile.lifetime_s or self._settings.lifetime_s)
        entry = BindingUpdateListEntry(
            mac=mac, profile=profile, lifetime_requested_s=lifetime_s, policy=policy
        )
        if profile.gre_key:
            entry.gre_key_from_lma = self._gre_keys.allocate()
        self._add(entry)
        self._active[entry.mac_int] = entry  # the entry's own int: one object, not two
        if handoff is None:
            handoff = self._handoff_for(profile.mn_id, now)
        self._log(
            "info",
            "registering",
            mac=mac,
            mn_id=profile.mn_id,
            lma=profile.lma_address,
            handoff=int(handoff),
        )
        self._begin(entry, TransactionKind.INITIAL_REGISTRATION, handoff, now)
        self._reschedule(entry)

    def _policy_of(self, profile: MobileNodeProfile) -> MobileNodeProfile:
        """The shared policy object equal to ``profile`` but for the MN-ID."""
        key = replace(profile, mn_id="")
        policy = self._policies.get(key)
        if policy is None:
            if len(self._policies) >= MAX_POLICIES:
                self._policies.clear()  # entries keep theirs; only sharing is lost
            policy = self._policies[key] = key
        return policy

    def _handoff_for(self, mn_id: str, now: float) -> HandoffIndicator:
        """MAG_CHANGE (3) when the LMA told us this MN left for another MAG, else UNKNOWN (4).

        A trigger cannot tell a new attachment from a roam; 1 would make the
        LMA treat a roaming station as new (RFC 5213 section 5.4.1).
        """
        left_at = self._moved_away.pop(mn_id, None)
        if left_at is not None and now - left_at <= MOVED_AWAY_MEMORY_S:
            return HandoffIndicator.MAG_CHANGE
        return HandoffIndicator.UNKNOWN

    def _cancel_deregistrations(self, profile: MobileNodeProfile, now: float) -> None:
        """The MN is back: a pending lifetime-0 PBU must not follow the new registration."""
        for entry in self._with_mn_id(profile.mn_id):
            if entry.state is BindingState.DEREGISTERING and entry.lma == profile.lma_address:
                self._log("info", "de-registration cancelled by re-attach", mac=entry.mac)
                self._fire(entry, BindingEvent.CANCEL, now, _EventInfo(reason="re-attached"))

    def detach(self, mac: str, now: float, reason: str = "detach") -> None:
        """A station left: BindingDown at once, then a lifetime-0 PBU to the LMA."""
        entry = self._active.get(_mac_key(mac))
        if entry is None:
            self._log("debug", "detach of an unknown station ignored", mac=mac)
            return
        self._fire(entry, BindingEvent.DETACH, now, _EventInfo(reason=reason))

    def shutdown(self, now: float) -> None:
        """Clean stop: de-register every binding (lifetime 0)."""
        for mac in [entry.mac for entry in self._active.values()]:
            self.detach(mac, now, reason="shutdown")

    def receive_datagram(
        self, data: bytes, src: Address, now: float, *, received_at: float | None = None
    ) -> None:
        """One Mobility Header from ``src``; bad input is counted and logged, never raised.

        ``received_at`` (arrival on the protocol clock, default ``now``) bounds when an
        LMA can have stamped a PBA; see :meth:`_correct_clock`.
        """
        if self._fast_refresh and len(data) > 2 and data[2] == _PBA_TYPE:
            parsed = parse_refresh_pba(data)
            if parsed is not None and self._refreshed(parsed, src, now):
                return
        try:
            msg = decode_message(data)
        except DecodeError as exc:
            self._count("mh_decode_errors")
            self._log("warning", "undecodable Mobility Header dropped", peer=src, error=str(exc))
            return
        if isinstance(msg, ProxyBindingAcknowledgement):
            self._on_pba(msg, src, now, now if received_at is None else min(received_at, now))
        elif isinstance(msg, Heartbeat):
            self._on_heartbeat(msg, src, now)
        elif isinstance(msg, BindingRevocationIndication):
            self._on_bri(msg, src, now)
        elif isinstance(msg, BindingError):
            self._on_binding_error(msg, src, now)
        elif isinstance(msg, UnknownMessage):
            self._count("mh_unknown_type")
            self._log("warning", "unknown MH type answered", peer=src, mh_type=msg.type_number)
            self._send(BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE), src)
            self._count("binding_errors_sent")
        else:
            self._count("mh_unexpected")
            self._log("info", "MH message a MAG does not handle", peer=src, type=type(msg).__name__)

    def datagrams_to_send(self, now: float) -> list[Datagram]:
        out, self._datagrams = self._datagrams, []
        return out

    def next_action(self) -> Action | None:
        return self._actions.popleft() if self._actions else None

    def get_timer(self) -> float | None:
        """Earliest deadline over every entry (the heap's top) and every heartbeat peer."""
        deadlines = [
            p.next_request_at for p in self._peers.values() if p.next_request_at is not None
        ]
        entry_at = self._timers.next_deadline()
        if entry_at is not None:
            deadlines.append(entry_at)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``, earliest first.

        Same-time timers run as a scan of every entry would pick them: by index
        in ``deadlines()``, then in attach order, and entries before peers.
        """
        for _ in range(_MAX_TIMER_STEPS):
            entry_at = self._timers.next_deadline()
            peer_due = self._due_peer(now)
            if (
                entry_at is not None
                and entry_at <= now
                and (peer_due is None or entry_at <= peer_due[0])
            ):
                self._entry_due(now)
            elif peer_due is not None:
                self._heartbeat_due(peer_due[1], now)
            else:
                return
        self._log("error", "timer loop guard hit", now=now)

    def binding_status(self, mac: str, now: float) -> dict[str, Any] | None:
        """The status row of one attached station (O(1): for attach waits and tools)."""
        entry = self._active.get(_mac_key(mac))
        return None if entry is None else self._entry_status(entry, now)

    def attach_settled(self, mac: str) -> bool:
        """Whether an attach of ``mac`` has come to rest (O(1): attach waits poll it per event).

        True once the binding is acknowledged, or when there is no entry any more
        (rejected or detached meanwhile: nothing more will happen).
        """
        entry = self._active.get(_mac_key(mac))
        return entry is None or entry.acknowledged

    @property
    def binding_count(self) -> int:
        """Entries in the list, de-registering ones included (O(1): shutdown waits on it)."""
        return len(self._active) + len(self._leaving)

    def status(self, now: float) -> dict[str, Any]:
        """JSON-ready view for the control socket."""
        return {
            "bindings": [self._entry_status(entry, now) for entry in self._entries()],
            "counters": dict(self.counters),
            "peers": [self._peer_status(peer, now) for peer in self._peers.values()],
        }

    # --- state machine plumbing ----------------------------------------------------

    def _fire(
        self,
        entry: BindingUpdateListEntry,
        event: BindingEvent,
        now: float,
        info: _EventInfo = _NOTHING,
    ) -> None:
        try:
            step = entry.fire(event)
            self._steps[step](entry, now, info)
        finally:
            self._reschedule(entry)

    def _entry_due(self, now: float) -> None:
        """Fire the earliest due timer of the entry due first."""
        entry = self._timers.pop_due(now)
        assert isinstance(entry, BindingUpdateListEntry)
        best = entry.earliest()
        if best is None or best[0] > now:  # cannot happen: every change reschedules
            self._reschedule(entry)
            return
        event = best[2]
        info = _EventInfo(reason=_NO_ANSWER) if event is BindingEvent.GIVE_UP else _NOTHING
        self._fire(entry, event, now, info)

    def _due_peer(self, now: float) -> tuple[float, HeartbeatPeer] | None:
        """The heartbeat peer due first and its deadline (peers are few: one per LMA)."""
        best: tuple[float, HeartbeatPeer] | None = None
        for peer in self._peers.values():
            at = peer.next_request_at
            if at is not None and at <= now and (best is None or at < best[0]):
                best = (at, peer)
        return best

    # --- entry indexes and the timer wheel ------------------------------------------

    def _live(self, entry: BindingUpdateListEntry) -> bool:
        """Still in the list (not closed)."""
        return self._active.get(entry.mac_int) is entry or id(entry) in self._leaving

    def _entries(self) -> list[BindingUpdateListEntry]:
        """Every live entry: the active ones in attach order, then the de-registering ones."""
        return [*self._active.values(), *self._leaving.values()]

    def _add(self, entry: BindingUpdateListEntry) -> None:
        """Index by MN-ID (the caller puts it in ``_active``)."""
        mn_id = entry.mn_id
        held = self._by_mn_id.get(mn_id)
        if held is None:
            self._by_mn_id[mn_id] = entry
        elif isinstance(held, tuple):
            self._by_mn_id[mn_id] = (*held, entry)
        else:
            self._by_mn_id[mn_id] = (held, entry)

    def _leave(self, entry: BindingUpdateListEntry) -> None:
        """Active -> de-registering (still live, no longer found by MAC)."""
        if self._active.get(entry.mac_int) is entry:
            del self._active[entry.mac_int]
            self._leaving[id(entry)] = entry

    def _remove(self, entry: BindingUpdateListEntry) -> None:
        if self._active.get(entry.mac_int) is entry:
            del self._active[entry.mac_int]
        elif self._leaving.pop(id(entry), None) is None:
            return
        self._timers.cancel(entry)
        self._count_up(entry)
        mn_id = entry.mn_id
        held = self._by_mn_id[mn_id]
        if held is entry:
            del self._by_mn_id[mn_id]
        else:
            assert isinstance(held, tuple)
            rest = tuple(e for e in held if e is not entry)
            self._by_mn_id[mn_id] = rest[0] if len(rest) == 1 else rest

    def _with_mn_id(self, mn_id: str) -> list[BindingUpdateListEntry]:
        """Entries with this MN-ID, in attach order (a snapshot: firing may remove some)."""
        held = self._by_mn_id.get(mn_id)
        if held is None:
            return []
        return list(held) if isinstance(held, tuple) else [held]

    def _at_lma(self, lma: Address) -> list[BindingUpdateListEntry]:
        """Entries bound (or binding) to this LMA (a snapshot). A scan: LMA-wide events
        (restart, revocation of all) touch every such entry anyway."""
        return [e for e in self._entries() if e.lma == lma]

    def _reschedule(self, entry: BindingUpdateListEntry) -> None:
        """Put the entry's earliest deadline in the timer wheel and recount its heartbeat share."""
        if not self._live(entry):  # closed: _remove unscheduled it
            return
        best = entry.earliest()
        self._timers.schedule(entry, None if best is None else best[0])
        self._count_up(entry)

    def _count_up(self, entry: BindingUpdateListEntry) -> None:
        """Keep ``_up_count_by_lma`` equal to the active entries with the datapath up."""
        up = entry.datapath_up and self._active.get(entry.mac_int) is entry
        if up is entry.counted_up:
            return
        entry.counted_up = up
        lma = entry.lma
        left = self._up_count_by_lma.get(lma, 0) + (1 if up else -1)
        if left:
            self._up_count_by_lma[lma] = left
        else:
            del self._up_count_by_lma[lma]

    def _begin(
        self,
        entry: BindingUpdateListEntry,
        kind: TransactionKind,
        handoff: HandoffIndicator,
        now: float,
    ) -> None:
        first = kind is TransactionKind.INITIAL_REGISTRATION
        entry.transaction = Transaction(
            kind=kind,
            handoff=handoff,
            timeout_s=(
                self._settings.initial_bindack_timeout_first_reg_s
                if first
                else self._settings.initial_bindack_timeout_s
            ),
            max_timeout_s=self._settings.max_bindack_timeout_s,
        )
        self._send_pbu(entry, now)

    def _send_pbu(self, entry: BindingUpdateListEntry, now: float) -> None:
        tx = entry.transaction
        assert tx is not None
        timestamp_unix_s = None
        if self._settings.use_timestamps:
            correction = self._clock_correction_s.get(entry.lma, 0.0)
            timestamp_unix_s = now + self._wall_clock_offset_s + correction
        sequence = self._sequence.take()
        deregistration = tx.kind is TransactionKind.DE_REGISTRATION

        def general() -> bytes:
            pbu = build_pbu(
                entry,
                sequence=sequence,
                deregistration=deregistration,
                own_address=self._settings.own_address,
                timestamp_unix_s=timestamp_unix_s,
                access_technology=self._access_technology,
            )
            return encode_message(pbu)

        if self._fast_refresh and tx.kind is TransactionKind.RE_REGISTRATION:
            data, timestamp_at = self._pbu_templates.encode(
                entry,
                tx.handoff,
                sequence,
                wire_lifetime_s(entry.lifetime_requested_s),
                timestamp_unix_s=timestamp_unix_s,
                general=general,
            )
        else:
            data = general()
            timestamp_at = -1 if timestamp_unix_s is None else timestamp_value_offset(data)
        tx.record_send(sequence, now)
        if timestamp_unix_s is None:
            self._datagrams.append(Datagram(data=data, peer=entry.lma))
        else:  # the runtime rewrites the Timestamp as the PBU leaves (Datagram.at_departure)
            self._datagrams.append(
                Datagram(
                    data=data,
                    peer=entry.lma,
                    timestamp_at=timestamp_at,
                    unix_offset_s=timestamp_unix_s - now,
                )
            )
        self._count("pbu_sent")

    def _close(self, entry: BindingUpdateListEntry, now: float) -> None:
        """Forget the entry: timers, GRE key, heartbeat duty."""
        entry.transaction = None
        entry.refresh_at = entry.expires_at = None
        self._remove(entry)
        if entry.gre_key_from_lma is not None:
            self._gre_keys.release(entry.gre_key_from_lma)
        self._update_heartbeat(entry, now)

    def _take_down(self, entry: BindingUpdateListEntry, reason: str) -> None:
        """BindingDown for an entry whose datapath is installed (once)."""
        if not entry.datapath_up:
            return
        entry.datapath_up = False
        self._release_owned(entry)
        self._actions.append(
            BindingDown(
                mn_id=entry.mn_id,
                mac=entry.mac,
                lma=entry.lma,
                hnp=entry.hnp,
                ipv4_hoa=entry.ipv4_hoa,
                reason=reason,
            )
        )

    def _release_owned(self, entry: BindingUpdateListEntry) -> None:
        key = entry.mn_id
        hnp, hoa = entry.hnp_packed, entry.ipv4_hoa_int
        if hnp is not None and self._hnp_owner.get(hnp) == key:
            del self._hnp_owner[hnp]
        if hoa is not None and self._hoa_owner.get(hoa) == key:
            del self._hoa_owner[hoa]

    def _reject(self, entry: BindingUpdateListEntry, status: int | None, reason: str) -> None:
        self._actions.append(
            BindingRejected(
                mn_id=entry.mn_id, mac=entry.mac, lma=entry.lma, status=status, reason=reason
            )
        )

    # --- step handlers (one per Step of the table) ---------------------------------

    def _step_bind(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        pba, tx, grant = info.pba, entry.transaction, info.grant
        assert pba is not None and tx is not None and grant is not None
        sent_at = tx.sent_at.get(pba.sequence, tx.first_sent_at)
        for note in grant.notes:
            self._log("warning", f"PBA: {note}", mac=entry.mac, lma=entry.lma)
        if grant.ipv4_refused is not None:
            self._log(
                "warning",
                f"IPv4 home address refused ({grant.ipv4_refused}); IPv6 binding kept",
                mac=entry.mac,
                mn_id=entry.mn_id,
            )
        hnp, ipv4_hoa = grant.hnp, grant.ipv4_hoa
        ipv4_default_router = grant.ipv4_default_router
        if pba.status == BindingAckStatus.GRE_KEY_OPTION_NOT_REQUIRED and entry.gre_key_from_lma:
            self._gre_keys.release(entry.gre_key_from_lma)
            entry.gre_key_from_lma = None
        gre_key_to_lma = grant.gre_key_to_lma
        if entry.gre_key_from_lma is not None and gre_key_to_lma is None:
            self._log("warning", "GRE key asked for, none granted", mac=entry.mac)
        granted = (
            None if hnp is None else pack_ipv6_network(hnp),
            None if ipv4_hoa is None else int(ipv4_hoa.ip),
            entry.ipv4_hoa_plen if ipv4_hoa is None else ipv4_hoa.network.prefixlen,
            None if ipv4_default_router is None else int(ipv4_default_router),
            gre_key_to_lma,
        )
        before = (
            entry.hnp_packed,
            entry.ipv4_hoa_int,
            entry.ipv4_hoa_plen,
            entry.ipv4_router_int,
            entry.gre_key_to_lma,
        )
        refresh = entry.datapath_up and granted == before
        if entry.datapath_up and not refresh:
            self._take_down(entry, "binding changed")
        if not refresh:  # a refresh keeps the ints it holds (no new objects per binding)
            (
                entry.hnp_packed,
                entry.ipv4_hoa_int,
                entry.ipv4_hoa_plen,
                entry.ipv4_router_int,
                entry.gre_key_to_lma,
            ) = granted
            router = entry.ipv4_router_int
            if router is not None:  # one int per router, not one per binding
                if len(self._routers) >= MAX_POLICIES:
                    self._routers.clear()
                entry.ipv4_router_int = self._routers.setdefault(router, router)
        self._bound(
            entry,
            now,
            sent_at,
            grant.lifetime_s,
            refresh=refresh,
            granted=(hnp, ipv4_hoa, ipv4_default_router, gre_key_to_lma),
        )

    def _bound(
        self,
        entry: BindingUpdateListEntry,
        now: float,
        sent_at: float,
        lifetime_s: int,
        *,
        refresh: bool,
        granted: tuple[IPv6Network | None, IPv4Interface | None, IPv4Address | None, int | None],
    ) -> None:
        """The end of every bind, general or fast: owners, timers, BindingUp, heartbeat."""
        hnp, ipv4_hoa, ipv4_default_router, gre_key_to_lma = granted
        if entry.hnp_packed is not None:
            self._hnp_owner[entry.hnp_packed] = entry.mn_id
        if entry.ipv4_hoa_int is not None:
            self._hoa_owner[entry.ipv4_hoa_int] = entry.mn_id
        entry.lifetime_s = lifetime_s
        entry.expires_at = sent_at + lifetime_s
        entry.refresh_at = entry.expires_at - self._refresh_lead_s(lifetime_s)
        if self._settings.max_refresh_interval_s > 0:
            entry.refresh_at = min(entry.refresh_at, now + self._settings.max_refresh_interval_s)
        entry.transaction = None
        entry.registrations += 1
        entry.note_registration_delay(now - sent_at)
        entry.datapath_up = True
        self._actions.append(
            BindingUp(
                mn_id=entry.mn_id,
                mac=entry.mac,
                lma=entry.lma,
                hnp=hnp,
                ipv4_hoa=ipv4_hoa,
                ipv4_default_router=ipv4_default_router,
                gre_key_to_lma=gre_key_to_lma,
                gre_key_from_lma=entry.gre_key_from_lma,
                lifetime_s=lifetime_s,
                refresh=refresh,
            )
        )
        self._update_heartbeat(entry, now)

    def _refreshed(self, pba: RefreshPba, src: Address, now: float) -> bool:
        """The fast path: a PBA answering a refresh with exactly the values held.

        False, with nothing changed, for anything else: the general path then
        decodes and checks the same bytes. What it accepts is what ``_on_pba``,
        ``_apply_pba``, ``check_pba`` and ``_step_bind`` would accept, with the
        same effect (tests/unit/test_mag_fastpath.py).
        """
        entry = self._by_mn_id.get(pba.mn_id)
        if not isinstance(entry, BindingUpdateListEntry):  # none, or several: general path
            return False
        tx = entry.transaction
        if (
            entry.state is not BindingState.REFRESHING
            or tx is None
            or pba.sequence not in tx.sent_at
            or entry.lma != src
            or (self._settings.use_timestamps and not pba.timestamped)
            or not matches_held(pba, entry)
        ):
            return False
        key = entry.mn_id  # the held values are still this MN's alone (no other took them)
        if entry.hnp_packed is not None and self._hnp_owner.get(entry.hnp_packed) != key:
            return False
        if entry.ipv4_hoa_int is not None and self._hoa_owner.get(entry.ipv4_hoa_int) != key:
            return False
        self._count("pba_received")
        self._count("pba_accepted")
        sent_at = tx.sent_at[pba.sequence]
        try:
            entry.fire(BindingEvent.PBA_ACCEPTED)  # REFRESHING -> BOUND (Step.BIND)
            granted = (
                entry.hnp,
                entry.ipv4_hoa,
                entry.ipv4_default_router,
                entry.gre_key_to_lma,
            )
            self._bound(entry, now, sent_at, pba.lifetime_s, refresh=True, granted=granted)
        finally:
            self._reschedule(entry)
        return True

    def _refresh_lead_s(self, lifetime_s: int) -> float:
        """Re-register refresh_before_s before the end, but never later than mid-life.

        Half the lifetime at least leaves room for several retransmissions even
        with short lifetimes (40 s: refresh at 20 s, retries at 21, 23, 27, 35 s).
        """
        return min(self._settings.refresh_before_s, lifetime_s / 2)

    def _step_reject(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        self._log("warning", f"binding rejected: {info.reason}", mac=entry.mac, status=info.status)
        self._reject(entry, info.status, info.reason)
        self._take_down(entry, f"rejected: {info.reason}")
        self._close(entry, now)

    def _step_refuse_grant(
        self, entry: BindingUpdateListEntry, now: float, info: _EventInfo
    ) -> None:
        """An accepted PBA with values we cannot install: a rejection, and the LMA is told
        to drop its binding (lifetime 0) so its pools and routes are not held for us."""
        self._reject(entry, info.status, info.reason)
        self._step_deregister(entry, now, info)

    def _step_reject_and_hold(
        self, entry: BindingUpdateListEntry, now: float, info: _EventInfo
    ) -> None:
        self._log("warning", f"binding refused for now: {info.reason}", mac=entry.mac)
        self._reject(entry, info.status, info.reason)
        self._take_down(entry, f"rejected: {info.reason}")
        self._hold_down(entry, now)

    def _step_resend_now(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        self._send_pbu(entry, now)

    def _step_retransmit(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        assert entry.transaction is not None
        entry.transaction.back_off()
        self._count("retransmissions")
        self._send_pbu(entry, now)

    def _step_give_up(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        self._count("registrations_given_up")
        self._log("warning", _NO_ANSWER, mac=entry.mac, lma=entry.lma)
        self._reject(entry, None, _NO_ANSWER)
        self._take_down(entry, _NO_ANSWER)
        self._hold_down(entry, now)

    def _hold_down(self, entry: BindingUpdateListEntry, now: float) -> None:
        """The MN is still here: wait MAX_BINDACK_TIMEOUT, then register afresh."""
        entry.transaction = None
        entry.refresh_at = entry.expires_at = None
        entry.retry_at = now + self._settings.max_bindack_timeout_s
        self._update_heartbeat(entry, now)

    def _step_retry(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        entry.retry_at = None
        self._count("registration_retries")
        self._log("info", "retrying registration", mac=entry.mac, lma=entry.lma)
        self._begin(entry, TransactionKind.INITIAL_REGISTRATION, HandoffIndicator.UNKNOWN, now)

    def _step_start_refresh(
        self, entry: BindingUpdateListEntry, now: float, info: _EventInfo
    ) -> None:
        entry.refresh_at = None
        self._begin(entry, TransactionKind.RE_REGISTRATION, HandoffIndicator.NOT_CHANGED, now)

    def _step_expire(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        self._count("bindings_expired")
        self._log("warning", "binding lifetime expired", mac=entry.mac, lma=entry.lma)
        self._take_down(entry, "expired")
        self._hold_down(entry, now)

    def _step_deregister(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        self._leave(entry)
        self._take_down(entry, info.reason)
        entry.refresh_at = entry.expires_at = entry.retry_at = None
        self._log("info", "de-registering", mac=entry.mac, reason=info.reason)
        self._count("deregistrations_sent")
        self._begin(entry, TransactionKind.DE_REGISTRATION, HandoffIndicator.NOT_CHANGED, now)
        self._update_heartbeat(entry, now)

    def _step_revoke(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        self._count("bindings_revoked")
        if entry.datapath_up:
            self._take_down(entry, "revoked")
        else:
            self._reject(entry, None, "revoked by the LMA during registration")
        self._close(entry, now)

    def _step_reregister(self, entry: BindingUpdateListEntry, now: float, info: _EventInfo) -> None:
        """The LMA lost its cache: a new initial registration asking for what we had."""
        tx = entry.transaction
        keep_first_handoff = tx is not None and not entry.datapath_up
        handoff = (
            tx.handoff if tx is not None and keep_first_handoff else HandoffIndicator.NOT_CHANGED
        )
        entry.refresh_at = entry.expires_at = None
        self._begin(entry, TransactionKind.INITIAL_REGISTRATION, handoff, now)

    def _step_finish_deregistration(
        self, entry: BindingUpdateListEntry, now: float, info: _EventInfo
    ) -> None:
        if info.reason == _NO_ANSWER:
            self._count("deregistrations_unanswered")
        self._log("info", f"de-registration done: {info.reason}", mac=entry.mac)
        self._close(entry, now)

    # --- incoming messages ---------------------------------------------------------

    def _on_pba(
        self,
        pba: ProxyBindingAcknowledgement,
        src: Address,
        now: float,
        received_at: float | None = None,
    ) -> None:
        """Match the PBA to the PBU it answers: MN-ID, then source, then sequence."""
        self._count("pba_received")
        mn_id = _nai(pba.find(MobileNodeIdentifier))
        same_id = self._with_mn_id(mn_id) if mn_id is not None else []
        if not same_id:
            self._count("pba_unmatched")
            self._log(
                "info", "PBA for no known MN dropped", peer=src, mn_id=mn_id, seq=pba.sequence
            )
            return
        from_lma = [e for e in same_id if e.lma == src]
        if not from_lma:
            self._count("pba_wrong_source")
            self._log("warning", "PBA from the wrong LMA dropped", peer=src, mn_id=mn_id)
            return
        hits = [e for e in from_lma if self._answers(e.transaction, pba)]
        if not hits:
            self._count("pba_stale")
            self._log("debug", "stale or duplicate PBA dropped", peer=src, seq=pba.sequence)
            return
        self._apply_pba(hits[-1], pba, now, now if received_at is None else received_at)

    @staticmethod
    def _answers(tx: Transaction | None, pba: ProxyBindingAcknowledgement) -> bool:
        """Does ``pba`` answer the transaction's latest PBU (or any, when accepted/final)?

        A 135 carries the LMA's last accepted number, not ours: it answers us when
        our latest PBU is not newer. Retry statuses must answer the latest PBU, so a
        duplicate of an already handled 135/156/157 is stale.
        """
        if tx is None or not tx.sent_at:
            return False
        latest = next(reversed(tx.sent_at))
        if pba.status == BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW:
            return not sequence_newer(latest, pba.sequence)
        outcome, _ = classify_pba_status(pba.status)
        if outcome is PbaOutcome.RETRY_ONCE:
            return pba.sequence == latest
        return pba.sequence in tx.sent_at

    def _apply_pba(
        self,
        entry: BindingUpdateListEntry,
        pba: ProxyBindingAcknowledgement,
        now: float,
        received_at: float | None = None,
    ) -> None:
        tx = entry.transaction
        assert tx is not None
        outcome, reason = classify_pba_status(pba.status)
        status = int(pba.status)
        if outcome is PbaOutcome.ACCEPTED:
            if entry.state is not BindingState.DEREGISTERING and pba.lifetime_s == 0:
                outcome, reason = PbaOutcome.REJECTED, f"{status_name(status)}: granted lifetime 0"
            elif entry.state is BindingState.DEREGISTERING:
                self._count("pba_accepted")
                self._fire(
                    entry,
                    BindingEvent.PBA_ACCEPTED,
                    now,
                    _EventInfo(pba=pba, status=status, reason="accepted"),
                )
                return
            else:
                self._note_timestamp(entry, pba)
                checked = check_pba(pba, self._pba_request(entry, pba))
                if isinstance(checked, Refusal):
                    self._count("pba_invalid")
                    text = f"PBA refused: {checked}"
                    self._log(
                        "warning",
                        text,
                        mac=entry.mac,
                        mn_id=entry.mn_id,
                        lma=entry.lma,
                        field=checked.field,
                        seq=pba.sequence,
                    )
                    info = _EventInfo(pba=pba, status=status, reason=text)
                    self._fire(entry, BindingEvent.PBA_INVALID, now, info)
                    return
                self._count("pba_accepted")
                info = _EventInfo(pba=pba, status=status, reason=reason, grant=checked)
                self._fire(entry, BindingEvent.PBA_ACCEPTED, now, info)
                return
        if outcome is not PbaOutcome.REJECTED and status not in tx.retried_statuses:
            tx.retried_statuses.add(status)
            if outcome is PbaOutcome.RESYNC_SEQUENCE:
                self._count("sequence_resyncs")
                self._sequence.resync(pba.sequence)
            else:
                self._count("timestamp_retries")
                sent = tx.sent_at.get(pba.sequence, now)  # a 156/157 answers our latest PBU
                self._correct_clock(
                    entry.lma, pba, sent, now if received_at is None else received_at
                )
            self._log(
                "info", f"PBA {status_name(status)}: sending again", mac=entry.mac, seq=pba.sequence
            )
            self._fire(entry, BindingEvent.PBA_RESEND, now, _EventInfo(pba=pba, status=status))
            return
        self._count("pba_rejected")
        event = (
            BindingEvent.PBA_REJECTED_TRANSIENT
            if status in TRANSIENT_STATUSES
            else BindingEvent.PBA_REJECTED
        )
        self._fire(entry, event, now, _EventInfo(pba=pba, status=status, reason=reason))

    def _pba_request(
        self, entry: BindingUpdateListEntry, pba: ProxyBindingAcknowledgement
    ) -> PbaRequest:
        """What the PBU answered by ``pba`` asked for, and what no grant may overlap.

        Only the policy's own wishes must come back as asked: a refresh that gets new
        values replaces the datapath (an LMA may renumber).
        """
        profile, settings, key = entry.policy, self._settings, entry.mn_id
        return PbaRequest(
            lma=entry.lma,
            own_address=settings.own_address,
            ipv6=profile.ipv6,
            hnp=profile.hnp,
            ipv4=profile.ipv4,
            ipv4_address=profile.ipv4_address,
            gre_key_from_lma=entry.gre_key_from_lma,
            gre_not_required=pba.status == BindingAckStatus.GRE_KEY_OPTION_NOT_REQUIRED,
            lifetime_requested_s=entry.lifetime_requested_s,
            hnp_prefix_lengths=(settings.hnp_prefix_length_min, settings.hnp_prefix_length_max),
            local_networks=settings.local_networks,
            hnps_in_use=_Others(self._hnp_owner, key, pack_ipv6_network),
            ipv4_in_use=_Others(self._hoa_owner, key, int),
        )

    def _note_timestamp(
        self, entry: BindingUpdateListEntry, pba: ProxyBindingAcknowledgement
    ) -> None:
        """Timestamp mode, and the accepted PBA carries no Timestamp option.

        Accepted anyway: the MAG matches a PBA to its PBU by sequence number (RFC 5213
        6.9.1.2 with RFC 6275 11.7.3) in both modes; the timestamp protects the LMA
        against replayed PBUs and the MAG needs the LMA's only in a 156/157. Refusing
        would lock us out of LMAs that do sequence numbers only, which RFC 5213 section 9
        requires every node to support. Counted, and logged once per LMA.
        """
        if not self._settings.use_timestamps or pba.find(Timestamp) is not None:
            return
        self._count("pba_without_timestamp")
        if entry.lma not in self._no_timestamp_warned:
            self._no_timestamp_warned.add(entry.lma)
            self._log(
                "warning",
                "LMA answers without Timestamp option (sequence-number mode LMA?): "
                "PBAs matched by sequence number",
                lma=entry.lma,
            )

    def _correct_clock(
        self, lma: Address, pba: ProxyBindingAcknowledgement, sent: float, received: float
    ) -> None:
        """156/157: learn the LMA's clock from its Timestamp (RFC 5213 6.9.1.x), delay excluded.

        The LMA stamped the PBA between our PBU's send and the PBA's arrival, so its
        skew lies in [stamp - arrival, stamp - send] on our uncorrected clock: time
        spent in either receive queue widens the interval, it is never taken for skew.
        Intervals of later 156s are intersected with the known one (the tightest round
        trip wins; a disjoint one means the LMA's clock changed and replaces it). The
        correction is the point of the interval nearest zero: none at all when the
        interval holds zero (the PBU was merely late), and never more than the evidence.
        """
        stamp = pba.find(Timestamp)
        if stamp is None:
            return
        lma_time = stamp.unix_time_s - self._wall_clock_offset_s
        low, high = lma_time - max(received, sent), lma_time - sent
        known = self._skew_bounds.get(lma)
        if known is not None and known[0] <= high and low <= known[1]:
            low, high = max(low, known[0]), min(high, known[1])
        self._skew_bounds[lma] = (low, high)
        offset = min(max(0.0, low), high)
        if not offset:
            if self._clock_correction_s.pop(lma, None) is not None:
                self._log("info", "LMA clock agrees with ours again: correction dropped", lma=lma)
            return
        if self._clock_correction_s.get(lma) != offset:
            self._count("clock_corrections")
            self._log("warning", "LMA clock differs from ours", lma=lma, offset_s=round(offset, 4))
        self._clock_correction_s[lma] = offset

    def _on_binding_error(self, msg: BindingError, src: Address, now: float) -> None:
        """Status 2 from an LMA that never answered a Heartbeat: it is the Heartbeat it
        does not know (PBUs it must know), so stop sending them (RFC 5847 is optional)."""
        self._count("binding_errors_received")
        self._log("warning", "Binding Error from peer", peer=src, status=msg.status)
        peer = self._peers.get(src)
        if (
            msg.status == BindingErrorStatus.UNRECOGNIZED_MH_TYPE
            and peer is not None
            and peer.unanswered
            and not peer.answered
            and not peer.unsupported
        ):
            self._heartbeats_unsupported(peer, "answered a Heartbeat with a Binding Error")

    def _heartbeats_unsupported(self, peer: HeartbeatPeer, why: str) -> None:
        peer.mark_unsupported()
        self._count("heartbeat_unsupported")
        self._log(
            "warning",
            f"LMA {why}: RFC 5847 unsupported, heartbeats to it stopped "
            "(its restarts are noticed only when a refresh is refused)",
            lma=peer.address,
        )

    def _on_heartbeat(self, hb: Heartbeat, src: Address, now: float) -> None:
        peer = self._peers.setdefault(src, HeartbeatPeer(address=src))
        was_unsupported = peer.unsupported
        if hb.r:
            self._count("heartbeat_responses_received")
            if not peer.response(hb.sequence, now):
                self._count("heartbeat_unmatched")
                self._log("debug", "unmatched heartbeat response", peer=src, seq=hb.sequence)
        else:
            self._count("heartbeat_requests_received")
            peer.heard(now)
            answer = Heartbeat(
                sequence=hb.sequence,
                r=True,
                options=(RestartCounter(counter=self._settings.restart_counter),),
            )
            self._send(answer, src)
            self._count("heartbeat_responses_sent")
        if was_unsupported and not peer.unsupported:
            self._log("info", "LMA speaks RFC 5847 after all: heartbeats resumed", lma=src)
            if self._up_count_by_lma.get(src, 0) > 0:
                peer.start(now, self._settings.heartbeat_interval_s)
        counter = hb.find(RestartCounter)
        if counter is not None:
            previous = peer.restart_counter_seen(counter.counter)
            if previous is not None:
                self._peer_restarted(src, now, f"restart counter {previous} -> {counter.counter}")

    def _peer_restarted(self, lma: Address, now: float, reason: str) -> None:
        """The LMA lost its binding cache: tell the runtime and register everything again."""
        self._count("peer_restarts")
        self._log("warning", f"LMA restarted ({reason}): re-registering", lma=lma)
        self._actions.append(PeerRestarted(peer=lma, reason=reason))
        for entry in self._at_lma(lma):
            self._fire(entry, BindingEvent.PEER_RESTARTED, now, _EventInfo(reason=reason))

    def _heartbeat_due(self, peer: HeartbeatPeer, now: float) -> None:
        sequence, verdict = peer.request_due(
            now, self._settings.heartbeat_interval_s, self._settings.missing_heartbeats_allowed
        )
        if verdict is Verdict.UNSUPPORTED or sequence is None:
            self._heartbeats_unsupported(peer, "never answered a Heartbeat")
            return
        if verdict is Verdict.LOST:
            self._count("heartbeat_losses")
            self._log("warning", "LMA stopped answering heartbeats", lma=peer.address)
            self._actions.append(PeerRestarted(peer=peer.address, reason="heartbeat lost"))
        self._send(Heartbeat(sequence=sequence), peer.address)
        self._count("heartbeat_requests_sent")

    def _update_heartbeat(self, entry: BindingUpdateListEntry, now: float) -> None:
        """Heartbeats run while the entry's LMA holds at least one acknowledged binding of ours."""
        if self._live(entry):
            self._count_up(entry)  # every other entry was recounted when its event ended
        lma = entry.lma
        has_bindings = self._up_count_by_lma.get(lma, 0) > 0
        peer = self._peers.get(lma)
        if has_bindings:
            if peer is None:
                peer = self._peers[lma] = HeartbeatPeer(address=lma)
            peer.start(now, self._settings.heartbeat_interval_s)
        elif peer is not None:
            peer.stop()

    def _on_bri(self, bri: BindingRevocationIndication, src: Address, now: float) -> None:
        """RFC 5846 responder: drop the named (or, with G, every) binding of that LMA."""
        self._count("bri_received")
        mn_option = bri.find(MobileNodeIdentifier)
        mn_id = _nai(mn_option)
        status: RevocationStatus
        if bri.g:
            targets = self._at_lma(src)
        elif mn_id is not None:
            targets = [e for e in self._with_mn_id(mn_id) if e.lma == src]
        else:
            targets = []
        if not bri.g and mn_id is None:
            status = RevocationStatus.REVOKED_MN_IDENTITY_REQUIRED
        elif targets:
            status = RevocationStatus.SUCCESS
        else:
            status = RevocationStatus.BINDING_DOES_NOT_EXIST
        self._log(
            "info",
            "binding revocation",
            lma=src,
            mn_id=mn_id,
            trigger=bri.trigger,
            revoked=len(targets),
            status=status.name,
        )
        if mn_id is not None and targets and bri.trigger in _INTER_MAG_HANDOVER:
            self._moved_away.pop(mn_id, None)
            self._moved_away[mn_id] = now
            while len(self._moved_away) > MOVED_AWAY_MAX:
                del self._moved_away[next(iter(self._moved_away))]
        for entry in targets:
            self._fire(entry, BindingEvent.REVOKED, now, _EventInfo(reason="revoked by the LMA"))
        options: tuple[MobilityOption, ...] = (mn_option,) if mn_option is not None else ()
        answer = BindingRevocationAcknowledgement(
            status=status, sequence=bri.sequence, p=True, g=bri.g, v=bri.v, options=options
        )
        self._send(answer, src)
        self._count("bra_sent")

    # --- outputs -------------------------------------------------------------------

    def _send(self, msg: MobilityMessage, peer: Address) -> None:
        self._datagrams.append(Datagram(data=encode_message(msg), peer=peer))

    def _count(self, name: str) -> None:
        self.counters[name] += 1

    def _log(self, level: str, message: str, **fields: object) -> None:
        self._actions.append(
            LogEvent(level=level, message=message, fields={k: _json(v) for k, v in fields.items()})
        )

    def _entry_status(self, entry: BindingUpdateListEntry, now: float) -> dict[str, Any]:
        tx = entry.transaction
        return {
            "mn_id": entry.mn_id,
            "mac": entry.mac,
            "state": entry.state.value,
            "lma": str(entry.lma),
            "hnp": _json(entry.hnp),
            "ipv4_hoa": _json(entry.ipv4_hoa),
            "ipv4_default_router": _json(entry.ipv4_default_router),
            "gre_key_to_lma": entry.gre_key_to_lma,
            "gre_key_from_lma": entry.gre_key_from_lma,
            "lifetime_s": entry.lifetime_s,
            "lifetime_left_s": (
                None if entry.expires_at is None else round(max(0.0, entry.expires_at - now), 3)
            ),
            "refresh_in_s": (
                None if entry.refresh_at is None else round(max(0.0, entry.refresh_at - now), 3)
            ),
            "last_registration_delay_ms": entry.last_registration_delay_ms,
            "registrations": entry.registrations,
            "pending": None if tx is None else tx.kind.value,
            "transmissions": 0 if tx is None else tx.transmissions,
        }

    def _peer_status(self, peer: HeartbeatPeer, now: float) -> dict[str, Any]:
        return {
            "address": str(peer.address),
            "bindings": sum(1 for e in self._active.values() if e.lma == peer.address),
            "restart_counter": peer.restart_counter,
            "missed_heartbeats": peer.missed,
            "heartbeats": (
                "unsupported" if peer.unsupported else "answered" if peer.answered else "unknown"
            ),
            "lost": peer.lost,
            "next_heartbeat_in_s": (
                None if peer.next_request_at is None else round(peer.next_request_at - now, 3)
            ),
            "last_heard_s_ago": (
                None if peer.last_heard_at is None else round(now - peer.last_heard_at, 3)
            ),
        }


__all__ = ["COUNTER_NAMES", "MagProtocol", "normalize_mac"]
