"""Timestamps under load: a burst queued at either end is late, not skewed (RFC 5213 5.5, 6.9.1.x).

Measured on real daemons: 2,000 de-registrations at SIGTERM all got 156 twice, the
LMA kept every binding. Two faults: the LMA judged a PBU's timestamp when it read it,
after the PBU waited in its receive queue longer than TimestampValidityWindow
(300 ms), and the MAG took a 156 PBA's waiting time in *its* queue for clock skew
and stamped the retry further in the past.

Here MAG and LMA run in memory, each behind a FIFO receive queue with a per-message
processing cost (one simulated CPU each), so a burst waits exactly as it does on a
loaded host. Each datagram is handed over with its arrival time (``received_at``),
as the runtime does with the kernel's receive timestamp.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

import pytest

from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import Address, LmaSettings, MagSettings, MobileNodeProfile
from mag_ap.lma.protocol import LmaProtocol
from mag_ap.mh.constants import BindingAckStatus

LMA_ADDR = IPv6Address("2001:db8:ff::1")
MAG_ADDR = IPv6Address("2001:db8:ff::11")
UNIX_AT_ZERO = 1_700_000_000.0
T0 = 1000.0
LINK_S = 0.0005
COST_S = 0.004  # per message: 250 messages queue for a second, over three windows
TIMESTAMP_MISMATCH = int(BindingAckStatus.TIMESTAMP_MISMATCH)


@dataclass
class _Node:
    endpoint: Any
    address: Address
    cost_s: float
    pass_arrival: bool = True  # False: the old runtime, which judged at read time
    inbox: deque[tuple[float, Address, bytes]] = field(default_factory=deque)
    free_at: float = 0.0


class QueuedDomain:
    """One MAG, one LMA, each a single server with a FIFO queue; time is simulated."""

    def __init__(self, *, lma_skew_s: float = 0.0, lma_gets_arrival: bool = True) -> None:
        self.now = T0
        self.mag = MagProtocol(
            MagSettings(own_address=MAG_ADDR, heartbeat_interval_s=0.0),
            wall_clock_offset_s=UNIX_AT_ZERO,
        )
        self.lma = LmaProtocol(
            LmaSettings(own_address=LMA_ADDR, heartbeat_interval_s=0.0),
            wall_clock_offset_s=UNIX_AT_ZERO + lma_skew_s,
        )
        self.nodes = {
            MAG_ADDR: _Node(self.mag, MAG_ADDR, COST_S),
            LMA_ADDR: _Node(self.lma, LMA_ADDR, COST_S, pass_arrival=lma_gets_arrival),
        }
        self.pbas_156_received = 0

    def _flush(self, node: _Node, at: float) -> None:
        while node.endpoint.next_action() is not None:
            pass
        for dgram in node.endpoint.datagrams_to_send(at):
            peer = self.nodes[dgram.peer]
            peer.inbox.append((at + LINK_S, node.address, dgram.at_departure(at)))
            if node is self.nodes[LMA_ADDR] and _status(dgram.data) == TIMESTAMP_MISMATCH:
                self.pbas_156_received += 1

    def call_mag(self, fn: Any, work_s: float = 0.0) -> None:
        """One event at the MAG that takes ``work_s`` (a burst): its PBUs leave at the end."""
        node = self.nodes[MAG_ADDR]
        fn(self.mag, self.now)
        node.free_at = self.now + work_s
        self._flush(node, node.free_at)

    def _next(self) -> tuple[float, _Node, bool] | None:
        best: tuple[float, _Node, bool] | None = None
        for node in self.nodes.values():
            if node.inbox:
                at = max(node.inbox[0][0], node.free_at)
                if best is None or at < best[0]:
                    best = (at, node, True)
            timer = node.endpoint.get_timer()
            if timer is not None:
                at = max(timer, node.free_at)
                if best is None or at < best[0]:
                    best = (at, node, False)
        return best

    def run_until(self, t: float) -> None:
        while (nxt := self._next()) is not None and nxt[0] <= t:
            at, node, is_datagram = nxt
            self.now = max(self.now, at)
            if is_datagram:
                arrived, src, data = node.inbox.popleft()
                received_at = arrived if node.pass_arrival else None
                node.endpoint.receive_datagram(data, src, self.now, received_at=received_at)
                node.free_at = self.now + node.cost_s
                self._flush(node, node.free_at)  # sent when the work is done
            else:
                node.endpoint.handle_timer(self.now)
                self._flush(node, self.now)
        self.now = max(self.now, t)

    def lma_bindings(self) -> int:
        return len(self.lma.status(self.now)["bindings"])

    def lma_156_sent(self) -> int:
        rejected: dict[str, int] = self.lma.status(self.now)["counters"]["pba_sent_rejected"]
        return rejected.get(BindingAckStatus.TIMESTAMP_MISMATCH.name, 0)


def _status(data: bytes) -> int | None:
    from mag_ap.mh.messages import ProxyBindingAcknowledgement, decode_message

    msg = decode_message(data)
    return int(msg.status) if isinstance(msg, ProxyBindingAcknowledgement) else None


def _attach_burst(dom: QueuedDomain, n: int) -> None:
    def attach_all(mag: MagProtocol, now: float) -> None:
        for i in range(n):
            mac = f"02:00:00:00:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"
            profile = MobileNodeProfile(mn_id=f"mn{i}@ts.example", lma_address=LMA_ADDR)
            mag.attach(mac, profile, now)

    dom.call_mag(attach_all, work_s=n * COST_S)


N = 300  # 1.2 s of work at each end: the last PBUs wait four windows


def test_burst_attach_and_shutdown_queued_at_both_ends_get_no_156() -> None:
    dom = QueuedDomain()
    _attach_burst(dom, N)
    dom.run_until(T0 + 5)
    assert dom.mag.counters["pba_accepted"] == N
    assert dom.lma_bindings() == N
    dom.call_mag(MagProtocol.shutdown, work_s=N * COST_S)  # 1.2 s to build 300 PBUs
    dom.run_until(T0 + 5 + 30)  # past MinDelayBeforeBCEDelete (10 s)
    assert dom.mag.binding_count == 0
    assert dom.mag.counters["deregistrations_unanswered"] == 0
    assert dom.lma_bindings() == 0
    assert dom.lma_156_sent() == 0
    assert dom.pbas_156_received == 0
    assert dom.mag.counters["timestamp_retries"] == 0


def test_judging_at_read_time_refuses_the_same_burst() -> None:
    """The scenario does load the queue: judged when read, the tail of the burst is 156."""
    dom = QueuedDomain(lma_gets_arrival=False)
    _attach_burst(dom, N)
    dom.run_until(T0 + 5)
    assert dom.lma_156_sent() > N // 2


def test_156_caused_by_queueing_is_not_learned_as_skew() -> None:
    """An LMA that judges late (another implementation) answers 156: the MAG's retry carries
    a fresh time, not one shifted by the queueing (the measured -2.1 s), and no 156
    stamp inside [PBU sent, PBA arrived] becomes a correction."""
    dom = QueuedDomain(lma_gets_arrival=False)
    _attach_burst(dom, N)
    dom.run_until(T0 + 5)
    assert dom.mag.counters["timestamp_retries"] > 0
    assert dom.mag.counters["clock_corrections"] == 0
    assert dom.mag._clock_correction_s == {}


def test_real_skew_is_learned_from_the_156_and_the_retry_is_accepted() -> None:
    dom = QueuedDomain(lma_skew_s=5.0)
    _attach_burst(dom, N)
    dom.run_until(T0 + 5)
    assert dom.lma_156_sent() > 0  # the first PBUs, sent before the MAG knew
    assert dom.mag.counters["clock_corrections"] > 0
    correction = dom.mag._clock_correction_s[LMA_ADDR]
    assert 5.0 - 0.01 <= correction <= 5.0  # the tightest round trip of the burst wins
    assert dom.mag.counters["pba_accepted"] == N  # every retry inside the window
    assert dom.lma_bindings() == N


def test_corrections_replace_and_never_add_up() -> None:
    """Skew back to zero: the next 156 whose stamp fits the round trip drops the correction."""
    dom = QueuedDomain(lma_skew_s=-3.0)
    _attach_burst(dom, 1)
    dom.run_until(T0 + 2)
    assert abs(dom.mag._clock_correction_s[LMA_ADDR] + 3.0) <= 0.3
    for _ in range(2):  # a second 156 with the same skew replaces, it does not add
        dom.mag._clock_correction_s[LMA_ADDR] = 0.0
        dom.call_mag(lambda mag, now: mag.detach("02:00:00:00:00:00", now))
        dom.run_until(dom.now + 15)
        _attach_burst(dom, 1)
        dom.run_until(dom.now + 2)
        assert abs(dom.mag._clock_correction_s[LMA_ADDR] + 3.0) <= 0.3
    dom.lma.wall_clock_offset_s = UNIX_AT_ZERO  # the LMA's clock was fixed (NTP step)
    dom.call_mag(lambda mag, now: mag.detach("02:00:00:00:00:00", now))
    dom.run_until(dom.now + 15)
    assert dom.lma_bindings() == 0
    assert LMA_ADDR not in dom.mag._clock_correction_s


def test_pbu_timestamp_is_the_time_it_leaves_not_the_start_of_the_event() -> None:
    """Measured: a SIGTERM event building 2,000 de-registrations sent them all stamped with
    the event's start, already past the window when they left; the runtime stamps each
    as it leaves (``Datagram.at_departure``), everything else of the bytes unchanged."""
    from mag_ap.mh.messages import ProxyBindingUpdate, decode_message
    from mag_ap.mh.options import Timestamp

    mag = MagProtocol(MagSettings(own_address=MAG_ADDR), wall_clock_offset_s=UNIX_AT_ZERO)
    profile = MobileNodeProfile(mn_id="mn@ts.example", lma_address=LMA_ADDR)
    mag.attach("02:00:00:00:00:01", profile, T0)
    (dgram,) = mag.datagrams_to_send(T0 + 1.5)
    pbu = decode_message(dgram.at_departure(T0 + 1.5))
    assert isinstance(pbu, ProxyBindingUpdate)
    stamp = pbu.find(Timestamp)
    assert stamp is not None
    assert abs(stamp.unix_time_s - (UNIX_AT_ZERO + T0 + 1.5)) < 1e-4
    built = decode_message(dgram.data)  # as built: the event's time
    assert built.find(Timestamp).unix_time_s == UNIX_AT_ZERO + T0  # type: ignore[union-attr]
    assert dataclasses.replace(pbu, options=built.options) == built  # only the stamp differs


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize(
    ("arrived_after_s", "read_after_s", "accepted"),
    [(0.01, 2.0, True), (0.5, 0.5, False)],  # late read of a timely PBU; a late PBU
)
def test_both_lma_paths_judge_the_timestamp_at_arrival(
    monkeypatch: pytest.MonkeyPatch,
    fast_path: bool,
    arrived_after_s: float,
    read_after_s: float,
    accepted: bool,
) -> None:
    from mag_ap.lma import fastpath

    used: list[bool] = []
    handle = fastpath.FastPbuPath.handle

    def spy(self: fastpath.FastPbuPath, *args: Any) -> bool:
        result = handle(self, *args)
        used.append(result)
        return result

    monkeypatch.setattr(fastpath.FastPbuPath, "handle", spy)
    mag = MagProtocol(MagSettings(own_address=MAG_ADDR), wall_clock_offset_s=UNIX_AT_ZERO)
    lma = LmaProtocol(
        LmaSettings(own_address=LMA_ADDR), wall_clock_offset_s=UNIX_AT_ZERO, fast_path=fast_path
    )
    for i in (1, 2):
        profile = MobileNodeProfile(mn_id=f"mn{i}@ts", lma_address=LMA_ADDR)
        mag.attach(f"02:00:00:00:00:0{i}", profile, T0)
    first, second = mag.datagrams_to_send(T0)
    lma.receive_datagram(first.data, MAG_ADDR, T0)  # the MAG becomes a known peer
    lma.datagrams_to_send(T0)
    used.clear()
    lma.receive_datagram(second.data, MAG_ADDR, T0 + read_after_s, received_at=T0 + arrived_after_s)
    (pba,) = lma.datagrams_to_send(T0 + read_after_s)
    assert _status(pba.data) == (0 if accepted else TIMESTAMP_MISMATCH)
    assert used == ([accepted] if fast_path else [])  # the fast path took the timely one
