"""RADIUS policy (RFC 6572): each mobile node's profile from an AAA server.

For every attaching station the MAG sends an Access-Request (User-Name = MN-ID,
Calling-Station-Id = MAC, NAS-IP(v6)-Address, Service-Type, Message-Authenticator
and, when configured, User-Password) and maps the Access-Accept's PMIPv6
attributes to the profile: PMIP6-Home/Visited-LMA-IPv6/IPv4-Address (the LMA of
the transport's family), PMIP6-Home-HN-Prefix or Framed-IPv6-Prefix (the HNP to
request), PMIP6-Home-IPv4-HoA or Framed-IP-Address (the IPv4 HoA to request),
Service-Selection (the APN), Session-Timeout (the binding lifetime). An
Access-Reject, an Accept naming no usable LMA, or silence of every server
refuses the station (no binding). Inert unless configured; when configured it
overrides the local TOML policy::

    [plugin.radius]
    servers = [
        { address = "192.0.2.10", secret = "s3cret" },             # port = 1812
        { address = "2001:db8::10", port = 1812, secret = "other" },  # failover
    ]
    timeout_s = 1.0           # per try; timeout_s x tries x servers <= 5 s
    tries = 2                 # per server
    nas_identifier = "ap-17"  # optional
    nas_address = "192.0.2.1" # optional; default: the address the socket uses
    password = "mac-auth"     # optional User-Password (MAC-auth style look-ups)
    service_type = 2          # Framed-User (10: Call-Check)
    require_message_authenticator = false  # true: refuse replies without one
    lma_address = "2001:db8::1"  # when the Accept names no LMA
    gre_key = false
    cache_ttl_s = 0           # keep accepted profiles this long

The RADIUS codec (:mod:`._packet`) is the project's only one: the accounting
listener ``mag_ap_radacct`` imports it from here. The decoded Accept of each MN
(interface ID, DHCP server addresses, IPv4 gateway, MTU: fields the profile does
not carry yet) stays in :attr:`RadiusPolicy.last` for other plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, RadiusServer, RadiusSettings, parse_settings

if TYPE_CHECKING:
    from ._client_io import RadiusPolicy

__all__ = ["SECTION", "RadiusServer", "RadiusSettings", "parse_settings", "policy_for"]


def _build(config: Config) -> RadiusPolicy | None:
    settings = parse_settings(config.plugin_section(SECTION), config.transport)
    if not settings.enabled:
        return None
    from ._client_io import RadiusPolicy

    return RadiusPolicy(settings)


# One provider per configuration, so the status hook reads the counters it keeps.
kit: PluginKit[RadiusPolicy] = PluginKit(
    SECTION,
    validate=lambda c: parse_settings(c.plugin_section(SECTION), c.transport),
    build=_build,
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
policy_for = kit.provider_for


# not trylast: when configured it must win over the trylast local policy (a
# third-party plugin registers later and so is still asked first)
@hookimpl
def mag_policy_provider(config: Config) -> RadiusPolicy | None:
    return policy_for(config)
