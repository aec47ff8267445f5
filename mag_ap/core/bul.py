"""Binding Update List entry (RFC 5213 section 6.1) and its state table.

Transitions are data, as in h11: ``TRANSITIONS[(state, event)]`` gives the next
state and the ``Step`` the MAG performs. A pair missing from the table is a bug
in the engine and raises ``LocalProtocolError``; a peer's nonsense never gets
this far (it is dropped and counted before an event is fired).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(slots=True)  # one per station, 40,000 on a busy AP: no per-instance dict
class BindingUpdateListEntry:
    """One mobile node's binding as the MAG sees it (RFC 5213 section 6.1)."""

    mac: str
    profile: MobileNodeProfile
    lifetime_requested_s: int
    state: BindingState = BindingState.REGISTERING
    gre_key_from_lma: int | None = None  # the key we asked the LMA to use
    # what the LMA granted (kept across refreshes and asked for again)
    hnp: IPv6Network | None = None
    ipv4_hoa: IPv4Interface | None = None
    ipv4_default_router: IPv4Address | None = None
    gre_key_to_lma: int | None = None
    lifetime_s: int = 0
    datapath_up: bool = False  # a BindingUp went out and no BindingDown since
    refresh_at: float | None = None
    retry_at: float | None = None  # WAITING: when the next initial registration starts
    expires_at: float | None = None
    transaction: Transaction | None = None
    registrations: int = 0
    last_registration_delay_ms: float | None = None
    history: list[tuple[BindingState, BindingEvent, BindingState]] = field(default_factory=list)

    @property
    def mn_id(self) -> str:
        return self.profile.mn_id

    @property
    def lma(self) -> Address:
        return self.profile.lma_address

    @property
    def acknowledged(self) -> bool:
        """The LMA has accepted the binding and it is in force (a refresh may be under way)."""
        return self.state in _ACKNOWLEDGED

    def fire(self, event: BindingEvent) -> Step:
        """Apply ``event`` through the table and return the step to perform."""
        try:
            next_state, step = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise LocalProtocolError(
                f"{self.mac}: no transition for {event.name} in state {self.state.name}"
            ) from None
        self.history.append((self.state, event, next_state))
        del self.history[:-4]  # enough for a post-mortem, bounded (memory per station)
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
