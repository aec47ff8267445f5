"""Sanity of the MAG test harness and of the engine's runtime contract."""

from __future__ import annotations

import json

from mag_ap.core.mag import COUNTER_NAMES, MagProtocol
from mag_ap.core.types import (
    LogEvent,
    SansIOEndpoint,
)
from mag_ap.mh import (
    Heartbeat,
    encode_message,
)
from tests.unit.mag_harness import (
    HNP,
    HOA,
    LMA,
    MAC2,
    MN_ID2,
    ROUTER,
    Harness,
    make_settings,
)


def test_mag_protocol_satisfies_the_runtime_contract() -> None:
    endpoint: SansIOEndpoint = MagProtocol(make_settings())
    assert endpoint.get_timer() is None
    assert endpoint.next_action() is None
    assert endpoint.datagrams_to_send(0.0) == []


def test_status_is_json_serialisable_with_every_counter() -> None:
    h = Harness.create(heartbeat_interval_s=60.0)
    h.bind(gre_key=True)
    h.attach(1.0, mac=MAC2, mn_id=MN_ID2)
    status = h.mag.status(2.0)
    text = json.dumps(status)
    assert set(json.loads(text)) == {"bindings", "counters", "peers"}
    assert set(status["counters"]) == set(COUNTER_NAMES)
    bound = h.binding()
    assert bound["hnp"] == str(HNP)
    assert bound["ipv4_hoa"] == str(HOA)
    assert bound["ipv4_default_router"] == str(ROUTER)
    assert bound["state"] == "bound"
    assert bound["lma"] == str(LMA)
    assert h.binding(MAC2)["state"] == "registering"
    assert status["peers"][0]["address"] == str(LMA)


def test_log_events_carry_json_ready_fields() -> None:
    h = Harness.create()
    h.attach()
    h.receive(b"\x00garbage", 1.0)
    for log in h.actions_of(LogEvent):
        json.dumps(log.fields)


def test_heartbeat_is_not_a_pbu() -> None:
    h = Harness.create()
    h.receive(encode_message(Heartbeat(sequence=1)), 0.0)
    assert h.pbus() == []
