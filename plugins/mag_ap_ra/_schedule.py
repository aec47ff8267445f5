"""Pure scheduler of per-mobile-node Router Advertisements (sans-IO).

Time comes in as ``now`` (monotonic seconds), frames go out through
:meth:`RaScheduler.frames_to_send`, stations seen soliciting without a binding
come out of :meth:`RaScheduler.next_unknown_station`, and there is one timer
(``get_timer`` / ``handle_timer``), as in the MAG core (DESIGN.md rule 1).

When RAs go out to one MN (its MAC, IPv6 destination ff02::1, RFC 6085):

* ``BindingUp`` (new binding or new prefix): ``initial_offsets_s`` after it,
  by default 0, 1 and 4 s, i.e. MAX_INITIAL_RTR_ADVERTISEMENTS = 3 of RFC 4861
  section 6.2.4 but much faster than its 16 s spacing, because a unicast RA
  disturbs no one else and the MN is waiting for its prefix; then every
  ``interval_s`` (MaxRtrAdvInterval, 600 s by default) while the binding lives.
  A refresh (lifetime extended) sends one RA at once with the new lifetimes.
* a Router Solicitation from the MN's MAC: one RA after a random delay of at
  most ``rs_delay_max_s`` (MAX_RA_DELAY_TIME, RFC 4861 section 6.2.6); an RA
  already pending for that MN answers it. An MLDv2 report or a DAD solicitation
  from the MN counts the same: a station that switched RSs off, or sent them at
  its previous AP, still needs its RA here. From a MAC without a binding, any of
  the three reports an unknown station (the trigger).
* ``BindingDown``: MAX_FINAL_RTR_ADVERTISEMENTS = 3 withdrawal RAs at the same
  offsets: router lifetime 0 and the prefix with valid and preferred lifetime 0.

The prefix's valid and preferred lifetimes are the binding's remaining lifetime
at send time (the MN must stop using the prefix when the MAG stops routing it);
the router lifetime is ``router_lifetime_s`` capped by that remaining time.
A prefix other than a /64 is advertised on-link without the A flag (SLAAC on
Ethernet forms 64-bit interface identifiers, RFC 4862 section 5.5.3).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any, Final

from mag_ap.admission import GateSettings, NewcomerGate
from mag_ap.mac import mac_bytes, mac_text
from mag_ap.wire import DecodeError

from ._packet import (
    ALL_NODES,
    Frame,
    LinkMtu,
    NdOption,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    decode_frame,
    encode_frame,
    station_signal,
)

__all__ = [
    "DEFAULT_INITIAL_OFFSETS_S",
    "RaScheduler",
    "RaSettings",
]

DEFAULT_INITIAL_OFFSETS_S: Final = (0.0, 1.0, 4.0)
MAX_RA_DELAY_TIME_S: Final = 0.5  # RFC 4861 section 10
MAX_KEPT_WITHDRAWALS: Final = 4096  # bounded: withdrawn MNs are forgotten after the final RAs
MAX_HELD_OFF: Final = 4096  # unknown MACs in their hold-off, oldest forgotten first
MAX_UNKNOWN_QUEUED: Final = 256  # reports not yet taken by the trigger


@dataclass(frozen=True, kw_only=True)
class RaSettings:
    """What every RA of this MAG says besides the prefix."""

    mac: bytes  # Ethernet source and Source Link-Layer Address option
    link_local: IPv6Address  # IPv6 source (the fixed MAG link-local address)
    mtu: int | None = 1460  # MTU option; None leaves it out
    router_lifetime_s: int = 1800
    cur_hop_limit: int = 64
    interval_s: float = 600.0
    initial_offsets_s: tuple[float, ...] = DEFAULT_INITIAL_OFFSETS_S
    rs_delay_max_s: float = MAX_RA_DELAY_TIME_S
    rs_trigger_holdoff_s: float = 10.0  # one attach report per unknown MAC in this time
    # Reports of unknown MACs (attach triggers) pass mag_ap.admission.NewcomerGate.
    rs_trigger_rate_per_s: float = 20.0
    rs_trigger_burst: int = 50


@dataclass
class _Node:
    """One MN the MAG advertises to (or withdraws from)."""

    mac: bytes
    hnp: IPv6Network
    expires_at: float
    withdrawn: bool = False
    due: list[float] = field(default_factory=list)  # pending send times, sorted
    sent: int = 0


class RaScheduler:
    """Per-MN RA state: binding up/down and RS in, frames and unknown stations out."""

    def __init__(self, settings: RaSettings, random: Callable[[], float] = lambda: 0.0) -> None:
        """``random`` returns a number in [0, 1) for the RS answer delay (injected for tests)."""
        self.settings = settings
        self._random = random
        self._nodes: dict[bytes, _Node] = {}
        self._heap: list[tuple[float, bytes]] = []  # (due, mac); stale entries skipped
        self._out: list[bytes] = []
        self._unknown: deque[str] = deque()
        self._holdoff_until: OrderedDict[bytes, float] = OrderedDict()
        self.gate = NewcomerGate(
            GateSettings(rate_per_s=settings.rs_trigger_rate_per_s, burst=settings.rs_trigger_burst)
        )
        self.counters: dict[str, int] = {
            "ra_sent": 0,
            "withdrawals_sent": 0,
            "rs_received": 0,
            "rs_answered": 0,
            "rs_unknown": 0,
            "station_signals": 0,  # MLD reports and DAD solicitations seen
            "station_signals_unknown": 0,
            "bad_frames": 0,
            "unknown_dropped_rate": 0,  # attach reports refused by the gate (a flood)
            "unknown_admitted_on_retry": 0,
            "unknown_dropped_queue": 0,  # reports the trigger did not take in time
        }
        self.last_error: str | None = None

    # --- inputs ---------------------------------------------------------------

    def binding_up(
        self, mac: str, hnp: IPv6Network | None, lifetime_s: int, now: float, refresh: bool
    ) -> None:
        """Start (or refresh) advertising ``hnp`` to ``mac``; no HNP: stop advertising."""
        raw = _mac(mac)
        old = self._nodes.get(raw)
        if hnp is None:
            if old is not None and not old.withdrawn:
                self.binding_down(mac, now)
            return
        if old is not None and not old.withdrawn and old.hnp != hnp:
            self._withdraw_now(old, now)  # prefix changed: retire the old one first
            old = None
        node = _Node(raw, hnp, now + lifetime_s)
        if old is not None and not old.withdrawn and refresh:
            node.sent = old.sent
            self._nodes[raw] = node
            self._schedule(node, [now])
        else:
            self._nodes[raw] = node
            self._schedule(node, [now + off for off in self.settings.initial_offsets_s])

    def binding_down(self, mac: str, now: float) -> None:
        """Withdraw the MN's prefix and default route with the final RAs."""
        node = self._nodes.get(_mac(mac))
        if node is None or node.withdrawn:
            return
        node.withdrawn = True
        node.due = []
        self._schedule(node, [now + off for off in self.settings.initial_offsets_s])
        self._trim_withdrawn()

    def frame_received(self, data: bytes, now: float) -> None:
        """A frame from the access link; bad ones are counted, never raised."""
        signal = station_signal(data)
        if signal is not None:
            self._station_heard(*signal, now)
            return
        try:
            frame = decode_frame(data)
        except DecodeError as exc:
            self.counters["bad_frames"] += 1
            self.last_error = str(exc)
            return
        if not isinstance(frame.message, RouterSolicitation):
            return  # another router's RA: not ours to answer
        if frame.src_mac == self.settings.mac or frame.src_mac[0] & 1:
            self.counters["bad_frames"] += 1
            self.last_error = f"solicitation from MAC {mac_text(frame.src_mac)} ignored"
            return
        self.counters["rs_received"] += 1
        if self._answer_soon(frame.src_mac, now):
            self.counters["rs_answered"] += 1
            return
        if self._report_unknown(frame.src_mac, now):
            self.counters["rs_unknown"] += 1

    def _station_heard(self, mac: bytes, what: str, now: float) -> None:
        """An MLD report or DAD from ``mac``: like an RS that was never sent."""
        if mac == self.settings.mac:
            return
        self.counters["station_signals"] += 1
        if self._answer_soon(mac, now):
            return  # a bound station configuring an address: its RA goes out now
        if self._report_unknown(mac, now):
            self.counters["station_signals_unknown"] += 1

    def _answer_soon(self, mac: bytes, now: float) -> bool:
        """A bound MN asked (or showed it needs) an RA: one within ``rs_delay_max_s``."""
        node = self._nodes.get(mac)
        if node is None or node.withdrawn:
            return False
        if not node.due or node.due[0] > now + self.settings.rs_delay_max_s:
            self._schedule(node, [now + self._random() * self.settings.rs_delay_max_s])
        return True

    def _report_unknown(self, mac: bytes, now: float) -> bool:
        """Queue ``mac`` for the trigger, once per hold-off and as the gate allows.

        False while held off or refused by the gate (a flood of unknown MACs);
        every table here is bounded, the oldest entries go first.
        """
        if now < self._holdoff_until.get(mac, float("-inf")):
            return False
        retries = self.gate.counters["admitted_on_retry"]
        if not self.gate.admit(mac, now):
            self.counters["unknown_dropped_rate"] += 1
            return False
        if self.gate.counters["admitted_on_retry"] != retries:
            self.counters["unknown_admitted_on_retry"] += 1
        self._holdoff_until[mac] = now + self.settings.rs_trigger_holdoff_s
        self._holdoff_until.move_to_end(mac)
        while len(self._holdoff_until) > MAX_HELD_OFF:
            self._holdoff_until.popitem(last=False)
        self._unknown.append(mac_text(mac))
        while len(self._unknown) > MAX_UNKNOWN_QUEUED:
            self._unknown.popleft()
            self.counters["unknown_dropped_queue"] += 1
        return True

    # --- timers and outputs ---------------------------------------------------

    def get_timer(self) -> float | None:
        while self._heap:
            due, raw = self._heap[0]
            node = self._nodes.get(raw)
            if node is not None and node.due and node.due[0] == due:
                return due
            heapq.heappop(self._heap)  # superseded
        return None

    def handle_timer(self, now: float) -> None:
        while (due := self.get_timer()) is not None and due <= now:
            _, raw = heapq.heappop(self._heap)
            node = self._nodes[raw]
            node.due.pop(0)
            self._out.append(self._encode(node, now))
            node.sent += 1
            if node.withdrawn:
                self.counters["withdrawals_sent"] += 1
                if not node.due:
                    del self._nodes[raw]
                    continue
            else:
                self.counters["ra_sent"] += 1
                if not node.due and self.settings.interval_s > 0:
                    node.due.append(now + self.settings.interval_s)
            if node.due:
                heapq.heappush(self._heap, (node.due[0], raw))

    def frames_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_unknown_station(self) -> str | None:
        """A MAC that solicited without a binding (for the RS trigger), or None."""
        return self._unknown.popleft() if self._unknown else None

    def status(self, now: float) -> dict[str, Any]:
        nodes = {
            mac_text(n.mac): {
                "hnp": str(n.hnp),
                "withdrawn": n.withdrawn,
                "remaining_s": max(0, int(n.expires_at - now)),
                "sent": n.sent,
            }
            for n in self._nodes.values()
        }
        return {
            "nodes": nodes,
            **self.counters,
            "unknown_held_off": len(self._holdoff_until),
            "unknown_remembered": self.gate.remembered,
            "last_error": self.last_error,
        }

    def advertised(self, mac: str) -> IPv6Network | None:
        node = self._nodes.get(_mac(mac))
        return node.hnp if node is not None and not node.withdrawn else None

    # --- internals --------------------------------------------------------------

    def _schedule(self, node: _Node, times: list[float]) -> None:
        node.due = sorted([*node.due, *times])
        heapq.heappush(self._heap, (node.due[0], node.mac))

    def _withdraw_now(self, node: _Node, now: float) -> None:
        node.withdrawn = True
        self._out.append(self._encode(node, now))
        self.counters["withdrawals_sent"] += 1

    def _trim_withdrawn(self) -> None:
        withdrawn = [m for m, n in self._nodes.items() if n.withdrawn]
        for raw in withdrawn[: max(0, len(withdrawn) - MAX_KEPT_WITHDRAWALS)]:
            del self._nodes[raw]

    def _encode(self, node: _Node, now: float) -> bytes:
        s = self.settings
        remaining = 0 if node.withdrawn else max(0, int(node.expires_at - now))
        autonomous = node.hnp.prefixlen == 64
        options: list[NdOption] = [
            SourceLinkLayerAddress(s.mac),
            PrefixInformation(
                prefix=node.hnp.network_address,
                prefix_length=node.hnp.prefixlen,
                on_link=True,
                autonomous=autonomous,
                valid_lifetime_s=remaining,
                preferred_lifetime_s=remaining,
            ),
        ]
        if s.mtu is not None:
            options.append(LinkMtu(s.mtu))
        ra = RouterAdvertisement(
            cur_hop_limit=s.cur_hop_limit,
            router_lifetime_s=min(s.router_lifetime_s, remaining),
            options=tuple(options),
        )
        return encode_frame(Frame(node.mac, s.mac, s.link_local, ALL_NODES, ra))


def _mac(mac: str) -> bytes:
    return mac_bytes(mac)
