"""The ubus trigger (IO half): one ``ubus subscribe hostapd.<ifname>`` child per object.

On start and after every restart of the child, ``ubus call <object> get_clients``
re-syncs the authorized stations (attach/detach the difference). A child that
exits (hostapd or ubusd restarted) is restarted with exponential backoff.
"""

from __future__ import annotations

import contextlib
import logging

from mag_ap.providers import TriggerSink
from mag_ap.runtime import asyncio
from mag_ap.stations import StationTable

from ._notify import Notification, NotificationStream, authorized_clients
from ._settings import UbusSettings

log = logging.getLogger("mag_ap.ubus")
BACKOFF_START_S = 0.25


class UbusTrigger:
    """TriggerProvider over OpenWrt's ubus hostapd objects."""

    name = "ubus"

    def __init__(self, settings: UbusSettings) -> None:
        self.settings = settings
        self.table = StationTable()
        self.counters: dict[str, int] = {
            "notifications": 0,
            "unknown": 0,
            "attach": 0,
            "detach": 0,
            "restarts": 0,
        }

    async def run(self, sink: TriggerSink) -> None:
        async with asyncio.TaskGroup() as group:
            for obj in self.settings.objects:
                group.create_task(self._keep(obj, sink))

    async def _keep(self, obj: str, sink: TriggerSink) -> None:
        backoff_s = BACKOFF_START_S
        while True:
            try:
                if await self._session(obj, sink):
                    backoff_s = BACKOFF_START_S
            except OSError as exc:
                log.warning("ubus %s: %s", obj, exc)
            self.counters["restarts"] += 1
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self.settings.reconnect_max_s)

    async def _resync(self, obj: str, sink: TriggerSink) -> bool:
        proc = await asyncio.create_subprocess_exec(
            self.settings.ubus, "call", obj, "get_clients",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        macs = authorized_clients(out.decode("utf-8", "replace"))
        if proc.returncode != 0 or macs is None:
            return False
        result = self.table.resync(obj, macs)
        for mac in result.detached:
            self._detach(sink, mac, "ubus-resync")
        for mac in result.attached:
            self._attach(sink, mac)
        return True

    async def _session(self, obj: str, sink: TriggerSink) -> bool:
        """Subscribe, re-sync, follow; True when it got as far as following."""
        proc = await asyncio.create_subprocess_exec(
            self.settings.ubus, "subscribe", obj,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            if not await self._resync(obj, sink):
                return False
            stream = NotificationStream()
            while line := await proc.stdout.readline():
                for item in stream.feed(line.decode("utf-8", "replace")):
                    if isinstance(item, Notification):
                        self._handle(obj, item, sink)
                    else:
                        self.counters["unknown"] += 1
                        log.info("ubus %s: ignored %s: %s", obj, item.reason, item.text[:80])
            return True
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    def _handle(self, obj: str, note: Notification, sink: TriggerSink) -> None:
        self.counters["notifications"] += 1
        action = note.action(self.settings.attach_on)
        if action == "attach" and self.table.connected(obj, note.mac):
            self._attach(sink, note.mac)
        elif action == "detach" and self.table.disconnected(obj, note.mac):
            self._detach(sink, note.mac, f"ubus-{note.method}")

    def _attach(self, sink: TriggerSink, mac: str) -> None:
        self.counters["attach"] += 1
        sink.station_attached(mac, None)  # the identity provider names it (radacct, macnai)

    def _detach(self, sink: TriggerSink, mac: str, reason: str) -> None:
        self.counters["detach"] += 1
        sink.station_detached(mac, reason)

    def status(self) -> dict[str, object]:
        return {**self.counters, "stations": len(self.table.where)}
