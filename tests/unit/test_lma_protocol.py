"""Reference LMA: registration, rejections, handover, de-registration and expiry.

PBUs are built with the MH codec and the LMA's PBAs decoded with it, so these
tests see exactly what a MAG would see on the wire.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Network
from typing import Any

import pytest

from mag_ap.core.types import (
    LogEvent,
    MobileRouteDown,
    MobileRouteUp,
)
from mag_ap.mh import (
    AccessTechnologyTypeOption,
    BindingAckStatus,
    GREKey,
    HandoffIndicator,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4HoAReplyStatus,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    ProxyBindingAcknowledgement,
    Timestamp,
    decode_as,
    encode_message,
)
from tests.unit.lma_harness import (
    ANY_IPV4,
    MAG1,
    MAG2,
    MAG_V4,
    MN,
    OFFSET_S,
    Harness,
    hnp_of,
    hoa_of,
)

# --- registration ---------------------------------------------------------------------


def test_ipv6_registration_assigns_a_prefix_and_echoes_the_pbu() -> None:
    h = Harness()
    pbu = h.pbu(sequence=7)
    pba = decode_as(encode_message(h.send(pbu)[0]), ProxyBindingAcknowledgement)
    assert pba.status == BindingAckStatus.ACCEPTED
    assert pba.p and pba.sequence == 7 and pba.lifetime_s == 3600
    assert hnp_of(pba) == IPv6Network("2001:db8:100::/64")
    assert pba.find(MobileNodeIdentifier) == MobileNodeIdentifier.nai(MN)
    assert pba.find(HandoffIndicatorOption) == pbu.find(HandoffIndicatorOption)
    assert pba.find(AccessTechnologyTypeOption) == pbu.find(AccessTechnologyTypeOption)
    assert pba.find(MNLinkLayerIdentifier) == pbu.find(MNLinkLayerIdentifier)
    assert pba.find(Timestamp) == pbu.find(Timestamp)
    assert hoa_of(pba) is None and pba.find(GREKey) is None
    assert h.actions() == [
        MobileRouteUp(
            mn_id=MN,
            mag=MAG1,
            hnp=IPv6Network("2001:db8:100::/64"),
            ipv4_hoa=None,
            gre_key_to_mag=None,
            gre_key_from_mag=None,
        )
    ]


def test_ipv4_only_registration_gets_a_home_address_and_default_router() -> None:
    h = Harness()
    pba = h.register(hnp=None, ipv4=ANY_IPV4)
    assert pba.status == BindingAckStatus.ACCEPTED
    assert hnp_of(pba) is None
    assert hoa_of(pba) == IPv4HomeAddressReply(
        status=IPv4HoAReplyStatus.SUCCESS, prefix_length=16, address=IPv4Address("10.200.0.2")
    )
    assert pba.find(IPv4DefaultRouterAddress) == IPv4DefaultRouterAddress(
        address=IPv4Address("10.200.0.1")
    )
    (up,) = h.actions()
    assert isinstance(up, MobileRouteUp)
    assert up.ipv4_hoa == IPv4Interface("10.200.0.2/16") and up.hnp is None


def test_dual_stack_registration_gets_both() -> None:
    h = Harness()
    pba = h.register(ipv4=ANY_IPV4)
    assert hnp_of(pba) == IPv6Network("2001:db8:100::/64")
    reply = hoa_of(pba)
    assert reply is not None and reply.address == IPv4Address("10.200.0.2")
    binding = h.binding()
    assert binding is not None
    assert binding["hnp"] == "2001:db8:100::/64" and binding["ipv4_hoa"] == "10.200.0.2/16"
    assert binding["state"] == "registered" and binding["mag"] == str(MAG1)


def test_second_mn_gets_different_prefix_and_address() -> None:
    h = Harness()
    a = h.register(ipv4=ANY_IPV4)
    b = h.register(mn="mn2@example.org", ipv4=ANY_IPV4)
    assert hnp_of(a) != hnp_of(b)
    ra, rb = hoa_of(a), hoa_of(b)
    assert ra is not None and rb is not None and ra.address != rb.address


def test_granted_lifetime_is_capped_by_max_lifetime() -> None:
    h = Harness(max_lifetime_s=600)
    assert h.register(lifetime_s=4000).lifetime_s == 600
    assert h.register(lifetime_s=40).lifetime_s == 40


def test_ipv4_transport_peer_gets_its_reply_over_ipv4() -> None:
    h = Harness()
    pbu = h.pbu(src=MAG_V4, ipv4=ANY_IPV4)
    h.lma.receive_datagram(encode_message(pbu), MAG_V4, h.now)
    (datagram,) = h.lma.datagrams_to_send(h.now)
    assert datagram.peer == MAG_V4
    assert decode_as(datagram.data, ProxyBindingAcknowledgement).accepted


def test_refresh_keeps_the_binding_and_emits_no_route_action() -> None:
    h = Harness()
    first = h.register(ipv4=ANY_IPV4)
    h.actions()
    h.now += 300
    again = h.register(ipv4=ANY_IPV4, hi=HandoffIndicator.NOT_CHANGED)
    assert again.accepted and hnp_of(again) == hnp_of(first) and hoa_of(again) == hoa_of(first)
    assert h.actions() == []
    binding = h.binding()
    assert binding is not None and binding["registrations"] == 2


def test_allocation_is_stable_across_deregistration_and_reregistration() -> None:
    h = Harness()
    first = h.register(ipv4=ANY_IPV4)
    h.register(mn="other@example.org", ipv4=ANY_IPV4)
    h.register(lifetime_s=0)
    h.advance(h.now + 11)
    assert h.binding() is None
    h.register(mn="third@example.org", ipv4=ANY_IPV4)
    again = h.register(ipv4=ANY_IPV4)
    assert hnp_of(again) == hnp_of(first)
    assert hoa_of(again) == hoa_of(first)


def test_specific_prefix_request_is_granted_when_free() -> None:
    h = Harness()
    wanted = IPv6Network("2001:db8:100:42::/64")
    pba = h.register(hnp=HomeNetworkPrefix.of(wanted))
    assert pba.accepted and hnp_of(pba) == wanted
    # the cursor never hands it to anybody else
    other = h.register(mn="b@example.org")
    assert hnp_of(other) != wanted


def test_specific_ipv4_request_is_granted_when_free() -> None:
    h = Harness()
    pba = h.register(hnp=None, ipv4=IPv4HomeAddressRequest(address=IPv4Address("10.200.3.3")))
    reply = hoa_of(pba)
    assert pba.accepted and reply is not None
    assert reply.status == IPv4HoAReplyStatus.SUCCESS
    assert reply.address == IPv4Address("10.200.3.3")


def test_gre_key_option_gets_our_own_key_back() -> None:
    h = Harness()
    pba = h.register(gre_key=0x1234)
    ours = pba.find(GREKey)
    assert ours is not None and ours.key not in (0, 0x1234)
    (up,) = h.actions()
    assert isinstance(up, MobileRouteUp)
    assert up.gre_key_to_mag == 0x1234 and up.gre_key_from_mag == ours.key
    h.now += 10
    again = h.register(gre_key=0x1234)
    assert again.find(GREKey) == ours


def test_gre_key_ignored_when_the_lma_does_not_do_gre() -> None:
    h = Harness(gre_keys=False)
    pba = h.register(gre_key=0x1234)
    assert pba.accepted and pba.find(GREKey) is None
    (up,) = h.actions()
    assert isinstance(up, MobileRouteUp) and up.gre_key_to_mag is None


def test_deregistration_of_unknown_binding_is_acknowledged() -> None:
    h = Harness()
    pba = h.register(lifetime_s=0)
    assert pba.accepted and pba.lifetime_s == 0
    assert h.actions() == []


# --- rejections ----------------------------------------------------------------------


def _setup_other_owner(h: Harness) -> None:
    h.register(mn="owner@example.org", hnp=HomeNetworkPrefix.of(IPv6Network("2001:db8:100:7::/64")))


def _setup_ipv4_owner(h: Harness) -> None:
    h.register(
        mn="owner@example.org",
        hnp=None,
        ipv4=IPv4HomeAddressRequest(address=IPv4Address("10.200.0.9")),
    )


REJECTIONS: list[tuple[str, dict[str, Any], dict[str, Any], Any, BindingAckStatus]] = [
    ("no P flag", {}, {"p": False}, None, BindingAckStatus.PROXY_REG_NOT_ENABLED),
    ("no MN-ID", {}, {"mn": None}, None, BindingAckStatus.MISSING_MN_IDENTIFIER_OPTION),
    (
        "MAG not authorised",
        {"authorized_mags": (IPv6Network("2001:db8:b::/48"), IPv4Network("192.0.2.0/24"))},
        {},
        None,
        BindingAckStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
    ),
    ("stale timestamp", {}, {"timestamp_s": -1.0}, None, BindingAckStatus.TIMESTAMP_MISMATCH),
    ("future timestamp", {}, {"timestamp_s": 0.5}, None, BindingAckStatus.TIMESTAMP_MISMATCH),
    ("no timestamp", {}, {"timestamp_s": None}, None, BindingAckStatus.TIMESTAMP_MISMATCH),
    (
        "no HNP nor IPv4 request",
        {},
        {"hnp": None},
        None,
        BindingAckStatus.MISSING_HOME_NETWORK_PREFIX_OPTION,
    ),
    ("no HI", {}, {"hi": None}, None, BindingAckStatus.MISSING_HANDOFF_INDICATOR_OPTION),
    ("no ATT", {}, {"att": False}, None, BindingAckStatus.MISSING_ACCESS_TECH_TYPE_OPTION),
    (
        "prefix of another MN",
        {},
        {"hnp": HomeNetworkPrefix.of(IPv6Network("2001:db8:100:7::/64"))},
        _setup_other_owner,
        BindingAckStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
    ),
    (
        "prefix outside the pool",
        {},
        {"hnp": HomeNetworkPrefix.of(IPv6Network("2001:db8:999::/64"))},
        None,
        BindingAckStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
    ),
    (
        "HNP pool exhausted",
        {"hnp_pool": IPv6Network("2001:db8:100::/64")},
        {},
        lambda h: h.register(mn="first@example.org"),
        BindingAckStatus.INSUFFICIENT_RESOURCES,
    ),
    (
        "IPv4-only, pool exhausted",
        {"ipv4_pool": IPv4Interface("10.9.9.1/30")},
        {"hnp": None, "ipv4": ANY_IPV4},
        lambda h: h.register(mn="first@example.org", hnp=None, ipv4=ANY_IPV4),
        BindingAckStatus.INSUFFICIENT_RESOURCES,
    ),
    (
        "IPv4-only, address of another MN",
        {},
        {"hnp": None, "ipv4": IPv4HomeAddressRequest(address=IPv4Address("10.200.0.9"))},
        _setup_ipv4_owner,
        BindingAckStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
    ),
    (
        "IPv4-only, no IPv4 service",
        {"ipv4_pool": None},
        {"hnp": None, "ipv4": ANY_IPV4},
        None,
        BindingAckStatus.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
    ),
    (
        "IPv6-only, no IPv6 service",
        {"hnp_pool": None},
        {},
        None,
        BindingAckStatus.NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE,
    ),
]


@pytest.mark.parametrize(
    ("settings", "pbu_args", "setup", "status"),
    [pytest.param(*row[1:], id=row[0]) for row in REJECTIONS],
)
def test_pbu_rejections(
    settings: dict[str, Any],
    pbu_args: dict[str, Any],
    setup: Any,
    status: BindingAckStatus,
) -> None:
    h = Harness(**settings)
    if setup is not None:
        setup(h)
    bindings_before = len(h.lma.status(h.now)["bindings"])
    h.actions()
    pbu = h.pbu(**pbu_args)
    (pba,) = h.send(pbu)
    assert isinstance(pba, ProxyBindingAcknowledgement)
    assert pba.status == status
    assert pba.p and pba.lifetime_s == 0 and pba.sequence == pbu.sequence
    assert pba.find(HomeNetworkPrefix) == pbu.find(HomeNetworkPrefix)  # echoed, nothing granted
    assert pba.find(IPv4HomeAddressReply) is None and pba.find(GREKey) is None
    assert len(h.lma.status(h.now)["bindings"]) == bindings_before
    assert [a for a in h.actions() if not isinstance(a, LogEvent)] == []
    assert h.lma.status(h.now)["counters"]["pba_sent_rejected"] == {status.name: 1}


def test_timestamp_mismatch_carries_the_lma_clock() -> None:
    h = Harness()
    pba = h.register(timestamp_s=-5.0)
    assert pba.status == BindingAckStatus.TIMESTAMP_MISMATCH
    ts = pba.find(Timestamp)
    assert ts is not None and abs(ts.unix_time_s - (h.now + OFFSET_S)) < 1e-3


def test_timestamp_just_inside_the_window_is_accepted() -> None:
    h = Harness()
    assert h.register(timestamp_s=-0.29).accepted
    assert h.register(timestamp_s=0.29).accepted


def test_timestamp_lower_than_the_last_accepted_is_rejected() -> None:
    h = Harness()
    assert h.register(timestamp_s=0.2).accepted
    pba = h.register(timestamp_s=0.1)
    assert pba.status == BindingAckStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
    binding = h.binding()
    assert binding is not None and binding["registrations"] == 1


def test_sequence_mode_rejects_old_sequence_with_the_last_accepted_one() -> None:
    h = Harness(use_timestamps=False)
    assert h.register(sequence=100, timestamp_s=None).accepted
    pba = h.register(sequence=90, timestamp_s=None)
    assert pba.status == BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW
    assert pba.sequence == 100
    assert h.register(sequence=100, timestamp_s=None).sequence == 100  # a replay, refused
    assert h.register(sequence=101, timestamp_s=None).accepted


def test_sequence_mode_accepts_wrap_around() -> None:
    h = Harness(use_timestamps=False)
    assert h.register(sequence=65535, timestamp_s=None).accepted
    assert h.register(sequence=0, timestamp_s=None).accepted
    assert h.register(sequence=40000, timestamp_s=None).status == 135  # 2**15 ahead: too far


def test_sequence_mode_ignores_the_other_mags_counter_on_handover() -> None:
    h = Harness(use_timestamps=False)
    assert h.register(sequence=5000, timestamp_s=None).accepted
    pba = h.register(src=MAG2, sequence=1, timestamp_s=None, hi=HandoffIndicator.MAG_CHANGE)
    assert pba.accepted


def test_dual_stack_with_ipv4_pool_exhausted_accepts_ipv6_and_says_132() -> None:
    h = Harness(ipv4_pool=IPv4Interface("10.9.9.1/30"))
    h.register(mn="first@example.org", hnp=None, ipv4=ANY_IPV4)
    pba = h.register(ipv4=ANY_IPV4)
    assert pba.status == BindingAckStatus.ACCEPTED
    assert hnp_of(pba) is not None
    reply = hoa_of(pba)
    assert reply is not None
    assert reply.status == IPv4HoAReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE
    assert pba.find(IPv4DefaultRouterAddress) is None


def test_prefix_different_from_the_bound_one_is_refused_with_159() -> None:
    h = Harness()
    h.register()
    pba = h.register(hnp=HomeNetworkPrefix.of(IPv6Network("2001:db8:100:99::/64")))
    assert pba.status == BindingAckStatus.BCE_PBU_PREFIX_SET_DO_NOT_MATCH


# --- handover and de-registration ------------------------------------------------------


def test_handover_moves_the_binding_with_one_route_up() -> None:
    h = Harness()
    first = h.register(ipv4=ANY_IPV4, gre_key=11)
    h.actions()
    h.now += 30
    moved = h.register(src=MAG2, ipv4=ANY_IPV4, gre_key=22, hi=HandoffIndicator.MAG_CHANGE)
    assert moved.accepted
    assert hnp_of(moved) == hnp_of(first) and hoa_of(moved) == hoa_of(first)
    assert moved.find(GREKey) == first.find(GREKey)
    (up,) = h.actions()
    assert isinstance(up, MobileRouteUp)
    assert up.mag == MAG2 and up.hnp == hnp_of(first) and up.gre_key_to_mag == 22
    binding = h.binding()
    assert binding is not None and binding["mag"] == str(MAG2) and binding["handovers"] == 1
    assert h.lma.status(h.now)["counters"]["handovers"] == 1


def test_late_deregistration_from_the_old_mag_does_not_delete() -> None:
    h = Harness()
    h.register(ipv4=ANY_IPV4)
    h.now += 5
    h.register(src=MAG2, ipv4=ANY_IPV4, hi=HandoffIndicator.MAG_CHANGE)
    h.actions()
    h.now += 0.1
    late = h.register(src=MAG1, lifetime_s=0, timestamp_s=-0.2)  # older than MAG2's PBU
    assert late.accepted and late.lifetime_s == 0
    h.advance(h.now + 60)
    assert [a for a in h.actions() if isinstance(a, MobileRouteDown)] == []
    binding = h.binding()
    assert binding is not None and binding["mag"] == str(MAG2) and binding["state"] == "registered"
    assert h.lma.status(h.now)["counters"]["late_deregistrations"] == 1


def test_deregistration_keeps_the_entry_for_min_delay_before_bce_delete() -> None:
    h = Harness()
    reg = h.register(ipv4=ANY_IPV4)
    h.actions()
    dereg = h.register(lifetime_s=0)
    assert dereg.accepted and dereg.lifetime_s == 0
    binding = h.binding()
    assert binding is not None and binding["state"] == "deregistered-waiting"
    assert h.lma.get_timer() == pytest.approx(h.now + 10.0)
    h.advance(h.now + 9.9)
    assert h.actions() == []
    h.advance(h.now + 0.2)
    (down,) = h.actions()
    assert isinstance(down, MobileRouteDown)
    assert down.reason == "deregistered" and down.mag == MAG1 and down.hnp == hnp_of(reg)
    assert h.binding() is None


def test_new_mag_with_hi_3_takes_over_a_deregistered_entry() -> None:
    h = Harness()
    reg = h.register()
    h.register(lifetime_s=0)
    h.actions()
    h.advance(h.now + 5)
    moved = h.register(src=MAG2, hi=HandoffIndicator.MAG_CHANGE)
    assert moved.accepted and hnp_of(moved) == hnp_of(reg)
    (up,) = h.actions()
    assert isinstance(up, MobileRouteUp) and up.mag == MAG2
    h.advance(h.now + 30)
    assert h.actions() == []
    binding = h.binding()
    assert binding is not None and binding["state"] == "registered"


@pytest.mark.parametrize(("after_s", "takes_over"), [(1.0, True), (2.0, False)])
def test_hi_4_takes_over_only_within_max_delay_before_new_bce_assign(
    after_s: float, takes_over: bool
) -> None:
    h = Harness()
    reg = h.register()
    h.register(lifetime_s=0)
    h.actions()
    h.advance(h.now + after_s)
    pba = h.register(src=MAG2, hi=HandoffIndicator.UNKNOWN)
    assert pba.accepted and hnp_of(pba) == hnp_of(reg)  # stable allocation either way
    kinds = [type(a).__name__ for a in h.actions()]
    assert kinds == (["MobileRouteUp"] if takes_over else ["MobileRouteDown", "MobileRouteUp"])


def test_same_mag_reregistering_while_waiting_revives_the_entry() -> None:
    h = Harness()
    h.register()
    h.register(lifetime_s=0)
    h.actions()
    h.now += 3
    assert h.register(hi=HandoffIndicator.NOT_CHANGED).accepted
    h.advance(h.now + 20)
    assert h.actions() == []
    binding = h.binding()
    assert binding is not None and binding["state"] == "registered"


# --- expiry -----------------------------------------------------------------------------


def test_binding_expires_at_the_end_of_its_lifetime() -> None:
    h = Harness()
    reg = h.register(lifetime_s=40)
    h.actions()
    assert h.lma.get_timer() == pytest.approx(h.now + 40)
    at = h.lma.get_timer()
    assert at is not None
    h.now = at
    h.lma.handle_timer(at)
    (down,) = h.actions()
    assert down == MobileRouteDown(
        mn_id=MN, mag=MAG1, hnp=hnp_of(reg), ipv4_hoa=None, reason="expired"
    )
    assert h.binding() is None
    assert h.lma.status(h.now)["counters"]["expirations"] == 1


def test_refresh_pushes_expiry_out() -> None:
    h = Harness()
    h.register(lifetime_s=40)
    start = h.now
    h.advance(start + 30)
    h.register(lifetime_s=40, hi=HandoffIndicator.NOT_CHANGED)
    h.actions()
    h.advance(start + 69)
    assert h.actions() == [] and h.binding() is not None
    h.advance(start + 70.5)
    (down,) = h.actions()
    assert isinstance(down, MobileRouteDown) and down.reason == "expired"


def test_many_bindings_expire_in_deadline_order() -> None:
    h = Harness()
    start = h.now
    for i, lifetime in enumerate([80, 40, 120, 60]):
        h.register(mn=f"mn{i}", lifetime_s=lifetime)
    h.actions()
    h.advance(start + 200)
    downs = [a for a in h.actions() if isinstance(a, MobileRouteDown)]
    assert [d.mn_id for d in downs] == ["mn1", "mn3", "mn0", "mn2"]
    assert h.lma.get_timer() is None


def test_pba_for_rejection_echoes_identifiers() -> None:
    h = Harness()
    pbu = h.pbu(att=False)
    (pba,) = h.send(pbu)
    assert isinstance(pba, ProxyBindingAcknowledgement)
    assert pba.find(MobileNodeIdentifier) == MobileNodeIdentifier.nai(MN)
    assert pba.find(HandoffIndicatorOption) == pbu.find(HandoffIndicatorOption)
    assert pba.find(Timestamp) == pbu.find(Timestamp)
    assert replace(pba, options=()).status == BindingAckStatus.MISSING_ACCESS_TECH_TYPE_OPTION
