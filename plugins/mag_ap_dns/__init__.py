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

The only importer of dnslib (:mod:`._answers`), loaded when the provider is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, DnsSettings, parse_settings

if TYPE_CHECKING:
    from ._resolver_io import DnsLmaDiscovery

__all__ = ["SECTION", "DnsSettings", "discovery_for", "parse_settings"]


def _build(config: Config) -> DnsLmaDiscovery:
    from ._resolver_io import DnsLmaDiscovery  # dnslib loads on first use

    return DnsLmaDiscovery(parse_settings(config.plugin_section(SECTION)))


kit: PluginKit[DnsLmaDiscovery] = PluginKit(
    SECTION, validate=lambda c: parse_settings(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()


def discovery_for(config: Config) -> DnsLmaDiscovery:
    """The shared provider of ``config`` (built on first use: dnslib loads then)."""
    found = kit.provider_for(config)
    assert found is not None  # _build never declines
    return found


@hookimpl(trylast=True)
def mag_lma_discovery(config: Config) -> DnsLmaDiscovery | None:
    return discovery_for(config) if config.role == "mag" else None
