"""RADIUS accounting listener: the 802.1X identity where hostapd's control socket lacks it.

OpenWrt builds hostapd without ``CONFIG_CTRL_IFACE_MIB``, so ``STA <mac>`` has no
user name there. Point hostapd's accounting at the MAG instead
(``acct_server_addr=<address>``, ``acct_server_port=1813``,
``acct_server_shared_secret=<secret>``): every Accounting-Start (and
Interim-Update) names ``User-Name`` for the ``Calling-Station-Id`` MAC, which
becomes the MN-ID. Inert (no socket) unless configured::

    [plugin.radacct]
    address = "192.0.2.1"       # bind address (what acct_server_addr names)
    port = 1813
    secret = "s3cret"           # acct_server_shared_secret
    detach_on_stop = false      # Accounting-Stop detaches the station
    identity_wait_s = 2.0       # wait this long for a late Accounting-Start
    enabled = true              # default: true when the section is present

A MAC with no accounting identity gets the MAC-based NAI of ``[plugin.macnai]``.
Use it with ``[plugin.hostapd] identity = false`` (or the ubus trigger) so this
plugin answers the identity look-ups. The RADIUS codec is the public
:mod:`mag_ap_radius.packet` (pure, shared with the RADIUS policy client).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, RadAcctSettings, parse_settings

if TYPE_CHECKING:
    from ._listener_io import RadAcctListener

__all__ = ["SECTION", "RadAcctSettings", "listener_for", "parse_settings"]


def _build(config: Config) -> RadAcctListener | None:
    settings = parse_settings(config.plugin_section(SECTION))
    if not settings.enabled:
        return None
    from ._listener_io import RadAcctListener

    return RadAcctListener(settings)


# One listener per configuration: the trigger hook and the identity hook share it.
kit: PluginKit[RadAcctListener] = PluginKit(
    SECTION, validate=lambda c: parse_settings(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
listener_for = kit.provider_for


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[RadAcctListener]:
    return kit.providers(config)


@hookimpl(trylast=True)
def mag_identity_provider(config: Config) -> RadAcctListener | None:
    return listener_for(config)
