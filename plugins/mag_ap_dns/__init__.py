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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugins import PerConfig

from ._settings import SECTION, DnsSettings, parse_settings

if TYPE_CHECKING:
    from ._resolver_io import DnsLmaDiscovery

__all__ = ["SECTION", "DnsSettings", "discovery_for", "parse_settings"]

_providers: PerConfig[DnsLmaDiscovery] = PerConfig()


def discovery_for(config: Config) -> DnsLmaDiscovery:
    """The shared provider of ``config`` (built on first use: dnslib loads then)."""
    from ._resolver_io import DnsLmaDiscovery

    return _providers.get_or_create(
        config, lambda: DnsLmaDiscovery(parse_settings(config.plugin_section(SECTION)))
    )


@hookimpl(trylast=True)
def mag_config_sections() -> Sequence[str]:
    return [SECTION]


@hookimpl(trylast=True)
def mag_validate_config(config: Config) -> None:
    parse_settings(config.plugin_section(SECTION))


@hookimpl(trylast=True)
def mag_lma_discovery(config: Config) -> DnsLmaDiscovery | None:
    return discovery_for(config) if config.role == "mag" else None


@hookimpl(trylast=True)
def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
    found = _providers.get(config)
    return found.status() if found is not None else None
