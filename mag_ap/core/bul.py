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
        "_history",
        "_mn_id",
        "counted_up",
        "datapath_up",
        "expires_at",
        "gre_key_from_lma",
        "gre_key_to_lma",
        "hnp_packed",
        "ipv4_hoa_int",
        "ipv4_hoa_plen",
        "ipv4_router_int",
        "last_registration_delay_ms",
        "lifetime_requested_s",
        "lifetime_s",
        "mac_int",
        "policy",
        "refresh_at",
        "registrations",
        "retry_at",
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
        self.datapath_up = False  # a BindingUp went out and no BindingDown since
        self.refresh_at: float | None = None
        self.retry_at: float | None = None  # WAITING: when the next initial registration starts
        self.expires_at: float | None = None
        self.transaction: Transaction | None = None
        self.registrations = 0
        self.last_registration_delay_ms: float | None = None
        self._history = 0
        self.timer_at: float | None = None  # the deadline the MAG's timer wheel holds for it
        self.counted_up = False  # counted in the MAG's per-LMA count of datapaths up

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
    def history(self) -> list[tuple[BindingState, BindingEvent, BindingState]]:
        """The last transitions, oldest first (enough for a post-mortem, bounded)."""
        out = []
        packed = self._history
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
        self._history = (self._history << _HISTORY_BITS | code) & _HISTORY_MASK
        self.state = next_state
        return step

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
