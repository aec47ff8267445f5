"""What the reference LMA keeps per MAG (heartbeats, RFC 5847) and per revocation (RFC 5846).

Both are :class:`~mag_ap.core.timers.Scheduled` items of the LMA's one timer heap: a
peer's deadline is its next heartbeat, a revocation's its next BRI retransmission.
"""

from __future__ import annotations

from ..core.heartbeat import HeartbeatPeer
from ..core.timers import Scheduled
from ..core.types import Address
from ..mh.constants import RevocationTrigger
from .cache import BindingCacheEntry

__all__ = ["BRI_MAX_RETRANSMIT_NUMBER", "MIN_DELAY_BRIS_S", "PeerState", "PendingRevocation"]

MIN_DELAY_BRIS_S = 1.0  # first BRI retransmission timeout, doubled per retry (RFC 5846)
BRI_MAX_RETRANSMIT_NUMBER = 3  # BRIMaxRetransmitNumber: retries before giving up (RFC 5846)


class PeerState(Scheduled):
    """A MAG we have heard from; its deadline is the next heartbeat (RFC 5847).

    The heartbeat bookkeeping (requests unanswered, lost, Restart Counter) is the
    MAG's own :class:`~mag_ap.core.heartbeat.HeartbeatPeer`: one RFC 5847 peer logic.
    """

    __slots__ = ("address", "authorized", "heartbeat", "last_seen_at")

    def __init__(self, address: Address, authorized: bool, now: float) -> None:
        super().__init__()
        self.address = address
        self.authorized = authorized  # computed once: the PBU path then costs a bool
        self.heartbeat = HeartbeatPeer(address=address)
        self.last_seen_at = now


class PendingRevocation(Scheduled):
    """A BRI waiting for its BRA; its deadline is the next retransmission.

    ``mag`` is where the BRI went. A handover BRI (``handover``) tells a MAG the
    binding has moved on: its answer ends the revocation, not the entry.
    """

    __slots__ = (
        "data",
        "entry",
        "handover",
        "mag",
        "retransmissions",
        "sequence",
        "timeout_s",
        "trigger",
    )

    def __init__(
        self,
        entry: BindingCacheEntry,
        sequence: int,
        trigger: RevocationTrigger,
        data: bytes,
        mag: Address,
        *,
        handover: bool = False,
    ) -> None:
        super().__init__()
        self.entry = entry
        self.sequence = sequence
        self.trigger = trigger
        self.data = data  # encoded once, retransmitted as is
        self.mag = mag
        self.handover = handover
        self.retransmissions = 0
        self.timeout_s = MIN_DELAY_BRIS_S
