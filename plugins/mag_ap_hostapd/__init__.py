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

A station without an 802.1X name gets the MAC-based NAI of ``[plugin.macnai]``
(the ``mag_identity_provider`` hook is firstresult: the fallback lives here).
Pure parsing is in :mod:`._events` and :mod:`._stations`; sockets in :mod:`._watch_io`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl
from mag_ap.plugins import PerConfig
from mag_ap_macnai import fallback_for

from ._settings import SECTION, HostapdSettings, parse_settings

if TYPE_CHECKING:
    from ._watch_io import HostapdWatcher

__all__ = ["SECTION", "HostapdSettings", "parse_settings", "watcher_for"]

# One watcher per configuration: the trigger hook and the identity hook must share it.
_watchers: PerConfig[HostapdWatcher] = PerConfig()


def watcher_for(config: Config) -> HostapdWatcher | None:
    """The shared watcher of ``config``, or None when the plugin is not enabled."""
    settings = parse_settings(config.plugin_section(SECTION))
    if not settings.enabled:
        return None
    from ._watch_io import HostapdWatcher

    return _watchers.get_or_create(config, lambda: HostapdWatcher(settings, fallback_for(config)))


@hookimpl(trylast=True)
def mag_config_sections() -> Sequence[str]:
    return [SECTION]


@hookimpl(trylast=True)
def mag_validate_config(config: Config) -> None:
    parse_settings(config.plugin_section(SECTION))


@hookimpl(trylast=True)
def mag_trigger_providers(config: Config) -> Sequence[HostapdWatcher]:
    watcher = watcher_for(config)
    return [watcher] if watcher is not None else []


# not trylast: it must be asked before the trylast MAC-based NAI (and after any
# third-party plugin, which registers later and so is called first)
@hookimpl
def mag_identity_provider(config: Config) -> HostapdWatcher | None:
    watcher = watcher_for(config)
    return watcher if watcher is not None and watcher.settings.identity else None


@hookimpl(trylast=True)
def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
    found = _watchers.get(config)
    return found.status() if found is not None else None
