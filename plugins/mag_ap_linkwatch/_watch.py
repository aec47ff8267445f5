"""Pure station watch: which bound stations to detach, and why (sans-IO).

Inputs: binding up/down (which MACs the MAG serves), the access link's
operational state and neighbour-table snapshots, each with ``now``. Output:
``(mac, reason)`` pairs from :meth:`StationWatch.next_detach`, reason
``"link-down"`` or ``"inactivity"``, each reported once per binding.

Inactivity: a station is present while any of its neighbour entries (IPv4 or
IPv6, matched by link-layer address) is REACHABLE, STALE, DELAY, PROBE or
PERMANENT. When all are FAILED, INCOMPLETE or gone for ``inactivity_timeout_s``
it is detached. A fresh binding counts as seen at binding time (grace for a
station that has not spoken yet). Note the kernel keeps a silent station's
entry STALE until someone sends to it (then NUD probes it to FAILED) or the
garbage collector drops it. So the watch also names, per snapshot, the STALE
entries of bound stations (:meth:`StationWatch.to_probe`): the IO side has the
kernel "use" them (NTF_USE), which sends unicast probes. A present station
answers (REACHABLE again); a departed one ends FAILED and, after the timeout,
is detached, even when no traffic is sent towards it (e.g. the LMA already
routes it to another MAG after a handover).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ._netlink import NUD_STALE, NeighbourMessage

__all__ = ["StationWatch", "WatchSettings"]


@dataclass(frozen=True, kw_only=True)
class WatchSettings:
    inactivity_timeout_s: float = 0.0  # 0 disables the inactivity detach
    link_down_detach: bool = True


class StationWatch:
    """Bound stations, their last sign of life, and the access link state."""

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self._last_alive_at: dict[str, float] = {}
        self._reported: set[str] = set()
        self._out: deque[tuple[str, str]] = deque()
        self.link_up: bool | None = None
        self.counters = {"link_down_detaches": 0, "inactivity_detaches": 0, "link_changes": 0}

    def binding_up(self, mac: str, now: float) -> None:
        if mac not in self._last_alive_at or mac in self._reported:
            self._last_alive_at[mac] = now
        self._reported.discard(mac)

    def binding_down(self, mac: str) -> None:
        self._last_alive_at.pop(mac, None)
        self._reported.discard(mac)

    def bound(self) -> list[str]:
        return sorted(self._last_alive_at)

    def link(self, up: bool, now: float) -> None:
        """The access interface's operational state (None before the first report)."""
        del now
        if up == self.link_up:
            return
        was_up, self.link_up = self.link_up, up
        self.counters["link_changes"] += 1
        if up or was_up is False or not self.settings.link_down_detach:
            return
        for mac in self.bound():
            if mac not in self._reported:
                self._reported.add(mac)
                self.counters["link_down_detaches"] += 1
                self._out.append((mac, "link-down"))

    def neighbours(self, entries: Iterable[NeighbourMessage], now: float) -> None:
        """A full neighbour snapshot of the access interface."""
        for entry in entries:
            if entry.alive and entry.lladdr in self._last_alive_at:
                self._last_alive_at[entry.lladdr] = now

    def to_probe(self, entries: Iterable[NeighbourMessage]) -> list[NeighbourMessage]:
        """STALE entries (with an address) of bound stations not yet reported, to probe.

        Only with the inactivity detach on: probing is how a silent departure shows.
        """
        if self.settings.inactivity_timeout_s <= 0:
            return []
        return [
            e
            for e in entries
            if e.state == NUD_STALE
            and e.dst is not None
            and e.lladdr in self._last_alive_at
            and e.lladdr not in self._reported
        ]

    def get_timer(self) -> float | None:
        timeout = self.settings.inactivity_timeout_s
        if timeout <= 0:
            return None
        pending = [t for m, t in self._last_alive_at.items() if m not in self._reported]
        return min(pending) + timeout if pending else None

    def handle_timer(self, now: float) -> None:
        timeout = self.settings.inactivity_timeout_s
        if timeout <= 0:
            return
        for mac, seen_at in sorted(self._last_alive_at.items()):
            if mac not in self._reported and now - seen_at >= timeout:
                self._reported.add(mac)
                self.counters["inactivity_detaches"] += 1
                self._out.append((mac, "inactivity"))

    def next_detach(self) -> tuple[str, str] | None:
        return self._out.popleft() if self._out else None

    def status(self, now: float) -> dict[str, object]:
        idle = {m: round(now - t, 1) for m, t in self._last_alive_at.items()}
        return {"link_up": self.link_up, "idle_s": idle, **self.counters}
