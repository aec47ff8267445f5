"""``[plugin.ubus]`` -> :class:`UbusSettings` (pure; errors name the key path)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mag_ap.config import Table

SECTION: Final = "ubus"
_OBJECT: Final = re.compile(r"^hostapd\.[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True, kw_only=True)
class UbusSettings:
    """Which ubus objects to follow and which notification attaches."""

    enabled: bool = False
    objects: tuple[str, ...] = ()  # hostapd.<ifname>
    attach_on: str = "sta-authorized"  # "assoc" only for open networks: it precedes 802.1X
    ubus: str = "ubus"  # the CLI
    reconnect_max_s: float = 30.0


def parse_settings(section: Mapping[str, Any]) -> UbusSettings:
    """Validate ``[plugin.ubus]``; an absent section or ``enabled = false`` is inert."""
    t = Table(section, f"plugin.{SECTION}")
    d = UbusSettings()
    enabled = t.get_bool("enabled", bool(section))
    objects = t.get_str_list("objects")
    for i, obj in enumerate(objects):
        if not _OBJECT.match(obj):
            raise t.error(f"objects[{i}]", f"{obj!r} is no hostapd.<ifname> object")
    attach_on = t.get_str("attach_on", d.attach_on, choices=("sta-authorized", "assoc"))
    ubus = t.get_str("ubus", d.ubus)
    backoff = t.get_float("reconnect_max_s", d.reconnect_max_s, above=0, max=3600)
    t.finish()
    if enabled and not objects:
        raise t.error("objects", "list at least one hostapd.<ifname> object")
    return UbusSettings(
        enabled=enabled, objects=objects, attach_on=attach_on, ubus=ubus, reconnect_max_s=backoff
    )
