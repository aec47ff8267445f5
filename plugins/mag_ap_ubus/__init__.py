"""Station trigger from OpenWrt's ubus: hostapd's ``hostapd.<ifname>`` notifications.

``sta-authorized`` attaches (after 802.1X/WPA success, so a failed authentication
never binds; ``attach_on = "assoc"`` only for open networks), ``disassoc`` and
``deauth`` detach; ``get_clients`` re-syncs after every (re)subscription. The
identity comes from the identity provider (RADIUS accounting, else the MAC-based
NAI): OpenWrt's hostapd has no 802.1X user name on ubus. Inert unless configured::

    [plugin.ubus]
    objects = ["hostapd.wlan0"]
    attach_on = "sta-authorized"   # or "assoc"
    ubus = "ubus"                  # the CLI
    enabled = true                 # default: true when the section is present

Limitation: ubusd cannot run on the development machines, so only the pure
parsing (:mod:`._notify`) is tested, on notification JSON written from OpenWrt's
documented format; the subprocess side (:mod:`._subscribe_io`) is exercised against
a stand-in ``ubus`` script (a mock, named as such), not a real ubusd.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, UbusSettings, parse_settings

if TYPE_CHECKING:
    from ._subscribe_io import UbusTrigger

__all__ = ["SECTION", "UbusSettings", "parse_settings", "trigger_for"]


def _build(config: Config) -> UbusTrigger | None:
    settings = parse_settings(config.plugin_section(SECTION))
    if not settings.enabled:
        return None
    from ._subscribe_io import UbusTrigger

    return UbusTrigger(settings)


kit: PluginKit[UbusTrigger] = PluginKit(
    SECTION, validate=lambda c: parse_settings(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
trigger_for = kit.provider_for


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[UbusTrigger]:
    return kit.providers(config)
