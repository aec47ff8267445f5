"""Per-LMA heartbeat state of the MAG (RFC 5847).

Requests go out every HEARTBEAT_INTERVAL while the LMA holds bindings of ours.
When MISSING_HEARTBEATS_ALLOWED requests in a row are unanswered, the check
before the next request declares the peer lost (once, until it answers again).
A changed Restart Counter in a heartbeat means the LMA lost its binding cache.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from mag_ap.core.types import Address

HEARTBEAT_SEQUENCE_MODULO = 1 << 32
_REMEMBERED_REQUESTS = 16


@dataclass
class HeartbeatPeer:
    address: Address
    next_request_at: float | None = None
    next_sequence: int = 0
    missed: int = 0  # consecutive requests without a response
    lost: bool = False
    restart_counter: int | None = None  # last value the peer told us
    last_heard_at: float | None = None
    unanswered: deque[int] = field(default_factory=lambda: deque(maxlen=_REMEMBERED_REQUESTS))

    def start(self, now: float, interval_s: float) -> None:
        """Arm the next request (no-op when already running).

        Without a known Restart Counter the first request goes out at once: the
        baseline must exist before the LMA can restart, or a restart goes unseen.
        """
        if self.next_request_at is None and interval_s > 0:
            self.next_request_at = now if self.restart_counter is None else now + interval_s

    def stop(self) -> None:
        """No bindings left at this LMA: stop asking, forget the misses."""
        self.next_request_at = None
        self.missed = 0
        self.unanswered.clear()

    def request_due(self, now: float, interval_s: float, allowed: int) -> tuple[int, bool]:
        """Sequence of the request to send now, and whether the peer just got lost."""
        just_lost = self.missed >= allowed and not self.lost
        if just_lost:
            self.lost = True
        sequence = self.next_sequence
        self.next_sequence = (sequence + 1) % HEARTBEAT_SEQUENCE_MODULO
        self.unanswered.append(sequence)
        self.missed += 1
        self.next_request_at = now + interval_s
        return sequence, just_lost

    def response(self, sequence: int, now: float) -> bool:
        """A response arrived; True when it answers one of our requests."""
        if sequence not in self.unanswered:
            return False
        self.unanswered.clear()
        self.missed = 0
        self.lost = False
        self.last_heard_at = now
        return True

    def restart_counter_seen(self, counter: int) -> int | None:
        """Record the peer's counter; the previous value when it changed, else None."""
        previous = self.restart_counter
        self.restart_counter = counter
        if previous is not None and previous != counter:
            return previous
        return None
