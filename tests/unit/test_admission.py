"""The gate for stations nobody vouched for (mag_ap.admission), and its use by the
DHCPv4 server and the RA scheduler: bounded state, counted drops, one summary per
interval, and a real client's retransmission admitted through a flood of forged MACs."""

from __future__ import annotations

from mag_ap.admission import GateSettings, NewcomerGate, TokenBucket
from mag_ap.core.types import LogEvent
from mag_ap_dhcp4._packet import MessageType
from mag_ap_dhcp4._server import Dhcp4Server, StationAttached
from mag_ap_dhcp4._settings import ServerSettings
from mag_ap_ra._schedule import MAX_HELD_OFF, RaScheduler
from tests.unit.test_dhcp4_server import MAC, pkt
from tests.unit.test_ra_schedule import MN, SETTINGS, rs_frame


def forged(i: int) -> str:
    return ":".join(f"{b:02x}" for b in (0x020000100000 + i).to_bytes(6, "big"))


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)


def test_a_retry_gets_through_a_flood_that_never_repeats_a_mac() -> None:
    gate = NewcomerGate(GateSettings(rate_per_s=20, burst=50, memory=4096))
    admitted_at: list[float] = []
    for i in range(10_000):  # 1,000 forged MACs per second for 10 s
        now = i / 1000
        gate.admit(forged(i), now)
        # the real client: once a second until admitted
        if i % 1000 == 500 and not admitted_at and gate.admit(MAC, now):
            admitted_at.append(now)
    assert admitted_at and admitted_at[0] <= 2.0  # its first retransmission
    assert gate.counters["admitted_on_retry"] == 1
    assert gate.counters["admitted"] <= 50 + 20 * 10 + 1
    assert gate.counters["dropped_rate"] >= 9_700
    assert gate.remembered <= 4096


def test_memory_is_bounded_and_a_cycling_flood_is_forgotten_before_it_returns() -> None:
    gate = NewcomerGate(GateSettings(rate_per_s=1, burst=1, memory=100))
    for round_ in range(3):
        for i in range(1000):
            gate.admit(forged(i), round_ * 10 + i / 100)
    assert gate.remembered == 100
    assert gate.counters["admitted_on_retry"] == 0


def test_a_retry_sooner_than_the_gap_is_the_same_burst() -> None:
    gate = NewcomerGate(GateSettings(rate_per_s=1, burst=1, retry_gap_s=0.5))
    assert gate.admit("a", 0.0)
    assert not gate.admit("b", 0.0)
    assert not gate.admit("b", 0.2)  # too soon: a first-time packet again
    assert gate.admit("b", 0.6) and gate.counters["admitted_on_retry"] == 1


def test_drops_are_summed_up_once_per_interval() -> None:
    gate = NewcomerGate(GateSettings(rate_per_s=1, burst=1, summary_interval_s=10))
    gate.admit("a", 0.0)
    summaries = []
    for i in range(2500):  # 100/s for 25 s, each a new MAC
        now = i / 100
        gate.admit(forged(i), now)
        if (dropped := gate.summary(now)) is not None:
            summaries.append((now, dropped))
    assert [t for t, _ in summaries] == [0.0, 10.0, 20.0]
    assert sum(d for _, d in summaries) <= gate.counters["dropped_rate"]
    assert gate.summary(100.0) is not None  # the last few
    assert gate.summary(200.0) is None  # quiet: nothing to say


def test_dhcp_server_flood_keeps_state_bounded_and_lets_the_real_client_retry_in() -> None:
    server = Dhcp4Server(ServerSettings(max_stations=256))
    triggered_at: list[float] = []
    for i in range(10_000):  # 10,000 forged chaddr at 1,000/s
        now = i / 1000
        mac = bytes.fromhex(forged(i).replace(":", ""))
        server.receive(pkt(MessageType.DHCPDISCOVER, mac=mac, xid=i), now)
        if i % 1000 == 700:  # udhcpc: a DISCOVER a second
            server.receive(pkt(MessageType.DHCPDISCOVER, xid=7), now)
        for action in server.drain():
            if isinstance(action, StationAttached) and action.mac == MAC:
                triggered_at.append(now)
    assert triggered_at and triggered_at[0] <= 2.0
    status = server.status(10.0)
    assert status["pending"] <= 256 and status["newcomers_remembered"] <= 4 * 256
    c = status["counters"]
    assert c["rate_limited_global"] >= 9_000 and c["admitted_on_retry"] >= 1
    assert c["attach_triggers"] <= 50 + 20 * 10 + 2


def test_dhcp_server_logs_the_drops_once_per_interval_not_per_packet() -> None:
    server = Dhcp4Server()
    logs = []
    for i in range(3000):  # 100/s for 30 s
        mac = bytes.fromhex(forged(i).replace(":", ""))
        server.receive(pkt(MessageType.DHCPDISCOVER, mac=mac), i / 100)
        logs += [a for a in server.drain() if isinstance(a, LogEvent) and "dropped" in a.message]
    assert 2 <= len(logs) <= 4
    assert sum(int(e.fields["dropped"]) for e in logs) <= server.counters["rate_limited_global"]


def test_rs_flood_keeps_the_scheduler_bounded_and_the_kernels_next_rs_gets_in() -> None:
    s = RaScheduler(SETTINGS)
    reported: list[str] = []
    for i in range(10_000):  # 10,000 forged MACs at 500/s: 4,096 remembered cover 8 s
        now = i / 500
        s.frame_received(rs_frame(forged(i)), now)
        if i in (250, 2250):  # the kernel: RS at 0.5 s, again 4 s later
            s.frame_received(rs_frame(MN), now)
        while (mac := s.next_unknown_station()) is not None:
            reported.append(mac)
    assert MN in reported
    status = s.status(20.0)
    assert status["unknown_held_off"] <= MAX_HELD_OFF
    assert status["unknown_remembered"] <= 4096
    assert status["unknown_dropped_rate"] >= 9_000
    assert status["unknown_admitted_on_retry"] >= 1
    assert len(reported) <= 50 + 20 * 20 + 2


def test_a_station_admitted_on_retry_keeps_its_place_for_the_next_try() -> None:
    """Turned away further on (the daemon's backlog), its next knock is a retry again."""
    gate = NewcomerGate(GateSettings(rate_per_s=1, burst=1))
    assert gate.admit("x", 0.0)  # the first bucket's only token
    assert not gate.admit(MAC, 0.0)
    assert gate.admit(MAC, 1.0) and gate.admit(MAC, 2.0)
    assert gate.counters["admitted_on_retry"] == 2 and gate.counters["dropped_rate"] == 1
