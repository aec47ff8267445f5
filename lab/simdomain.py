"""An in-memory PMIPv6 domain: MAG and LMA protocol objects wired by a simulated
network and a simulated clock (no sockets, no sleeping).

Datagrams are delivered after ``delay_s``; ``loss`` drops a deterministic
pseudo-random share of them; ``step``/``run_until`` advance the clock to the
next timer or delivery, as a real driver would.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from ipaddress import IPv6Address

from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import Action, Address, Datagram, LmaSettings, MagSettings
from mag_ap.lma.protocol import LmaProtocol

Endpoint = MagProtocol | LmaProtocol


@dataclass(order=True)
class _InFlight:
    deliver_at: float
    seq: int
    src: Address = field(compare=False)
    dst: Address = field(compare=False)
    data: bytes = field(compare=False)


@dataclass
class Domain:
    delay_s: float = 0.001
    loss: float = 0.0
    seed: int = 1
    now: float = 1000.0
    nodes: dict[Address, Endpoint] = field(default_factory=dict)
    down: set[Address] = field(default_factory=set)
    actions: dict[Address, list[Action]] = field(default_factory=dict)
    sent: list[tuple[float, Address, Address, bytes]] = field(default_factory=list)
    _net: list[_InFlight] = field(default_factory=list)
    _seq: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def add_lma(self, address: str, **kw: object) -> LmaProtocol:
        addr = IPv6Address(address)
        lma = LmaProtocol(LmaSettings(own_address=addr, **kw))  # type: ignore[arg-type]
        self.nodes[addr] = lma
        self.actions[addr] = []
        return lma

    def add_mag(self, address: str, **kw: object) -> MagProtocol:
        addr = IPv6Address(address)
        mag = MagProtocol(MagSettings(own_address=addr, **kw))  # type: ignore[arg-type]
        self.nodes[addr] = mag
        self.actions[addr] = []
        return mag

    def replace(self, address: str, node: Endpoint) -> None:
        """Swap in a new protocol object (a restarted daemon) at the same address."""
        self.nodes[IPv6Address(address)] = node

    def pump(self) -> None:
        """Collect every output of every node."""
        for addr, node in self.nodes.items():
            for dgram in node.datagrams_to_send(self.now):
                self._send(addr, dgram)
            while (action := node.next_action()) is not None:
                self.actions[addr].append(action)

    def _send(self, src: Address, dgram: Datagram) -> None:
        self.sent.append((self.now, src, dgram.peer, dgram.data))
        if src in self.down or (self.loss and self._rng.random() < self.loss):
            return
        self._seq += 1
        heapq.heappush(
            self._net, _InFlight(self.now + self.delay_s, self._seq, src, dgram.peer, dgram.data)
        )

    def next_event_at(self) -> float | None:
        times = [t for n in self.nodes.values() if (t := n.get_timer()) is not None]
        if self._net:
            times.append(self._net[0].deliver_at)
        return min(times) if times else None

    def step(self) -> bool:
        self.pump()
        at = self.next_event_at()
        if at is None:
            return False
        self.now = max(self.now, at)
        while self._net and self._net[0].deliver_at <= self.now:
            pkt = heapq.heappop(self._net)
            node = self.nodes.get(pkt.dst)
            if node is not None and pkt.dst not in self.down:
                node.receive_datagram(pkt.data, pkt.src, self.now)
        for node in self.nodes.values():
            timer = node.get_timer()
            if timer is not None and timer <= self.now:
                node.handle_timer(self.now)
        self.pump()
        return True

    def run_until(self, t: float) -> None:
        """Advance simulated time to ``t`` (events in between are processed)."""
        while True:
            self.pump()
            at = self.next_event_at()
            if at is None or at > t:
                break
            self.step()
        self.now = max(self.now, t)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)
