"""Binding Update List entry (RFC 5213 section 6.1) and its state table.

Transitions are data, as in h11: ``TRANSITIONS[(state, event)]`` gives the next
state and the ``Step`` the MAG performs. A pair missing from the table is a bug
in the engine and raises ``LocalProtocolError``; a peer's nonsense never gets
this far (it is dropped and counted before an event is fired).
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface, IPv6Network

from mag_ap.core.errors import LocalProtocolError
from mag_ap.core.retransmit import Transaction
from mag_ap.core.types import Address, MobileNodeProfile


class BindingState(Enum):
    REGISTERING = "registering"  # initial registration PBU out, no PBA yet
    BOUND = "bound"  # acknowledged, lifetime running
    REFRESHING = "refreshing"  # re-registration PBU out, binding still valid
    DEREGISTERING = "deregistering"  # lifetime-0 PBU out, datapath already removed
    WAITING = "waiting"  # gave up or expired while the MN is still attached: retry later
    CLOSED = "closed"  # gone from the list


class BindingEvent(Enum):
    PBA_ACCEPTED = "PBA accepted"
    PBA_REJECTED = "PBA rejected"
    PBA_REJECTED_TRANSIENT = "PBA rejected for now"
    PBA_INVALID = "PBA accepted with values the MAG refuses"  # pba_checks.py
    PBA_RESEND = "PBA asks for a new PBU"  # 135 resync, 156/157 timestamp retry
    ACK_TIMEOUT = "no PBA in time"
    GIVE_UP = "retransmissions exhausted"
    REFRESH_DUE = "refresh due"
    LIFETIME_EXPIRED = "lifetime expired"
    DETACH = "detach"
    REVOKED = "revoked by the LMA"
    PEER_RESTARTED = "LMA restarted"
    CANCEL = "the MN attached again"
    RETRY_DUE = "hold-down over"


class Step(Enum):
    """What the MAG does on a transition (the handler it runs)."""

    BIND = "bind"
    REJECT = "reject"
    REJECT_AND_HOLD = "reject, retry later"
    RESEND_NOW = "resend now"
    RETRANSMIT = "retransmit"
    GIVE_UP = "give up"
    START_REFRESH = "start refresh"
    EXPIRE = "expire"
    DEREGISTER = "deregister"
    REVOKE = "revoke"
    REREGISTER = "re-register"
    FINISH_DEREGISTRATION = "finish de-registration"
    RETRY = "retry registration"
    REFUSE_GRANT = "refuse the grant, de-register"


St, Ev = BindingState, BindingEvent

TRANSITIONS: dict[tuple[BindingState, BindingEvent], tuple[BindingState, Step]] = {
    (St.REGISTERING, Ev.PBA_ACCEPTED): (St.BOUND, Step.BIND),
    (St.REGISTERING, Ev.PBA_REJECTED): (St.CLOSED, Step.REJECT),
    (St.REGISTERING, Ev.PBA_REJECTED_TRANSIENT): (St.WAITING, Step.REJECT_AND_HOLD),
    (St.REGISTERING, Ev.PBA_RESEND): (St.REGISTERING, Step.RESEND_NOW),
    (St.REGISTERING, Ev.PBA_INVALID): (St.DEREGISTERING, Step.REFUSE_GRANT),
    (St.REGISTERING, Ev.ACK_TIMEOUT): (St.REGISTERING, Step.RETRANSMIT),
    (St.REGISTERING, Ev.GIVE_UP): (St.WAITING, Step.GIVE_UP),
    (St.REGISTERING, Ev.DETACH): (St.DEREGISTERING, Step.DEREGISTER),
    (St.REGISTERING, Ev.REVOKED): (St.CLOSED, Step.REVOKE),
    (St.REGISTERING, Ev.PEER_RESTARTED): (St.REGISTERING, Step.REREGISTER),
    (St.BOUND, Ev.REFRESH_DUE): (St.REFRESHING, Step.START_REFRESH),
    (St.BOUND, Ev.LIFETIME_EXPIRED): (St.WAITING, Step.EXPIRE),
    (St.BOUND, Ev.DETACH): (St.DEREGISTERING, Step.DEREGISTER),
    (St.BOUND, Ev.REVOKED): (St.CLOSED, Step.REVOKE),
    (St.BOUND, Ev.PEER_RESTARTED): (St.REGISTERING, Step.REREGISTER),
    (St.REFRESHING, Ev.PBA_ACCEPTED): (St.BOUND, Step.BIND),
    (St.REFRESHING, Ev.PBA_REJECTED): (St.CLOSED, Step.REJECT),
    (St.REFRESHING, Ev.PBA_REJECTED_TRANSIENT): (St.WAITING, Step.REJECT_AND_HOLD),
    (St.REFRESHING, Ev.PBA_RESEND): (St.REFRESHING, Step.RESEND_NOW),
    (St.REFRESHING, Ev.PBA_INVALID): (St.DEREGISTERING, Step.REFUSE_GRANT),
    (St.REFRESHING, Ev.ACK_TIMEOUT): (St.REFRESHING, Step.RETRANSMIT),
    (St.REFRESHING, Ev.LIFETIME_EXPIRED): (St.WAITING, Step.EXPIRE),
    (St.REFRESHING, Ev.DETACH): (St.DEREGISTERING, Step.DEREGISTER),
    (St.REFRESHING, Ev.REVOKED): (St.CLOSED, Step.REVOKE),
    (St.REFRESHING, Ev.PEER_RESTARTED): (St.REGISTERING, Step.REREGISTER),
    # The station is still attached after a give-up or an expiry: try again later.
    (St.WAITING, Ev.RETRY_DUE): (St.REGISTERING, Step.RETRY),
    (St.WAITING, Ev.DETACH): (St.DEREGISTERING, Step.DEREGISTER),
    (St.WAITING, Ev.REVOKED): (St.CLOSED, Step.REVOKE),
    (St.WAITING, Ev.PEER_RESTARTED): (St.REGISTERING, Step.RETRY),
    (St.DEREGISTERING, Ev.PBA_ACCEPTED): (St.CLOSED, Step.FINISH_DEREGISTRATION),
    (St.DEREGISTERING, Ev.PBA_REJECTED): (St.CLOSED, Step.FINISH_DEREGISTRATION),
    (St.DEREGISTERING, Ev.PBA_REJECTED_TRANSIENT): (St.CLOSED, Step.FINISH_DEREGISTRATION),
    (St.DEREGISTERING, Ev.PBA_RESEND): (St.DEREGISTERING, Step.RESEND_NOW),
    (St.DEREGISTERING, Ev.ACK_TIMEOUT): (St.DEREGISTERING, Step.RETRANSMIT),
    (St.DEREGISTERING, Ev.GIVE_UP): (St.CLOSED, Step.FINISH_DEREGISTRATION),
    (St.DEREGISTERING, Ev.REVOKED): (St.CLOSED, Step.FINISH_DEREGISTRATION),
    (St.DEREGISTERING, Ev.PEER_RESTARTED): (St.CLOSED, Step.FINISH_DEREGISTRATION),
    (St.DEREGISTERING, Ev.CANCEL): (St.CLOSED, Step.FINISH_DEREGISTRATION),
}


_ACKNOWLEDGED = frozenset({BindingState.BOUND, BindingState.REFRESHING})

# The history keeps the last HISTORY_DEPTH transitions as indexes into this list, packed
# in one small int: a list of tuples per station cost ~350 B of the ~2 kB a binding took.
_TRANSITION_LIST: tuple[tuple[BindingState, BindingEvent, BindingState], ...] = tuple(
    (state, event, next_state) for (state, event), (next_state, _) in TRANSITIONS.items()
)
_TRANSITION_CODE = {triple: code + 1 for code, triple in enumerate(_TRANSITION_LIST)}
_HISTORY_BITS = 6
_HISTORY_DEPTH = 4
_HISTORY_MASK = (1 << (_HISTORY_BITS * _HISTORY_DEPTH)) - 1
_CODE_MASK = (1 << _HISTORY_BITS) - 1
_DELAY_SHIFT = _HISTORY_BITS * _HISTORY_DEPTH
_DATAPATH_UP, _COUNTED_UP = 1, 2
assert len(_TRANSITION_LIST) < 1 << _HISTORY_BITS


def pack_ipv6_network(net: IPv6Network) -> int:
    """``prefix << 8 | length``: one int instead of an IPv6Network (and its cached views)."""
    return int(net.network_address) << 8 | net.prefixlen


def unpack_ipv6_network(packed: int) -> IPv6Network:
    return IPv6Network((packed >> 8, packed & 0xFF))


class BindingUpdateListEntry:
    """One mobile node's binding as the MAG sees it (RFC 5213 section 6.1).

    40,000 of these live on a busy AP, so the record is compact: slots, the
    granted addresses as ints (``*_packed``, ``*_int``; the properties of the
    same name without the suffix convert at the edges: status, actions, tests), the
    policy profile shared by every MN with the same policy (``policy``; its own
    ``mn_id`` is meaningless, ``mn_id`` is the entry's), the history packed in an
    int, and no retransmission object while no PBU is outstanding.
    """

    __slots__ = (
        "_flags",
        "_mn_id",
        "_next_at",
        "_packed",
        "expires_at",
        "gre_key_from_lma",
        "gre_key_to_lma",
        "hnp_packed",
        "ipv4_hoa_int",
        "ipv4_hoa_plen",
        "ipv4_router_int",
        "lifetime_requested_s",
        "lifetime_s",
        "mac_int",
        "policy",
        "registrations",
        "state",
        "timer_at",
        "transaction",
    )

    def __init__(
        self,
        mac: str,
        profile: MobileNodeProfile,
        lifetime_requested_s: int,
        *,
        policy: MobileNodeProfile | None = None,
    ) -> None:
        # the canonical MAC (aa:bb:...) as a 48-bit int: half a str's bytes
        self.mac_int = int(mac.replace(":", ""), 16)
        self._mn_id = profile.mn_id
        # ``policy``: the same profile with any MN-ID, shared by many entries (MagProtocol
        # interns it); without one the entry keeps the caller's profile.
        self.policy = profile if policy is None else policy
        self.lifetime_requested_s = lifetime_requested_s
        self.state = BindingState.REGISTERING
        self.gre_key_from_lma: int | None = None  # the key we asked the LMA to use
        # what the LMA granted (kept across refreshes and asked for again), packed
        self.hnp_packed: int | None = None
        self.ipv4_hoa_int: int | None = None  # also the key of the MAG's owner map
        self.ipv4_hoa_plen = 32
        self.ipv4_router_int: int | None = None
        self.gre_key_to_lma: int | None = None
        self.lifetime_s = 0
        self._flags = 0  # _DATAPATH_UP | _COUNTED_UP
        # WAITING: when the next initial registration starts (retry_at); any other
        # state: when the refresh is due (refresh_at). One slot for both.
        self._next_at: float | None = None
        self.expires_at: float | None = None
        self.transaction: Transaction | None = None
        self.registrations = 0
        # the history (low _HISTORY_BITS * _HISTORY_DEPTH bits) and, above it, the last
        # registration's delay in microseconds + 1 (0: none yet): one int, not an int
        # and a float per binding
        self._packed = 0
        self.timer_at: float | None = None  # the deadline the MAG's timer wheel holds for it

    def __repr__(self) -> str:
        return f"BindingUpdateListEntry({self.mac!r}, {self._mn_id!r}, {self.state.name})"

    @property
    def mac(self) -> str:
        """The canonical spelling (``aa:bb:cc:dd:ee:ff``), built on demand."""
        digits = f"{self.mac_int:012x}"
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))

    @property
    def mn_id(self) -> str:
        return self._mn_id

    @property
    def lma(self) -> Address:
        return self.policy.lma_address

    @property
    def profile(self) -> MobileNodeProfile:
        """The policy profile of this MN (built on demand when the policy is shared)."""
        policy = self.policy
        return policy if policy.mn_id == self._mn_id else replace(policy, mn_id=self._mn_id)

    @property
    def hnp(self) -> IPv6Network | None:
        packed = self.hnp_packed
        return None if packed is None else unpack_ipv6_network(packed)

    @hnp.setter
    def hnp(self, value: IPv6Network | None) -> None:
        self.hnp_packed = None if value is None else pack_ipv6_network(value)

    @property
    def ipv4_hoa(self) -> IPv4Interface | None:
        address = self.ipv4_hoa_int
        return None if address is None else IPv4Interface((address, self.ipv4_hoa_plen))

    @ipv4_hoa.setter
    def ipv4_hoa(self, value: IPv4Interface | None) -> None:
        if value is None:
            self.ipv4_hoa_int = None
        else:
            self.ipv4_hoa_int, self.ipv4_hoa_plen = int(value.ip), value.network.prefixlen

    @property
    def ipv4_default_router(self) -> IPv4Address | None:
        value = self.ipv4_router_int
        return None if value is None else IPv4Address(value)

    @ipv4_default_router.setter
    def ipv4_default_router(self, value: IPv4Address | None) -> None:
        self.ipv4_router_int = None if value is None else int(value)

    @property
    def acknowledged(self) -> bool:
        """The LMA has accepted the binding and it is in force (a refresh may be under way)."""
        return self.state in _ACKNOWLEDGED

    @property
    def datapath_up(self) -> bool:
        """A BindingUp went out and no BindingDown since."""
        return bool(self._flags & _DATAPATH_UP)

    @datapath_up.setter
    def datapath_up(self, value: bool) -> None:
        self._flags = self._flags | _DATAPATH_UP if value else self._flags & ~_DATAPATH_UP

    @property
    def counted_up(self) -> bool:
        """Counted in the MAG's per-LMA count of datapaths up."""
        return bool(self._flags & _COUNTED_UP)

    @counted_up.setter
    def counted_up(self, value: bool) -> None:
        self._flags = self._flags | _COUNTED_UP if value else self._flags & ~_COUNTED_UP

    @property
    def refresh_at(self) -> float | None:
        return None if self.state is BindingState.WAITING else self._next_at

    @refresh_at.setter
    def refresh_at(self, value: float | None) -> None:
        if self.state is not BindingState.WAITING or value is None:
            self._next_at = value
        else:  # the table never binds into WAITING
            raise LocalProtocolError(f"{self.mac}: refresh_at set while WAITING")

    @property
    def retry_at(self) -> float | None:
        return self._next_at if self.state is BindingState.WAITING else None

    @retry_at.setter
    def retry_at(self, value: float | None) -> None:
        if self.state is BindingState.WAITING or value is None:
            self._next_at = value
        else:
            raise LocalProtocolError(f"{self.mac}: retry_at set outside WAITING")

    @property
    def last_registration_delay_ms(self) -> float | None:
        """PBU out to PBA in of the last registration or refresh, in ms (microsecond steps)."""
        delay = self._packed >> _DELAY_SHIFT
        return None if not delay else (delay - 1) / 1000

    def note_registration_delay(self, delay_s: float) -> None:
        delay_us = max(0, round(delay_s * 1_000_000))
        self._packed = (delay_us + 1) << _DELAY_SHIFT | self._packed & _HISTORY_MASK

    @property
    def history(self) -> list[tuple[BindingState, BindingEvent, BindingState]]:
        """The last transitions, oldest first (enough for a post-mortem, bounded)."""
        out = []
        packed = self._packed & _HISTORY_MASK
        while packed:
            out.append(_TRANSITION_LIST[(packed & _CODE_MASK) - 1])
            packed >>= _HISTORY_BITS
        out.reverse()
        return out

    def fire(self, event: BindingEvent) -> Step:
        """Apply ``event`` through the table and return the step to perform."""
        state = self.state
        try:
            next_state, step = TRANSITIONS[(state, event)]
        except KeyError:
            raise LocalProtocolError(
                f"{self.mac}: no transition for {event.name} in state {state.name}"
            ) from None
        code = _TRANSITION_CODE[(state, event, next_state)]
        packed = self._packed
        self._packed = packed & ~_HISTORY_MASK | (packed << _HISTORY_BITS | code) & _HISTORY_MASK
        self.state = next_state
        return step

    def earliest(self) -> tuple[float, int, BindingEvent] | None:
        """The earliest armed timer: (deadline, its index in ``deadlines()``, event).

        On equal deadlines the lower index wins. The same as a walk over
        ``deadlines()`` without building its list (the MAG asks twice per refresh).
        """
        best: tuple[float, int, BindingEvent] | None = None
        at = self.expires_at
        if at is not None:
            best = (at, 0, BindingEvent.LIFETIME_EXPIRED)
        tx = self.transaction
        if tx is not None:
            at = tx.deadline_at
            if best is None or at < best[0]:
                event = BindingEvent.GIVE_UP if tx.exhausted else BindingEvent.ACK_TIMEOUT
                best = (at, 1, event)
        at = self._next_at
        if at is not None and (best is None or at < best[0]):
            if self.state is BindingState.WAITING:
                best = (at, 3, BindingEvent.RETRY_DUE)
            else:
                best = (at, 2, BindingEvent.REFRESH_DUE)
        return best

    def deadlines(self) -> list[tuple[float, BindingEvent]]:
        """Armed timers of this entry, as (deadline, event it fires when due)."""
        out: list[tuple[float, BindingEvent]] = []
        if self.expires_at is not None:
            out.append((self.expires_at, BindingEvent.LIFETIME_EXPIRED))
        if self.transaction is not None:
            event = BindingEvent.GIVE_UP if self.transaction.exhausted else BindingEvent.ACK_TIMEOUT
            out.append((self.transaction.deadline_at, event))
        if self.refresh_at is not None:
            out.append((self.refresh_at, BindingEvent.REFRESH_DUE))
        if self.retry_at is not None:
            out.append((self.retry_at, BindingEvent.RETRY_DUE))
        return out
