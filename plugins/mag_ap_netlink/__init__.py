"""The kernel datapath of the MAG and the reference LMA: tunnels, routes, rules (pyroute2).

Enabled by a ``[plugin.netlink]`` section (see :mod:`._settings` for the keys);
without one, or with ``enabled = false``, its hook passes and the ``trylast``
null datapath takes over. Its provider hook is *not* ``trylast``, so it beats
the null datapath, while a third-party plugin (registered later, called
first) still beats it.

Layout: :mod:`._plan` is the pure planner and differ (unit-tested without
root), :mod:`._kernel` the only importer of pyroute2 (loaded when the provider
starts), :mod:`._provider` the async glue. Status (``mag-ap status``) shows the
encapsulation in use, every shared tunnel with its MTU, and counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl

from ._plan import PlanSettings
from ._provider import DatapathError, NetlinkDatapath
from ._settings import SECTION, parse_settings

__all__ = ["SECTION", "DatapathError", "NetlinkDatapath", "PlanSettings", "active_provider"]

_active: list[NetlinkDatapath] = []  # the provider of this daemon (at most one), for status


def active_provider() -> NetlinkDatapath | None:
    """The provider the last ``mag_datapath_provider`` call built (one per daemon)."""
    return _active[-1] if _active else None


@hookimpl
def mag_config_sections() -> Sequence[str]:
    return [SECTION]


@hookimpl
def mag_validate_config(config: Config) -> None:
    parse_settings(config)


@hookimpl
def mag_datapath_provider(config: Config) -> NetlinkDatapath | None:
    settings = parse_settings(config)
    if settings is None:
        return None
    _active[:] = [NetlinkDatapath(settings)]
    return _active[0]


@hookimpl
def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
    del config
    provider = active_provider()
    return provider.status() if provider is not None else None
