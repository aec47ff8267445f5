"""The old MAG after a handover it was not told about (an LMA without revocation).

Without a Binding Revocation Indication (RFC 5846) the old MAG learns that the
station moved only when its next refresh is refused (154 from LMAs that keep
the binding at the new MAG). ``max_refresh_interval_s`` (300 s by default)
bounds how long that takes; the refusal takes the binding down at once (no
retries, no hold-down).
"""

from __future__ import annotations

from ipaddress import IPv6Address

from mag_ap.config import parse_config_text
from mag_ap.core.types import BindingDown, BindingRejected, MagSettings
from mag_ap.mh import BindingAckStatus
from tests.unit.mag_harness import MAC, Harness


def test_without_the_bound_the_refresh_comes_shortly_before_the_lifetime_ends() -> None:
    h = Harness.create(max_refresh_interval_s=0.0)
    h.bind(0.0, accept_at=0.0)
    assert h.binding()["refresh_in_s"] == 3300.0


def test_by_default_a_refresh_goes_out_within_five_minutes() -> None:
    """Nothing on the wire says whether an LMA revokes, so the bound is on by default."""
    assert MagSettings(own_address=IPv6Address("2001:db8::1")).max_refresh_interval_s == 300.0
    h = Harness.create()
    h.bind(0.0, accept_at=0.0)
    assert h.binding()["refresh_in_s"] == 300.0
    h.run_timers(until=300.0)
    assert len(h.pbus()) == 2 and h.last_pbu().lifetime_s == 3600


def test_a_config_without_the_key_gets_the_default_and_zero_switches_it_off() -> None:
    base = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'
    default = parse_config_text(base).mag
    off = parse_config_text(base + "max_refresh_interval_s = 0\n").mag
    assert default is not None and default.max_refresh_interval_s == 300.0
    assert off is not None and off.max_refresh_interval_s == 0.0


def test_refused_refresh_after_an_unseen_handover_ends_the_stale_binding_promptly() -> None:
    h = Harness.create()  # the default bound, nothing configured
    h.bind(0.0, accept_at=0.0)
    assert h.binding()["refresh_in_s"] == 300.0
    h.run_timers(until=300.0)
    refresh = h.last_pbu()
    assert refresh.lifetime_s == 3600 and len(h.pbus()) == 2
    # Meanwhile the station registered through another MAG; this LMA refuses us.
    h.accept(300.05, status=BindingAckStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG, lifetime_s=0)
    [down] = h.actions_of(BindingDown)
    assert down.mac == MAC and "MAG_NOT_AUTHORIZED_FOR_PROXY_REG" in down.reason
    assert [(t, type(a).__name__) for t, a in h.actions if isinstance(a, BindingDown)] == [
        (300.05, "BindingDown")
    ]
    assert len(h.actions_of(BindingRejected)) == 1
    assert h.mag.status(301.0)["bindings"] == []
    h.run_timers(until=4000.0)
    assert len(h.pbus()) == 2  # no retries towards an LMA that said no


def test_an_accepted_refresh_keeps_the_short_interval() -> None:
    h = Harness.create(max_refresh_interval_s=300.0)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=300.0)
    h.accept(300.0)
    assert h.binding()["refresh_in_s"] is not None
    assert h.mag.status(300.0)["bindings"][0]["refresh_in_s"] == 300.0
