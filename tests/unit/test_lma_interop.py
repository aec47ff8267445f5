"""The reference LMA's interop switches: behaving like common minimal LMAs on purpose."""

from __future__ import annotations

from ipaddress import IPv6Network

from mag_ap.mh import (
    BindingError,
    BindingErrorStatus,
    Heartbeat,
    HomeNetworkPrefix,
    ProxyBindingAcknowledgement,
    Timestamp,
)
from tests.unit.lma_harness import MN, Harness, hnp_of


def test_default_pba_carries_the_timestamp_and_the_assigned_prefix() -> None:
    pba = Harness().register()
    assert pba.find(Timestamp) is not None
    hnp = hnp_of(pba)
    assert hnp is not None and hnp != IPv6Network("::/0")


def test_pba_timestamps_off_sends_none_even_in_sequence_mode() -> None:
    h = Harness(pba_timestamps=False, use_timestamps=False)
    pba = h.register()
    assert pba.status == 0 and pba.find(Timestamp) is None


def test_echo_requested_hnp_answers_the_all_zero_prefix_while_the_bce_holds_one() -> None:
    h = Harness(echo_requested_hnp=True)
    pba = h.register()
    option = pba.find(HomeNetworkPrefix)
    assert option is not None and option.prefix_length == 0 and not int(option.prefix)
    bce = h.binding(MN)
    assert bce is not None and bce["hnp"] and bce["hnp"] != "::/0"


def test_heartbeats_dropped_or_refused_and_none_sent() -> None:
    for mode, answer in (
        ("drop", []),
        ("binding_error", [BindingErrorStatus.UNRECOGNIZED_MH_TYPE]),
    ):
        h = Harness(heartbeats=mode)
        h.register()
        replies = h.send(Heartbeat(sequence=1))
        assert [r.status for r in replies if isinstance(r, BindingError)] == answer, mode
        assert not any(isinstance(r, Heartbeat) for r in replies)
        h.advance(h.now + 10 * 60)
        assert h.lma.datagrams_to_send(h.now) == []  # it never asks either
        assert h.lma.counters["heartbeats_ignored"] == 1


def test_revocation_off_revokes_nothing() -> None:
    h = Harness(revocation=False)
    assert isinstance(h.register(), ProxyBindingAcknowledgement)
    assert h.lma.revoke(MN, h.now) is False
    assert h.lma.datagrams_to_send(h.now) == []
    assert h.binding(MN) is not None
