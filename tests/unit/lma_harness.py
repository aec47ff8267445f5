"""Test harness for the reference LMA (imported by the test_lma_* modules).

PBUs are built with the MH codec and the LMA's PBAs decoded with it, so the
tests see exactly what a MAG would see on the wire.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

from mag_ap.core.types import (
    Action,
    Address,
    LmaSettings,
    LogEvent,
)
from mag_ap.lma.protocol import LmaProtocol
from mag_ap.mh import (
    AccessTechnologyTypeOption,
    GREKey,
    HandoffIndicator,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    MobilityMessage,
    MobilityOption,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    Timestamp,
    decode_message,
    encode_message,
)

OFFSET_S = 1_700_000_000.0  # unix = now + OFFSET_S
LMA_ADDRESS = IPv6Address("2001:db8:ffff::1")
MAG1 = IPv6Address("2001:db8:a::1")
MAG2 = IPv6Address("2001:db8:b::1")
MAG_V4 = IPv4Address("192.0.2.10")
MN = "mn1@example.org"
MAC = bytes.fromhex("020000000001")
ANY_HNP = HomeNetworkPrefix()
ANY_IPV4 = IPv4HomeAddressRequest()

ALLOCATE = object()  # "ask for a dynamic one"


class Harness:
    """One LMA, a clock, and PBU helpers that keep per-MAG sequence numbers."""

    def __init__(self, **settings: Any) -> None:
        self.settings = LmaSettings(own_address=LMA_ADDRESS, **settings)
        self.lma = LmaProtocol(self.settings, wall_clock_offset_s=OFFSET_S)
        self.now = 100.0
        self.sequences: dict[Address, int] = {}
        self.elsewhere: list[tuple[Address, MobilityMessage]] = []  # sent to other peers

    def pbu(
        self,
        mn: str | None = MN,
        *,
        src: Address = MAG1,
        lifetime_s: int = 3600,
        hnp: HomeNetworkPrefix | None = ANY_HNP,
        ipv4: IPv4HomeAddressRequest | None = None,
        hi: int | None = HandoffIndicator.NEW_INTERFACE,
        att: bool = True,
        timestamp_s: float | None = 0.0,  # offset from "now", None: no Timestamp option
        gre_key: int | None = None,
        sequence: int | None = None,
        p: bool = True,
    ) -> ProxyBindingUpdate:
        if sequence is None:
            sequence = self.sequences.get(src, 0) + 1
        self.sequences[src] = sequence
        options: list[MobilityOption] = []
        if mn is not None:
            options.append(MobileNodeIdentifier.nai(mn))
        if hnp is not None:
            options.append(hnp)
        if hi is not None:
            options.append(HandoffIndicatorOption(indicator=hi))
        if att:
            options.append(AccessTechnologyTypeOption())
        options.append(MNLinkLayerIdentifier(link_layer_identifier=MAC))
        if timestamp_s is not None:
            options.append(Timestamp.at_unix_time(self.now + OFFSET_S + timestamp_s))
        if gre_key is not None:
            options.append(GREKey(key=gre_key))
        if ipv4 is not None:
            options.append(ipv4)
        return ProxyBindingUpdate(
            sequence=sequence, lifetime_s=lifetime_s, p=p, options=tuple(options)
        )

    def send(self, msg: MobilityMessage | bytes, src: Address = MAG1) -> list[MobilityMessage]:
        """Deliver a message; return what the LMA sent back to ``src``."""
        data = msg if isinstance(msg, bytes) else encode_message(msg)
        self.lma.receive_datagram(data, src, self.now)
        out = self.lma.datagrams_to_send(self.now)
        self.elsewhere += [(d.peer, decode_message(d.data)) for d in out if d.peer != src]
        return [decode_message(d.data) for d in out if d.peer == src]

    def register(self, src: Address = MAG1, **kw: Any) -> ProxyBindingAcknowledgement:
        replies = self.send(self.pbu(src=src, **kw), src)
        assert len(replies) == 1
        reply = replies[0]
        assert isinstance(reply, ProxyBindingAcknowledgement)
        return reply

    def actions(self, *, logs: bool = False) -> list[Action]:
        out = []
        while (action := self.lma.next_action()) is not None:
            if logs or not isinstance(action, LogEvent):
                out.append(action)
        return out

    def advance(self, to: float) -> None:
        """Run every timer due up to ``to`` the way the runtime driver would."""
        while (at := self.lma.get_timer()) is not None and at <= to:
            self.now = max(self.now, at)
            self.lma.handle_timer(self.now)
        self.now = to

    def binding(self, mn: str = MN) -> dict[str, Any] | None:
        for entry in self.lma.status(self.now)["bindings"]:
            if entry["mn_id"] == mn:
                return dict(entry)
        return None


def hnp_of(pba: ProxyBindingAcknowledgement) -> IPv6Network | None:
    opt = pba.find(HomeNetworkPrefix)
    return None if opt is None else opt.network


def hoa_of(pba: ProxyBindingAcknowledgement) -> IPv4HomeAddressReply | None:
    return pba.find(IPv4HomeAddressReply)
