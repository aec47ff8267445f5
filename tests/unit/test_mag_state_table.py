"""The binding state table as data, its building blocks, and a random-walk invariant check."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mag_ap.core.bul import TRANSITIONS, BindingEvent, BindingState, BindingUpdateListEntry, Step
from mag_ap.core.errors import LocalProtocolError
from mag_ap.core.gre_keys import GRE_KEY_MAX, GreKeyAllocator
from mag_ap.core.mag import MagProtocol
from mag_ap.core.retransmit import Transaction, TransactionKind
from mag_ap.core.sequence import SequenceCounter, sequence_newer
from mag_ap.core.types import BindingDown, BindingUp
from mag_ap.mh import BindingAckStatus, HandoffIndicator, Heartbeat, RestartCounter, encode_message
from tests.unit.mag_harness import MAC, Harness, make_profile, make_settings, pba_bytes

# --- the table --------------------------------------------------------------------


def test_closed_is_final_and_every_other_state_can_end() -> None:
    assert not [key for key in TRANSITIONS if key[0] is BindingState.CLOSED]
    for state in set(BindingState) - {BindingState.CLOSED}:
        assert any(k[0] is state and v[0] is BindingState.CLOSED for k, v in TRANSITIONS.items())


def test_every_step_is_used_and_has_a_handler() -> None:
    assert {step for _, step in TRANSITIONS.values()} == set(Step)
    assert set(MagProtocol(make_settings())._steps) == set(Step)


def test_every_live_state_handles_detach_or_is_already_leaving() -> None:
    for state in (BindingState.REGISTERING, BindingState.BOUND, BindingState.REFRESHING):
        assert TRANSITIONS[(state, BindingEvent.DETACH)] == (
            BindingState.DEREGISTERING,
            Step.DEREGISTER,
        )


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (BindingState.BOUND, BindingEvent.PBA_ACCEPTED),
        (BindingState.BOUND, BindingEvent.ACK_TIMEOUT),
        (BindingState.REGISTERING, BindingEvent.REFRESH_DUE),
        (BindingState.DEREGISTERING, BindingEvent.DETACH),
        (BindingState.CLOSED, BindingEvent.DETACH),
    ],
)
def test_illegal_transition_is_a_local_protocol_error(
    state: BindingState, event: BindingEvent
) -> None:
    entry = BindingUpdateListEntry(mac=MAC, profile=make_profile(), lifetime_requested_s=3600)
    entry.state = state
    with pytest.raises(LocalProtocolError, match=event.name):
        entry.fire(event)
    assert entry.state is state


def test_fire_records_the_transition() -> None:
    entry = BindingUpdateListEntry(mac=MAC, profile=make_profile(), lifetime_requested_s=3600)
    assert entry.fire(BindingEvent.PBA_ACCEPTED) is Step.BIND
    assert entry.state is BindingState.BOUND
    assert entry.history == [
        (BindingState.REGISTERING, BindingEvent.PBA_ACCEPTED, BindingState.BOUND)
    ]


# --- sequence numbers ---------------------------------------------------------------


def test_sequence_counter_wraps() -> None:
    counter = SequenceCounter(65535)
    assert [counter.take() for _ in range(3)] == [65535, 0, 1]


def test_resync_jumps_forward_but_never_back() -> None:
    counter = SequenceCounter(10)
    counter.resync(1000)
    assert counter.peek == 1001
    counter.resync(5)
    assert counter.peek == 1001
    wrap = SequenceCounter(65000)
    wrap.resync(65535)
    assert wrap.peek == 0


@given(st.integers(0, 65535), st.integers(1, 32767))
def test_sequence_newer_is_modular(base: int, step: int) -> None:
    ahead = (base + step) % 65536
    assert sequence_newer(ahead, base)
    assert not sequence_newer(base, ahead)
    assert not sequence_newer(base, base)


# --- GRE keys and retransmission -----------------------------------------------------


def test_gre_keys_are_unique_non_zero_and_reused_after_release() -> None:
    keys = GreKeyAllocator(first=GRE_KEY_MAX - 1)
    a, b, c = keys.allocate(), keys.allocate(), keys.allocate()
    assert (a, b, c) == (GRE_KEY_MAX - 1, GRE_KEY_MAX, 1)  # wraps over 0
    keys.release(b)
    assert b not in keys.in_use and len(keys.in_use) == 2


def test_transaction_schedules() -> None:
    def sends(kind: TransactionKind, first: float) -> tuple[list[float], float]:
        tx = Transaction(kind, HandoffIndicator.NEW_INTERFACE, first, 32.0)
        times, now = [], 0.0
        for seq in range(100):
            tx.record_send(seq, now)
            times.append(now)
            now = tx.deadline_at
            if tx.exhausted:
                return times, now
            tx.back_off()
        return times, now

    assert sends(TransactionKind.INITIAL_REGISTRATION, 1.5) == (
        [0.0, 1.5, 4.5, 10.5, 22.5, 46.5],
        78.5,
    )
    assert sends(TransactionKind.DE_REGISTRATION, 1.0) == ([0.0, 1.0, 3.0], 7.0)
    refresh, _ = sends(TransactionKind.RE_REGISTRATION, 1.0)
    assert len(refresh) == 100  # never exhausted: the lifetime ends it
    assert refresh[:7] == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0]


# --- random walk: nothing a peer or a caller does breaks the invariants --------------

MACS = [f"02:00:00:00:00:0{i}" for i in range(3)]
_STATUSES = [int(s) for s in BindingAckStatus]

operation = st.one_of(
    st.tuples(st.just("attach"), st.integers(0, 2)),
    st.tuples(st.just("detach"), st.integers(0, 2)),
    st.tuples(st.just("answer"), st.sampled_from(_STATUSES)),
    st.tuples(st.just("timer"), st.integers(0, 1)),
    st.tuples(st.just("junk"), st.binary(max_size=40)),
    st.tuples(st.just("heartbeat"), st.integers(0, 3)),
    st.tuples(st.just("wait"), st.integers(1, 5000)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40))
def test_random_walk_keeps_the_invariants(ops: list[tuple[str, object]]) -> None:
    h = Harness.create(heartbeat_interval_s=60.0, lifetime_s=200)
    now = 0.0
    for kind, arg in ops:
        if kind == "attach":
            assert isinstance(arg, int)
            h.attach(now, mac=MACS[arg], mn_id=f"mn{arg}@example.net")
        elif kind == "detach":
            assert isinstance(arg, int)
            h.detach(now, mac=MACS[arg])
        elif kind == "answer" and h.pbus():
            assert isinstance(arg, int)
            h.receive(pba_bytes(h.last_pbu(), status=arg, sequence=None), now)
        elif kind == "timer":
            at = h.mag.get_timer()
            if at is not None:
                now = max(now, at)
                h.mag.handle_timer(now)
                h.pump(now)
        elif kind == "junk":
            assert isinstance(arg, bytes)
            h.receive(arg, now)
        elif kind == "heartbeat":
            assert isinstance(arg, int)
            msg = Heartbeat(sequence=arg, r=bool(arg % 2), options=(RestartCounter(counter=arg),))
            h.receive(encode_message(msg), now)
        elif kind == "wait":
            assert isinstance(arg, int)
            now += arg
            h.mag.handle_timer(now)
            h.pump(now)
        timer = h.mag.get_timer()
        # an event may arm a timer due at once (e.g. the first heartbeat after a PBA)
        assert (
            timer is None
            or timer > now
            or kind in ("attach", "detach", "answer", "junk", "heartbeat")
        )
        bindings = h.mag.status(now)["bindings"]
        active = Counter(b["mac"] for b in bindings if b["state"] != "deregistering")
        assert all(n == 1 for n in active.values())
    # a BindingDown never comes without a BindingUp before it, per MAC
    up: dict[str, bool] = {}
    for _, action in h.actions:
        if isinstance(action, BindingUp):
            up[action.mac] = True
        elif isinstance(action, BindingDown):
            assert up.get(action.mac), h.actions
            up[action.mac] = False
    # after everything is torn down and the timers run out, nothing is left
    h.mag.shutdown(now)
    h.pump(now)
    h.run_timers()
    assert h.mag.status(now)["bindings"] == []
    assert h.mag.get_timer() is None
