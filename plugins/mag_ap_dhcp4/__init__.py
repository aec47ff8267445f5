"""Collocated DHCPv4 server of the MAG (RFC 5844 sections 3.2 and 4; RFC 2131/2132).

The MAG is the DHCP server on the access link: it hands a station the IPv4
home address the LMA assigned in the PBA, with the mask of the HoA prefix and
the PBA's IPv4 default router, and answers ARP for that router. A DISCOVER from
an unknown MAC is also an attach trigger. Inert unless configured::

    [plugin.dhcp4]
    interface = "br-lan"

(all keys in :mod:`._settings`). Layout: :mod:`._packet` pure codec,
:mod:`._server` pure state machine, :mod:`._io` sockets and kernel state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mag_ap.config import Config, ConfigError
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, Dhcp4Config, parse_dhcp4

if TYPE_CHECKING:
    from ._io import Dhcp4Service

__all__ = ["SECTION", "Dhcp4Config", "parse_dhcp4", "service_for"]


def _validate(config: Config) -> None:
    settings = parse_dhcp4(config.plugin_section(SECTION))
    if settings.enabled and config.role != "mag":
        raise ConfigError(
            f"plugin.{SECTION}", 'the DHCPv4 server runs on a MAG (daemon.role = "mag")'
        )


def _build(config: Config) -> Dhcp4Service | None:
    settings = parse_dhcp4(config.plugin_section(SECTION))
    if not settings.enabled:
        return None
    from ._io import Dhcp4Service  # sockets only when the plugin is in use

    return Dhcp4Service(settings)


# One service per configuration: the trigger, address-service and status hooks share it.
kit: PluginKit[Dhcp4Service] = PluginKit(SECTION, validate=_validate, build=_build)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
service_for = kit.provider_for


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[Dhcp4Service]:
    return [s for s in kit.providers(config) if s.config.trigger]


@hookimpl(trylast=True)
def mag_address_services(config: Config) -> Sequence[Dhcp4Service]:
    return kit.providers(config)
