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

from collections.abc import Mapping, Sequence
from typing import Any, Final

from mag_ap.config import Config, Table
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._io import AccessWatch, LinkwatchConfig

__all__ = ["SECTION", "AccessWatch", "LinkwatchConfig", "parse_linkwatch_config", "watch_for"]

SECTION: Final = "linkwatch"
IFNAMSIZ: Final = 15


def parse_linkwatch_config(section: Mapping[str, Any]) -> LinkwatchConfig:
    """Validate ``[plugin.linkwatch]``; errors name ``plugin.linkwatch.<key>``."""
    t = Table(section, f"plugin.{SECTION}")
    d = LinkwatchConfig()
    enabled = t.get_bool("enabled", d.enabled)
    interface = t.get_str("interface", None, max_len=IFNAMSIZ)
    if interface is not None and ("/" in interface or any(c.isspace() for c in interface)):
        raise t.error("interface", f"{interface!r} is not an interface name")
    timeout = t.get_float("inactivity_timeout_s", d.inactivity_timeout_s, min=0)
    link_down = t.get_bool("link_down_detach", d.link_down_detach)
    poll = t.get_float("poll_interval_s", d.poll_interval_s, min=0.1, max=3600)
    t.finish()
    if enabled and interface is None and section:
        raise t.error("interface", "is required when the section is enabled")
    if 0 < timeout < poll:
        raise t.error("inactivity_timeout_s", f"must be at least poll_interval_s ({poll:g})")
    return LinkwatchConfig(
        enabled=enabled,
        interface=interface,
        inactivity_timeout_s=timeout,
        link_down_detach=link_down,
        poll_interval_s=poll,
    )


def _build(config: Config) -> AccessWatch | None:
    settings = parse_linkwatch_config(config.plugin_section(SECTION))
    if not settings.active or config.role != "mag":
        return None
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
