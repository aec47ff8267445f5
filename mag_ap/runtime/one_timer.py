"""The one timer helper (DESIGN.md rules 1 and 9): one ``loop.call_at`` per sans-IO object.

A sans-IO object says when it next needs the clock (``get_timer()``); its IO side keeps
exactly one handle, re-armed from that answer after every event. The core driver and
the plugins' IO halves (DHCPv4 server, router advertisements) re-arm through this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["OneTimer"]


class OneTimer:
    """One ``call_at`` handle calling ``callback`` at the deadline last armed."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._deadline: float | None = None

    @property
    def deadline(self) -> float | None:
        """When the timer fires (the armer's clock), None when disarmed."""
        return self._deadline

    def arm(
        self,
        loop: asyncio.AbstractEventLoop | None,
        deadline: float | None,
        now: float | None = None,
    ) -> None:
        """Fire at ``deadline`` (None: never); unchanged when already armed for it.

        ``now`` is the armer's clock reading when it is not ``loop.time()``: the
        deadline is then translated to the loop's clock.
        """
        if deadline == self._deadline and self._handle is not None:
            return
        self.cancel()
        if deadline is None or loop is None:
            return
        when = deadline if now is None else loop.time() + max(0.0, deadline - now)
        self._handle = loop.call_at(when, self._fire)
        self._deadline = deadline

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._deadline = None

    def _fire(self) -> None:
        self._handle = None
        self._deadline = None
        self._callback()
