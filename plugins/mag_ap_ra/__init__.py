"""Router advertisements for mobile nodes: each MN gets its own prefix, to its own MAC.

On ``BindingUp`` the MAG sends the MN Router Advertisements carrying only its
home network prefix (Prefix Information with L and A, lifetimes = the binding's
remaining lifetime), the tunnel-adjusted MTU and the MAG's Source Link-Layer
Address, from the fixed link-local address (RFC 6543), to ff02::1 but to the
MN's unicast MAC (RFC 6085); it answers the MN's Router Solicitations the same
way and withdraws the prefix and default route on ``BindingDown``. An RS from
a MAC without a binding is reported as an attached station (trigger "ra-rs")::

    [plugin.ra]
    interface = "br-lan"                            # required: nothing runs without it
    # enabled = true
    # link_local_address = "fe80::200:5eff:fe00:5213"   # RFC 6543 reserved IID
    # add_link_local = true                         # add it (nodad), remove it at stop
    # mac = "00:00:5e:00:52:13"                     # default: the interface's MAC
    # mtu = 1460                                    # 1500 - 40 (IPv6-in-IPv6)
    # router_lifetime_s = 1800                      # capped by the binding's remaining time
    # interval_s = 600                              # periodic RA per MN (MaxRtrAdvInterval)
    # rs_delay_max_s = 0.5                          # MAX_RA_DELAY_TIME
    # rs_trigger = true
    # rs_trigger_holdoff_s = 10
    # rs_trigger_rate_per_s = 20                    # unknown MACs reported (attached) per
    # rs_trigger_burst = 50                         # second: a flood bound (mag_ap.admission)

Inert (no socket, no address) unless ``interface`` is set and ``enabled``.
Packets: :mod:`._packet`; timing: :mod:`._schedule`; IO: :mod:`._io`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, RaConfig, parse_ra_config

if TYPE_CHECKING:
    from ._io import RaService, RsTrigger

__all__ = ["SECTION", "RaConfig", "parse_ra_config", "service_for"]


def _build(config: Config) -> RaService | None:
    settings = parse_ra_config(config.plugin_section(SECTION))
    if not settings.active or config.role != "mag":
        return None
    from ._io import RaService  # sockets only when the plugin is in use

    return RaService(settings)


# One RaService per configuration: the address-service, trigger and status hooks share
# the socket.
kit: PluginKit[RaService] = PluginKit(
    SECTION, validate=lambda c: parse_ra_config(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
service_for = kit.provider_for


@hookimpl(trylast=True)
def mag_address_services(config: Config) -> Sequence[RaService]:
    return kit.providers(config)


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[RsTrigger]:
    services = [s for s in kit.providers(config) if s.config.rs_trigger]
    if not services:
        return []
    from ._io import RsTrigger

    return [RsTrigger(s) for s in services]
