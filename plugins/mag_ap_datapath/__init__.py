"""The kernel datapath of the MAG and the reference LMA: tunnels, routes, rules (pyroute2).

Enabled by a ``[plugin.datapath]`` section (see :mod:`._settings` for the keys);
without one, or with ``enabled = false``, its hook passes and the ``trylast``
null datapath takes over. Its provider hook is *not* ``trylast``, so it beats
the null datapath, while a third-party plugin (registered later, called
first) still beats it.

Layout: :mod:`._plan` is the pure planner and differ (unit-tested without
root), :mod:`._kernel_io` the only importer of pyroute2 (loaded when the provider
starts), :mod:`._provider` the async glue. Status (``mag-ap status``) shows the
encapsulation in use, every shared tunnel with its MTU, and counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mag_ap.config import Config
from mag_ap.hookspecs import hookimpl

from ._settings import SECTION, PlanSettings, parse_settings

if TYPE_CHECKING:
    from ._provider import NetlinkDatapath

__all__ = ["SECTION", "PlanSettings", "active_provider"]

# The provider of this daemon (at most one) and the config it was built for, for status.
_active: list[tuple[Config, NetlinkDatapath]] = []


def active_provider(config: Config | None = None) -> NetlinkDatapath | None:
    """The provider the last ``mag_datapath_provider`` call built (for ``config``, if given)."""
    if not _active or (config is not None and _active[-1][0] is not config):
        return None
    return _active[-1][1]


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
    # pyroute2 is imported here, when the section asks for this datapath, and not in
    # start(): the daemon gives start() a few seconds, and on a slow CPU (an access
    # point, an emulated guest) the import alone can take longer than that.
    from ._kernel_io import Kernel
    from ._provider import NetlinkDatapath  # the planner too: only when the section is there

    provider = NetlinkDatapath(settings, Kernel(settings))
    _active[:] = [(config, provider)]
    return provider


@hookimpl
def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
    provider = active_provider(config)
    return provider.status() if provider is not None else None
