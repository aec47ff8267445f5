"""The provider interface of access-side address services (DHCPv4 server, RAs).

Kept beside :mod:`mag_ap.providers` (same style, same rule 4 of DESIGN.md):
a plugin returns these from ``mag_address_services`` at start-up and the
runtime feeds them the binding actions, with a timeout, as it does the datapath.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .core.types import Action


@runtime_checkable
class AddressServiceProvider(Protocol):
    """Hands a mobile node its home addresses on the access link.

    On ``BindingUp`` it starts serving the MN (unicast RA with the HNP, DHCPv4
    OFFER/ACK with the IPv4 HoA, ARP for the default router, RFC 5844 section
    3.1); on ``BindingDown`` it stops (RA with lifetime 0, no more leases).
    Other actions are ignored.
    """

    name: str

    async def start(self) -> None: ...

    async def apply(self, action: Action) -> None: ...

    async def stop(self) -> None:
        """Stop serving every MN and release sockets."""
        ...
