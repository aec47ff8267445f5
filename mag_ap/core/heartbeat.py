"""Per-LMA heartbeat state of the MAG (RFC 5847).

Requests go out every HEARTBEAT_INTERVAL while the LMA holds bindings of ours.
When MISSING_HEARTBEATS_ALLOWED requests in a row are unanswered, the check
before the next request declares the peer lost (once, until it answers again).
A changed Restart Counter in a heartbeat means the LMA lost its binding cache.
While a peer is lost, requests go out ten times per interval, so an LMA that
comes back is noticed within a tenth of an interval (bench/lma_outage.py).

RFC 5847 is optional. A peer that has never answered (nor sent) a Heartbeat
is not declared lost: after MISSING_HEARTBEATS_ALLOWED unanswered requests, or
at once when it answers one with a Binding Error (status 2, unrecognized MH
type), it is marked ``unsupported`` and no more requests go to it. Only a peer
that answered before can be lost. A Heartbeat from it later turns it back on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from mag_ap.core.types import Address

HEARTBEAT_SEQUENCE_MODULO = 1 << 32
_REMEMBERED_REQUESTS = 16
# While a peer is lost, ask this many times per interval: the first answer of an LMA
# that came back (a new Restart Counter: re-register everything) is what ends its
# outage for the stations, so it should not wait up to a whole interval. The cost is
# a few 16-octet requests per lost LMA.
LOST_PROBES_PER_INTERVAL = 10


class Verdict(Enum):
    """What ``request_due`` concluded before sending."""

    NONE = "none"
    LOST = "lost"  # answered before, now MISSING_HEARTBEATS_ALLOWED misses in a row
    UNSUPPORTED = "unsupported"  # never answered: RFC 5847 absent, stop asking


@dataclass
class HeartbeatPeer:
    address: Address
    next_request_at: float | None = None
    next_sequence: int = 0
    missed: int = 0  # consecutive requests without a response
    lost: bool = False
    restart_counter: int | None = None  # last value the peer told us
    last_heard_at: float | None = None
    answered: bool = False  # the peer ever answered or sent a Heartbeat (RFC 5847 spoken)
    unsupported: bool = False  # never answered: we stopped asking
    unanswered: deque[int] = field(default_factory=lambda: deque(maxlen=_REMEMBERED_REQUESTS))

    def start(self, now: float, interval_s: float) -> None:
        """Arm the next request (no-op when already running).

        Without a known Restart Counter the first request goes out at once: the
        baseline must exist before the LMA can restart, or a restart goes unseen.
        """
        if self.next_request_at is None and interval_s > 0 and not self.unsupported:
            self.next_request_at = now if self.restart_counter is None else now + interval_s

    def stop(self) -> None:
        """No bindings left at this LMA: stop asking, forget the misses."""
        self.next_request_at = None
        self.missed = 0
        self.unanswered.clear()

    def request_due(
        self, now: float, interval_s: float, allowed: int
    ) -> tuple[int | None, Verdict]:
        """Sequence of the request to send now (None: send none), and what was concluded."""
        verdict = Verdict.NONE
        if self.missed >= allowed and not self.answered:
            return None, Verdict.UNSUPPORTED  # the caller marks it (and says so once)
        if self.missed >= allowed and not self.lost:
            self.lost = True
            verdict = Verdict.LOST
        sequence = self.next_sequence
        self.next_sequence = (sequence + 1) % HEARTBEAT_SEQUENCE_MODULO
        self.unanswered.append(sequence)
        self.missed += 1
        self.next_request_at = now + (
            interval_s / LOST_PROBES_PER_INTERVAL if self.lost else interval_s
        )
        return sequence, verdict

    def mark_unsupported(self) -> None:
        """The peer does not do RFC 5847: stop asking (a Heartbeat from it resumes).

        The unanswered sequences are kept: a late answer still proves support.
        """
        self.unsupported = True
        self.next_request_at = None
        self.missed = 0

    def heard(self, now: float) -> None:
        """The peer sent or answered a Heartbeat: it speaks RFC 5847."""
        self.answered = True
        self.unsupported = False
        self.last_heard_at = now

    def response(self, sequence: int, now: float) -> bool:
        """A response arrived; True when it answers one of our requests."""
        if sequence not in self.unanswered:
            return False
        self.unanswered.clear()
        self.missed = 0
        self.lost = False
        self.heard(now)
        return True

    def restart_counter_seen(self, counter: int) -> int | None:
        """Record the peer's counter; the previous value when it changed, else None."""
        previous = self.restart_counter
        self.restart_counter = counter
        if previous is not None and previous != counter:
            return previous
        return None
