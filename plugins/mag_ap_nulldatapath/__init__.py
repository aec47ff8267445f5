"""The null datapath: records and logs binding actions, installs NOTHING in the kernel.

A placeholder until the pyroute2 datapath plugin lands, and a harmless choice
for protocol tests and dry runs: signalling works end to end, packets of the
mobile nodes go nowhere. It is ``trylast``, so any real datapath plugin wins;
a warning at start makes sure nobody mistakes it for one. No config section.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Final

from mag_ap.config import Config
from mag_ap.core.types import Action, LogEvent
from mag_ap.hookspecs import hookimpl

__all__ = ["RECORD_LIMIT", "NullDatapath"]

RECORD_LIMIT: Final = 1024  # bounded: an AP runs for months
log = logging.getLogger(__name__)


class NullDatapath:
    """DatapathProvider that only remembers the last actions (for tests and status)."""

    name = "null"

    def __init__(self) -> None:
        self.actions: deque[Action] = deque(maxlen=RECORD_LIMIT)
        self.applied = 0
        self.running = False

    async def start(self) -> None:
        self.running = True
        log.warning("null datapath: binding actions are logged, no tunnel or route is installed")

    async def apply(self, action: Action) -> None:
        self.apply_now(action)

    def apply_now(self, action: Action) -> None:
        """The same without awaiting: no IO, so the daemon applies it inside the event."""
        self.applied += 1
        self.actions.append(action)
        if isinstance(action, LogEvent):
            return
        # Per-binding lines at debug: the daemon already logs each binding once, at info.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("null datapath: would apply %s", action)

    async def stop(self) -> None:
        self.running = False
        log.info("null datapath: stopped (nothing to remove)")


@hookimpl(trylast=True)
def mag_datapath_provider(config: Config) -> NullDatapath:
    return NullDatapath()
