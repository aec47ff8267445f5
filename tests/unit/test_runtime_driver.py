"""The asyncio driver over a fake endpoint, and the UDP (IPv4 transport) MH socket on loopback.

No root needed: UDP on 127.0.0.1 with ephemeral ports stands in for the network.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from lab.topology import until
from mag_ap.core.types import Action, Address, Datagram, LogEvent, PeerRestarted
from mag_ap.mh import checksum_ok, with_checksum
from mag_ap.runtime.driver import Driver, wall_clock_offset_s
from mag_ap.runtime.mh_socket import RawMhSocket, UdpMhSocket

LOOPBACK = IPv4Address("127.0.0.1")
# A Heartbeat-sized MH: payload proto 59, header len 1 (16 bytes), type 13, checksum 0.
MH = bytes([59, 1, 13, 0, 0, 0]) + bytes(10)


class FakeEndpoint:
    """Echoes every datagram back, logs it as an action, and keeps one programmable timer."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Address, float]] = []
        self.outbox: list[Datagram] = []
        self.actions: list[Action] = []
        self.timer_at: float | None = None
        self.timer_calls: list[float] = []
        self.explode = False
        self.echo = True
        self.on_timer: Callable[[float], None] | None = None
        self.arrivals: list[float | None] = []

    def receive_datagram(
        self, data: bytes, src: Address, now: float, *, received_at: float | None = None
    ) -> None:
        self.arrivals.append(received_at)
        if self.explode:
            raise RuntimeError("endpoint bug")
        self.received.append((data, src, now))
        if self.echo:
            self.outbox.append(Datagram(data, src))
        self.actions.append(LogEvent(level="debug", message="got", fields={"n": len(data)}))

    def datagrams_to_send(self, now: float) -> list[Datagram]:
        out, self.outbox = self.outbox, []
        return out

    def next_action(self) -> Action | None:
        return self.actions.pop(0) if self.actions else None

    def get_timer(self) -> float | None:
        return self.timer_at

    def handle_timer(self, now: float) -> None:
        self.timer_calls.append(now)
        self.timer_at = None
        if self.on_timer is not None:
            self.on_timer(now)

    def status(self, now: float) -> dict[str, Any]:
        return {"received": len(self.received)}


def shifted_clock() -> float:
    """A protocol clock far from ``time.monotonic``: a test that reads the wall clock
    instead of ``driver.now()`` arms timers hours late and fails."""
    return time.monotonic() - 36_000.0


async def _until(cond: Callable[[], bool], timeout_s: float = 3.0) -> None:
    await until(cond, timeout_s, "the driver to get there", interval_s=0.005)


def _collecting_sink() -> tuple[list[Action], Callable[[Action], Any]]:
    applied: list[Action] = []

    async def sink(action: Action) -> None:
        applied.append(action)

    return applied, sink


def test_wall_clock_offset_maps_monotonic_to_unix_time() -> None:
    assert abs(time.monotonic() + wall_clock_offset_s() - time.time()) < 0.05


def test_one_timer_rearmed_from_get_timer() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        _, sink = _collecting_sink()
        driver = Driver(ep, send=lambda d: None, action_sink=sink, clock=shifted_clock)
        ep.timer_at = driver.now() + 0.05
        driver.start()
        first = driver.timer_deadline
        assert first == ep.timer_at
        # A later deadline replaces the armed one after the next event, never adds one.
        ep.timer_at = first + 0.05
        driver.call(lambda e, now: None)
        assert driver.timer_deadline == ep.timer_at
        assert len(ep.timer_calls) == 0

        # handle_timer re-arms itself twice, then stops.
        def again(now: float) -> None:
            if len(ep.timer_calls) < 3:
                ep.timer_at = now + 0.01

        ep.on_timer = again
        await _until(lambda: len(ep.timer_calls) == 3)
        assert ep.timer_calls[0] >= first + 0.05 - 0.002  # not early, on the driver's clock
        assert ep.timer_calls == sorted(ep.timer_calls)
        assert driver.timer_deadline is None  # nothing armed: no fourth call can come
        assert len(ep.timer_calls) == 3
        assert driver.counters["timer_events"] == 3
        await driver.close()

    asyncio.run(main())


def test_timer_in_the_past_fires_promptly() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        _, sink = _collecting_sink()
        driver = Driver(ep, send=lambda d: None, action_sink=sink, clock=shifted_clock)
        ep.timer_at = driver.now() - 10
        driver.start()
        await _until(lambda: len(ep.timer_calls) == 1, 0.5)
        await driver.close()

    asyncio.run(main())


def test_actions_are_applied_in_order_and_failures_do_not_stop_the_worker() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        seen: list[str] = []

        async def sink(action: Action) -> None:
            assert isinstance(action, PeerRestarted)
            seen.append(action.reason)
            if action.reason == "boom":
                raise OSError("datapath said no")
            if action.reason == "slow":
                await asyncio.Event().wait()  # never done: only the action timeout ends it

        driver = Driver(ep, send=lambda d: None, action_sink=sink, action_timeout_s=0.05)
        driver.start()
        for msg in ("a", "boom", "slow", "b"):
            ep.actions.append(PeerRestarted(peer=LOOPBACK, reason=msg))
        driver.call(lambda e, now: None)
        assert await driver.drain_actions(2.0)
        assert seen == ["a", "boom", "slow", "b"]
        assert driver.counters["action_failures"] == 1
        assert driver.counters["action_timeouts"] == 1
        assert driver.counters["actions_applied"] == 2
        await driver.close()

    asyncio.run(main())


def test_wait_for_wakes_after_the_event_that_makes_it_true() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        _, sink = _collecting_sink()
        driver = Driver(ep, send=lambda d: None, action_sink=sink)
        driver.start()
        waiter = asyncio.ensure_future(driver.wait_for(lambda e, now: len(e.received) > 0, 2.0))
        await asyncio.sleep(0)  # one loop turn: the waiter registers its predicate
        assert not waiter.done()
        driver.datagram_received(MH, LOOPBACK)
        assert await waiter is True
        assert await driver.wait_for(lambda e, now: False, 0.02) is False
        await driver.close()

    asyncio.run(main())


def test_udp_transport_round_trip_with_checksum_convention() -> None:
    """Two drivers over UDP sockets: the echo comes back, checksums follow our convention."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a_ep, b_ep = FakeEndpoint(), FakeEndpoint()
        a_ep.echo = False
        applied_b, sink_b = _collecting_sink()
        _, sink_a = _collecting_sink()
        logged_b: list[LogEvent] = []
        a_drv = Driver(a_ep, send=lambda d: a_sock.send(d.data, d.peer), action_sink=sink_a)
        b_drv = Driver(
            b_ep,
            send=lambda d: b_sock.send(d.data, d.peer),
            action_sink=sink_b,
            log_sink=logged_b.append,
        )
        a_sock = UdpMhSocket(LOOPBACK, a_drv.datagram_received, port=0)
        b_sock = UdpMhSocket(LOOPBACK, b_drv.datagram_received, port=0)
        a_sock.open(loop)
        b_sock.open(loop)
        a_sock.peer_port, b_sock.peer_port = b_sock.port, a_sock.port
        a_drv.start()
        b_drv.start()

        a_ep.outbox.append(Datagram(MH, LOOPBACK))
        a_drv.call(lambda e, now: None)
        await _until(lambda: len(a_ep.received) == 1)
        data, src, _ = b_ep.received[0]
        mapped = IPv6Address("::ffff:127.0.0.1")
        assert checksum_ok(mapped, mapped, data)  # filled by the sender, verified by us
        assert src == LOOPBACK
        assert a_ep.received[0][0] == data
        # The kernel's receive time (SO_TIMESTAMPNS) came along, on the protocol clock.
        arrived = b_ep.arrivals[0]
        assert arrived is not None and arrived <= b_ep.received[0][2]
        assert await b_drv.drain_actions(1.0)
        assert applied_b == [] and [e.fields for e in logged_b] == [{"n": len(MH)}]

        # Raw injection: zero checksum accepted, wrong checksum dropped and counted.
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.sendto(MH, ("127.0.0.1", b_sock.port))
            bad = bytearray(with_checksum(mapped, mapped, MH))
            bad[5] ^= 0xFF
            raw.sendto(bytes(bad), ("127.0.0.1", b_sock.port))
            raw.sendto(b"\x3b", ("127.0.0.1", b_sock.port))  # too short: the protocol counts it
        finally:
            raw.close()
        await _until(lambda: len(b_ep.received) == 3)
        await _until(lambda: b_sock.counters["rx_dropped_checksum"] == 1)
        assert [r[0] for r in b_ep.received[1:]] == [MH, b"\x3b"]
        assert b_sock.counters["tx_datagrams"] >= 1

        # Sending to the wrong family is refused and counted, never raised.
        assert a_sock.send(MH, IPv6Address("::1")) is False
        assert a_sock.counters["tx_errors"] == 1
        for d in (a_drv, b_drv):
            await d.close()
        a_sock.close()
        b_sock.close()
        a_sock.close()  # twice is fine

    asyncio.run(main())


def test_an_endpoint_bug_is_counted_not_fatal() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        _, sink = _collecting_sink()
        sent: list[Datagram] = []
        driver = Driver(ep, send=sent.append, action_sink=sink)
        driver.start()
        ep.explode = True
        driver.datagram_received(MH, LOOPBACK)
        assert driver.counters["endpoint_errors"] == 1
        ep.explode = False
        driver.datagram_received(MH, LOOPBACK)
        assert sent == [Datagram(MH, LOOPBACK)]
        await driver.close()

    asyncio.run(main())


def test_action_sink_sees_typed_actions() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        applied, sink = _collecting_sink()
        driver = Driver(ep, send=lambda d: None, action_sink=sink)
        driver.start()
        ep.actions.append(PeerRestarted(peer=LOOPBACK, reason="test"))
        driver.call(lambda e, now: None)
        assert await driver.drain_actions(1.0)
        assert applied == [PeerRestarted(peer=LOOPBACK, reason="test")]
        await driver.close()

    asyncio.run(main())


def test_raw_socket_without_privilege_fails_loudly() -> None:
    """Opening a raw MH socket either works (root) or raises PermissionError: never silent."""

    async def main() -> None:
        sock = RawMhSocket(IPv6Address("::1"), lambda d, s, t, r: None)
        try:
            sock.open(asyncio.get_running_loop())
        except PermissionError:
            return
        except OSError as exc:  # no IPv6 on this host
            pytest.fail(f"unexpected error opening a raw MH socket on ::1: {exc}")
        try:
            # As root: loopback round trip through the kernel's checksum handling.
            got: list[tuple[bytes, Address, Address | None]] = []
            sock._on_datagram = lambda d, s, t, r: got.append((d, s, t))
            assert sock.send(MH, IPv6Address("::1"))
            await _until(lambda: len(got) >= 1)
            data, src, dst = got[0]
            assert src == IPv6Address("::1") and dst == IPv6Address("::1")
            assert checksum_ok(IPv6Address("::1"), IPv6Address("::1"), data)
        finally:
            sock.close()

    asyncio.run(main())


def test_log_events_are_written_at_once_not_behind_a_slow_action() -> None:
    """A datapath stuck on a route must not hold back the log lines of later events."""

    async def main() -> None:
        ep = FakeEndpoint()
        release = asyncio.Event()
        applied: list[Action] = []

        async def sink(action: Action) -> None:
            applied.append(action)
            await release.wait()

        logged: list[str] = []
        driver = Driver(
            ep, send=lambda d: None, action_sink=sink, log_sink=lambda e: logged.append(e.message)
        )
        driver.start()
        ep.actions.append(PeerRestarted(peer=LOOPBACK, reason="slow"))
        driver.call(lambda e, now: None)
        await _until(lambda: len(applied) == 1)  # the worker is now blocked in the sink
        ep.actions += [
            LogEvent(level="info", message="first"),
            PeerRestarted(peer=LOOPBACK, reason="queued"),
        ]
        ep.actions.append(LogEvent(level="warning", message="second"))
        driver.call(lambda e, now: None)
        assert logged == ["first", "second"]  # in the event, while the sink still waits
        assert len(applied) == 1
        assert driver.counters["log_events"] == 2
        release.set()
        assert await driver.drain_actions(2.0)
        assert [a for a in applied if isinstance(a, LogEvent)] == []
        assert len(applied) == 2
        await driver.close()

    asyncio.run(main())


def test_a_failing_log_sink_loses_no_action() -> None:
    async def main() -> None:
        ep = FakeEndpoint()
        applied, sink = _collecting_sink()

        def broken(event: LogEvent) -> None:
            raise OSError("stderr gone")

        driver = Driver(ep, send=lambda d: None, action_sink=sink, log_sink=broken)
        driver.start()
        ep.actions += [
            LogEvent(level="info", message="x"),
            PeerRestarted(peer=LOOPBACK, reason="r"),
        ]
        driver.call(lambda e, now: None)
        assert await driver.drain_actions(2.0)
        assert applied == [PeerRestarted(peer=LOOPBACK, reason="r")]
        assert driver.counters["log_failures"] == 1
        await driver.close()

    asyncio.run(main())


def test_receive_time_is_moved_onto_the_protocol_clock_by_its_age() -> None:
    """A datagram that waited 0.25 s in the buffer arrived 0.25 s before ``now``; a kernel
    time from before a wall-clock step (older than the bound, or in the future) is ignored."""
    ep = FakeEndpoint()
    ep.echo = False
    wall = [2_000_000_000.0]
    driver = Driver(
        ep,
        send=lambda d: None,
        action_sink=_collecting_sink()[1],
        clock=lambda: 500.0,
        wall_clock=lambda: wall[0],
    )
    driver.datagram_received(MH, LOOPBACK, None, wall[0] - 0.25)
    driver.datagram_received(MH, LOOPBACK, None, wall[0] - 3600.0)
    driver.datagram_received(MH, LOOPBACK, None, wall[0] + 1.0)
    driver.datagram_received(MH, LOOPBACK)
    assert ep.arrivals == [500.0 - 0.25, None, None, None]
    assert [r[2] for r in ep.received] == [500.0] * 4


def test_timestamp_is_written_as_the_datagram_leaves() -> None:
    """The endpoint built the datagram at 500.0; the driver sends it at 501.25 with that time."""
    ep = FakeEndpoint()
    clock = [500.0]
    sent: list[Datagram] = []
    value = (1_000 << 16).to_bytes(8, "big")
    ep.outbox.append(Datagram(b"\x3b\x01" + value + b"\xaa", LOOPBACK, 2, 1_000.0 - 500.0))
    ep.outbox.append(Datagram(MH, LOOPBACK))
    driver = Driver(ep, send=sent.append, action_sink=_collecting_sink()[1], clock=lambda: clock[0])
    clock[0] = 501.25
    driver.call(lambda e, now: None)
    assert sent[0].data == b"\x3b\x01" + round(1_001.25 * 65536).to_bytes(8, "big") + b"\xaa"
    assert sent[0].timestamp_at == -1
    assert sent[1] == Datagram(MH, LOOPBACK)
