"""Forgeable triggers (DHCP, RS) are admitted at the pace of the binding pipeline.

The rule of ``mag_ap.runtime.daemon._TriggerSink.keeping_up``: a new station
while fewer than MAX_BACKLOG_NEW actions wait, a station turned away before
that asks again at least RETRY_GAP_S later while fewer than MAX_BACKLOG_RETRY
wait; the MACs turned away are a bounded table; hostapd-like triggers (not
forgeable) are never held back.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, cast

from mag_ap.runtime import daemon as d


@dataclass
class _Driver:
    action_backlog: int = 0


@dataclass
class _Daemon:
    driver: _Driver = field(default_factory=_Driver)
    counters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("trigger_duplicate", "trigger_dropped_busy", "trigger_admitted_on_retry"), 0
        )
    )
    trigger_attaches: set[str] = field(default_factory=set)
    busy_refused: OrderedDict[str, float] = field(default_factory=OrderedDict)
    busy_summary_at: float | None = None
    busy_dropped_since_summary: int = 0
    spawned: list[str] = field(default_factory=list)

    def _attach_logged(self, mac: str, mn_id: str | None, source: str) -> str:
        return mac

    def spawn(self, coro: str, name: str) -> _Task:
        self.spawned.append(coro)
        return _Task()


class _Task:
    def add_done_callback(self, callback: Any) -> None:
        pass


def _sink(daemon: _Daemon, forgeable: bool = True) -> Any:
    return d._TriggerSink(cast(d.MagDaemon, daemon), forgeable)


def test_new_stations_wait_while_the_pipeline_is_behind_and_their_retry_gets_in() -> None:
    daemon = _Daemon()
    sink = _sink(daemon)
    assert sink.keeping_up("02:00:00:00:00:01", 0.0)
    daemon.driver.action_backlog = d.MAX_BACKLOG_NEW
    assert not sink.keeping_up("02:00:00:00:00:02", 0.0)
    assert not sink.keeping_up("02:00:00:00:00:02", 0.1)  # its RS with its DISCOVER: one knock
    assert sink.keeping_up("02:00:00:00:00:02", 1.0)  # retried a second later
    assert daemon.counters["trigger_admitted_on_retry"] == 1
    daemon.driver.action_backlog = d.MAX_BACKLOG_RETRY
    assert not sink.keeping_up("02:00:00:00:00:03", 0.0)
    assert not sink.keeping_up("02:00:00:00:00:03", 1.0)  # far behind: even retries wait
    assert daemon.counters["trigger_dropped_busy"] == 4


def test_the_table_of_stations_turned_away_is_bounded() -> None:
    daemon = _Daemon(driver=_Driver(action_backlog=10_000))
    sink = _sink(daemon)
    for i in range(3 * d.BUSY_MEMORY):
        assert not sink.keeping_up(
            f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}", i
        )
    assert len(daemon.busy_refused) == d.BUSY_MEMORY


def test_reports_that_cannot_be_forged_are_never_held_back() -> None:
    daemon = _Daemon(driver=_Driver(action_backlog=10_000))
    _sink(daemon, forgeable=False).station_attached("02:00:00:00:00:01")
    _sink(daemon, forgeable=True).station_attached("02:00:00:00:00:02")
    assert daemon.spawned == ["02:00:00:00:00:01"]
    assert daemon.counters["trigger_dropped_busy"] == 1
