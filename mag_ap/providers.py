"""Provider interfaces that plugins register through the ``mag_*`` hooks.

Hooks are synchronous and run at start-up (pluggy does not await); they return
providers, objects with async methods that the runtime calls with a timeout and
whose failures become events (DESIGN.md rule 4).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .core.types import Action, Address, MobileNodeProfile


@runtime_checkable
class TriggerSink(Protocol):
    """Where triggers report stations (implemented by the runtime)."""

    def station_attached(self, mac: str, mn_id: str | None = None) -> None: ...

    def station_detached(self, mac: str, reason: str = "trigger") -> None: ...


@runtime_checkable
class TriggerProvider(Protocol):
    """Watches something (hostapd, DHCP, RS, neighbours) and reports stations."""

    name: str

    async def run(self, sink: TriggerSink) -> None:
        """Run until cancelled."""
        ...


@runtime_checkable
class IdentityProvider(Protocol):
    """Maps a station's MAC to its MN identifier (an NAI)."""

    name: str

    async def identity_for(self, mac: str) -> str | None: ...


@runtime_checkable
class PolicyProvider(Protocol):
    """Fetches the policy profile of a mobile node; None means access refused."""

    name: str

    async def profile_for(self, mn_id: str, mac: str) -> MobileNodeProfile | None: ...


@runtime_checkable
class LmaDiscoveryProvider(Protocol):
    """Resolves an LMA named by FQDN (RFC 6097) to its addresses, best first."""

    name: str

    async def resolve(self, fqdn: str, transport: str) -> list[Address]:
        """AAAA answers for the "ipv6" transport, A for "ipv4"; empty when none."""
        ...


@runtime_checkable
class DatapathProvider(Protocol):
    """Turns binding actions into kernel state (tunnels, routes, rules)."""

    name: str

    async def start(self) -> None: ...

    async def apply(self, action: Action) -> None: ...

    async def stop(self) -> None:
        """Remove everything this provider created."""
        ...
