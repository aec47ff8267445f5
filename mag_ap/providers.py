"""Provider interfaces that plugins register through the ``mag_*`` hooks.

Hooks are synchronous and run at start-up (pluggy does not await); they return
providers, objects with async methods that the runtime calls with a timeout and
whose failures become events (DESIGN.md rule 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

from .core.types import Action, Address, MobileNodeProfile


@runtime_checkable
class TriggerSink(Protocol):
    """Where triggers report stations (implemented by the runtime)."""

    def station_attached(self, mac: str, mn_id: str | None = None) -> None: ...

    def station_detached(self, mac: str, reason: str = "trigger") -> None: ...


@runtime_checkable
class TriggerProvider(Protocol):
    """Watches something (hostapd, DHCP, RS, neighbours) and reports stations.

    A provider whose reports come from packets anyone on the access link can
    forge (a DHCP DISCOVER, a Router Solicitation) says so with a class
    attribute ``forgeable = True``: the runtime then admits its stations only
    while the binding pipeline keeps up (``mag_ap.runtime.daemon``), never
    those of hostapd or RADIUS accounting, which report once.
    """

    name: str

    async def run(self, sink: TriggerSink) -> None:
        """Run until cancelled."""
        ...


@runtime_checkable
class IdentityProvider(Protocol):
    """Maps a station's MAC to its MN identifier (an NAI); None: "not known here".

    An optional ``priority`` attribute (int) places it in the :class:`IdentityChain`;
    without one it is :data:`IDENTITY_PRIORITY` ``["default"]``.
    """

    name: str

    async def identity_for(self, mac: str) -> str | None: ...


# Where identity providers stand in the chain, lower asked first. A third-party
# provider without a ``priority`` is asked before the built-ins; equal priorities
# keep the hook call order (pluggy: a later registered plugin first).
IDENTITY_PRIORITY: Final[Mapping[str, int]] = MappingProxyType(
    {
        "default": 100,  # third-party providers
        "hostapd": 200,  # 802.1X user name from hostapd's control socket (STA <mac>)
        "radacct": 300,  # User-Name of hostapd's RADIUS accounting (waits identity_wait_s)
        "macnai": 1000,  # MAC-based NAI: answers every well-formed MAC, so last resort
    }
)


def identity_priority(provider: IdentityProvider) -> int:
    value = getattr(provider, "priority", IDENTITY_PRIORITY["default"])
    return value if isinstance(value, int) else IDENTITY_PRIORITY["default"]


class IdentityChain:
    """The identity providers in priority order: the first answer that is not None wins.

    Itself an :class:`IdentityProvider`, so the daemon asks one object (with one
    timeout) whatever the number of identity plugins.
    """

    def __init__(self, providers: Sequence[IdentityProvider]) -> None:
        self.providers: tuple[IdentityProvider, ...] = tuple(
            sorted(providers, key=identity_priority)  # stable: ties keep the hook order
        )
        self.name = ">".join(p.name for p in self.providers)

    async def identity_for(self, mac: str) -> str | None:
        for provider in self.providers:
            found = await provider.identity_for(mac)
            if found is not None:
                return found
        return None


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
