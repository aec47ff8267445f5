"""Initial registration: the PBU's options, PBA matching, statuses, retransmissions."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network

import pytest

from mag_ap.core.pba_status import PBA_STATUS_TABLE, TRANSIENT_STATUSES, PbaOutcome
from mag_ap.core.types import BindingDown, BindingRejected, BindingUp, LogEvent
from mag_ap.mh import (
    AccessTechnologyType,
    AccessTechnologyTypeOption,
    BindingAckStatus,
    GREKey,
    HandoffIndicator,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4CareOfAddress,
    IPv4HoAReplyStatus,
    IPv4HomeAddressRequest,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    ProxyBindingUpdate,
    ServiceSelection,
    Timestamp,
)
from tests.unit.mag_harness import (
    HNP,
    HOA,
    LMA,
    MAC,
    MAC2,
    MN_ID,
    MN_ID2,
    OTHER_LMA,
    ROUTER,
    Harness,
    make_profile,
    pba_bytes,
)

# --- what the first PBU carries ----------------------------------------------------


def test_initial_pbu_carries_the_rfc_5213_options() -> None:
    h = Harness.create(wall_clock_offset_s=1_700_000_000.0)
    h.attach(5.0)
    [sent] = h.pbus()
    pbu = sent.msg
    assert isinstance(pbu, ProxyBindingUpdate)
    assert sent.peer == LMA and sent.at == 5.0
    assert (pbu.a, pbu.h, pbu.p) == (True, True, True)
    assert pbu.lifetime_s == 3600
    assert pbu.find(MobileNodeIdentifier) == MobileNodeIdentifier.nai(MN_ID)
    hi = pbu.find(HandoffIndicatorOption)
    # a trigger cannot tell a new attachment from a roam: 4, never 1 (RFC 5213 5.4.1)
    assert hi is not None and hi.indicator == HandoffIndicator.UNKNOWN
    att = pbu.find(AccessTechnologyTypeOption)
    assert att is not None and att.access_technology == AccessTechnologyType.IEEE_802_11
    lli = pbu.find(MNLinkLayerIdentifier)
    assert lli is not None and lli.link_layer_identifier == bytes.fromhex("020000000001")
    assert pbu.find(HomeNetworkPrefix) == HomeNetworkPrefix(prefix_length=0, prefix=IPv6Address(0))
    assert pbu.find(IPv4HomeAddressRequest) == IPv4HomeAddressRequest(address=IPv4Address(0))
    stamp = pbu.find(Timestamp)
    assert stamp is not None and stamp.unix_time_s == pytest.approx(1_700_000_005.0)
    assert pbu.find(GREKey) is None
    assert pbu.find(ServiceSelection) is None
    assert pbu.find(IPv4CareOfAddress) is None


def test_profile_wishes_go_into_the_pbu() -> None:
    h = Harness.create()
    h.attach(
        hnp=HNP,
        ipv4_address=IPv4Address("10.200.0.9"),
        service_selection="internet",
        gre_key=True,
        lifetime_s=120,
    )
    pbu = h.last_pbu()
    assert pbu.lifetime_s == 120
    assert pbu.find(HomeNetworkPrefix) == HomeNetworkPrefix.of(HNP)
    request = pbu.find(IPv4HomeAddressRequest)
    assert request is not None and request.address == IPv4Address("10.200.0.9")
    assert pbu.find(ServiceSelection) == ServiceSelection(identifier="internet")
    gre = pbu.find(GREKey)
    assert gre is not None and gre.key != 0


def test_ipv6_only_and_ipv4_only_profiles_ask_only_for_their_family() -> None:
    h = Harness.create()
    h.attach(ipv4=False)
    assert h.last_pbu().find(IPv4HomeAddressRequest) is None
    assert h.last_pbu().find(HomeNetworkPrefix) is not None
    h.attach(mac=MAC2, mn_id=MN_ID2, ipv6=False)
    assert h.last_pbu().find(HomeNetworkPrefix) is None
    assert h.last_pbu().find(IPv4HomeAddressRequest) is not None


def test_ipv4_transport_pbu_carries_the_ipv4_care_of_address() -> None:
    h = Harness.create(own_address=IPv4Address("192.0.2.2"))
    h.attach(lma_address=IPv4Address("192.0.2.1"))
    [sent] = h.pbus()
    assert sent.peer == IPv4Address("192.0.2.1")
    assert sent.msg.find(IPv4CareOfAddress) == IPv4CareOfAddress(address=IPv4Address("192.0.2.2"))


def test_handoff_indicator_from_the_caller() -> None:
    h = Harness.create()
    h.mag.attach(MAC, make_profile(), 0.0, handoff=HandoffIndicator.MAG_CHANGE)
    h.pump(0.0)
    hi = h.last_pbu().find(HandoffIndicatorOption)
    assert hi is not None and hi.indicator == HandoffIndicator.MAG_CHANGE


def test_sequence_number_mode_sends_no_timestamp() -> None:
    h = Harness.create(use_timestamps=False)
    h.attach()
    assert h.last_pbu().find(Timestamp) is None


def test_gre_keys_are_unique_per_mobile_node() -> None:
    h = Harness.create()
    keys = set()
    for i in range(5):
        h.attach(mac=f"02:00:00:00:01:0{i}", mn_id=f"mn{i}@example.net", gre_key=True)
        gre = h.last_pbu().find(GREKey)
        assert gre is not None
        keys.add(gre.key)
    assert len(keys) == 5


def test_mac_is_normalised_and_malformed_mac_refused() -> None:
    h = Harness.create()
    h.attach(mac="02-00-00-00-00-0A")
    assert h.binding("02:00:00:00:00:0a")["mac"] == "02:00:00:00:00:0a"
    with pytest.raises(ValueError, match="not a MAC"):
        h.mag.attach("nonsense", make_profile(), 0.0)


def test_repeated_attach_with_the_same_profile_is_a_no_op() -> None:
    h = Harness.create()
    h.attach(0.0)
    h.attach(0.5)
    assert len(h.pbus()) == 1


def test_attach_with_a_new_profile_deregisters_the_old_binding_first() -> None:
    h = Harness.create()
    h.bind()
    h.attach(1.0, lma_address=OTHER_LMA)
    downs = h.actions_of(BindingDown)
    assert [d.reason for d in downs] == ["profile changed"]
    dereg, new = h.pbus()[-2:]
    assert dereg.peer == LMA and isinstance(dereg.msg, ProxyBindingUpdate)
    assert dereg.msg.lifetime_s == 0
    assert new.peer == OTHER_LMA


# --- PBA accepted ------------------------------------------------------------------


def test_accepted_pba_gives_binding_up_with_what_the_lma_granted() -> None:
    h = Harness.create()
    h.attach(0.0, gre_key=True)
    our_key = h.last_pbu().find(GREKey)
    assert our_key is not None
    h.accept(0.25, lifetime_s=1200, gre_key=0xABCD)
    [up] = h.actions_of(BindingUp)
    assert up == BindingUp(
        mn_id=MN_ID,
        mac=MAC,
        lma=LMA,
        hnp=HNP,
        ipv4_hoa=HOA,
        ipv4_default_router=ROUTER,
        gre_key_to_lma=0xABCD,
        gre_key_from_lma=our_key.key,
        lifetime_s=1200,
        refresh=False,
    )
    status = h.binding()
    assert status["state"] == "bound"
    assert status["last_registration_delay_ms"] == pytest.approx(250.0)
    assert status["registrations"] == 1
    assert h.counter("pba_accepted") == 1


def test_ipv4_hoa_refused_keeps_the_ipv6_binding_and_says_so() -> None:
    h = Harness.create()
    h.attach()
    h.accept(0.1, hoa_status=IPv4HoAReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE)
    [up] = h.actions_of(BindingUp)
    assert up.hnp == HNP and up.ipv4_hoa is None and up.ipv4_default_router is None
    warnings = [log.message for log in h.actions_of(LogEvent) if log.level == "warning"]
    assert any("DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE" in m for m in warnings)


def test_gre_key_option_not_required_drops_our_key() -> None:
    h = Harness.create()
    h.attach(gre_key=True)
    h.accept(0.1, status=BindingAckStatus.GRE_KEY_OPTION_NOT_REQUIRED)
    [up] = h.actions_of(BindingUp)
    assert up.gre_key_from_lma is None and up.gre_key_to_lma is None
    assert h.mag._gre_keys.in_use == frozenset()


def test_accepted_with_lifetime_zero_is_a_rejection() -> None:
    h = Harness.create()
    h.attach()
    h.accept(0.1, lifetime_s=0)
    [rejected] = h.actions_of(BindingRejected)
    assert "lifetime 0" in rejected.reason
    assert h.mag.status(1.0)["bindings"] == []


# --- every PBA status has an outcome -----------------------------------------------


@pytest.mark.parametrize("status", list(BindingAckStatus), ids=lambda s: s.name)
def test_every_pba_status_maps_to_its_outcome(status: BindingAckStatus) -> None:
    h = Harness.create()
    h.attach()
    h.accept(0.1, status=status)
    outcome, _ = PBA_STATUS_TABLE[status]
    if outcome is PbaOutcome.ACCEPTED:
        assert len(h.actions_of(BindingUp)) == 1
        assert h.binding()["state"] == "bound"
    elif outcome is PbaOutcome.REJECTED:
        [rejected] = h.actions_of(BindingRejected)
        assert rejected.status == status
        assert status.name in rejected.reason
        if status in TRANSIENT_STATUSES:  # "not now": held down, then registered afresh
            assert [b["state"] for b in h.mag.status(1.0)["bindings"]] == ["waiting"]
            assert h.mag.get_timer() == 0.1 + 32.0
        else:
            assert h.mag.status(1.0)["bindings"] == []
            assert h.mag.get_timer() is None
    else:  # resync or retry: a new PBU at once, binding still registering
        assert len(h.pbus()) == 2
        assert h.pbus()[1].at == 0.1
        assert h.binding()["state"] == "registering"
        assert h.actions_of(BindingRejected) == []


def test_unknown_status_numbers_follow_the_128_rule() -> None:
    h = Harness.create()
    h.attach()
    h.accept(0.1, status=200)
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.status == 200 and "200" in rejected.reason
    h.attach(1.0, mac=MAC2, mn_id=MN_ID2)
    h.accept(1.1, status=77)
    assert len(h.actions_of(BindingUp)) == 1


def test_status_135_resyncs_the_sequence_number_and_resends_at_once() -> None:
    h = Harness.create(use_timestamps=False)
    h.attach(0.0)
    first = h.last_pbu()
    h.accept(0.2, status=BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW, sequence=1000)
    second = h.pbus()[-1]
    assert second.at == 0.2
    assert isinstance(second.msg, ProxyBindingUpdate)
    assert second.msg.sequence == 1001 != first.sequence
    assert h.counter("sequence_resyncs") == 1
    # the duplicate of the 135 is stale: no second resync
    h.receive(pba_bytes(first, status=135, sequence=1000), 0.25)
    assert len(h.pbus()) == 2 and h.counter("pba_stale") == 1
    h.accept(0.3)
    assert len(h.actions_of(BindingUp)) == 1
    # the next PBU keeps counting from the resynced number
    h.attach(1.0, mac=MAC2, mn_id=MN_ID2)
    assert h.last_pbu().sequence == 1002


def test_repeated_135_after_a_resync_is_a_rejection() -> None:
    h = Harness.create(use_timestamps=False)
    h.attach(0.0)
    h.accept(0.1, status=135, sequence=500)
    h.accept(0.2, status=135, sequence=501)
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.status == 135 and "SEQUENCE_NUMBER_OUT_OF_WINDOW" in rejected.reason


@pytest.mark.parametrize(
    "status",
    [BindingAckStatus.TIMESTAMP_MISMATCH, BindingAckStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED],
)
def test_timestamp_status_retries_once_with_the_lma_clock(status: BindingAckStatus) -> None:
    h = Harness.create(wall_clock_offset_s=1_000_000.0)
    h.attach(0.0)
    lma_clock = Timestamp.at_unix_time(1_000_500.0)  # the LMA is 500 s ahead
    h.accept(0.5, status=status, extra=(lma_clock,))
    retry = h.last_pbu()
    stamp = retry.find(Timestamp)
    assert stamp is not None and stamp.unix_time_s == pytest.approx(1_000_500.0, abs=0.01)
    assert h.counter("timestamp_retries") == 1
    h.accept(0.6, status=status, extra=(lma_clock,))
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.status == status and status.name in rejected.reason
    assert len(h.pbus()) == 2


# --- matching PBAs to PBUs ---------------------------------------------------------


def test_pba_from_the_wrong_source_is_dropped_and_counted() -> None:
    h = Harness.create()
    h.attach()
    h.receive(pba_bytes(h.last_pbu()), 0.1, src=OTHER_LMA)
    assert h.actions_of(BindingUp) == []
    assert h.counter("pba_wrong_source") == 1
    assert h.binding()["state"] == "registering"


def test_pba_for_an_unknown_mn_or_without_mn_id_is_unmatched() -> None:
    h = Harness.create()
    h.attach()
    h.receive(pba_bytes(h.last_pbu(), mn_id="stranger@example.net"), 0.1)
    assert h.counter("pba_unmatched") == 1
    assert h.actions_of(BindingUp) == []


def test_pba_with_a_wrong_sequence_is_stale() -> None:
    h = Harness.create()
    h.attach()
    h.receive(pba_bytes(h.last_pbu(), sequence=h.last_pbu().sequence + 7), 0.1)
    assert h.counter("pba_stale") == 1
    assert h.actions_of(BindingUp) == []


def test_duplicate_pba_is_counted_and_ignored() -> None:
    h = Harness.create()
    h.attach()
    data = pba_bytes(h.last_pbu())
    h.receive(data, 0.1)
    h.receive(data, 0.2)
    assert len(h.actions_of(BindingUp)) == 1
    assert h.counter("pba_stale") == 1 and h.counter("pba_accepted") == 1


def test_pba_answering_an_earlier_transmission_still_binds() -> None:
    h = Harness.create()
    h.attach(0.0)
    first = h.last_pbu()
    h.run_timers(until=1.5)  # one retransmission with a new sequence number
    assert len(h.pbus()) == 2
    h.receive(pba_bytes(first), 1.6)
    [up] = h.actions_of(BindingUp)
    assert up.hnp == HNP
    assert h.binding()["last_registration_delay_ms"] == pytest.approx(1600.0)


def test_two_mobile_nodes_are_matched_independently() -> None:
    h = Harness.create()
    h.attach(0.0)
    first = h.last_pbu()
    h.attach(0.0, mac=MAC2, mn_id=MN_ID2)
    second = h.last_pbu()
    other_hoa = IPv4Interface("10.200.0.6/16")  # each MN its own: pba_checks refuses a shared one
    h.receive(pba_bytes(second, hnp=IPv6Network("2001:db8:100:2::/64"), hoa=other_hoa), 0.1)
    h.receive(pba_bytes(first), 0.2)
    ups = {up.mac: up.hnp for up in h.actions_of(BindingUp)}
    assert ups == {MAC: HNP, MAC2: IPv6Network("2001:db8:100:2::/64")}


# --- retransmission and give-up ----------------------------------------------------


def test_initial_registration_retransmission_schedule_and_give_up() -> None:
    h = Harness.create()
    h.attach(0.0)
    fired = h.run_timers(until=100.0)
    assert [s.at for s in h.pbus()] == [0.0, 1.5, 4.5, 10.5, 22.5, 46.5]
    assert fired[-1] == 78.5  # the last wait is MAX_BINDACK_TIMEOUT
    assert [(t, a) for t, a in h.actions if isinstance(a, BindingRejected)] == [
        (
            78.5,
            BindingRejected(
                mn_id=MN_ID, mac=MAC, lma=LMA, status=None, reason="no answer from LMA"
            ),
        )
    ]
    assert h.actions_of(BindingDown) == []  # nothing was installed
    assert h.counter("retransmissions") == 5 and h.counter("pbu_sent") == 6
    assert h.counter("registrations_given_up") == 1
    # The station is still attached: hold down for MAX_BINDACK_TIMEOUT, then start again.
    assert [b["state"] for b in h.mag.status(80.0)["bindings"]] == ["waiting"]
    assert h.mag.get_timer() == 78.5 + 32.0
    h.run_timers(until=110.5)
    assert h.pbus()[-1].at == 110.5
    h.receive(pba_bytes(h.last_pbu()), 111.0)
    assert len(h.actions_of(BindingUp)) == 1


def test_every_retransmission_has_a_new_sequence_and_timestamp() -> None:
    h = Harness.create(wall_clock_offset_s=1_000.0)
    h.attach(0.0)
    h.run_timers(until=78.5)
    pbus = h.pbu_messages()
    assert [p.sequence for p in pbus] == [0, 1, 2, 3, 4, 5]
    stamps = [p.find(Timestamp) for p in pbus]
    assert [s.unix_time_s for s in stamps if s] == [1000.0, 1001.5, 1004.5, 1010.5, 1022.5, 1046.5]


def test_schedule_follows_the_settings() -> None:
    h = Harness.create(initial_bindack_timeout_first_reg_s=1.0, max_bindack_timeout_s=4.0)
    h.attach(10.0)
    fired = h.run_timers(until=20.0)
    assert [s.at for s in h.pbus()] == [10.0, 11.0, 13.0]
    assert fired[-1] == 17.0  # the wait after 13.0 already was the maximum
    assert h.mag.get_timer() == 21.0  # hold-down of max_bindack_timeout_s, then again


def test_sequence_number_wraps_from_65535_to_0() -> None:
    from mag_ap.core.mag import MagProtocol
    from tests.unit.mag_harness import make_settings

    h = Harness(MagProtocol(make_settings(), initial_sequence=65534))
    h.attach(0.0)
    h.run_timers(until=4.5)
    assert [p.msg.sequence for p in h.pbus() if isinstance(p.msg, ProxyBindingUpdate)] == [
        65534,
        65535,
        0,
    ]
    h.receive(pba_bytes(h.last_pbu()), 5.0)
    assert len(h.actions_of(BindingUp)) == 1


def test_garbage_does_not_disturb_a_binding() -> None:
    h = Harness.create()
    up = h.bind()
    before = h.binding()
    timer = h.mag.get_timer()
    for junk in (
        b"",
        b"\x3b",
        b"\x3b\x00\x06\x00\x00\x00\x00\x00",
        bytes(range(256)),
        b"\xff" * 16,
    ):
        h.receive(junk, 1.0)
    assert h.binding() == before
    assert h.mag.get_timer() == timer
    assert h.actions_of(BindingUp) == [up]
    assert h.actions_of(BindingDown) == []
    assert h.counter("mh_decode_errors") >= 4


@pytest.mark.parametrize(
    "status",
    [BindingAckStatus.TIMESTAMP_MISMATCH, BindingAckStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED],
)
def test_a_timestamp_refusal_after_the_one_retry_holds_down_and_registers_again(
    status: BindingAckStatus,
) -> None:
    h = Harness.create()
    h.attach(0.0)
    h.accept(0.1, status=status)  # first refusal: one immediate retry
    h.accept(0.2, status=status)  # refused again (e.g. LMA queueing beyond its window)
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.status == status
    assert h.binding()["state"] == "waiting"
    h.run_timers(until=32.2)
    assert h.pbus()[-1].at == 32.2  # the station is still here: a fresh registration
    h.accept(32.3)
    assert len(h.actions_of(BindingUp)) == 1
