"""Station trigger and 802.1X identity from hostapd's control interface.

hostapd announces ``AP-STA-CONNECTED <mac>`` once a station is authorized (with
``ieee8021x=1`` only after EAP success, so a failed authentication never binds)
and ``AP-STA-DISCONNECTED <mac>`` when it leaves; ``STA <mac>`` carries the
802.1X identity (``dot1xAuthSessionUserName``), which becomes the MN-ID. With a
RADIUS server and PEAP/TTLS that is the outer (often anonymous) identity unless
the Access-Accept carries User-Name (FreeRADIUS: ``update outer.session-state {
User-Name := &User-Name }`` in the inner tunnel's post-auth, copied into the
outer reply). A re-authentication as another user re-binds under the new name
(counter ``identity_changes``). Inert
(no socket) unless configured::

    [plugin.hostapd]
    control_sockets = ["/var/run/hostapd/wlan0"]   # one per access interface
    enabled = true          # default: true when the section is present
    identity = true         # offer the 802.1X names as MN-IDs (false on OpenWrt builds
                            # without CONFIG_CTRL_IFACE_MIB: use [plugin.radacct] there)
    ping_interval_s = 5.0   # liveness probe of a silent socket
    reconnect_max_s = 30.0  # backoff ceiling while hostapd is away

For a station without an 802.1X name the watcher declines (None) and the identity
chain asks on (RADIUS accounting, then the MAC-based NAI of ``[plugin.macnai]``).
Pure parsing is in :mod:`._events` and :mod:`mag_ap.stations`; sockets in :mod:`._watch_io`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import PluginKit

from ._settings import SECTION, HostapdSettings, parse_settings

if TYPE_CHECKING:
    from ._watch_io import HostapdWatcher

__all__ = ["SECTION", "HostapdSettings", "parse_settings", "watcher_for"]


def _build(config: Config) -> HostapdWatcher | None:
    settings = parse_settings(config.plugin_section(SECTION))
    if not settings.enabled:
        return None
    from ._watch_io import HostapdWatcher

    return HostapdWatcher(settings)


# One watcher per configuration: the trigger hook and the identity hook share it.
kit: PluginKit[HostapdWatcher] = PluginKit(
    SECTION, validate=lambda c: parse_settings(c.plugin_section(SECTION)), build=_build
)
mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()
watcher_for = kit.provider_for


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[HostapdWatcher]:
    return kit.providers(config)


@hookimpl(trylast=True)
def mag_identity_provider(config: Config) -> HostapdWatcher | None:
    watcher = watcher_for(config)
    return watcher if watcher is not None and watcher.settings.identity else None
