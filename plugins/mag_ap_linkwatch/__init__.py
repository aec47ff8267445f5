"""Access-side triggers: detach stations on link down and on neighbour inactivity.

Both feed the same sink as the control socket (``station_detached``)::

    [plugin.linkwatch]
    interface = "br-lan"           # required: nothing runs without it
    # enabled = true
    # link_down_detach = true      # operstate of the interface leaves "up": detach all
    # inactivity_timeout_s = 0     # > 0: detach a station whose v4/v6 neighbour entries
    #                              # have been FAILED/INCOMPLETE/absent this long
    # poll_interval_s = 2          # neighbour table dump period

Inert (no socket) unless ``interface`` is set and ``enabled``. The RS trigger
(a solicitation from an unknown MAC attaches it) lives in ``mag_ap_ra``.
Logic: :mod:`._watch`; netlink codec: :mod:`._netlink`; IO: :mod:`._io`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, LinkwatchConfig, parse_linkwatch_config

if TYPE_CHECKING:
    from ._io import AccessWatch

__all__ = ["SECTION", "LinkwatchConfig", "parse_linkwatch_config", "watch_for"]


def _build(config: Config) -> AccessWatch | None:
    settings = parse_linkwatch_config(config.plugin_section(SECTION))
    if not settings.active or config.role != "mag":
        return None
    from ._io import AccessWatch  # sockets only when the plugin is in use

    return AccessWatch(settings)


# One AccessWatch per configuration, shared by the trigger, address-service and status hooks.
kit: PluginKit[AccessWatch] = PluginKit(
    SECTION, validate=lambda c: parse_linkwatch_config(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
watch_for = kit.provider_for


@hookimpl(trylast=True)
def mag_address_services(config: Config) -> Sequence[AccessWatch]:
    return kit.providers(config)


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[AccessWatch]:
    return kit.providers(config)
