"""Reference LMA towards its MAGs: heartbeats, revocation, errors and garbage."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mag_ap.core.types import Address, LogEvent, MobileRouteDown, PeerRestarted
from mag_ap.lma.peers import BRI_MAX_RETRANSMIT_NUMBER
from mag_ap.mh import (
    BindingError,
    BindingErrorStatus,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    ProxyBindingAcknowledgement,
    RestartCounter,
    RevocationStatus,
    RevocationTrigger,
    UnknownMessage,
    decode_message,
    encode_message,
)
from tests.unit.lma_harness import ANY_IPV4, MAG1, MAG2, MN, Harness, hnp_of

# --- heartbeats (RFC 5847) ------------------------------------------------------------


def test_heartbeat_request_is_answered_with_our_restart_counter() -> None:
    h = Harness(restart_counter=7)
    (reply,) = h.send(Heartbeat(sequence=4242, options=(RestartCounter(counter=1),)))
    assert isinstance(reply, Heartbeat)
    assert reply.r and reply.sequence == 4242
    assert reply.find(RestartCounter) == RestartCounter(counter=7)


def _heartbeats_sent(h: Harness) -> list[tuple[Address, Heartbeat]]:
    out: list[tuple[Address, Heartbeat]] = []
    for d in h.lma.datagrams_to_send(h.now):
        msg = decode_message(d.data)
        assert isinstance(msg, Heartbeat) and not msg.r
        out.append((d.peer, msg))
    return out


def test_heartbeats_go_every_interval_to_mags_with_bindings_only() -> None:
    h = Harness(heartbeat_interval_s=30.0)
    h.register()
    h.send(Heartbeat(sequence=1), src=MAG2)  # a MAG we know but with no binding
    start = h.now
    h.advance(start + 29)
    assert _heartbeats_sent(h) == []
    h.advance(start + 30)
    ((peer, request),) = _heartbeats_sent(h)
    assert peer == MAG1 and request.find(RestartCounter) is not None
    h.send(Heartbeat(sequence=request.sequence, r=True))
    h.advance(start + 60)
    ((peer, second),) = _heartbeats_sent(h)
    assert peer == MAG1 and second.sequence != request.sequence


def test_missing_heartbeats_report_the_peer_once() -> None:
    h = Harness(heartbeat_interval_s=30.0, missing_heartbeats_allowed=3)
    h.register()
    h.actions()
    h.advance(h.now + 30)  # the MAG answers once: it speaks RFC 5847
    (first,) = _heartbeats_sent(h)
    h.send(Heartbeat(sequence=first[1].sequence, r=True))
    assert h.lma.status(h.now)["peers"][0]["heartbeats"] == "supported"
    start = h.now
    for k in range(1, 4):
        h.advance(start + 30 * k)
        assert len(_heartbeats_sent(h)) == 1
        assert [a for a in h.actions() if isinstance(a, PeerRestarted)] == []
    h.advance(start + 120)  # third unanswered request times out
    _heartbeats_sent(h)
    assert h.actions() == [PeerRestarted(peer=MAG1, reason="missing heartbeats")]
    h.advance(start + 150)
    (sent,) = _heartbeats_sent(h)
    assert h.actions() == []  # reported once
    h.send(Heartbeat(sequence=sent[1].sequence, r=True))
    status = h.lma.status(h.now)
    (peer,) = status["peers"]
    assert peer["missed_heartbeats"] == 0 and not peer["unreachable"]
    assert status["counters"]["heartbeats_missed"] == 4
    assert h.binding() is not None  # bindings stay until they expire


def test_a_mag_that_never_answers_heartbeats_is_not_declared_lost() -> None:
    """RFC 5847 is optional: silence from a MAG that never answered proves nothing."""
    h = Harness(heartbeat_interval_s=30.0, missing_heartbeats_allowed=3)
    h.register()
    h.actions()
    start = h.now
    for k in range(1, 4):
        h.advance(start + 30 * k)
        assert len(_heartbeats_sent(h)) == 1
    h.advance(start + 120)
    assert _heartbeats_sent(h) == []  # stopped asking
    assert [a for a in h.actions() if isinstance(a, PeerRestarted)] == []
    status = h.lma.status(h.now)
    (peer,) = status["peers"]
    assert peer["heartbeats"] == "unsupported" and not peer["unreachable"]
    assert status["counters"]["peers_heartbeats_unsupported"] == 1
    h.advance(start + 300)
    assert _heartbeats_sent(h) == []
    assert h.binding() is not None


def test_heartbeats_stop_when_the_mag_has_no_binding_left() -> None:
    h = Harness(heartbeat_interval_s=30.0)
    h.register(lifetime_s=20)
    h.advance(h.now + 100)
    assert _heartbeats_sent(h) == []
    assert h.lma.get_timer() is None


def test_changed_restart_counter_reports_a_restart_and_keeps_bindings() -> None:
    h = Harness()
    h.register()
    h.send(Heartbeat(sequence=1, options=(RestartCounter(counter=5),)))
    h.actions()
    h.send(Heartbeat(sequence=2, options=(RestartCounter(counter=5),)))
    assert h.actions() == []
    h.send(Heartbeat(sequence=3, options=(RestartCounter(counter=6),)))
    actions = h.actions(logs=True)
    assert actions[0] == PeerRestarted(peer=MAG1, reason="restart counter 5 -> 6")
    assert isinstance(actions[1], LogEvent) and actions[1].level == "warning"
    assert h.binding() is not None
    assert h.lma.status(h.now)["counters"]["peer_restarts"] == 1


def test_unsolicited_heartbeat_response_is_counted() -> None:
    h = Harness()
    assert h.send(Heartbeat(sequence=99, r=True)) == []
    assert h.lma.status(h.now)["counters"]["heartbeat_responses_unexpected"] == 1


# --- revocation (RFC 5846) --------------------------------------------------------------


def _bris(h: Harness) -> list[BindingRevocationIndication]:
    out = []
    for d in h.lma.datagrams_to_send(h.now):
        assert d.peer == MAG1
        msg = decode_message(d.data)
        assert isinstance(msg, BindingRevocationIndication)
        out.append(msg)
    return out


def test_revoke_sends_a_bri_to_the_mag_of_the_mn() -> None:
    h = Harness()
    pba = h.register()
    h.actions()
    assert h.lma.revoke(MN, h.now)
    (bri,) = _bris(h)
    assert bri.p and bri.trigger == RevocationTrigger.ADMINISTRATIVE_REASON
    assert bri.find(MobileNodeIdentifier) == MobileNodeIdentifier.nai(MN)
    hnp = hnp_of(pba)
    assert hnp is not None and bri.find(HomeNetworkPrefix) == HomeNetworkPrefix.of(hnp)
    binding = h.binding()
    assert binding is not None and binding["state"] == "revoking"


def test_make_before_break_handover_revokes_the_binding_at_the_previous_mag() -> None:
    """MAG2 registers while MAG1 still holds the binding: MAG1 gets a handover BRI."""
    h = Harness()
    h.register(ipv4=ANY_IPV4)
    h.now += 1
    moved = h.register(src=MAG2, ipv4=ANY_IPV4, hi=HandoffIndicator.UNKNOWN)
    assert moved.accepted
    ((peer, bri),) = h.elsewhere
    assert peer == MAG1 and isinstance(bri, BindingRevocationIndication)
    assert bri.trigger == RevocationTrigger.INTER_MAG_HANDOVER_SAME_ATT
    assert bri.find(MobileNodeIdentifier) == MobileNodeIdentifier.nai(MN)
    assert bri.find(HomeNetworkPrefix) == HomeNetworkPrefix.of(hnp_of(moved))  # type: ignore[arg-type]
    h.actions()
    assert h.send(BindingRevocationAcknowledgement(sequence=bri.sequence), src=MAG1) == []
    h.advance(h.now + 60)  # no retransmission after the answer, and the binding stays
    later = [decode_message(d.data) for d in h.lma.datagrams_to_send(h.now)]
    assert not [m for m in later if isinstance(m, BindingRevocationIndication)]
    assert [a for a in h.actions() if isinstance(a, MobileRouteDown)] == []
    binding = h.binding()
    assert binding is not None and binding["mag"] == str(MAG2) and binding["state"] == "registered"
    counters = h.lma.status(h.now)["counters"]
    assert counters["handover_bri_sent"] == 1 and counters["bra_unknown"] == 0
    # the binding refreshes at MAG2 as usual
    assert h.register(src=MAG2, ipv4=ANY_IPV4, hi=HandoffIndicator.NOT_CHANGED).accepted


def test_unanswered_handover_bri_gives_up_without_touching_the_binding() -> None:
    h = Harness()
    h.register()
    h.register(src=MAG2, hi=HandoffIndicator.UNKNOWN)
    h.actions()
    h.advance(h.now + 60)  # the BRI's retransmissions (1 + 2 + 4 s) and well past them
    sent = [
        d.peer
        for d in h.lma.datagrams_to_send(h.now)
        if isinstance(decode_message(d.data), BindingRevocationIndication)
    ]
    assert sent == [MAG1] * BRI_MAX_RETRANSMIT_NUMBER
    assert [a for a in h.actions() if isinstance(a, MobileRouteDown)] == []
    binding = h.binding()
    assert binding is not None and binding["mag"] == str(MAG2) and binding["state"] == "registered"
    assert h.lma.status(h.now)["counters"]["handover_bri_unanswered"] == 1


def test_an_lma_without_revocation_sends_no_handover_bri() -> None:
    """The interop switch ``revocation = false`` (an LMA without RFC 5846) covers it too."""
    h = Harness(revocation=False)
    h.register()
    assert h.register(src=MAG2, hi=HandoffIndicator.UNKNOWN).accepted
    assert h.elsewhere == []
    assert h.lma.status(h.now)["counters"]["handover_bri_sent"] == 0


def test_break_before_make_sends_no_handover_bri() -> None:
    """MAG1 de-registered first: nothing left there to revoke."""
    h = Harness()
    h.register()
    h.register(lifetime_s=0)
    h.now += 0.05
    assert h.register(src=MAG2, hi=HandoffIndicator.UNKNOWN).accepted
    assert h.elsewhere == []
    assert h.lma.status(h.now)["counters"]["handovers"] == 1


def test_revoke_unknown_mn_is_false() -> None:
    h = Harness()
    assert not h.lma.revoke("nobody@example.org", h.now)
    assert h.lma.datagrams_to_send(h.now) == []


def test_bri_is_retransmitted_with_doubling_timeout_then_given_up() -> None:
    h = Harness()
    h.register()
    h.actions()
    start = h.now
    h.lma.revoke(MN, start, RevocationTrigger.PER_PEER_POLICY)
    (first,) = _bris(h)
    sent_at = []
    gave_up_at = None
    while (at := h.lma.get_timer()) is not None and at < start + 100 and gave_up_at is None:
        h.now = at
        h.lma.handle_timer(at)
        for bri in _bris(h):
            assert bri == first
            sent_at.append(at - start)
        if h.binding() is None:
            gave_up_at = at - start
    assert sent_at == [1.0, 3.0, 7.0][:BRI_MAX_RETRANSMIT_NUMBER]
    assert gave_up_at == pytest.approx(15.0)
    (down,) = h.actions()
    assert isinstance(down, MobileRouteDown) and down.reason == "revoked"
    assert h.binding() is None
    assert h.lma.status(h.now)["counters"]["revocations_timed_out"] == 1


def test_bra_completes_the_revocation() -> None:
    h = Harness()
    h.register(ipv4=ANY_IPV4)
    h.actions()
    h.lma.revoke(MN, h.now)
    (bri,) = _bris(h)
    h.advance(h.now + 1.5)  # one retransmission
    assert len(_bris(h)) == 1
    assert h.send(BindingRevocationAcknowledgement(sequence=bri.sequence)) == []
    (down,) = h.actions()
    assert isinstance(down, MobileRouteDown) and down.reason == "revoked" and down.ipv4_hoa
    h.advance(h.now + 60)
    assert h.lma.datagrams_to_send(h.now) == []
    assert h.binding() is None


def test_bra_with_unknown_sequence_is_counted_and_ignored() -> None:
    h = Harness()
    h.register()
    h.lma.revoke(MN, h.now)
    (bri,) = _bris(h)
    h.actions()
    h.send(BindingRevocationAcknowledgement(sequence=(bri.sequence + 1) % 65536))
    h.send(BindingRevocationAcknowledgement(sequence=bri.sequence), src=MAG2)  # wrong MAG
    assert [a for a in h.actions() if not isinstance(a, LogEvent)] == []
    assert h.lma.status(h.now)["counters"]["bra_unknown"] == 2
    assert h.binding() is not None


def test_registration_during_revocation_is_prohibited() -> None:
    h = Harness()
    h.register()
    h.lma.revoke(MN, h.now)
    _bris(h)
    assert h.register(hi=5).status == 129


def test_mag_initiated_bri_is_answered_not_supported() -> None:
    h = Harness()
    (bra,) = h.send(BindingRevocationIndication(sequence=9, g=True))
    assert isinstance(bra, BindingRevocationAcknowledgement)
    assert bra.sequence == 9 and bra.status == RevocationStatus.REVOCATION_FUNCTION_NOT_SUPPORTED


# --- errors and garbage -------------------------------------------------------------------


def test_unknown_mh_type_gets_a_binding_error() -> None:
    h = Harness()
    (error,) = h.send(UnknownMessage(type_number=42, data=b"\x00\x00"))
    assert isinstance(error, BindingError)
    assert error.status == BindingErrorStatus.UNRECOGNIZED_MH_TYPE


def test_unexpected_pba_is_counted_not_answered() -> None:
    h = Harness()
    assert h.send(ProxyBindingAcknowledgement(sequence=1)) == []
    assert h.lma.status(h.now)["counters"]["unexpected_messages"] == 1


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_garbage_is_counted_and_bindings_survive(garbage: bytes) -> None:
    h = Harness()
    h.register(ipv4=ANY_IPV4)
    h.actions()
    before = h.lma.status(h.now)["bindings"]
    h.lma.receive_datagram(garbage, MAG2, h.now)
    h.lma.datagrams_to_send(h.now)
    assert not [a for a in h.actions() if isinstance(a, MobileRouteDown)]
    assert h.lma.status(h.now)["bindings"] == before


@settings(max_examples=300)
@given(st.data())
def test_mutated_pbus_never_raise_and_leave_other_bindings_alone(data: st.DataObject) -> None:
    h = Harness()
    h.register(ipv4=ANY_IPV4)
    h.actions()
    before = h.lma.status(h.now)["bindings"]
    pbu = bytearray(encode_message(h.pbu(mn="fuzz@example.org", ipv4=ANY_IPV4, gre_key=3)))
    for _ in range(data.draw(st.integers(1, 4))):
        pbu[data.draw(st.integers(0, len(pbu) - 1))] = data.draw(st.integers(0, 255))
    h.lma.receive_datagram(bytes(pbu), MAG2, h.now)
    for datagram in h.lma.datagrams_to_send(h.now):
        decode_message(datagram.data)  # whatever we answer is well-formed
    h.advance(h.now + 20)
    (after,) = [b for b in h.lma.status(h.now)["bindings"] if b["mn_id"] == MN]
    assert after | {"lifetime_left_s": 3600} == before[0]


def test_truncated_pbu_is_a_decode_error_with_a_log_event() -> None:
    h = Harness()
    data = encode_message(h.pbu())
    h.lma.receive_datagram(data[:-8], MAG1, h.now)
    assert h.lma.datagrams_to_send(h.now) == []
    (log,) = h.actions(logs=True)
    assert isinstance(log, LogEvent) and log.level == "warning"
    assert h.lma.status(h.now)["counters"]["decode_errors"] == 1


def test_status_is_json_ready() -> None:
    h = Harness()
    h.register(ipv4=ANY_IPV4, gre_key=5)
    h.register(src=MAG2, mn="two@example.org", timestamp_s=5.0)  # rejected
    status = json.loads(json.dumps(h.lma.status(h.now)))
    (binding,) = status["bindings"]
    assert binding["mn_id"] == MN and binding["lifetime_left_s"] == 3600
    assert binding["gre_key_to_mag"] == 5 and binding["gre_key_from_mag"] >= 1
    assert status["counters"]["pbu_received"] == 2
    assert status["counters"]["pba_sent_accepted"] == 1
    assert status["counters"]["pba_sent_rejected"] == {"TIMESTAMP_MISMATCH": 1}
    assert {p["address"] for p in status["peers"]} == {str(MAG1), str(MAG2)}
