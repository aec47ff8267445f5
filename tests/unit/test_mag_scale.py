"""The MAG engine at access-point scale: per-event work does not grow with the list.

No wall-clock limits: the complexity is shown structurally. Every per-entry
look an O(n) path would take goes through ``BindingUpdateListEntry.deadlines()``
(timer scans) or the ``mn_id`` / ``lma`` properties (MN-ID, LMA and heartbeat
scans); the tests count those calls around one event among thousands of
bindings. A correctness run then keeps 5,000 bindings alive against a real LMA.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address

import pytest

from lab.simdomain import Domain
from mag_ap.core.bul import BindingEvent, BindingUpdateListEntry
from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import Address, LmaSettings, MagSettings, MobileNodeProfile
from mag_ap.lma.protocol import LmaProtocol
from mag_ap.mh.messages import (
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
    decode_message,
    encode_message,
)
from mag_ap.mh.options import MobileNodeIdentifier, RestartCounter

LMA_ADDR = IPv6Address("2001:db8:ff::1")
OTHER_LMA = IPv6Address("2001:db8:ff::2")
MAG_ADDR = IPv6Address("2001:db8:ff::11")
HANDFUL = 12  # entry looks one event may take, whatever the list size
T0 = 1000.0


def mac(i: int) -> str:
    return f"02:00:00:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"


def profile(i: int, lma: Address = LMA_ADDR) -> MobileNodeProfile:
    return MobileNodeProfile(mn_id=f"mn{i}@scale", lma_address=lma)


class EntryLooks:
    """Counts calls of ``deadlines()``, ``earliest()`` and of the ``mn_id`` / ``lma`` properties."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        deadlines = BindingUpdateListEntry.deadlines

        def counted_deadlines(entry: BindingUpdateListEntry) -> list[tuple[float, BindingEvent]]:
            self.count += 1
            return deadlines(entry)

        monkeypatch.setattr(BindingUpdateListEntry, "deadlines", counted_deadlines)
        earliest = BindingUpdateListEntry.earliest

        def counted_earliest(entry: BindingUpdateListEntry) -> object:
            self.count += 1
            return earliest(entry)

        monkeypatch.setattr(BindingUpdateListEntry, "earliest", counted_earliest)
        for name in ("mn_id", "lma"):
            getter = getattr(BindingUpdateListEntry, name).fget
            monkeypatch.setattr(BindingUpdateListEntry, name, property(self._counted(getter)))

    def _counted(
        self, getter: Callable[[BindingUpdateListEntry], object]
    ) -> Callable[[BindingUpdateListEntry], object]:
        def counted(entry: BindingUpdateListEntry) -> object:
            self.count += 1
            return getter(entry)

        return counted

    def during(self, action: Callable[[], object]) -> int:
        before = self.count
        action()
        return self.count - before


def drain(mag: MagProtocol, now: float) -> list[bytes]:
    while mag.next_action() is not None:
        pass
    return [d.data for d in mag.datagrams_to_send(now)]


def answer(lma: LmaProtocol, pbus: list[bytes], now: float) -> list[bytes]:
    for data in pbus:
        lma.receive_datagram(data, MAG_ADDR, now)
    while lma.next_action() is not None:
        pass
    return [d.data for d in lma.datagrams_to_send(now)]


def registering_crowd(n: int) -> MagProtocol:
    """``n`` stations attached at T0, no PBA yet: every one has a retransmission armed."""
    mag = MagProtocol(MagSettings(own_address=MAG_ADDR))
    for i in range(n):
        mag.attach(mac(i), profile(i), T0)
    drain(mag, T0)
    return mag


def bound_crowd(n: int) -> tuple[MagProtocol, LmaProtocol]:
    """``n`` bindings acknowledged by a real LMA (heartbeats running)."""
    mag = MagProtocol(MagSettings(own_address=MAG_ADDR, lifetime_s=40))
    lma = LmaProtocol(LmaSettings(own_address=LMA_ADDR))
    for i in range(n):
        mag.attach(mac(i), profile(i), T0)
    for data in answer(lma, drain(mag, T0), T0):
        mag.receive_datagram(data, LMA_ADDR, T0)
    drain(mag, T0)
    return mag, lma


def test_events_among_20000_registering_entries_touch_a_handful(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = 20_000
    mag = registering_crowd(n)
    looks = EntryLooks(monkeypatch)

    assert looks.during(mag.get_timer) <= HANDFUL
    assert mag.get_timer() == T0 + 1.5

    # One more station, a little later, and a re-attach of a known MN-ID.
    assert looks.during(lambda: mag.attach(mac(n), profile(n), T0 + 0.1)) <= HANDFUL
    assert looks.during(lambda: mag.attach(mac(n + 1), profile(7), T0 + 0.1)) <= HANDFUL

    # Its PBA: MN-ID matching is an index lookup, not a filter of the whole list.
    lma = LmaProtocol(LmaSettings(own_address=LMA_ADDR))
    (pbu,) = [d for d in drain(mag, T0 + 0.1) if b"mn20000@scale" in d]
    (pba,) = answer(lma, [pbu], T0 + 0.2)
    assert isinstance(decode_message(pba), ProxyBindingAcknowledgement)
    assert looks.during(lambda: mag.receive_datagram(pba, LMA_ADDR, T0 + 0.2)) <= HANDFUL
    assert mag.counters["pba_accepted"] == 1
    drain(mag, T0 + 0.2)

    # A PBA from the wrong LMA and one for no known MN.
    assert looks.during(lambda: mag.receive_datagram(pba, OTHER_LMA, T0 + 0.2)) <= HANDFUL
    assert mag.counters["pba_wrong_source"] == 1

    # The one station attached at T0 - 1 retransmits alone at T0 + 0.5.
    mag.attach(mac(n + 2), profile(n + 2), T0 - 1)
    drain(mag, T0)
    sent = mag.counters["pbu_sent"]
    assert looks.during(lambda: mag.handle_timer(T0 + 0.5)) <= HANDFUL
    assert mag.counters["pbu_sent"] == sent + 1

    # Detach of one, and a revocation naming one MN.
    assert looks.during(lambda: mag.detach(mac(3), T0 + 0.6)) <= HANDFUL
    bri = BindingRevocationIndication(
        trigger=1, sequence=1, p=True, options=(MobileNodeIdentifier(identifier="mn5@scale"),)
    )
    assert (
        looks.during(lambda: mag.receive_datagram(encode_message(bri), LMA_ADDR, T0 + 0.6))
        <= HANDFUL
    )
    assert mag.counters["bindings_revoked"] == 1
    assert len(mag.status(T0 + 0.6)["bindings"]) == n + 2  # mn3 de-registering, mn5 gone


def test_all_due_timers_are_handled_in_one_pass_each(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 5_000
    mag = registering_crowd(n)
    looks = EntryLooks(monkeypatch)
    sent = mag.counters["pbu_sent"]
    touched = looks.during(lambda: mag.handle_timer(T0 + 1.5))
    assert mag.counters["retransmissions"] == n
    assert mag.counters["pbu_sent"] == sent + n
    assert touched <= 5 * n  # a scan per due timer would be n * n
    assert mag.get_timer() == T0 + 1.5 + 3.0


def test_events_among_bound_entries_touch_a_handful(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 2_000
    mag, lma = bound_crowd(n)
    assert mag.counters["pba_accepted"] == n
    looks = EntryLooks(monkeypatch)

    # Refresh PBA of one binding: bind + heartbeat bookkeeping without a scan.
    mag.attach(mac(n), profile(n), T0 + 1)
    (pba,) = answer(lma, drain(mag, T0 + 1), T0 + 1)
    assert looks.during(lambda: mag.receive_datagram(pba, LMA_ADDR, T0 + 1)) <= HANDFUL
    assert mag.counters["pba_accepted"] == n + 1

    # Detach of a bound station: BindingDown, lifetime-0 PBU, heartbeat still on.
    assert looks.during(lambda: mag.detach(mac(0), T0 + 2)) <= HANDFUL
    assert mag.status(T0 + 2)["peers"][0]["next_heartbeat_in_s"] is not None

    # A heartbeat request from the LMA (restart counter baseline) and its answer.
    hb = Heartbeat(sequence=9, options=(RestartCounter(counter=0),))
    assert looks.during(lambda: mag.receive_datagram(encode_message(hb), LMA_ADDR, T0 + 3)) <= 2


def test_2000_bindings_stay_bound_and_refresh_against_a_real_lma() -> None:
    n = 2_000
    domain = Domain()
    domain.add_lma(str(LMA_ADDR))
    mag = domain.add_mag(str(MAG_ADDR), lifetime_s=40)
    start = domain.now
    for batch in range(0, n, 1_000):  # 1,000 stations at once, twice
        for i in range(batch, batch + 1_000):
            mag.attach(mac(i), profile(i), domain.now)
        domain.run_for(1.0)
        assert mag.counters["pba_accepted"] == batch + 1_000
    domain.run_until(start + 200.0)
    bindings = mag.status(domain.now)["bindings"]
    assert len(bindings) == n
    assert {b["state"] for b in bindings} <= {"bound", "refreshing"}
    assert min(b["registrations"] for b in bindings) >= 8  # refreshed every 20 s
    assert mag.counters["retransmissions"] == 0
    assert mag.counters["bindings_expired"] == 0
    assert mag.counters["registrations_given_up"] == 0
    assert mag.counters["pba_accepted"] == sum(b["registrations"] for b in bindings)
