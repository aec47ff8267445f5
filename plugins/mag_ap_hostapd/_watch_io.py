"""The hostapd trigger and 802.1X identity provider (the IO half of the plugin).

One session per control socket: open the request and monitor sockets, ``ATTACH``,
re-sync the authorized stations with ``STA-FIRST``/``STA-NEXT`` (stations that
came or went while we were away get attach/detach), then turn events into
triggers. A station that re-authenticates as another user keeps its port
open (no new ``AP-STA-CONNECTED``): its EAP success names the new user, and the
binding is redone under that MN-ID. A silent socket is probed with ``PING``;
when hostapd goes away (``CTRL-EVENT-TERMINATING``, refused send, no ``PONG``)
the session reconnects with exponential backoff. Stations stay attached while
hostapd is away: the next re-sync decides. Garbage on the socket is counted and
ignored.
"""

from __future__ import annotations

import logging
import shutil
import tempfile

from mag_ap.providers import IDENTITY_PRIORITY, TriggerSink
from mag_ap.runtime import asyncio
from mag_ap.stations import StationTable

from ._ctrl_io import ControlError, ControlSocket
from ._events import (
    EapFailure,
    EapSuccess,
    StaConnected,
    StaDisconnected,
    StaInfo,
    Terminating,
    Unknown,
    parse_event,
    parse_sta,
)
from ._settings import HostapdSettings

log = logging.getLogger("mag_ap.hostapd")

MAX_STATIONS = 4096  # STA-NEXT loop bound: a confused hostapd must not spin us forever
BACKOFF_START_S = 0.25


class HostapdWatcher:
    """TriggerProvider (``run``) and IdentityProvider (``identity_for``) over hostapd."""

    name = "hostapd"
    priority = IDENTITY_PRIORITY["hostapd"]

    def __init__(self, settings: HostapdSettings) -> None:
        self.settings = settings
        self.table = StationTable()
        self.counters: dict[str, int] = {
            "events": 0,
            "unknown_lines": 0,
            "garbage": 0,
            "eap_failures": 0,
            "attach": 0,
            "detach": 0,
            "reconnects": 0,
            "resyncs": 0,
            "unconfirmed": 0,
            "identity_changes": 0,
        }
        self.client_dir: str | None = None
        self.monitors: dict[str, str] = {}  # control socket -> our monitor socket file
        self.connected: dict[str, bool] = {path: False for path in settings.control_sockets}

    # --- IdentityProvider ------------------------------------------------------------

    async def identity_for(self, mac: str) -> str | None:
        """The 802.1X user name hostapd reported; None (the chain asks on) without one."""
        return self.table.identity(mac.lower())

    # --- TriggerProvider -------------------------------------------------------------

    async def run(self, sink: TriggerSink) -> None:
        client_dir = tempfile.mkdtemp(prefix="mag-ap-hostapd-", dir=self.settings.client_dir)
        self.client_dir = client_dir
        try:
            async with asyncio.TaskGroup() as group:
                for path in self.settings.control_sockets:
                    group.create_task(self._keep_session(path, client_dir, sink))
        finally:
            shutil.rmtree(client_dir, ignore_errors=True)

    async def _keep_session(self, path: str, client_dir: str, sink: TriggerSink) -> None:
        backoff_s = BACKOFF_START_S
        while True:
            try:
                await self._session(path, client_dir, sink)
            except ControlError as exc:
                log.info("hostapd %s unavailable (%s)", path, exc)
            if self.connected[path]:  # it worked for a while: start the backoff afresh
                backoff_s = BACKOFF_START_S
            self.connected[path] = False
            self.counters["reconnects"] += 1
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self.settings.reconnect_max_s)

    async def _session(self, path: str, client_dir: str, sink: TriggerSink) -> None:
        cmd = ControlSocket(path, client_dir)
        mon = ControlSocket(path, client_dir)
        try:
            cmd.open()
            mon.open()
            self.monitors[path] = mon.local
            reply = await mon.request("ATTACH", self.settings.request_timeout_s)
            if reply.strip() != b"OK":
                raise ControlError(0, f"{path}: ATTACH answered {reply[:32]!r}")
            await self._resync(path, cmd, sink)
            self.connected[path] = True
            log.info("hostapd %s attached, %d station(s)", path, len(self.table.on(path)))
            # One receive stays pending across pings: cancelling a receive on a timeout
            # can drop an event that arrived in that instant (a lost AP-STA-DISCONNECTED).
            receive: asyncio.Task[bytes] | None = None
            try:
                while True:
                    if receive is None:
                        receive = asyncio.ensure_future(mon.recv())
                    done, _ = await asyncio.wait({receive}, timeout=self.settings.ping_interval_s)
                    if not done:
                        pong = await cmd.request("PING", self.settings.request_timeout_s)
                        if pong.strip() != b"PONG":
                            raise ControlError(0, f"{path}: PING answered {pong[:32]!r}")
                        continue
                    data, receive = receive.result(), None
                    if not await self._handle(path, cmd, data, sink):
                        return
            finally:
                if receive is not None:
                    receive.cancel()
        finally:
            cmd.close()
            mon.close()

    async def _station(self, cmd: ControlSocket, command: str) -> StaInfo | None:
        return parse_sta(await cmd.request(command, self.settings.request_timeout_s))

    async def _resync(self, path: str, cmd: ControlSocket, sink: TriggerSink) -> None:
        """Compare hostapd's authorized stations with ours: attach/detach the difference."""
        authorized: list[str] = []
        renamed: list[str] = []  # attached, and re-authenticated as someone else meanwhile
        info = await self._station(cmd, "STA-FIRST")
        for _ in range(MAX_STATIONS):
            if info is None:
                break
            if info.authorized:
                authorized.append(info.mac)
                if self.table.note_identity(info.mac, info.user_name):
                    renamed.append(info.mac)
            info = await self._station(cmd, f"STA-NEXT {info.mac}")
        result = self.table.resync(path, authorized)
        self.counters["resyncs"] += 1
        for mac in result.detached:
            self._detach(sink, mac, "hostapd-resync")
        for mac in result.attached:
            self._attach(sink, mac)
        for mac in renamed:
            self._rebind(sink, mac)

    async def _handle(self, path: str, cmd: ControlSocket, data: bytes, sink: TriggerSink) -> bool:
        """One monitor datagram; False when hostapd is going away (reconnect)."""
        event = parse_event(data)
        match event:
            case Unknown(reason="unused event"):
                self.counters["unknown_lines"] += 1
            case Unknown(text=text, reason=reason):
                self.counters["garbage"] += 1
                log.warning("hostapd %s: ignored %s: %s", path, reason, text[:80])
            case Terminating():
                log.info("hostapd %s: %s", path, event.what)
                return False
            case EapSuccess(mac=mac):
                self.counters["events"] += 1
                await self._learn_identity(cmd, mac, sink)
            case EapFailure(mac=mac):
                self.counters["events"] += 1
                self.counters["eap_failures"] += 1
                self.table.forget_identity(mac)
            case StaConnected(mac=mac):
                self.counters["events"] += 1
                info = await self._learn_identity(cmd, mac, sink)
                if info is None or not info.authorized:
                    # hostapd must confirm: a forged or stale event never binds
                    self.counters["unconfirmed"] += 1
                    log.warning("hostapd %s: %s connected but not authorized: ignored", path, mac)
                elif self.table.connected(path, mac):
                    self._attach(sink, mac)
            case StaDisconnected(mac=mac):
                self.counters["events"] += 1
                if self.table.disconnected(path, mac):
                    self._detach(sink, mac, "hostapd")
        return True

    async def _learn_identity(
        self, cmd: ControlSocket, mac: str, sink: TriggerSink
    ) -> StaInfo | None:
        """Ask hostapd for ``mac``; an attached station with a new name is bound anew."""
        info = await self._station(cmd, f"STA {mac}")
        if info is None or info.mac != mac:
            return None
        if self.table.note_identity(mac, info.user_name):
            self._rebind(sink, mac)
        return info

    def _rebind(self, sink: TriggerSink, mac: str) -> None:
        """The station re-authenticated as another user: its binding changes MN-ID."""
        if mac not in self.table.where or not self.settings.identity:
            return  # gone meanwhile, or the MN-ID comes from another identity provider
        self.counters["identity_changes"] += 1
        log.info("hostapd: station %s re-authenticated as %s", mac, self.table.identity(mac))
        self._detach(sink, mac, "hostapd-identity-changed")
        self._attach(sink, mac)

    def _attach(self, sink: TriggerSink, mac: str) -> None:
        self.counters["attach"] += 1
        mn_id = self.table.identity(mac) if self.settings.identity else None
        log.info("hostapd: station %s attached (%s)", mac, mn_id or "no 802.1X identity")
        sink.station_attached(mac, mn_id)

    def _detach(self, sink: TriggerSink, mac: str, reason: str) -> None:
        self.counters["detach"] += 1
        log.info("hostapd: station %s detached (%s)", mac, reason)
        sink.station_detached(mac, reason)

    def status(self) -> dict[str, object]:
        return {
            **self.counters,
            "stations": len(self.table.where),
            "connected": sum(self.connected.values()),
        }
