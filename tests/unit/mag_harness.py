"""Test harness for the MAG engine (imported by the test_mag_* modules).

It drives ``MagProtocol`` the way the runtime does: call an entry point, then
drain datagrams and actions. PBAs are built with the codec, PBUs decoded with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network
from typing import Any, TypeVar

from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import (
    Action,
    Address,
    BindingUp,
    LogEvent,
    MagSettings,
    MobileNodeProfile,
)
from mag_ap.mh import (
    GREKey,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4HomeAddressReply,
    MobileNodeIdentifier,
    MobilityMessage,
    MobilityOption,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    decode_message,
    encode_message,
)

LMA = IPv6Address("2001:db8:ffff::1")
OTHER_LMA = IPv6Address("2001:db8:eeee::1")
MAG = IPv6Address("2001:db8:aaaa::2")
MAC = "02:00:00:00:00:01"
MAC2 = "02:00:00:00:00:02"
MN_ID = "mn1@example.net"
MN_ID2 = "mn2@example.net"
HNP = IPv6Network("2001:db8:100:1::/64")
HOA = IPv4Interface("10.200.0.5/16")
ROUTER = IPv4Address("10.200.0.1")
OTHER_HNP = IPv6Network("2001:db8:100:2::/64")  # another MN's: pba_checks refuses shared ones
OTHER_HOA = IPv4Interface("10.200.0.6/16")

A = TypeVar("A")


def make_settings(**overrides: Any) -> MagSettings:
    """Defaults of MagSettings, with heartbeats off unless a test turns them on."""
    values: dict[str, Any] = {"own_address": MAG, "heartbeat_interval_s": 0.0}
    values.update(overrides)
    return MagSettings(**values)


def make_profile(**overrides: Any) -> MobileNodeProfile:
    values: dict[str, Any] = {"mn_id": MN_ID, "lma_address": LMA}
    values.update(overrides)
    return MobileNodeProfile(**values)


def pba_bytes(
    pbu: ProxyBindingUpdate,
    *,
    status: int = 0,
    lifetime_s: int | None = None,
    sequence: int | None = None,
    mn_id: str | None = None,
    hnp: IPv6Network | None = HNP,
    hoa: IPv4Interface | None = HOA,
    hoa_status: int = 0,
    router: IPv4Address | None = ROUTER,
    gre_key: int | None = None,
    extra: tuple[MobilityOption, ...] = (),
) -> bytes:
    """The LMA's answer to ``pbu``, encoded by the codec (defaults: accepted, as asked)."""
    request_id = pbu.find(MobileNodeIdentifier)
    assert request_id is not None
    options: list[MobilityOption] = [MobileNodeIdentifier.nai(mn_id or str(request_id.identifier))]
    if hnp is not None:
        options.append(HomeNetworkPrefix.of(hnp))
    if hoa is not None:
        options.append(
            IPv4HomeAddressReply(
                status=hoa_status, prefix_length=hoa.network.prefixlen, address=hoa.ip
            )
        )
    if router is not None:
        options.append(IPv4DefaultRouterAddress(address=router))
    if gre_key is not None:
        options.append(GREKey(key=gre_key))
    options.extend(extra)
    return encode_message(
        ProxyBindingAcknowledgement(
            status=status,
            sequence=pbu.sequence if sequence is None else sequence,
            lifetime_s=pbu.lifetime_s if lifetime_s is None else lifetime_s,
            options=tuple(options),
        )
    )


@dataclass
class Sent:
    at: float
    msg: MobilityMessage
    peer: Address


@dataclass
class Harness:
    """A MagProtocol plus everything it sent and reported, with the time it happened."""

    mag: MagProtocol
    sent: list[Sent] = field(default_factory=list)
    actions: list[tuple[float, Action]] = field(default_factory=list)

    @classmethod
    def create(cls, *, wall_clock_offset_s: float = 0.0, **settings: Any) -> Harness:
        return cls(MagProtocol(make_settings(**settings), wall_clock_offset_s=wall_clock_offset_s))

    def pump(self, now: float) -> None:
        for datagram in self.mag.datagrams_to_send(now):
            self.sent.append(Sent(now, decode_message(datagram.data), datagram.peer))
        while (action := self.mag.next_action()) is not None:
            self.actions.append((now, action))

    def attach(self, now: float = 0.0, mac: str = MAC, **profile: Any) -> None:
        self.mag.attach(mac, make_profile(**profile), now)
        self.pump(now)

    def detach(self, now: float, mac: str = MAC, reason: str = "detach") -> None:
        self.mag.detach(mac, now, reason)
        self.pump(now)

    def receive(self, data: bytes, now: float, src: Address = LMA) -> None:
        self.mag.receive_datagram(data, src, now)
        self.pump(now)

    def run_timers(self, until: float | None = None) -> list[float]:
        """Fire every timer (up to ``until``) at its exact deadline; the times fired."""
        fired: list[float] = []
        while (at := self.mag.get_timer()) is not None and (until is None or at <= until):
            self.mag.handle_timer(at)
            self.pump(at)
            fired.append(at)
            assert len(fired) < 10_000, "timer loop does not end"
        return fired

    def pbus(self) -> list[Sent]:
        return [s for s in self.sent if isinstance(s.msg, ProxyBindingUpdate)]

    def pbu_messages(self) -> list[ProxyBindingUpdate]:
        return self.sent_of(ProxyBindingUpdate)

    def last_pbu(self) -> ProxyBindingUpdate:
        msg = self.pbus()[-1].msg
        assert isinstance(msg, ProxyBindingUpdate)
        return msg

    def sent_of(self, cls: type[A]) -> list[A]:
        return [s.msg for s in self.sent if isinstance(s.msg, cls)]

    def actions_of(self, cls: type[A]) -> list[A]:
        return [a for _, a in self.actions if isinstance(a, cls)]

    def protocol_actions(self) -> list[Action]:
        """Actions other than log lines."""
        return [a for _, a in self.actions if not isinstance(a, LogEvent)]

    def accept(self, now: float, *, src: Address | None = None, **pba: Any) -> None:
        """Answer the latest PBU with a PBA (accepted unless told otherwise), from its peer."""
        latest = self.pbus()[-1]
        self.receive(pba_bytes(self.last_pbu(), **pba), now, src=src or latest.peer)

    def bind(self, now: float = 0.0, accept_at: float = 0.1, **profile: Any) -> BindingUp:
        """Attach and accept: a bound entry, its BindingUp returned."""
        self.attach(now, **profile)
        self.accept(accept_at)
        ups = self.actions_of(BindingUp)
        assert ups, self.actions
        return ups[-1]

    def binding(self, mac: str = MAC) -> dict[str, Any]:
        found: list[dict[str, Any]] = [
            b for b in self.mag.status(0.0)["bindings"] if b["mac"] == mac
        ]
        assert len(found) == 1, found
        return found[0]

    def counter(self, name: str) -> int:
        return self.mag.counters[name]


# --- sanity of the harness and of the contract -----------------------------------
