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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mag_ap.config import Config, ConfigError
from mag_ap.hookspecs import hookimpl

from ._settings import SECTION, Dhcp4Config, parse_dhcp4

if TYPE_CHECKING:
    from ._io import Dhcp4Service

__all__ = ["SECTION", "Dhcp4Config", "parse_dhcp4", "service_for"]

# One service per validated Config object: the trigger, address-service and
# status hooks must share it. The Config is kept alive with it so its id stays unique.
_services: dict[int, tuple[Config, Dhcp4Service]] = {}


def service_for(config: Config) -> Dhcp4Service | None:
    """The shared :class:`._io.Dhcp4Service` of ``config``, or None when disabled."""
    entry = _services.get(id(config))
    if entry is not None:
        return entry[1]
    settings = parse_dhcp4(config.plugin_section(SECTION))
    if not settings.enabled:
        return None
    from ._io import Dhcp4Service  # sockets only when the plugin is in use

    service = Dhcp4Service(settings)
    _services[id(config)] = (config, service)
    return service


@hookimpl(trylast=True)
def mag_config_sections() -> Sequence[str]:
    return [SECTION]


@hookimpl(trylast=True)
def mag_validate_config(config: Config) -> None:
    settings = parse_dhcp4(config.plugin_section(SECTION))
    if settings.enabled and config.role != "mag":
        raise ConfigError(
            f"plugin.{SECTION}", 'the DHCPv4 server runs on a MAG (daemon.role = "mag")'
        )


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[Dhcp4Service]:
    service = service_for(config)
    return [service] if service is not None and service.config.trigger else []


@hookimpl(trylast=True)
def mag_address_services(config: Config) -> Sequence[Dhcp4Service]:
    service = service_for(config)
    return [service] if service is not None else []


@hookimpl(trylast=True)
def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
    entry = _services.get(id(config))
    if entry is None:
        return None
    return entry[1].status()
