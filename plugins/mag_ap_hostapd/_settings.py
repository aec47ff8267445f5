"""``[plugin.hostapd]`` -> :class:`HostapdSettings` (pure; errors name the key path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mag_ap.config import Table

SECTION: Final = "hostapd"


@dataclass(frozen=True, kw_only=True)
class HostapdSettings:
    """Which hostapd control sockets to watch, and how."""

    enabled: bool = False
    control_sockets: tuple[str, ...] = ()  # /var/run/hostapd/<ifname>, one per access interface
    identity: bool = True  # offer the 802.1X user names as the MN-ID (IdentityProvider)
    client_dir: str = "/tmp"  # where our own reply sockets are bound (a private subdirectory)
    ping_interval_s: float = 5.0  # liveness check while no event arrives
    reconnect_max_s: float = 30.0  # backoff ceiling after hostapd went away
    request_timeout_s: float = 2.0  # one STA / PING request


def parse_settings(section: Mapping[str, Any]) -> HostapdSettings:
    """Validate ``[plugin.hostapd]``; an absent section or ``enabled = false`` is inert."""
    t = Table(section, f"plugin.{SECTION}")
    d = HostapdSettings()
    enabled = t.get_bool("enabled", bool(section))
    sockets = t.get_str_list("control_sockets")
    for i, path in enumerate(sockets):
        if not path.startswith("/"):
            raise t.error(f"control_sockets[{i}]", f"{path!r} must be an absolute path")
    identity = t.get_bool("identity", d.identity)
    client_dir = t.get_str("client_dir", d.client_dir)
    if not client_dir.startswith("/"):
        raise t.error("client_dir", f"{client_dir!r} must be an absolute path")
    ping = t.get_float("ping_interval_s", d.ping_interval_s, above=0, max=3600)
    backoff = t.get_float("reconnect_max_s", d.reconnect_max_s, above=0, max=3600)
    timeout = t.get_float("request_timeout_s", d.request_timeout_s, above=0, max=60)
    t.finish()
    if enabled and not sockets:
        raise t.error("control_sockets", "list at least one hostapd control socket")
    return HostapdSettings(
        enabled=enabled,
        control_sockets=sockets,
        identity=identity,
        client_dir=client_dir,
        ping_interval_s=ping,
        reconnect_max_s=backoff,
        request_timeout_s=timeout,
    )
