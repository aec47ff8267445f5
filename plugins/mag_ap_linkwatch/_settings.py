"""``[plugin.linkwatch]`` -> :class:`LinkwatchConfig` (pure; errors name the key path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mag_ap.config import Table

__all__ = ["IFNAMSIZ", "SECTION", "LinkwatchConfig", "parse_linkwatch_config"]

SECTION: Final = "linkwatch"
IFNAMSIZ: Final = 15


@dataclass(frozen=True, kw_only=True)
class LinkwatchConfig:
    enabled: bool = True
    interface: str | None = None
    inactivity_timeout_s: float = 0.0
    link_down_detach: bool = True
    poll_interval_s: float = 2.0

    @property
    def active(self) -> bool:
        return (
            self.enabled
            and self.interface is not None
            and (self.link_down_detach or self.inactivity_timeout_s > 0)
        )


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
