"""PBU retransmission with exponential back-off (RFC 6275 section 11.8, RFC 5213 6.9.4).

Schedule, with ``T`` the current timeout: a PBU goes out, the answer is awaited
for ``T``; on silence ``T`` doubles (capped at MAX_BINDACK_TIMEOUT) and a new PBU
(new sequence number, fresh timestamp) goes out.

* initial registration: ``T`` starts at InitialBindackTimeoutFirstReg (1.5 s);
  the engine gives up after a wait of MAX_BINDACK_TIMEOUT itself. With the
  defaults: sends at 0, 1.5, 4.5, 10.5, 22.5, 46.5 s, give-up at 78.5 s.
* re-registration (refresh): ``T`` starts at INITIAL_BINDACK_TIMEOUT (1 s) and
  the PBU is retransmitted until the binding's lifetime runs out.
* de-registration: ``T`` starts at 1 s, DEREGISTRATION_TRANSMISSIONS PBUs in
  all (sends at 0, 1, 3 s, give-up at 7 s): the datapath is already gone, the
  LMA will time the binding out anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from mag_ap.mh.constants import HandoffIndicator

DEREGISTRATION_TRANSMISSIONS = 3


class TransactionKind(Enum):
    INITIAL_REGISTRATION = "initial registration"
    RE_REGISTRATION = "re-registration"
    DE_REGISTRATION = "de-registration"


@dataclass(slots=True)
class Transaction:
    """One PBU exchange awaiting its PBA, with every transmission it made."""

    kind: TransactionKind
    handoff: HandoffIndicator
    timeout_s: float
    max_timeout_s: float
    deadline_at: float = 0.0
    transmissions: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)  # sequence -> send time
    retried_statuses: set[int] = field(default_factory=set)

    def record_send(self, sequence: int, now: float) -> None:
        """Remember a transmission and arm the answer deadline."""
        self.sent_at[sequence] = now
        self.transmissions += 1
        self.deadline_at = now + self.timeout_s

    @property
    def exhausted(self) -> bool:
        """No further retransmission: the next timeout ends the transaction."""
        if self.kind is TransactionKind.DE_REGISTRATION:
            return self.transmissions >= DEREGISTRATION_TRANSMISSIONS
        if self.kind is TransactionKind.INITIAL_REGISTRATION:
            return self.timeout_s >= self.max_timeout_s
        return False  # re-registration: the binding's lifetime ends it

    def back_off(self) -> None:
        self.timeout_s = min(self.timeout_s * 2, self.max_timeout_s)

    @property
    def first_sent_at(self) -> float:
        return min(self.sent_at.values())
