"""The MAG's refresh fast path (mag_ap/core/fastpath.py) against its general path.

Two MagProtocols, one with ``fast_refresh`` and one without, get the same
attachments and the same LMA answers; every refresh PBA is either exactly what
the binding holds or differs in one field. Both must then have sent the same
bytes, reported the same actions and counters and hold the same entries and
timers: the fast path takes only what the general path would accept unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Network
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mag_ap.core.mag as mag_module
from mag_ap.core.fastpath import parse_refresh_pba
from mag_ap.core.mag import MagProtocol
from mag_ap.core.mn_id import mn_key
from mag_ap.mh import (
    MobileNodeIdentifier,
    MobilityOption,
    ProxyBindingUpdate,
    Timestamp,
    decode_message,
)
from mag_ap.mh.options import (
    AccessTechnologyTypeOption,
    HandoffIndicatorOption,
    MNLinkLayerIdentifier,
    RestartCounter,
)
from tests.unit.mag_harness import LMA, OTHER_LMA, make_profile, make_settings, pba_bytes

OFFSET = 1_700_000_000.0
LIFETIME_S = 120
MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03")
MN_IDS = ("mn1@example.net", "mn2@example.net", "5:020000000009")  # the last one: raw subtype


@dataclass(frozen=True)
class Grant:
    hnp: IPv6Network | None
    hoa: IPv4Interface | None
    router: IPv4Address | None
    gre_key: int | None


def _grant(index: int, ipv6: bool, ipv4: bool, gre: bool) -> Grant:
    return Grant(
        hnp=IPv6Network(f"2001:db8:100:{index + 1}::/64") if ipv6 else None,
        hoa=IPv4Interface(f"10.200.0.{index + 5}/16") if ipv4 else None,
        router=IPv4Address("10.200.0.1") if ipv4 else None,
        gre_key=0x1000 + index if gre else None,
    )


# One field of the answer changed: (name, keyword arguments of pba_bytes over the grant).
VARIANTS: dict[str, dict[str, Any]] = {
    "same": {},
    "other hnp": {"hnp": IPv6Network("2001:db8:100:99::/64")},
    "link-local hnp": {"hnp": IPv6Network("fe80::/64")},
    "no hnp": {"hnp": None},
    "other hoa": {"hoa": IPv4Interface("10.200.0.99/16")},
    "loopback hoa": {"hoa": IPv4Interface("127.0.0.5/8")},
    "hoa refused": {"hoa_status": 128},
    "no hoa": {"hoa": None},
    "other router": {"router": IPv4Address("10.200.0.2")},
    "router outside": {"router": IPv4Address("192.0.2.1")},
    "no router": {"router": None},
    "other gre key": {"gre_key": 0x7777},
    "no gre key": {"gre_key": None},
    "shorter lifetime": {"lifetime_s": 60},
    "longer lifetime": {"lifetime_s": 240},
    "zero lifetime": {"lifetime_s": 0},
    "status 1": {"status": 1},
    "status 2": {"status": 2},
    "rejected": {"status": 129},
    "stale sequence": {"sequence_delta": -7},
    "unknown mn": {"mn_id": "nobody@example.net"},
    "no timestamp": {"timestamp": False},
    "echoed options": {
        "extra": (
            HandoffIndicatorOption(indicator=5),
            AccessTechnologyTypeOption(access_technology=4),
            MNLinkLayerIdentifier(link_layer_identifier=b"\x02\x00\x00\x00\x00\x01"),
        )
    },
    "restart counter": {"extra": (RestartCounter(counter=3),)},
    "second mn-id": {"extra": (MobileNodeIdentifier.nai("mn2@example.net"),)},
    "from another lma": {"src": OTHER_LMA},
}


class Twin:
    """A fast and a general MagProtocol fed the same inputs, outputs kept apart."""

    def __init__(self, use_timestamps: bool) -> None:
        self.protocols = {
            fast: MagProtocol(
                make_settings(
                    use_timestamps=use_timestamps, lifetime_s=LIFETIME_S, refresh_before_s=60.0
                ),
                wall_clock_offset_s=OFFSET,
                fast_refresh=fast,
            )
            for fast in (True, False)
        }
        self.sent: dict[bool, list[tuple[bytes, object]]] = {True: [], False: []}
        self.actions: dict[bool, list[str]] = {True: [], False: []}
        self.hits = 0  # PBAs the fast side took on its fast path
        fast = self.protocols[True]
        refreshed = fast._refreshed

        def counted(*args: Any) -> bool:
            taken = refreshed(*args)
            self.hits += taken
            return taken

        fast._refreshed = counted  # type: ignore[method-assign,assignment]

    def drain(self, now: float) -> None:
        for fast, mag in self.protocols.items():
            self.sent[fast] += [(d.data, d.peer) for d in mag.datagrams_to_send(now)]
            while (action := mag.next_action()) is not None:
                self.actions[fast].append(repr(action))

    def each(self, call: str, *args: Any, **kwargs: Any) -> None:
        for mag in self.protocols.values():
            getattr(mag, call)(*args, **kwargs)

    def last_pbus(self, count: int) -> list[ProxyBindingUpdate]:
        out = []
        for data, _ in self.sent[False][-count:]:
            msg = decode_message(data)
            assert isinstance(msg, ProxyBindingUpdate)
            out.append(msg)
        return out

    def assert_same(self, now: float) -> None:
        fast, general = self.protocols[True], self.protocols[False]
        assert self.sent[True] == self.sent[False]
        assert self.actions[True] == self.actions[False]
        assert fast.counters == general.counters
        assert fast.status(now) == general.status(now)
        assert fast.get_timer() == general.get_timer()
        for a, b in zip(fast._entries(), general._entries(), strict=True):
            assert [getattr(a, s) for s in a.__slots__ if s != "transaction"] == [
                getattr(b, s) for s in b.__slots__ if s != "transaction"
            ]


def _answer(pbu: ProxyBindingUpdate, grant: Grant, now: float, variant: dict[str, Any]) -> bytes:
    option = pbu.find(MobileNodeIdentifier)
    assert option is not None
    args: dict[str, Any] = {
        "mn_id": mn_key(option),
        "hnp": grant.hnp,
        "hoa": grant.hoa,
        "router": grant.router,
        "gre_key": grant.gre_key,
    }
    args.update({k: v for k, v in variant.items() if k not in {"sequence_delta", "timestamp"}})
    args.pop("src", None)
    if "sequence_delta" in variant:
        args["sequence"] = (pbu.sequence + variant["sequence_delta"]) % 65536
    extra: tuple[MobilityOption, ...] = args.pop("extra", ())
    if variant.get("timestamp", True):
        extra = (Timestamp.at_unix_time(now + OFFSET), *extra)
    return pba_bytes(pbu, extra=extra, **args)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.fixed_dictionaries(
        {
            "use_timestamps": st.booleans(),
            "ipv6": st.booleans(),
            "ipv4": st.booleans(),
            "gre": st.booleans(),
            "count": st.integers(min_value=1, max_value=3),
            "cycles": st.integers(min_value=1, max_value=2),
        }
    ),
    variants=st.lists(st.sampled_from(sorted(VARIANTS)), min_size=3, max_size=3),
)
def test_fast_path_answers_exactly_like_the_general_path(
    shape: dict[str, Any], variants: list[str]
) -> None:
    use_timestamps, ipv6, ipv4, gre = (shape[k] for k in ("use_timestamps", "ipv6", "ipv4", "gre"))
    count, cycles = shape["count"], shape["cycles"]
    if not (ipv6 or ipv4):
        ipv6 = True
    twin = Twin(use_timestamps)
    now = 10.0
    grants = [_grant(i, ipv6, ipv4, gre) for i in range(count)]
    for i in range(count):
        profile = make_profile(mn_id=MN_IDS[i], ipv6=ipv6, ipv4=ipv4, gre_key=gre)
        twin.each("attach", MACS[i], profile, now)
        twin.drain(now)
        (pbu,) = twin.last_pbus(1)
        twin.each("receive_datagram", _answer(pbu, grants[i], now, {}), LMA, now)
        twin.drain(now)
    twin.assert_same(now)
    disturbed: set[str] = set()  # MNs answered with other values once
    for cycle in range(cycles):
        # every binding refreshes: the PBUs (templates on the fast side) must be the same bytes
        while (at := twin.protocols[False].get_timer()) is not None and at <= now + 61.0:
            assert twin.protocols[True].get_timer() == at
            twin.each("handle_timer", at)
            twin.drain(at)
        now += 61.0
        twin.assert_same(now)
        refreshes = [p for p in twin.last_pbus(len(twin.sent[False])) if p.lifetime_s > 0]
        by_id: dict[str, ProxyBindingUpdate] = {}
        for pbu in refreshes:  # the latest PBU of each MN
            option = pbu.find(MobileNodeIdentifier)
            assert option is not None
            by_id[mn_key(option)] = pbu
        for i, (mn_id, pbu) in enumerate(by_id.items()):
            variant = VARIANTS[variants[(i + cycle) % len(variants)]]
            grant = grants[MN_IDS.index(mn_id)]
            fast_before = twin.hits
            answer = _answer(pbu, grant, now, variant)
            as_held = answer == _answer(pbu, grant, now, {})  # a no-op for this shape
            refreshing = any(
                e.mn_id == mn_id and e.state.value == "refreshing"
                for e in twin.protocols[False]._entries()
            )
            twin.each(
                "receive_datagram",
                answer,
                variant.get("src", LMA),
                now,
            )
            twin.drain(now)
            twin.assert_same(now)
            held = (as_held or variant is VARIANTS["echoed options"]) and "src" not in variant
            no_op = variant is VARIANTS["no timestamp"] and not use_timestamps
            if mn_id in disturbed or no_op:
                pass  # what the entry holds now is not the first grant any more
            elif held and refreshing:
                assert twin.hits == fast_before + 1  # the fast path took it
            else:
                assert twin.hits == fast_before  # a difference: the general path decided
            if not held:
                disturbed.add(mn_id)
        now += 1.0


def _bound_twin(*, ipv4: bool = True) -> tuple[Twin, ProxyBindingUpdate, Grant]:
    twin = Twin(use_timestamps=True)
    grant = _grant(0, True, ipv4, False)
    twin.each("attach", MACS[0], make_profile(mn_id=MN_IDS[0], ipv4=ipv4), 10.0)
    twin.drain(10.0)
    (pbu,) = twin.last_pbus(1)
    twin.each("receive_datagram", _answer(pbu, grant, 10.0, {}), LMA, 10.0)
    twin.drain(10.0)
    at = twin.protocols[True].get_timer()
    assert at is not None
    twin.each("handle_timer", at)
    twin.drain(at)
    (refresh,) = twin.last_pbus(1)
    assert refresh.lifetime_s > 0
    return twin, refresh, grant


def test_a_refresh_with_the_held_values_skips_decode_and_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    twin, pbu, grant = _bound_twin()
    data = _answer(pbu, grant, 71.0, {})
    assert parse_refresh_pba(data) is not None

    def refuse(*args: object) -> None:
        raise AssertionError("the general path ran")

    monkeypatch.setattr(mag_module, "check_pba", refuse)
    monkeypatch.setattr(mag_module, "decode_message", refuse)
    fast = twin.protocols[True]
    fast.receive_datagram(data, LMA, 71.0)
    assert fast.counters["pba_accepted"] == 2
    assert fast.status(71.0)["bindings"][0]["state"] == "bound"


@pytest.mark.parametrize(
    "variant",
    ["link-local hnp", "loopback hoa", "router outside", "other hnp", "zero lifetime"],
)
def test_bad_or_changed_values_in_a_refresh_still_meet_the_checks(variant: str) -> None:
    twin, pbu, grant = _bound_twin()
    data = _answer(pbu, grant, 71.0, VARIANTS[variant])
    fast = twin.protocols[True]
    fast.receive_datagram(data, LMA, 71.0)
    twin.drain(71.0)
    accepted_as_held = fast.counters["pba_accepted"] == 2 and not any(
        "refresh=False" in a for a in twin.actions[True]
    )
    assert not accepted_as_held or variant == "other hnp"
    if variant != "other hnp":
        assert fast.counters["pba_invalid"] + fast.counters["pba_rejected"] == 1
    else:  # a renumbering: the general path takes the datapath down and up again
        assert any("BindingDown" in a for a in twin.actions[True])
