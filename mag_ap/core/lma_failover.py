"""LMA failover for an LMA named by FQDN (RFC 6097), sans-IO.

A policy profile may name its LMA by FQDN (RFC 6097); the runtime resolves it
(IO: the discovery plugin) and attaches the station to the first address. The
other addresses are kept here, in DNS order. When the chosen LMA never answers
(the MAG gives the registration up: ``BindingRejected`` without a PBA status),
the station is attached again to the next address, within the same event, so
the new PBU leaves with the outputs of the timer that gave up. An LMA that
answers, even with a refusal, was reached and is not failed over; a binding
that comes up or goes down, a detach or a new attach forgets the alternatives.

``LmaFailover`` wraps a ``MagProtocol`` and is the endpoint the driver runs
(``mag_ap.core.types.SansIOEndpoint``): every entry point takes ``now``, passes
through to the MAG, then reads the actions the MAG emitted, in order, before
handing them on. The MAG itself knows nothing of names or alternatives. A new
``MagProtocol`` entry point the daemon calls as an event needs its pass-through
here (read-only queries go to ``.mag`` directly).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mag_ap.core.mag import MagProtocol, normalize_mac
from mag_ap.core.types import (
    Action,
    Address,
    BindingDown,
    BindingRejected,
    BindingUp,
    Datagram,
    LogEvent,
    MobileNodeProfile,
)
from mag_ap.mh.constants import HandoffIndicator

COUNTER_NAMES = ("lma_failovers",)


@dataclass(frozen=True, slots=True)
class _Alternatives:
    """The profile in use for a station and the LMA addresses still to try, in order."""

    profile: MobileNodeProfile
    rest: tuple[Address, ...]
    handoff: HandoffIndicator | None


class LmaFailover:
    """The MAG endpoint plus RFC 6097 failover to the next address of a DNS-named LMA."""

    def __init__(self, mag: MagProtocol) -> None:
        self.mag = mag
        self._alternatives: dict[str, _Alternatives] = {}
        self._actions: deque[Action] = deque()
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

    # --- entry points (each passes through, then reads the MAG's actions) ----------

    def attach(
        self,
        mac: str,
        profile: MobileNodeProfile,
        now: float,
        *,
        handoff: HandoffIndicator | None = None,
        alternatives: Sequence[Address] = (),
    ) -> None:
        """``MagProtocol.attach``; ``alternatives`` are the LMA's other addresses, in order."""
        mac = normalize_mac(mac)
        self._alternatives.pop(mac, None)
        if alternatives:
            self._alternatives[mac] = _Alternatives(profile, tuple(alternatives), handoff)
        self.mag.attach(mac, profile, now, handoff=handoff)
        self._read_actions(now)

    def detach(self, mac: str, now: float, reason: str = "detach") -> None:
        self._alternatives.pop(normalize_mac(mac), None)
        self.mag.detach(mac, now, reason=reason)
        self._read_actions(now)

    def shutdown(self, now: float) -> None:
        self._alternatives.clear()
        self.mag.shutdown(now)
        self._read_actions(now)

    def receive_datagram(
        self, data: bytes, src: Address, now: float, *, received_at: float | None = None
    ) -> None:
        self.mag.receive_datagram(data, src, now, received_at=received_at)
        self._read_actions(now)

    def handle_timer(self, now: float) -> None:
        self.mag.handle_timer(now)
        self._read_actions(now)

    def get_timer(self) -> float | None:
        return self.mag.get_timer()  # no timer of its own: it acts on the MAG's give-ups

    def datagrams_to_send(self, now: float) -> list[Datagram]:
        return self.mag.datagrams_to_send(now)

    def next_action(self) -> Action | None:
        return self._actions.popleft() if self._actions else None

    def status(self, now: float) -> dict[str, Any]:
        return self.mag.status(now)

    def pending(self, mac: str) -> tuple[Address, ...]:
        """The LMA addresses still to try for ``mac`` (for tests and tools)."""
        found = self._alternatives.get(normalize_mac(mac))
        return () if found is None else found.rest

    # --- failover --------------------------------------------------------------------

    def _read_actions(self, now: float) -> None:
        while (action := self.mag.next_action()) is not None:
            self._actions.append(action)
            if isinstance(action, BindingUp | BindingDown):
                self._alternatives.pop(action.mac, None)
            elif isinstance(action, BindingRejected):
                self._rejected(action, now)

    def _rejected(self, action: BindingRejected, now: float) -> None:
        """No answer from the LMA in use: register with its next address."""
        found = self._alternatives.pop(action.mac, None)
        if found is None:
            return
        profile = found.profile
        if action.status is not None or action.lma != profile.lma_address or not found.rest:
            return  # the LMA answered, or this is about another LMA, or none is left
        nxt = replace(profile, lma_address=found.rest[0])
        if len(found.rest) > 1:
            self._alternatives[action.mac] = _Alternatives(nxt, found.rest[1:], found.handoff)
        self.counters["lma_failovers"] += 1
        self._actions.append(
            LogEvent(
                level="warning",
                message="LMA failover",
                fields={"mac": action.mac, "fqdn": profile.lma_fqdn, "lma": str(nxt.lma_address)},
            )
        )
        self.mag.attach(action.mac, nxt, now, handoff=found.handoff)


__all__ = ["COUNTER_NAMES", "LmaFailover"]
