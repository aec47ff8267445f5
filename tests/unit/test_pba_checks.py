"""What an LMA grants is checked before it reaches the kernel or a station (DESIGN.md rule 8).

One table per field of the PBA (pure ``check_pba``), then the MAG engine's
handling of a PBA that fails: a rejection with a counter and a log line,
nothing installed, the LMA told to drop the binding, other bindings untouched.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network
from typing import Any

import pytest

from mag_ap.core.pba_checks import Grant, PbaRequest, Refusal, check_pba
from mag_ap.core.types import BindingDown, BindingRejected, BindingUp, LogEvent
from mag_ap.mh import (
    GREKey,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4HomeAddressReply,
    MobilityOption,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    Timestamp,
)
from tests.unit.mag_harness import (
    HNP,
    HOA,
    LMA,
    MAC,
    MAC2,
    MAG,
    MN_ID2,
    ROUTER,
    Harness,
    pba_bytes,
)

REQUEST = PbaRequest(
    lma=LMA,
    own_address=MAG,
    ipv6=True,
    hnp=None,
    ipv4=True,
    ipv4_address=None,
    gre_key_from_lma=None,
    gre_not_required=False,
    lifetime_requested_s=3600,
    hnp_prefix_lengths=(32, 64),
    local_networks=(IPv6Network("2001:db8:aaaa::/64"), IPv4Network("192.168.1.0/24")),
)


def pba(
    *,
    hnp: tuple[str, int] | None = (str(HNP.network_address), 64),
    hoa: tuple[str, int] | None = (str(HOA.ip), 16),
    router: str | None = str(ROUTER),
    lifetime_s: int = 3600,
    extra: tuple[MobilityOption, ...] = (),
) -> ProxyBindingAcknowledgement:
    options: list[MobilityOption] = []
    if hnp is not None:
        options.append(HomeNetworkPrefix(prefix=IPv6Address(hnp[0]), prefix_length=hnp[1]))
    if hoa is not None:
        options.append(IPv4HomeAddressReply(address=IPv4Address(hoa[0]), prefix_length=hoa[1]))
    if router is not None:
        options.append(IPv4DefaultRouterAddress(address=IPv4Address(router)))
    options.extend(extra)
    return ProxyBindingAcknowledgement(
        status=0, sequence=1, lifetime_s=lifetime_s, options=tuple(options)
    )


def refused(result: Grant | Refusal) -> str:
    assert isinstance(result, Refusal), result
    return str(result)


def test_a_sane_pba_is_granted_as_sent() -> None:
    grant = check_pba(pba(), REQUEST)
    assert grant == Grant(
        hnp=HNP, ipv4_hoa=HOA, ipv4_default_router=ROUTER, gre_key_to_lma=None, lifetime_s=3600
    )


HNP_CASES = [
    # (prefix, length, request changes, words the refusal must contain)
    ("::", 0, {}, "'please assign'"),
    ("2001:db8:100:1::", 0, {}, "'please assign'"),
    ("::", 64, {}, "'please assign'"),
    ("2001:db8:100:1::1", 64, {}, "bits set beyond"),
    ("fe80::", 64, {}, "link-local"),
    ("ff02::", 64, {}, "multicast"),
    ("ff00::", 8, {}, "multicast"),
    ("::1", 128, {}, "loopback"),
    ("::ffff:10.0.0.0", 104, {}, "IPv4-mapped"),
    ("fec0::", 64, {}, "site-local"),
    ("2001::", 16, {}, "prefix length must be 32..64"),
    ("2001:db8:100:1::", 80, {}, "prefix length must be 32..64"),
    ("2001:db8:aaaa::", 64, {}, "own network 2001:db8:aaaa::/64"),
    ("2001:db8::", 32, {}, "own network 2001:db8:aaaa::/64"),  # covers it
    ("2001:db8:ffff::", 64, {}, "own network 2001:db8:ffff::1/128"),  # the LMA itself
    ("2001:db8:100:1::", 64, {"hnp": IPv6Network("2001:db8:100:7::/64")}, "differs from"),
    ("2001:db8:100:1::", 64, {"hnps_in_use": {HNP}}, "another station's prefix"),
]


@pytest.mark.parametrize(("prefix", "length", "changes", "words"), HNP_CASES)
def test_home_network_prefix_refusals(
    prefix: str, length: int, changes: dict[str, Any], words: str
) -> None:
    text = refused(check_pba(pba(hnp=(prefix, length)), replace(REQUEST, **changes)))
    assert text.startswith("hnp: ") and words in text, text


def test_hnp_option_count_and_absence() -> None:
    two = pba(extra=(HomeNetworkPrefix.of(IPv6Network("2001:db8:100:2::/64")),))
    assert "2 Home Network Prefix options" in refused(check_pba(two, REQUEST))
    # IPv6 only and no prefix: nothing to bind.
    v6_only = replace(REQUEST, ipv4=False)
    assert "missing" in refused(check_pba(pba(hnp=None, hoa=None, router=None), v6_only))
    # Dual stack without a prefix: the IPv4 part alone, noted.
    grant = check_pba(pba(hnp=None), REQUEST)
    assert isinstance(grant, Grant) and grant.hnp is None and grant.ipv4_hoa == HOA
    assert any("no Home Network Prefix" in n for n in grant.notes)
    # A prefix the MAG never asked for is not installed.
    grant = check_pba(pba(), replace(REQUEST, ipv6=False))
    assert isinstance(grant, Grant) and grant.hnp is None and grant.notes


def test_allowed_lengths_follow_the_settings() -> None:
    wide = replace(REQUEST, hnp_prefix_lengths=(48, 128))
    grant = check_pba(pba(hnp=("2001:db8:100:1::5", 128)), wide)
    assert isinstance(grant, Grant) and grant.hnp == IPv6Network("2001:db8:100:1::5/128")
    assert "48..128" in refused(check_pba(pba(hnp=("2001:db8:100::", 40)), wide))


IPV4_CASES = [
    # (address, plen, router, request changes, field, words)
    ("0.0.0.0", 16, "10.200.0.1", {}, "ipv4_hoa", "'this network'"),
    ("127.0.0.5", 8, "127.0.0.1", {}, "ipv4_hoa", "loopback"),
    ("169.254.3.4", 16, "169.254.0.1", {}, "ipv4_hoa", "link-local"),
    ("224.0.0.5", 8, "224.0.0.1", {}, "ipv4_hoa", "multicast"),
    ("255.255.255.255", 32, None, {}, "ipv4_hoa", "reserved or broadcast"),
    ("10.200.0.5", 0, "10.200.0.1", {}, "ipv4_hoa", "prefix length must be 8..32"),
    ("10.200.0.5", 4, "10.200.0.1", {}, "ipv4_hoa", "prefix length must be 8..32"),
    ("10.200.0.5", 40, "10.200.0.1", {}, "ipv4_hoa", "prefix length must be 8..32"),
    ("10.200.0.0", 16, "10.200.0.1", {}, "ipv4_hoa", "network or broadcast"),
    ("10.200.255.255", 16, "10.200.0.1", {}, "ipv4_hoa", "network or broadcast"),
    ("192.168.1.7", 24, "192.168.1.1", {}, "ipv4_hoa", "own network 192.168.1.0/24"),
    ("192.168.7.7", 16, "192.168.0.1", {}, "ipv4_hoa", "own network 192.168.1.0/24"),
    (
        "10.200.0.5",
        16,
        "10.200.0.1",
        {"ipv4_address": IPv4Address("10.200.0.9")},
        "ipv4_hoa",
        "differs",
    ),
    ("10.200.0.5", 16, "10.200.0.1", {"ipv4_in_use": {HOA.ip}}, "ipv4_hoa", "another station"),
    ("10.200.0.5", 16, "10.201.0.1", {}, "ipv4_default_router", "outside the home prefix"),
    ("10.200.0.5", 16, "10.200.0.5", {}, "ipv4_default_router", "the home address itself"),
    ("10.200.0.5", 16, "10.200.0.0", {}, "ipv4_default_router", "network or broadcast"),
    ("10.200.0.5", 16, "224.0.0.1", {}, "ipv4_default_router", "multicast"),
    ("10.200.0.5", 16, "0.0.0.0", {}, "ipv4_default_router", "'this network'"),
    ("10.200.0.5", 16, "127.0.0.1", {}, "ipv4_default_router", "loopback"),
]


@pytest.mark.parametrize("case", IPV4_CASES)
def test_ipv4_home_address_and_router_refusals(
    case: tuple[str, int, str | None, dict[str, Any], str, str],
) -> None:
    address, plen, router, changes, field, words = case
    answer = pba(hoa=(address, plen), router=router)
    text = refused(check_pba(answer, replace(REQUEST, **changes)))
    assert text.startswith(f"{field}: ") and words in text, text


def test_ipv4_point_to_point_router_may_lie_outside_a_host_prefix() -> None:
    grant = check_pba(pba(hoa=("10.200.0.5", 32), router="10.200.0.1"), REQUEST)
    assert isinstance(grant, Grant) and grant.ipv4_hoa == IPv4Interface("10.200.0.5/32")


def test_ipv4_refused_by_the_lma_keeps_the_ipv6_part() -> None:
    refused_reply = IPv4HomeAddressReply(status=130, prefix_length=0, address=IPv4Address(0))
    answer = pba(hoa=None, router=None, extra=(refused_reply,))
    grant = check_pba(answer, REQUEST)
    assert isinstance(grant, Grant) and grant.hnp == HNP and grant.ipv4_hoa is None
    assert grant.ipv4_refused == "INCORRECT_IPV4_HOME_ADDRESS"
    # IPv4 only and refused: nothing is left to bind.
    assert "neither" in refused(check_pba(answer, replace(REQUEST, ipv6=False)))


def test_gre_keys() -> None:
    asked = replace(REQUEST, gre_key_from_lma=7)
    grant = check_pba(pba(extra=(GREKey(key=0x1234),)), asked)
    assert isinstance(grant, Grant) and grant.gre_key_to_lma == 0x1234
    two = pba(extra=(GREKey(key=1), GREKey(key=2)))
    assert refused(check_pba(two, asked)) == "gre_key: 2 GRE Key options"
    for request in (REQUEST, replace(asked, gre_not_required=True)):  # not asked / declined
        grant = check_pba(pba(extra=(GREKey(key=9),)), request)
        assert isinstance(grant, Grant) and grant.gre_key_to_lma is None and grant.notes


def test_lifetimes() -> None:
    assert (
        refused(check_pba(pba(lifetime_s=0), REQUEST)) == "lifetime: 0 s granted for a registration"
    )
    grant = check_pba(pba(lifetime_s=65532), REQUEST)  # more than asked: we keep ours
    assert isinstance(grant, Grant) and grant.lifetime_s == 3600 and grant.notes
    grant = check_pba(pba(lifetime_s=40), REQUEST)  # less is the LMA's right
    assert isinstance(grant, Grant) and grant.lifetime_s == 40


# --- the engine: a refused grant is a rejection ------------------------------------------


def _hostile(pbu: ProxyBindingUpdate) -> bytes:
    """The issue's LMA: it echoes the "please assign" HNP ::/0 as the grant."""
    return pba_bytes(pbu, hnp=IPv6Network("::/0"))


def test_echoed_all_zero_hnp_is_refused_counted_and_de_registered() -> None:
    h = Harness.create()
    h.bind(0.0)  # another station, bound and untouched
    h.attach(1.0, mac=MAC2, mn_id=MN_ID2)
    h.receive(_hostile(h.last_pbu()), 1.1)
    assert h.counter("pba_invalid") == 1 and h.counter("pba_accepted") == 1
    [up] = h.actions_of(BindingUp)
    assert up.mac == MAC  # nothing for MAC2 reaches the datapath
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.mac == MAC2 and "::/0" in rejected.reason and "hnp" in rejected.reason
    assert h.actions_of(BindingDown) == []
    warnings = [a.message for a in h.actions_of(LogEvent) if a.level == "warning"]
    assert any("PBA refused: hnp: ::/0" in w for w in warnings), warnings
    # The LMA is told to let go of what it granted: a lifetime-0 PBU.
    dereg = h.last_pbu()
    assert dereg.lifetime_s == 0
    h.accept(1.2)
    assert [b["mac"] for b in h.mag.status(2.0)["bindings"]] == [MAC]
    assert h.binding(MAC)["state"] == "bound"


def test_a_refresh_with_hostile_values_takes_the_binding_down() -> None:
    h = Harness.create(lifetime_s=40)
    h.bind(0.0)
    h.run_timers(until=20.0)  # the refresh PBU
    refresh = h.last_pbu()
    assert refresh.lifetime_s == 40
    h.receive(pba_bytes(refresh, hnp=IPv6Network("fe80::/64")), 20.1)
    [down] = h.actions_of(BindingDown)
    assert down.hnp == HNP and "link-local" in down.reason
    assert h.last_pbu().lifetime_s == 0
    assert h.counter("pba_invalid") == 1


def test_a_prefix_freed_by_one_mn_may_go_to_another() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.detach(1.0)
    h.accept(1.1)
    h.attach(2.0, mac=MAC2, mn_id=MN_ID2)
    h.accept(2.1)  # same HNP and HoA as the first MN had
    assert [u.mac for u in h.actions_of(BindingUp)] == [MAC, MAC2]
    assert h.counter("pba_invalid") == 0


def test_timestamp_mode_pba_without_timestamp_is_used_counted_and_logged_once() -> None:
    h = Harness.create()  # use_timestamps defaults to True
    h.bind(0.0)
    h.attach(1.0, mac=MAC2, mn_id=MN_ID2)
    h.accept(1.1, hnp=IPv6Network("2001:db8:100:2::/64"), hoa=IPv4Interface("10.200.0.6/16"))
    assert len(h.actions_of(BindingUp)) == 2
    assert h.counter("pba_without_timestamp") == 2
    logs = [a for a in h.actions_of(LogEvent) if "without Timestamp" in a.message]
    assert len(logs) == 1 and logs[0].level == "warning"


def test_timestamp_mode_pba_with_timestamp_is_not_counted() -> None:
    h = Harness.create()
    h.attach(0.0)
    stamp = h.last_pbu().find(Timestamp)
    assert stamp is not None
    h.accept(0.1, extra=(stamp,))
    assert h.counter("pba_without_timestamp") == 0
    sequence_mode = Harness.create(use_timestamps=False)
    sequence_mode.bind(0.0)
    assert sequence_mode.counter("pba_without_timestamp") == 0
