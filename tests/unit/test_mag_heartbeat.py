"""Heartbeats per LMA (RFC 5847): requests, answers, loss, restart counter."""

from __future__ import annotations

from mag_ap.core.types import BindingDown, BindingUp, LogEvent, PeerRestarted
from mag_ap.mh import (
    BindingError,
    BindingErrorStatus,
    HandoffIndicator,
    HandoffIndicatorOption,
    Heartbeat,
    HomeNetworkPrefix,
    ProxyBindingUpdate,
    RestartCounter,
    encode_message,
)
from tests.unit.mag_harness import (
    HNP,
    LMA,
    MAC2,
    MN_ID2,
    OTHER_HNP,
    OTHER_HOA,
    OTHER_LMA,
    Harness,
)


def heartbeats_sent(h: Harness) -> list[tuple[float, Heartbeat]]:
    return [(s.at, s.msg) for s in h.sent if isinstance(s.msg, Heartbeat)]


def response(sequence: int, counter: int | None = None) -> bytes:
    options = () if counter is None else (RestartCounter(counter=counter),)
    return encode_message(Heartbeat(sequence=sequence, r=True, options=options))


def test_no_heartbeat_without_an_acknowledged_binding() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.attach(0.0)
    h.run_timers(until=500.0)  # gives up, holds down and retries: never bound
    assert heartbeats_sent(h) == []


def test_requests_go_out_every_interval_to_each_lma_with_bindings() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(0.0, accept_at=1.0)
    h.attach(0.0, mac=MAC2, mn_id=MN_ID2, lma_address=OTHER_LMA)
    h.accept(2.0, hnp=OTHER_HNP, hoa=OTHER_HOA)
    # The first request goes out as soon as the LMA holds a binding (restart-counter
    # baseline), then one every interval.
    for t in (1.0, 2.0, 61.0, 62.0, 121.0):  # answer everything to stay alive
        h.run_timers(until=t)
        last = h.sent[-1]
        assert isinstance(last.msg, Heartbeat)
        h.receive(response(last.msg.sequence), t + 0.01, src=last.peer)
    sent = [(s.at, s.peer, s.msg.sequence) for s in h.sent if isinstance(s.msg, Heartbeat)]
    assert sent == [
        (1.0, LMA, 0),
        (2.0, OTHER_LMA, 0),
        (61.0, LMA, 1),
        (62.0, OTHER_LMA, 1),
        (121.0, LMA, 2),
    ]
    assert all(not m.r for _, m in heartbeats_sent(h))
    assert h.actions_of(PeerRestarted) == []


def test_requests_from_the_lma_are_answered_with_our_restart_counter() -> None:
    h = Harness.create(restart_counter=7)
    h.receive(encode_message(Heartbeat(sequence=4242)), 3.0)
    [(at, answer)] = heartbeats_sent(h)
    assert at == 3.0 and h.sent[0].peer == LMA
    assert answer.r and answer.sequence == 4242
    assert answer.find(RestartCounter) == RestartCounter(counter=7)
    assert h.counter("heartbeat_responses_sent") == 1


def test_missing_heartbeats_declare_the_peer_lost_once() -> None:
    h = Harness.create(heartbeat_interval_s=60.0, missing_heartbeats_allowed=3)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=0.0)
    h.receive(response(heartbeats_sent(h)[-1][1].sequence), 0.5)  # it speaks RFC 5847
    h.run_timers(until=600.0)
    lost = [(t, a) for t, a in h.actions if isinstance(a, PeerRestarted)]
    # requests at 60, 120, 180 unanswered: the check before the fourth declares the loss
    assert lost == [(240.0, PeerRestarted(peer=LMA, reason="heartbeat lost"))]
    assert h.counter("heartbeat_losses") == 1
    # the bindings stay: only the lifetime decides
    assert h.actions_of(BindingDown) == []


def test_an_answer_resets_the_miss_count() -> None:
    h = Harness.create(heartbeat_interval_s=60.0, missing_heartbeats_allowed=3)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=120.0)  # three unanswered: 0, 60, 120
    h.receive(response(heartbeats_sent(h)[-1][1].sequence), 121.0)
    h.run_timers(until=340.0)  # 180, 240, 300 unanswered: not lost before 360
    assert h.actions_of(PeerRestarted) == []
    assert h.mag.status(340.0)["peers"][0]["missed_heartbeats"] == 3


def test_unmatched_response_does_not_count_as_an_answer() -> None:
    h = Harness.create(heartbeat_interval_s=60.0, missing_heartbeats_allowed=1)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=0.0)
    h.receive(response(heartbeats_sent(h)[-1][1].sequence), 0.5)
    h.run_timers(until=60.0)
    h.receive(response(999), 61.0)
    h.run_timers(until=120.0)
    assert h.counter("heartbeat_unmatched") == 1
    assert [a.reason for a in h.actions_of(PeerRestarted)] == ["heartbeat lost"]


def test_changed_restart_counter_reregisters_every_binding_of_that_lma() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(0.0)
    h.run_timers(until=60.0)
    h.receive(response(0, counter=1), 60.1)
    assert h.actions_of(PeerRestarted) == []  # first value seen: nothing to compare
    h.run_timers(until=120.0)
    pbus_before = len(h.pbus())
    h.receive(response(2, counter=2), 120.1)
    [restart] = h.actions_of(PeerRestarted)
    assert restart.peer == LMA and "restart counter 1 -> 2" in restart.reason
    assert len(h.pbus()) == pbus_before + 1
    again = h.pbus()[-1]
    assert again.at == 120.1 and isinstance(again.msg, ProxyBindingUpdate)
    assert again.msg.lifetime_s == 3600
    hi = again.msg.find(HandoffIndicatorOption)
    assert hi is not None and hi.indicator == HandoffIndicator.NOT_CHANGED
    assert again.msg.find(HomeNetworkPrefix) == HomeNetworkPrefix.of(HNP)  # keep the prefix
    assert h.binding()["state"] == "registering"
    h.accept(120.2)
    ups = h.actions_of(BindingUp)
    assert [u.refresh for u in ups] == [False, True]  # same values: datapath untouched
    assert h.actions_of(BindingDown) == []


def test_restart_seen_in_a_request_from_the_lma_counts_too() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(0.0)
    hb = Heartbeat(sequence=1, options=(RestartCounter(counter=5),))
    h.receive(encode_message(hb), 10.0)
    h.receive(encode_message(Heartbeat(sequence=2, options=(RestartCounter(counter=6),))), 20.0)
    assert [a.peer for a in h.actions_of(PeerRestarted)] == [LMA]
    assert h.binding()["state"] == "registering"


def test_heartbeats_stop_when_the_last_binding_goes() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(0.0)
    h.detach(10.0)
    h.accept(10.1, lifetime_s=0)
    assert h.mag.get_timer() is None
    assert h.mag.status(11.0)["peers"][0]["next_heartbeat_in_s"] is None


# --- LMAs without RFC 5847 ------------------------------------------------------------


def _peer(h: Harness, now: float) -> dict[str, object]:
    [peer] = h.mag.status(now)["peers"]
    assert isinstance(peer, dict)
    return peer


def test_an_lma_that_never_answers_is_unsupported_not_lost() -> None:
    h = Harness.create(heartbeat_interval_s=60.0, missing_heartbeats_allowed=3)
    h.bind(0.0, accept_at=0.0)
    assert _peer(h, 0.0)["heartbeats"] == "unknown"
    h.run_timers(until=290.0)  # before the first refresh (max_refresh_interval_s = 300)
    # requests at 0, 60, 120 unanswered; at 180 it is marked, and nothing more goes out
    assert [t for t, _ in heartbeats_sent(h)] == [0.0, 60.0, 120.0]
    assert h.actions_of(PeerRestarted) == []
    assert h.counter("heartbeat_losses") == 0 and h.counter("heartbeat_unsupported") == 1
    assert _peer(h, 290.0)["heartbeats"] == "unsupported"
    assert not any("stopped answering" in a.message for a in h.actions_of(LogEvent))
    assert any("RFC 5847 unsupported" in a.message for a in h.actions_of(LogEvent))
    assert h.actions_of(BindingDown) == []  # the bindings stay, refreshes go on
    assert h.binding()["state"] == "bound"


def test_a_binding_error_to_a_heartbeat_stops_them_at_once() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=0.0)
    h.receive(encode_message(BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE)), 0.01)
    assert _peer(h, 0.01)["heartbeats"] == "unsupported"
    h.run_timers(until=1000.0)
    assert len(heartbeats_sent(h)) == 1
    assert h.actions_of(PeerRestarted) == [] and h.counter("heartbeat_unsupported") == 1


def test_a_binding_error_from_an_lma_that_answered_before_changes_nothing() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=0.0)
    h.receive(response(heartbeats_sent(h)[-1][1].sequence), 0.5)
    h.run_timers(until=60.0)
    h.receive(encode_message(BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE)), 60.1)
    assert _peer(h, 60.1)["heartbeats"] == "answered"
    assert h.counter("heartbeat_unsupported") == 0


def test_a_heartbeat_from_an_unsupported_lma_resumes_them() -> None:
    h = Harness.create(heartbeat_interval_s=60.0, missing_heartbeats_allowed=1)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=100.0)
    assert _peer(h, 100.0)["heartbeats"] == "unsupported"
    sent = len(heartbeats_sent(h))
    h.receive(encode_message(Heartbeat(sequence=5)), 101.0)  # a request: it does speak 5847
    assert _peer(h, 101.0)["heartbeats"] == "answered"
    h.run_timers(until=101.0)
    after = heartbeats_sent(h)[sent:]
    assert [(t, hb.r) for t, hb in after] == [(101.0, True), (101.0, False)]  # answer, ask


def test_a_lost_lma_is_asked_ten_times_per_interval_so_its_return_is_seen_soon() -> None:
    h = Harness.create(heartbeat_interval_s=60.0, missing_heartbeats_allowed=3)
    h.bind(0.0, accept_at=0.0)
    h.run_timers(until=0.0)
    h.receive(response(heartbeats_sent(h)[-1][1].sequence, counter=1), 0.5)
    h.run_timers(until=290.0)  # before the first refresh (max_refresh_interval_s = 300)
    sent = [t for t, _ in heartbeats_sent(h)]
    # 60, 120, 180 unanswered; lost at 240, then every 6 s
    assert sent == [0.0, 60.0, 120.0, 180.0, *(240.0 + 6 * k for k in range(9))]
    last = heartbeats_sent(h)[-1][1].sequence
    h.receive(response(last, counter=2), 288.1)  # back, restarted: re-register now
    assert "restart counter 1 -> 2" in h.actions_of(PeerRestarted)[-1].reason
    h.run_timers(until=370.0)
    after = [t for t, _ in heartbeats_sent(h) if t > 288.0]
    assert after == [294.0, 354.0]  # answered: the one already due, then the interval again
