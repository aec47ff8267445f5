"""RFC 6097 failover to the next address of a DNS-named LMA, against the pure core alone.

``LmaFailover`` wraps ``MagProtocol``; these tests drive it as the runtime
driver does (entry point, then drain datagrams and actions, timers at their
exact deadlines) with PBAs built by the codec, and no clock, socket or daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import TypeVar

from mag_ap.core.lma_failover import LmaFailover
from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import (
    Action,
    Address,
    BindingRejected,
    BindingUp,
    LogEvent,
    SansIOEndpoint,
)
from mag_ap.mh import (
    BindingAckStatus,
    HandoffIndicator,
    HandoffIndicatorOption,
    ProxyBindingUpdate,
    decode_message,
)
from tests.unit.mag_harness import (
    LMA,
    MAC,
    MAC2,
    MN_ID2,
    OTHER_LMA,
    make_profile,
    make_settings,
    pba_bytes,
)

A = TypeVar("A")
THIRD_LMA = IPv6Address("2001:db8:dddd::1")
FQDN = "lma.example.net"


@dataclass
class Rig:
    """The failover endpoint plus the PBUs it sent and the actions it reported, with times."""

    ep: LmaFailover
    pbus: list[tuple[float, ProxyBindingUpdate, Address]] = field(default_factory=list)
    actions: list[tuple[float, Action]] = field(default_factory=list)

    @classmethod
    def create(cls) -> Rig:
        # first PBU, retransmissions at 1 and 3 s, give-up at 7 s, hold-down 4 s
        settings = make_settings(initial_bindack_timeout_first_reg_s=1.0, max_bindack_timeout_s=4.0)
        return cls(LmaFailover(MagProtocol(settings)))

    def pump(self, now: float) -> None:
        for d in self.ep.datagrams_to_send(now):
            msg = decode_message(d.data)
            assert isinstance(msg, ProxyBindingUpdate)
            self.pbus.append((now, msg, d.peer))
        while (action := self.ep.next_action()) is not None:
            self.actions.append((now, action))

    def attach(self, now: float, *alternatives: Address, mac: str = MAC, **profile: object) -> None:
        self.ep.attach(mac, make_profile(lma_fqdn=FQDN, **profile), now, alternatives=alternatives)
        self.pump(now)

    def run_timers(self, until: float) -> None:
        while (at := self.ep.get_timer()) is not None and at <= until:
            self.ep.handle_timer(at)
            self.pump(at)

    def answer(self, now: float, **pba: object) -> None:
        _, pbu, peer = self.pbus[-1]
        self.ep.receive_datagram(pba_bytes(pbu, **pba), peer, now)  # type: ignore[arg-type]
        self.pump(now)

    def peers(self) -> list[tuple[float, Address]]:
        """Where registrations (not de-registrations) went, and when."""
        return [(at, peer) for at, pbu, peer in self.pbus if pbu.lifetime_s > 0]

    def of(self, cls: type[A]) -> list[tuple[float, A]]:
        return [(t, a) for t, a in self.actions if isinstance(a, cls)]


def test_it_is_the_endpoint_the_driver_runs() -> None:
    ep: SansIOEndpoint = Rig.create().ep
    assert ep.get_timer() is None and ep.next_action() is None


def test_a_silent_lma_is_failed_over_in_the_event_that_gives_up() -> None:
    rig = Rig.create()
    rig.attach(0.0, OTHER_LMA)
    assert rig.ep.pending(MAC) == (OTHER_LMA,)
    rig.run_timers(until=7.0)
    assert rig.peers() == [(0.0, LMA), (1.0, LMA), (3.0, LMA), (7.0, OTHER_LMA)]
    at_7 = [a for t, a in rig.actions if t == 7.0]
    rejected = [a for a in at_7 if isinstance(a, BindingRejected)]
    assert [(r.lma, r.status) for r in rejected] == [(LMA, None)]
    failover = [a for a in at_7 if isinstance(a, LogEvent) and a.message == "LMA failover"]
    assert failover == [
        LogEvent(level="warning", message="LMA failover",
                 fields={"mac": MAC, "fqdn": FQDN, "lma": str(OTHER_LMA)})
    ]  # fmt: skip
    assert at_7.index(rejected[0]) < at_7.index(failover[0])  # reported in cause order
    assert rig.ep.counters["lma_failovers"] == 1
    assert rig.ep.pending(MAC) == ()
    rig.answer(7.2)
    [(_, up)] = rig.of(BindingUp)
    assert up.lma == OTHER_LMA and up.mac == MAC
    rows = {(r["lma"], r["state"]) for r in rig.ep.status(7.3)["bindings"]}
    # the given-up entry still tells the silent LMA goodbye (lifetime 0), as a detach would
    assert rows == {(str(OTHER_LMA), "bound"), (str(LMA), "deregistering")}


def test_addresses_are_tried_in_order_and_the_last_one_is_kept() -> None:
    rig = Rig.create()
    rig.attach(0.0, OTHER_LMA, THIRD_LMA)
    rig.run_timers(until=14.0)
    assert [p for _, p in rig.peers()] == [LMA] * 3 + [OTHER_LMA] * 3 + [THIRD_LMA]
    assert rig.ep.counters["lma_failovers"] == 2
    rig.run_timers(until=30.0)  # the last address gives up too: hold down and retry it
    assert rig.ep.counters["lma_failovers"] == 2
    assert {p for t, p in rig.peers() if t > 14.0} == {THIRD_LMA}
    assert [r["state"] for r in rig.ep.status(30.0)["bindings"]] in (["waiting"], ["registering"])


def test_an_lma_that_answers_is_not_failed_over() -> None:
    rig = Rig.create()
    rig.attach(0.0, OTHER_LMA)
    rig.answer(0.1, status=BindingAckStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)
    assert [(r.status, r.lma) for _, r in rig.of(BindingRejected)] == [(
        BindingAckStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, LMA
    )]  # fmt: skip
    rig.run_timers(until=100.0)
    assert rig.ep.counters["lma_failovers"] == 0
    assert {p for _, p in rig.peers()} == {LMA}


def test_a_binding_that_came_up_forgets_its_alternatives() -> None:
    rig = Rig.create()
    rig.attach(0.0, OTHER_LMA)
    rig.answer(0.1)
    assert rig.ep.pending(MAC) == ()
    rig.run_timers(until=3600.0)  # refresh never answered: expiry and give-ups, no failover
    assert rig.ep.counters["lma_failovers"] == 0
    assert {p for _, p in rig.peers()} == {LMA}


def test_detach_and_a_new_attach_forget_the_alternatives() -> None:
    rig = Rig.create()
    rig.attach(0.0, OTHER_LMA)
    rig.ep.detach(MAC, 0.5)
    rig.pump(0.5)
    assert rig.ep.pending(MAC) == ()
    rig.attach(1.0, OTHER_LMA, mac=MAC2, mn_id=MN_ID2)
    rig.attach(1.0, mac=MAC2, mn_id=MN_ID2, ipv4=False)  # re-attached, nothing to fail over to
    assert rig.ep.pending(MAC2) == ()
    rig.run_timers(until=20.0)
    assert rig.ep.counters["lma_failovers"] == 0


def test_the_handoff_indicator_survives_the_failover() -> None:
    rig = Rig.create()
    rig.ep.attach(
        MAC,
        make_profile(lma_fqdn=FQDN),
        0.0,
        handoff=HandoffIndicator.MAG_CHANGE,
        alternatives=(OTHER_LMA,),
    )
    rig.pump(0.0)
    rig.run_timers(until=7.0)
    first, last = rig.pbus[0][1], rig.pbus[-1][1]
    assert rig.pbus[-1][2] == OTHER_LMA
    for pbu in (first, last):
        option = pbu.find(HandoffIndicatorOption)
        assert option is not None and option.indicator == HandoffIndicator.MAG_CHANGE


def test_shutdown_forgets_everything() -> None:
    rig = Rig.create()
    rig.attach(0.0, OTHER_LMA)
    rig.ep.shutdown(0.5)
    rig.pump(0.5)
    assert rig.ep.pending(MAC) == ()
    rig.run_timers(until=50.0)
    assert rig.ep.counters["lma_failovers"] == 0
    assert rig.ep.status(50.0)["bindings"] == []
