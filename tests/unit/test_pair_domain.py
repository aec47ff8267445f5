"""The real MAG and LMA protocol objects talking to each other in memory.

No sockets: ``lab/simdomain.py`` carries the datagrams and the clock, so
registration, refresh, handover, LMA restart, revocation and loss are all
exercised end to end in milliseconds of real time.
"""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import Any

from lab.simdomain import Domain
from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import (
    BindingDown,
    BindingUp,
    LmaSettings,
    MobileNodeProfile,
    MobileRouteDown,
    MobileRouteUp,
)
from mag_ap.lma.protocol import LmaProtocol
from mag_ap.mh import HandoffIndicator

LMA = "2001:db8:ff::1"
MAG1 = "2001:db8:ff::11"
MAG2 = "2001:db8:ff::12"


def profile(mn: str, **kw: Any) -> MobileNodeProfile:
    return MobileNodeProfile(mn_id=mn, lma_address=IPv6Address(LMA), **kw)


def mac(i: int) -> str:
    return f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}"


def binding(node: MagProtocol | LmaProtocol, mn: str, now: float) -> dict[str, Any] | None:
    return next((b for b in node.status(now)["bindings"] if b["mn_id"] == mn), None)


def ups(d: Domain, at: str) -> list[BindingUp]:
    return [a for a in d.actions[IPv6Address(at)] if isinstance(a, BindingUp)]


def test_registration_gives_the_same_addresses_on_both_sides() -> None:
    d = Domain()
    lma = d.add_lma(LMA)
    mag = d.add_mag(MAG1)
    mag.attach(mac(1), profile("mn1@example.org"), d.now)
    d.run_for(1)
    up = ups(d, MAG1)
    assert len(up) == 1
    pool = LmaSettings(own_address=IPv6Address(LMA)).hnp_pool
    assert pool is not None and up[0].hnp is not None and up[0].hnp.subnet_of(pool)
    assert up[0].ipv4_hoa is not None and up[0].ipv4_default_router is not None
    routes = [a for a in d.actions[IPv6Address(LMA)] if isinstance(a, MobileRouteUp)]
    assert [(r.mn_id, r.mag, r.hnp, r.ipv4_hoa) for r in routes] == [
        ("mn1@example.org", IPv6Address(MAG1), up[0].hnp, up[0].ipv4_hoa)
    ]
    m, l_ = binding(mag, "mn1@example.org", d.now), binding(lma, "mn1@example.org", d.now)
    assert m is not None and l_ is not None
    assert m["hnp"] == l_["hnp"] == str(up[0].hnp)
    assert m["state"] == "bound"


def test_short_lifetime_is_refreshed_and_never_expires() -> None:
    d = Domain()
    lma = d.add_lma(LMA)
    mag = d.add_mag(MAG1, lifetime_s=40, refresh_before_s=10)
    mag.attach(mac(1), profile("mn1@example.org"), d.now)
    d.run_for(400)
    entry = binding(lma, "mn1@example.org", d.now)
    assert entry is not None and entry["state"] == "registered"
    assert entry["registrations"] >= 10
    assert not [a for a in d.actions[IPv6Address(MAG1)] if isinstance(a, BindingDown)]


def test_detach_deregisters_and_the_lma_lets_go_after_its_delay() -> None:
    d = Domain()
    lma = d.add_lma(LMA)
    mag = d.add_mag(MAG1)
    mag.attach(mac(1), profile("mn1@example.org"), d.now)
    d.run_for(1)
    mag.detach(mac(1), d.now)
    d.run_for(1)
    assert binding(mag, "mn1@example.org", d.now) is None
    assert [type(a) for a in d.actions[IPv6Address(MAG1)]].count(BindingDown) == 1
    d.run_for(12)  # MinDelayBeforeBCEDelete is 10 s
    assert binding(lma, "mn1@example.org", d.now) is None
    assert any(isinstance(a, MobileRouteDown) for a in d.actions[IPv6Address(LMA)])


def test_handover_between_mags_keeps_prefix_and_ipv4_address() -> None:
    d = Domain()
    lma = d.add_lma(LMA)
    mag1, mag2 = d.add_mag(MAG1), d.add_mag(MAG2)
    mn = "walker@example.org"
    mag1.attach(mac(7), profile(mn), d.now)
    d.run_for(1)
    before = ups(d, MAG1)[0]
    # The station appears on MAG2 first; MAG1 notices the departure a little later.
    mag2.attach(mac(7), profile(mn), d.now, handoff=HandoffIndicator.MAG_CHANGE)
    d.run_for(0.2)
    mag1.detach(mac(7), d.now)
    d.run_for(30)
    after = ups(d, MAG2)[0]
    assert (after.hnp, after.ipv4_hoa) == (before.hnp, before.ipv4_hoa)
    entry = binding(lma, mn, d.now)
    assert entry is not None
    assert entry["mag"] == MAG2 and entry["state"] == "registered"
    routes = [a for a in d.actions[IPv6Address(LMA)] if isinstance(a, MobileRouteUp)]
    assert routes[-1].mag == IPv6Address(MAG2)
    assert not any(isinstance(a, MobileRouteDown) for a in d.actions[IPv6Address(LMA)])


def test_lma_restart_is_detected_and_every_binding_comes_back() -> None:
    d = Domain()
    d.add_lma(LMA, heartbeat_interval_s=30)
    mag = d.add_mag(MAG1, heartbeat_interval_s=30)
    for i in range(5):
        mag.attach(mac(i), profile(f"mn{i}@example.org"), d.now)
    d.run_for(100)  # heartbeats learn the LMA's restart counter
    hnps = {b["mn_id"]: b["hnp"] for b in mag.status(d.now)["bindings"]}
    # The LMA process dies and comes back 20 s later with an empty cache.
    d.down.add(IPv6Address(LMA))
    d.run_for(20)
    restarted = LmaProtocol(
        LmaSettings(own_address=IPv6Address(LMA), heartbeat_interval_s=30, restart_counter=1)
    )
    d.replace(LMA, restarted)
    d.down.clear()
    d.run_for(200)
    cache = {b["mn_id"]: b for b in restarted.status(d.now)["bindings"]}
    assert set(cache) == set(hnps)
    assert all(b["state"] == "registered" for b in cache.values())
    assert {mn: b["hnp"] for mn, b in cache.items()} == hnps


def test_revocation_from_the_lma_removes_the_binding_at_the_mag() -> None:
    d = Domain()
    lma = d.add_lma(LMA)
    mag = d.add_mag(MAG1)
    mag.attach(mac(1), profile("mn1@example.org"), d.now)
    mag.attach(mac(2), profile("mn2@example.org"), d.now)
    d.run_for(1)
    assert lma.revoke("mn1@example.org", d.now)
    d.run_for(5)
    downs = [a for a in d.actions[IPv6Address(MAG1)] if isinstance(a, BindingDown)]
    assert [(x.mn_id, x.reason) for x in downs] == [("mn1@example.org", "revoked")]
    assert binding(lma, "mn1@example.org", d.now) is None
    assert binding(mag, "mn2@example.org", d.now) is not None


def test_thirty_percent_loss_still_binds_everyone() -> None:
    d = Domain(loss=0.3, seed=7)
    lma = d.add_lma(LMA)
    mag = d.add_mag(MAG1)
    for i in range(50):
        mag.attach(mac(i), profile(f"mn{i}@example.org"), d.now)
    d.run_for(120)
    states = [b["state"] for b in mag.status(d.now)["bindings"]]
    assert states == ["bound"] * 50
    assert len(lma.status(d.now)["bindings"]) == 50
    assert mag.status(d.now)["counters"]["retransmissions"] > 0


def test_sequence_number_mode_end_to_end() -> None:
    d = Domain()
    lma = d.add_lma(LMA, use_timestamps=False)
    mag = d.add_mag(MAG1, use_timestamps=False, lifetime_s=40, refresh_before_s=10)
    mag.attach(mac(1), profile("mn1@example.org"), d.now)
    d.run_for(300)
    entry = binding(lma, "mn1@example.org", d.now)
    assert entry is not None and entry["registrations"] >= 10
