"""A third-party policy provider, importable by name from plugin files a test writes."""

from __future__ import annotations

from ipaddress import IPv6Address

from mag_ap.core.types import MobileNodeProfile

LMA_ADDR = IPv6Address("2001:db8::1")


class FixedPolicy:
    name = "fixed"

    async def profile_for(self, mn_id: str, mac: str) -> MobileNodeProfile | None:
        return MobileNodeProfile(mn_id=mn_id, lma_address=LMA_ADDR, ipv4=False)
