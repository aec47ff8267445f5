"""LMA discovery via DNS (RFC 6097): a profile may name its LMA by FQDN.

When a profile carries ``lma_fqdn`` the MAG asks this provider for the LMA's
addresses (AAAA for the IPv6 transport, A for IPv4), uses the first and, when
that LMA does not answer the registration, the next. Answers are cached for
their TTL (clamped), NXDOMAIN for the negative TTL. All keys are optional::

    [plugin.dns]
    servers = ["2001:db8::53"]   # default: the nameservers of resolv_conf
    port = 53
    resolv_conf = "/etc/resolv.conf"
    timeout_s = 1.0              # per try; timeout_s x tries x servers <= 5 s
    tries = 2
    min_ttl_s = 0
    max_ttl_s = 3600
    negative_ttl_s = 30

The only importer of dnslib (:mod:`._answers`), loaded with the resolver on the
first lookup: the plugin is active without a section, and most profiles name their
LMA by address (dnslib and the resolver are 1.5 MB of an idle MAG's RSS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mag_ap.config import Config
from mag_ap.core.types import Address
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import COUNTERS, SECTION, DnsSettings, parse_settings

if TYPE_CHECKING:
    from ._resolver_io import DnsLmaDiscovery

__all__ = ["SECTION", "DiscoveryOnDemand", "DnsSettings", "discovery_for", "parse_settings"]


class DiscoveryOnDemand:
    """The MAG's LmaDiscoveryProvider: the DNS resolver (and dnslib) load on the first lookup."""

    name = "dns"

    def __init__(self, settings: DnsSettings) -> None:
        self.settings = settings
        self._resolver: DnsLmaDiscovery | None = None

    def resolver(self) -> DnsLmaDiscovery:
        if self._resolver is None:
            from ._resolver_io import DnsLmaDiscovery

            self._resolver = DnsLmaDiscovery(self.settings)
        return self._resolver

    async def resolve(self, fqdn: str, transport: str) -> list[Address]:
        return await self.resolver().resolve(fqdn, transport)

    def status(self) -> dict[str, Any]:
        if self._resolver is None:
            return {**dict.fromkeys(COUNTERS, 0), "cached": 0}
        return self._resolver.status()


def _build(config: Config) -> DiscoveryOnDemand:
    return DiscoveryOnDemand(parse_settings(config.plugin_section(SECTION)))


kit: PluginKit[DiscoveryOnDemand] = PluginKit(
    SECTION, validate=lambda c: parse_settings(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()


def discovery_for(config: Config) -> DiscoveryOnDemand:
    """The shared provider of ``config`` (built on first use: dnslib loads then)."""
    found = kit.provider_for(config)
    assert found is not None  # _build never declines
    return found


@hookimpl(trylast=True)
def mag_lma_discovery(config: Config) -> DiscoveryOnDemand | None:
    return discovery_for(config) if config.role == "mag" else None
