"""Refresh before expiry, expiry, detach/de-registration and shutdown."""

from __future__ import annotations

from ipaddress import IPv6Network

import pytest

from mag_ap.core.types import BindingDown, BindingRejected, BindingUp
from mag_ap.mh import (
    GREKey,
    HandoffIndicator,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4HomeAddressRequest,
    ProxyBindingUpdate,
)
from tests.unit.mag_harness import HNP, HOA, LMA, MAC, MAC2, MN_ID, MN_ID2, Harness, pba_bytes

# --- refresh ------------------------------------------------------------------------


def test_refresh_is_sent_refresh_before_s_ahead_of_the_end() -> None:
    h = Harness.create(refresh_before_s=300.0, max_refresh_interval_s=0.0)
    h.bind(0.0, lifetime_s=3600)
    assert h.mag.get_timer() == 3300.0
    h.run_timers(until=3300.0)
    refresh = h.pbus()[-1]
    assert refresh.at == 3300.0
    assert isinstance(refresh.msg, ProxyBindingUpdate)
    hi = refresh.msg.find(HandoffIndicatorOption)
    assert hi is not None and hi.indicator == HandoffIndicator.NOT_CHANGED
    assert refresh.msg.find(HomeNetworkPrefix) == HomeNetworkPrefix.of(HNP)
    request = refresh.msg.find(IPv4HomeAddressRequest)
    assert request is not None and request.address == HOA.ip and request.prefix_length == 16
    assert h.binding()["state"] == "refreshing"


def test_refreshed_binding_reports_binding_up_with_refresh_flag() -> None:
    h = Harness.create()
    h.bind(0.0, gre_key=True, lifetime_s=600)
    our_key = h.last_pbu().find(GREKey)
    h.run_timers(until=300.0)
    assert h.last_pbu().find(GREKey) == our_key  # the same key on refresh
    h.accept(300.2)
    ups = h.actions_of(BindingUp)
    assert [u.refresh for u in ups] == [False, True]
    assert h.binding()["state"] == "bound"
    assert h.binding()["registrations"] == 2


def test_short_lifetime_refreshes_at_mid_life_and_retries_before_expiry() -> None:
    h = Harness.create(refresh_before_s=300.0)
    h.bind(0.0, lifetime_s=40)
    fired = h.run_timers(until=71.0)
    assert [s.at for s in h.pbus()] == [0.0, 20.0, 21.0, 23.0, 27.0, 35.0]
    assert fired[-1] == 40.0
    [(at, down)] = [(t, a) for t, a in h.actions if isinstance(a, BindingDown)]
    assert at == 40.0 and down.reason == "expired"
    assert h.counter("bindings_expired") == 1
    # The station is still attached: after MAX_BINDACK_TIMEOUT it registers afresh.
    assert h.binding()["state"] == "waiting"
    assert h.mag.get_timer() == 72.0
    h.run_timers(until=72.0)
    assert h.pbus()[-1].at == 72.0
    assert h.binding()["state"] == "registering"
    assert h.counter("registration_retries") == 1


def test_lifetime_counts_from_the_pbu_send_time() -> None:
    h = Harness.create()
    h.attach(0.0, lifetime_s=100)
    h.accept(2.0)
    assert h.mag.status(2.0)["bindings"][0]["lifetime_left_s"] == 98.0
    assert h.mag.get_timer() == 50.0


def test_lma_granted_lifetime_wins_over_the_requested_one() -> None:
    h = Harness.create()
    h.attach(0.0, lifetime_s=3600)
    h.accept(0.1, lifetime_s=200)
    assert h.actions_of(BindingUp)[0].lifetime_s == 200
    assert h.mag.get_timer() == 100.0


def test_refresh_rejected_takes_the_binding_down() -> None:
    h = Harness.create()
    h.bind(0.0, lifetime_s=100)
    h.run_timers(until=50.0)
    h.accept(50.1, status=129)
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.status == 129 and "ADMINISTRATIVELY_PROHIBITED" in rejected.reason
    [down] = h.actions_of(BindingDown)
    assert down.reason.startswith("rejected")
    assert h.mag.get_timer() is None


def test_refresh_with_new_values_replaces_the_datapath() -> None:
    h = Harness.create()
    h.bind(0.0, lifetime_s=100)
    h.run_timers(until=50.0)
    h.accept(50.1, hnp=IPv6Network("2001:db8:100:9::/64"))
    [down] = h.actions_of(BindingDown)
    assert down.reason == "binding changed" and down.hnp == HNP
    ups = h.actions_of(BindingUp)
    assert ups[-1].refresh is False and ups[-1].hnp == IPv6Network("2001:db8:100:9::/64")


# --- detach -------------------------------------------------------------------------


def test_detach_takes_down_at_once_and_sends_a_lifetime_zero_pbu() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.detach(10.0)
    [(at, down)] = [(t, a) for t, a in h.actions if isinstance(a, BindingDown)]
    assert at == 10.0
    assert down == BindingDown(
        mn_id=MN_ID, mac=MAC, lma=LMA, hnp=HNP, ipv4_hoa=HOA, reason="detach"
    )
    dereg = h.pbus()[-1]
    assert dereg.at == 10.0 and dereg.peer == LMA
    assert isinstance(dereg.msg, ProxyBindingUpdate)
    assert dereg.msg.lifetime_s == 0
    assert dereg.msg.find(HomeNetworkPrefix) == HomeNetworkPrefix.of(HNP)
    assert h.binding()["state"] == "deregistering"
    h.accept(10.1, lifetime_s=0)
    assert h.mag.status(11.0)["bindings"] == []
    assert h.mag.get_timer() is None
    assert len(h.actions_of(BindingDown)) == 1


def test_unanswered_deregistration_is_retransmitted_a_few_times() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.detach(100.0)
    fired = h.run_timers()
    deregs = [
        s.at for s in h.pbus() if isinstance(s.msg, ProxyBindingUpdate) and not s.msg.lifetime_s
    ]
    assert deregs == [100.0, 101.0, 103.0]
    assert fired[-1] == 107.0
    assert h.counter("deregistrations_unanswered") == 1
    assert h.mag.status(108.0)["bindings"] == []
    assert h.actions_of(BindingRejected) == []


def test_detach_during_registration_cancels_and_ignores_the_late_pba() -> None:
    h = Harness.create()
    h.attach(0.0)
    registration = h.last_pbu()
    h.detach(0.5)
    assert h.actions_of(BindingDown) == []  # nothing was installed
    dereg = h.last_pbu()
    assert dereg.lifetime_s == 0
    h.receive(pba_bytes(registration), 0.6)  # the late answer to the registration
    assert h.actions_of(BindingUp) == []
    assert h.counter("pba_stale") == 1
    h.accept(0.7, lifetime_s=0)
    assert h.mag.status(1.0)["bindings"] == []
    h.receive(pba_bytes(registration), 0.8)  # and once more, after everything is gone
    assert h.counter("pba_unmatched") == 1
    assert h.actions_of(BindingUp) == []


def test_detach_of_an_unknown_station_is_harmless() -> None:
    h = Harness.create()
    h.detach(1.0, mac=MAC2)
    assert h.sent == [] and h.protocol_actions() == []


def test_reattach_while_deregistering_starts_a_new_registration() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.detach(5.0)
    h.attach(6.0)
    new = h.last_pbu()
    assert new.lifetime_s == 3600
    h.accept(6.1)
    assert h.binding()["state"] == "bound"  # the de-registration was cancelled
    h.run_timers(until=100.0)
    assert [s.msg.lifetime_s for s in h.pbus() if isinstance(s.msg, ProxyBindingUpdate)] == [
        3600,
        0,
        3600,
    ]
    assert h.binding()["state"] == "bound"


def test_shutdown_deregisters_every_binding() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.attach(0.0, mac=MAC2, mn_id=MN_ID2)
    h.mag.shutdown(1.0)
    h.pump(1.0)
    deregs = [s.msg for s in h.sent if isinstance(s.msg, ProxyBindingUpdate) and s.at == 1.0]
    assert len(deregs) == 2 and all(p.lifetime_s == 0 for p in deregs)
    assert [d.reason for d in h.actions_of(BindingDown)] == ["shutdown"]
    assert {b["state"] for b in h.mag.status(1.0)["bindings"]} == {"deregistering"}


def test_binding_count_follows_the_list_through_shutdown() -> None:
    """What the daemon's shutdown grace waits on: every entry, de-registering ones too."""
    h = Harness.create()
    h.bind(0.0)
    h.attach(0.0, mac=MAC2, mn_id=MN_ID2)
    assert h.mag.binding_count == len(h.mag.status(0.5)["bindings"]) == 2
    h.mag.shutdown(1.0)
    h.pump(1.0)
    assert h.mag.binding_count == 2  # de-registering, not gone
    deregs = [p for p in h.pbu_messages() if p.lifetime_s == 0]
    for n, pbu in enumerate(deregs, start=1):
        h.receive(pba_bytes(pbu, hnp=None, hoa=None, router=None), 1.1)
        assert h.mag.binding_count == len(h.mag.status(1.1)["bindings"]) == 2 - n


def test_attach_settled_once_acknowledged_or_gone() -> None:
    h = Harness.create()
    h.attach(0.0)
    assert not h.mag.attach_settled(MAC)  # registering
    h.accept(0.1)
    assert h.mag.attach_settled(MAC.upper())  # bound; any MAC spelling
    h.run_timers(until=3300.0)
    assert h.binding()["state"] == "refreshing"
    assert h.mag.attach_settled(MAC)  # a refresh under way is still in force
    h.detach(3301.0)
    assert h.mag.attach_settled(MAC)  # de-registering: nothing more for the attach
    assert h.mag.attach_settled(MAC2)  # never attached (or rejected)
    h.attach(3302.0, mac=MAC2, mn_id=MN_ID2)
    h.run_timers(until=3400.0)  # no answer: given up, waiting to retry
    assert h.binding(MAC2)["state"] == "waiting"
    assert not h.mag.attach_settled(MAC2)


@pytest.mark.parametrize("lifetime_s", [3, 4, 41, 262_143, 10**6])
def test_requested_lifetime_fits_the_wire_field(lifetime_s: int) -> None:
    h = Harness.create()
    h.attach(lifetime_s=lifetime_s)
    sent = h.last_pbu().lifetime_s
    assert sent % 4 == 0 and 4 <= sent <= 262_140
