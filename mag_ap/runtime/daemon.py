"""The MAG and LMA daemons: plugins, sockets, driver, control socket, signals, clean stop.

``run_mag(config)`` and ``run_lma(config)`` return the process exit code. Start-up
order follows DESIGN.md rule 7 (refuse a wrong config before any packet): logging,
plugins and their validation, restart counter, sockets, protocol object, datapath
and address services, control socket, triggers and static stations, then one
"ready" log line. SIGTERM/SIGINT (or ``{"cmd": "stop"}``) stop gracefully: the MAG
de-registers every binding and gives the PBAs up to ``SHUTDOWN_GRACE_S`` to arrive,
the providers remove what they installed, the control socket file goes away.

Size (over 600 lines, on purpose): the wiring of both daemons in one place, so
the start-up order and the clean stop read top to bottom; the protocol logic is in
:mod:`mag_ap.core` and :mod:`mag_ap.lma`, the driver in :mod:`.driver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..core.types import (
    Action,
    Address,
    BindingDown,
    BindingRejected,
    BindingUp,
    Datagram,
    LogEvent,
    MobileNodeProfile,
    MobileRouteDown,
    MobileRouteUp,
    PeerRestarted,
    SansIOEndpoint,
    action_fields,
)
from ..mh.constants import HandoffIndicator
from .consumers import consumers
from .control import ControlError, ControlServer, Handler, Request, Response, require_str
from .driver import Driver, wall_clock_offset_s
from .mh_socket import MhSocket, close_quietly, open_mh_socket
from .startup_errors import StartupError, mh_socket_error, path_error

if TYPE_CHECKING:
    from ..config import Config
    from ..core.lma_failover import LmaFailover
    from ..core.mag import MagProtocol
    from ..lma.protocol import LmaProtocol
    from ..plugins import PluginHost
    from ..providers import (
        IdentityProvider,
        LmaDiscoveryProvider,
        PolicyProvider,
        TriggerProvider,
    )

log = logging.getLogger("mag_ap.daemon")

SHUTDOWN_GRACE_S = 2.0  # how long de-registration PBAs may take before we stop anyway
PROVIDER_TIMEOUT_S = 5.0  # identity, policy, datapath and address-service calls
# Start-up runs once and imports and reconciles (pyroute2, kernel state): on an AP's CPU,
# or a TCG guest on a busy host, that takes seconds; a per-call budget would fail the start.
PROVIDER_START_TIMEOUT_S = 30.0
ATTACH_WAIT_MAX_S = 60.0
# Stations reported by forgeable triggers (DHCP, RS: TriggerProvider.forgeable). The
# plugins' gates bound their rate (mag_ap.admission), but what the MAG can absorb is
# the binding pipeline's speed (a datapath change takes ~1-100 ms, far more on an AP's
# CPU), so admission also follows its backlog: a new station is admitted while fewer
# than MAX_BACKLOG_NEW actions wait, one refused before (it retried: real clients do)
# while fewer than MAX_BACKLOG_RETRY wait. Attaches in identity/policy lookup at once
# are capped too, for slow lookups (RADIUS, accounting identity waits).
MAX_TRIGGER_ATTACHES_IN_FLIGHT = 64
MAX_BACKLOG_NEW = 8
MAX_BACKLOG_RETRY = 64
BUSY_MEMORY = 1024  # MACs refused for the backlog, remembered for their retry
RETRY_GAP_S = 0.5
BUSY_SUMMARY_S = 10.0

T = TypeVar("T")


# --- logging ---------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, mono, level, msg, fields (and exc when there is one).

    ``mono`` is CLOCK_MONOTONIC when the line was written (formatting is synchronous
    in ``log()``): the clock the protocol runs on, with microseconds, comparable
    between daemons of one host (``make demo`` lines up a handover with it).
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "mono": round(time.monotonic(), 6),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "fields": dict(getattr(record, "fields", None) or {}),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``ts level msg key=value ...``: readable, still greppable.

    With ``stamp=False`` (syslog) only ``msg key=value ...``: logd adds the
    time and the datagram carries the level.
    """

    def __init__(self, stamp: bool = True) -> None:
        super().__init__()
        self.stamp = stamp

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        tail = "".join(f" {k}={_text_value(v)}" for k, v in fields.items())
        line = f"{record.getMessage()}{tail}"
        if self.stamp:
            ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            line = f"{ts} {record.levelname.lower():<7} {line}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if (not text or " " in text or '"' in text) else text


def setup_logging(
    level: str, fmt: str, target: str = "stderr", syslog_socket: str = "/dev/log"
) -> None:
    """Structured logs on the root logger (plugins, ``mag_ap_*``, log there too).

    ``target`` is ``stderr`` or ``syslog`` (datagrams at the record's level, for
    OpenWrt's logd: see :mod:`mag_ap.runtime.syslog_log`).
    """
    handler: logging.Handler
    if target == "syslog":
        from .syslog_log import SyslogHandler

        handler = SyslogHandler(syslog_socket)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(stamp=False))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("asyncio").setLevel(max(root.level, logging.WARNING))


def _log(level: str, msg: str, **fields: Any) -> None:
    log.log(logging.getLevelName(level.upper()), msg, extra={"fields": fields})


def _log_applied(provider: str, action: Action, started: float) -> None:
    """One "action applied" line with its cost (make demo's breakdown reads them)."""
    _log(
        "debug",
        "action applied",
        provider=provider,
        action=type(action).__name__,
        mac=getattr(action, "mac", None),
        mn_id=getattr(action, "mn_id", None),
        took_ms=round((time.monotonic() - started) * 1000, 3),
    )


def _log_event(event: LogEvent) -> None:
    """The driver's log sink: a protocol's log event, written when it happens."""
    _log(event.level, event.message, **event.fields)


# --- restart counter (RFC 5847) -----------------------------------------------------


def bump_restart_counter(state_dir: str | os.PathLike[str], role: str) -> int:
    """Read the persisted counter, add one (mod 2**32), write it back atomically.

    Called once per daemon start: on OpenWrt ``state_dir`` is on flash (/etc/mag-ap),
    so this is the only write there, synced so a power cut keeps the new value.
    """
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{role}.restart_counter"
    previous = 0
    try:
        previous = int(path.read_text().strip())
    except FileNotFoundError:
        pass
    except ValueError:
        _log("warning", "restart counter file is garbled; starting again", path=str(path))
    value = (previous + 1) % (1 << 32)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        out.write(f"{value}\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return value


# --- the parts both daemons share -----------------------------------------------------


class _Provider(Protocol):
    name: str

    async def start(self) -> None: ...

    async def apply(self, action: Action) -> None: ...

    async def stop(self) -> None: ...


def _action_fields(action: Action) -> dict[str, Any]:
    fields: dict[str, Any] = {"action": type(action).__name__}
    for key, value in action_fields(action).items():
        if value is not None and key != "fields":
            fields[key] = value if isinstance(value, int | float | bool) else str(value)
    return fields


_ACTION_MESSAGES: Mapping[type, str] = {
    BindingUp: "binding up",
    BindingDown: "binding down",
    BindingRejected: "binding rejected",
    MobileRouteUp: "mobile route up",
    MobileRouteDown: "mobile route down",
    PeerRestarted: "peer restarted",
}


async def _with_timeout(what: str, aw: Awaitable[T], timeout_s: float = PROVIDER_TIMEOUT_S) -> T:
    try:
        return await asyncio.wait_for(aw, timeout_s)
    except TimeoutError:
        raise ControlError(f"{what} did not answer within {timeout_s:g} s") from None


class _Daemon:
    """Lifecycle shared by the MAG and the LMA; subclasses build the endpoint and commands."""

    role = "?"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host: PluginHost | None = None
        self.sock: MhSocket | None = None
        self.driver: Driver[Any] | None = None
        self.control: ControlServer | None = None
        self.status_port: Any = None  # a StatusPort when [daemon] status_port is set
        self.datapath: _Provider | None = None
        self.address_services: list[_Provider] = []
        self.providers: list[_Provider] = []  # start order; stop is the reverse
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.started_at = time.monotonic()
        self.restart_counter = 0
        self.signals: list[signal.Signals] = []
        self.ipsec: Any = None  # an xfrm_io.IpsecGuard when [ipsec] mode = "static"

    # -- hooks for the subclasses --

    def make_endpoint(self, restart_counter: int) -> SansIOEndpoint:
        raise NotImplementedError

    def commands(self) -> dict[str, Handler]:
        return {"status": self.cmd_status, "stop": self.cmd_stop}

    async def after_start(self) -> None:
        """Role-specific work once everything is up (triggers, static stations)."""

    async def before_stop(self) -> None:
        """Role-specific graceful work while sockets are still open (de-registration)."""

    # -- lifecycle --

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """A background task we keep a reference to and cancel on stop."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self) -> int:
        from ..plugins import PluginHost

        config = self.config
        host = PluginHost.from_config(config, entry_points=config.plugins.entry_points)
        self.host = host
        self.datapath = host.datapath_provider()
        self.address_services = list(host.address_services())
        if self.datapath is not None:
            self.providers.append(self.datapath)
        self.providers.extend(self.address_services)
        self.prepare_providers(host)

        try:
            self.restart_counter = bump_restart_counter(config.state_dir, self.role)
        except OSError as exc:
            raise path_error(
                exc, key="daemon.state_dir", path=config.state_dir, what="the Restart Counter"
            ) from exc
        endpoint = self.make_endpoint(self.restart_counter)
        loop = asyncio.get_running_loop()
        # Each provider gets PROVIDER_TIMEOUT_S inside the sink: no second timer per action.
        self.driver = Driver(
            endpoint,
            send=self._send,
            action_sink=self._apply_action,
            action_timeout_s=None,  # _apply_action bounds every provider call itself
            log_sink=_log_event,
            inline_sink=self._inline_sink(),
        )
        driver = self.driver
        try:
            if config.ipsec.mode == "static":  # before the first packet: none leaves in clear
                self._start_ipsec()
            try:
                self.sock = open_mh_socket(
                    config.own_address,
                    driver.datagram_received,
                    loop,
                    on_batch=driver.datagrams_received,
                )
            except OSError as exc:
                raise mh_socket_error(
                    exc, role=self.role, address=config.own_address, source=config.source
                ) from exc
            for provider in self.providers:
                await _with_timeout(
                    f"{provider.name}.start", provider.start(), PROVIDER_START_TIMEOUT_S
                )
            driver.start()
            self.control = ControlServer(config.control_socket, self.commands())
            try:
                await self.control.start()
            except OSError as exc:
                raise path_error(
                    exc,
                    key="daemon.control_socket",
                    path=config.control_socket,
                    what="the control socket",
                ) from exc
            except ControlError as exc:
                raise StartupError(
                    f"{exc}. Fix: stop that daemon (`mag-ap stop -s {config.control_socket}`), "
                    "or give this one another daemon.control_socket",
                    key_path="daemon.control_socket",
                ) from exc
            if config.status_port:
                from .status_port import StatusPort, token_path

                self.status_port = StatusPort(
                    config.status_port, self.control, token_path(config.control_socket)
                )
                try:
                    await self.status_port.start()
                except OSError as exc:
                    raise StartupError(
                        f"cannot listen on 127.0.0.1:{config.status_port}: "
                        f"{exc.strerror or exc}. Fix: free that port or set another "
                        "daemon.status_port (0: off)",
                        key_path="daemon.status_port",
                    ) from exc
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stopping.set)
                self.signals.append(sig)
            await self.after_start()
            _log(
                "info",
                "ready",
                role=self.role,
                own_address=str(config.own_address),
                transport=config.transport,
                control_socket=config.control_socket,
                restart_counter=self.restart_counter,
                plugins=",".join(host.names()),
                pid=os.getpid(),
            )
            await self.stopping.wait()
            _log("info", "stopping", role=self.role)
            await self.before_stop()
        finally:
            await self._teardown(loop)
        _log("info", "stopped", role=self.role)
        return 0

    def prepare_providers(self, host: PluginHost) -> None:
        """Subclass hook: pick up role-specific providers (identity, policy, triggers)."""

    def _start_ipsec(self) -> None:
        from ..ipsec import plan
        from .xfrm_io import IpsecGuard

        own = self.config.own_address
        guard = self.ipsec = IpsecGuard(plan(self.config.ipsec, own), own)
        guard.start()

        async def watch() -> None:
            while True:
                await asyncio.sleep(guard.CHECK_INTERVAL_S)  # a poll interval, not a sync
                guard.check()

        self.spawn(watch(), "ipsec-watch")

    async def _teardown(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in self.signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        self.signals.clear()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.driver is not None:
            if not await self.driver.drain_actions(PROVIDER_TIMEOUT_S):
                _log("warning", "actions still pending at stop")
            await self.driver.close()
        for provider in reversed(self.providers):
            try:
                await asyncio.wait_for(provider.stop(), PROVIDER_TIMEOUT_S)
            except Exception as exc:
                _log("error", "provider stop failed", provider=provider.name, error=repr(exc))
        if self.status_port is not None:
            await self.status_port.close()
        if self.control is not None:
            await self.control.close()
        close_quietly(self.sock)
        self.sock = None
        if self.ipsec is not None:  # after the last PBA: de-registrations stay protected
            try:
                self.ipsec.stop()
            except Exception as exc:
                _log("error", "ipsec removal failed", error=repr(exc))

    # -- IO glue --

    def _send(self, datagram: Datagram) -> None:
        if self.sock is not None:
            self.sock.send(datagram.data, datagram.peer)

    def _inline_sink(self) -> Callable[[Action], None] | None:
        """With only providers that apply actions without IO (``apply_now``: the null
        datapath), actions are applied inside the event: an LMA registering thousands
        of MNs a second then pays no queue, task switch and timeout per route."""
        if any(getattr(p, "apply_now", None) is None for p in self.providers):
            return None
        return self._apply_now

    def _apply_now(self, action: Action) -> None:
        """:meth:`_apply_action` for providers that all have a synchronous ``apply_now``."""
        self._log_action(action)
        timed = log.isEnabledFor(logging.DEBUG)
        for provider in consumers(action, self.datapath, self.address_services):
            started = time.monotonic()
            try:
                provider.apply_now(action)  # type: ignore[attr-defined]
                if timed:  # the same line as the worker's (make demo lines them up)
                    _log_applied(provider.name, action, started)
            except Exception as exc:
                self._provider_failed(provider.name, action, exc)

    def _log_action(self, action: Action) -> None:
        if isinstance(action, BindingRejected | PeerRestarted):
            level = logging.WARNING
        elif (isinstance(action, BindingUp) and action.refresh) or isinstance(
            action, MobileRouteUp | MobileRouteDown
        ):
            # 40,000 bindings refresh every few minutes, an LMA registers thousands a
            # second: not for the log at info (counters and status show them).
            level = logging.DEBUG
        else:
            level = logging.INFO
        if log.isEnabledFor(level):
            message = _ACTION_MESSAGES.get(type(action), "action")
            log.log(level, message, extra={"fields": _action_fields(action)})

    async def _apply_action(self, action: Action) -> None:
        """Log the action, then hand it to its consumers in the order of ``consumers.ORDER``."""
        if isinstance(action, LogEvent):  # the driver writes these itself; kept for safety
            _log_event(action)
            return
        self._log_action(action)
        timed = log.isEnabledFor(logging.DEBUG) and not (
            isinstance(action, BindingUp) and action.refresh
        )
        for provider in consumers(action, self.datapath, self.address_services):
            started = time.monotonic()
            try:
                # asyncio.timeout, not wait_for: no task per provider and action
                async with asyncio.timeout(PROVIDER_TIMEOUT_S):
                    await provider.apply(action)
                if timed:  # a handover's steps, with their cost (make demo lines them up)
                    _log_applied(provider.name, action, started)
            except Exception as exc:
                self._provider_failed(provider.name, action, exc)

    def _provider_failed(self, provider: str, action: Action, exc: Exception) -> None:
        _log(
            "error",
            "provider failed to apply an action",
            provider=provider,
            action=type(action).__name__,
            error=repr(exc) if not str(exc) else str(exc),
        )
        self.apply_failed(action, provider)

    def apply_failed(self, action: Action, provider: str) -> None:
        """A provider could not apply ``action``; the role decides what that means."""

    # -- commands --

    async def cmd_status(self, request: Request) -> Response:
        del request
        assert self.driver is not None
        status: dict[str, Any] = self.driver.snapshot(lambda ep, now: ep.status(now))
        runtime: dict[str, Any] = {
            "role": self.role,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "restart_counter": self.restart_counter,
            "own_address": str(self.config.own_address),
            "transport": self.config.transport,
            "driver": dict(self.driver.counters),
            "socket": dict(self.sock.counters) if self.sock is not None else {},
            "control": dict(self.control.counters) if self.control is not None else {},
            "plugins": list(self.host.names()) if self.host is not None else [],
        }
        extra = self._status_extra()
        if extra:
            runtime["plugin_status"] = extra
        if self.ipsec is not None:
            runtime["ipsec"] = self.ipsec.status()
        return {"role": self.role, "status": status, "runtime": runtime}

    def _status_extra(self) -> dict[str, Any]:
        if self.host is None:
            return {}
        try:
            return self.host.status_extra()
        except Exception as exc:  # a plugin's bug must not break status
            return {"error": repr(exc)}

    async def cmd_stop(self, request: Request) -> Response:
        del request
        # Answer first; the stop runs after this response is written.
        asyncio.get_running_loop().call_soon(self.stopping.set)
        return {"stopping": True}


# --- the MAG ------------------------------------------------------------------------------


class MagDaemon(_Daemon):
    """The Mobile Access Gateway: stations in, PBUs out, bindings into the datapath."""

    role = "mag"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.identity: IdentityProvider | None = None
        self.policy: PolicyProvider | None = None
        self.triggers: list[TriggerProvider] = []
        self.discovery: LmaDiscoveryProvider | None = None
        self.counters: dict[str, int] = {
            "attach_requests": 0,
            "attach_refused": 0,
            "trigger_duplicate": 0,  # a station already being attached, reported again
            "trigger_dropped_busy": 0,  # forgeable: in flight or backlog over its bound
            "trigger_admitted_on_retry": 0,  # forgeable: refused once, admitted on retry
        }
        self.trigger_attaches: set[str] = set()  # MACs whose trigger attach is running
        self.busy_refused: OrderedDict[str, float] = OrderedDict()  # MAC -> refused at
        self.busy_summary_at: float | None = None
        self.busy_dropped_since_summary = 0

    @property
    def endpoint(self) -> LmaFailover:
        """What the driver runs: the MAG wrapped in its RFC 6097 failover."""
        assert self.driver is not None
        endpoint: LmaFailover = self.driver.endpoint
        return endpoint

    @property
    def mag(self) -> MagProtocol:
        return self.endpoint.mag

    def make_endpoint(self, restart_counter: int) -> SansIOEndpoint:
        from ..core.lma_failover import LmaFailover
        from ..core.mag import MagProtocol
        from .local_networks import read_local_networks

        assert self.config.mag is not None
        own = read_local_networks()
        settings = replace(
            self.config.mag,
            restart_counter=restart_counter,
            local_networks=self.config.mag.local_networks + own,
        )
        _log("debug", "own networks no LMA grant may overlap", networks=",".join(map(str, own)))
        return LmaFailover(MagProtocol(settings, wall_clock_offset_s=wall_clock_offset_s()))

    def prepare_providers(self, host: PluginHost) -> None:
        self.identity = host.identity_provider()
        self.policy = host.policy_provider()
        self.triggers = list(host.trigger_providers())
        self.discovery = host.lma_discovery_provider()

    def commands(self) -> dict[str, Handler]:
        return {**super().commands(), "attach": self.cmd_attach, "detach": self.cmd_detach}

    async def after_start(self) -> None:
        for trigger in self.triggers:
            self.spawn(self._run_trigger(trigger), f"trigger-{trigger.name}")
        for station in self.config.static_attach:
            self.spawn(self._attach_logged(station.mac, station.mn_id, "static"), "static")

    async def _run_trigger(self, trigger: TriggerProvider) -> None:
        try:
            await trigger.run(_TriggerSink(self, getattr(trigger, "forgeable", False)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log("error", "trigger stopped", trigger=trigger.name, error=repr(exc))

    async def _attach_logged(self, mac: str, mn_id: str | None, source: str) -> None:
        """Attach from a trigger or the static list: a refusal is logged, not raised."""
        try:
            await self.attach(mac, mn_id, source=source)
        except ControlError as exc:
            _log("warning", "attach refused", mac=mac, source=source, reason=str(exc))

    async def attach(
        self,
        mac: str,
        mn_id: str | None,
        *,
        source: str,
        handoff: HandoffIndicator | None = None,
    ) -> dict[str, Any]:
        """Identity (when not given), policy profile, then ``MagProtocol.attach``.

        ``handoff`` is the Handoff Indicator when the caller knows better than
        "new attachment" (3: the station came from another MAG, 4: unknown).
        """
        from ..config import ConfigError, normalize_mac

        try:
            mac = normalize_mac(mac, "mac")
        except ConfigError as exc:
            raise ControlError(exc.reason) from None
        self.counters["attach_requests"] += 1
        if mn_id is None:
            if self.identity is None:
                self.counters["attach_refused"] += 1
                raise ControlError("no identity provider: give mn_id")
            mn_id = await _with_timeout(
                f"identity provider {self.identity.name}", self.identity.identity_for(mac)
            )
            if mn_id is None:
                self.counters["attach_refused"] += 1
                raise ControlError(f"no identity for {mac}")
        if self.policy is None:
            self.counters["attach_refused"] += 1
            raise ControlError("no policy provider")
        profile = await _with_timeout(
            f"policy provider {self.policy.name}", self.policy.profile_for(mn_id, mac)
        )
        if profile is None:
            self.counters["attach_refused"] += 1
            _log("warning", "attach refused by policy", mac=mac, mn_id=mn_id, source=source)
            raise ControlError(f"policy refused {mn_id} ({mac})")
        profile, alternatives = await self._discover_lma(profile)
        assert self.driver is not None
        self.driver.call(
            lambda ep, now: ep.attach(mac, profile, now, handoff=handoff, alternatives=alternatives)
        )
        _log(
            "info",
            "attach",
            mac=mac,
            mn_id=mn_id,
            lma=str(profile.lma_address),
            source=source,
        )
        return {"mac": mac, "mn_id": mn_id, "lma": str(profile.lma_address)}

    async def _discover_lma(
        self, profile: MobileNodeProfile
    ) -> tuple[MobileNodeProfile, tuple[Address, ...]]:
        """A profile naming its LMA by FQDN gets the first resolved address (RFC 6097);
        the others go to the core's failover (``mag_ap.core.lma_failover``)."""
        if profile.lma_fqdn is None:
            return profile, ()
        if self.discovery is None:
            self.counters["attach_refused"] += 1
            raise ControlError(f"no LMA discovery provider for {profile.lma_fqdn}")
        transport = "ipv4" if self.config.transport == "ipv4" else "ipv6"
        addresses = await _with_timeout(
            f"LMA discovery {self.discovery.name}",
            self.discovery.resolve(profile.lma_fqdn, transport),
        )
        if not addresses:
            self.counters["attach_refused"] += 1
            raise ControlError(f"LMA {profile.lma_fqdn} has no {transport} address")
        return replace(profile, lma_address=addresses[0]), tuple(addresses[1:])

    def apply_failed(self, action: Action, provider: str) -> None:
        """A binding the datapath (or an address service) could not install is removed:
        status must not show a station as bound when its traffic cannot flow."""
        if isinstance(action, BindingUp) and not action.refresh:
            self.counters["bindings_removed_unapplied"] = (
                self.counters.get("bindings_removed_unapplied", 0) + 1
            )
            self.detach(action.mac, f"{provider} could not install the binding")

    def detach(self, mac: str, reason: str) -> None:
        from ..config import ConfigError, normalize_mac

        try:
            mac = normalize_mac(mac, "mac")
        except ConfigError as exc:
            raise ControlError(exc.reason) from None
        assert self.driver is not None
        self.driver.call(lambda ep, now: ep.detach(mac, now, reason=reason))
        _log("info", "detach", mac=mac, reason=reason)

    async def cmd_attach(self, request: Request) -> Response:
        mac = require_str(request, "mac")
        mn_id = request.get("mn_id")
        if mn_id is not None and (not isinstance(mn_id, str) or not mn_id):
            raise ControlError('"mn_id" must be a non-empty string')
        handoff = _handoff_from_request(request.get("handoff"))
        started = time.monotonic()
        answer = await self.attach(mac, mn_id, source="control", handoff=handoff)
        wait_s = request.get("wait_s")
        if isinstance(wait_s, int | float) and not isinstance(wait_s, bool) and wait_s > 0:
            norm = answer["mac"]
            assert self.driver is not None
            settled = await self.driver.wait_for(
                lambda ep, now: ep.mag.attach_settled(norm),
                min(float(wait_s), ATTACH_WAIT_MAX_S),
            )
            binding = self.driver.snapshot(lambda ep, now: ep.mag.binding_status(norm, now))
            answer["settled"] = settled
            answer["elapsed_ms"] = round((time.monotonic() - started) * 1000, 3)
            answer["binding"] = dict(binding) if binding is not None else None
        return answer

    async def cmd_detach(self, request: Request) -> Response:
        mac = require_str(request, "mac")
        reason = request.get("reason", "detach")
        self.detach(mac, reason if isinstance(reason, str) and reason else "detach")
        return {"mac": mac}

    async def cmd_status(self, request: Request) -> Response:
        answer = await super().cmd_status(request)
        answer["runtime"]["mag"] = {
            **self.counters,
            **self.endpoint.counters,
            "trigger_busy_remembered": len(self.busy_refused),
        }
        return answer

    async def before_stop(self) -> None:
        driver = self.driver
        if driver is None:
            return
        driver.call(lambda ep, now: ep.shutdown(now))
        # Checked after every event (each PBA) of the grace period: a count, not a status.
        done = await driver.wait_for(lambda ep, now: ep.mag.binding_count == 0, SHUTDOWN_GRACE_S)
        if not done:
            left = driver.snapshot(lambda ep, now: ep.mag.binding_count)
            _log("warning", "de-registration not acknowledged in time", bindings_left=left)


def _handoff_from_request(raw: object) -> HandoffIndicator | None:
    """``"handoff"`` of an attach request: a HandoffIndicator name or number, or absent."""
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)  # "3" from a shell is the number, as the help says
    try:
        if isinstance(raw, str):
            return HandoffIndicator[raw.upper()]
        if isinstance(raw, int) and not isinstance(raw, bool):
            return HandoffIndicator(raw)
    except (KeyError, ValueError):
        pass
    names = ", ".join(h.name for h in HandoffIndicator)
    raise ControlError(f'"handoff" must be one of {names} (or its number)')


class _TriggerSink:
    """What trigger providers report into (mag_ap.providers.TriggerSink)."""

    def __init__(self, daemon: MagDaemon, forgeable: bool = False) -> None:
        self._daemon = daemon
        self._forgeable = forgeable

    def station_attached(self, mac: str, mn_id: str | None = None) -> None:
        daemon = self._daemon
        running = daemon.trigger_attaches
        if mac in running:
            daemon.counters["trigger_duplicate"] += 1
            return
        if self._forgeable and not self.keeping_up(mac, time.monotonic()):
            return  # the station asks again (DHCP and RS retransmit)
        _log("debug", "trigger: station attached", mac=mac)
        running.add(mac)
        task = daemon.spawn(daemon._attach_logged(mac, mn_id, "trigger"), "attach")
        task.add_done_callback(lambda _: running.discard(mac))

    def keeping_up(self, mac: str, now: float) -> bool:
        """Admit a forgeable report while the pipeline keeps up (see MAX_BACKLOG_NEW)."""
        daemon = self._daemon
        assert daemon.driver is not None
        backlog = daemon.driver.action_backlog
        refused = daemon.busy_refused
        # A retry is the same MAC at least RETRY_GAP_S later (its DISCOVER and RS at
        # once are one knock, not two).
        retry = now - refused.get(mac, now) >= RETRY_GAP_S
        limit = MAX_BACKLOG_RETRY if retry else MAX_BACKLOG_NEW
        if backlog < limit and len(daemon.trigger_attaches) < MAX_TRIGGER_ATTACHES_IN_FLIGHT:
            if retry:
                del refused[mac]
                daemon.counters["trigger_admitted_on_retry"] += 1
            return True
        daemon.counters["trigger_dropped_busy"] += 1
        if mac not in refused or retry:
            refused[mac] = now
        refused.move_to_end(mac)
        while len(refused) > BUSY_MEMORY:
            refused.popitem(last=False)
        daemon.busy_dropped_since_summary += 1
        if daemon.busy_summary_at is None or now >= daemon.busy_summary_at:
            _log(
                "warning",
                "trigger: stations dropped, the binding pipeline is behind",
                dropped=daemon.busy_dropped_since_summary,
                backlog=backlog,
                interval_s=BUSY_SUMMARY_S,
            )
            daemon.busy_dropped_since_summary = 0
            daemon.busy_summary_at = now + BUSY_SUMMARY_S
        return False

    def station_detached(self, mac: str, reason: str = "trigger") -> None:
        try:
            self._daemon.detach(mac, reason)
        except ControlError as exc:
            _log("warning", "detach refused", mac=mac, reason=str(exc))


# --- the LMA -----------------------------------------------------------------------------


class LmaDaemon(_Daemon):
    """The reference Local Mobility Anchor: binding cache, pools, revocation."""

    role = "lma"

    def make_endpoint(self, restart_counter: int) -> SansIOEndpoint:
        from ..lma.protocol import LmaProtocol

        assert self.config.lma is not None
        settings = replace(self.config.lma, restart_counter=restart_counter)
        return LmaProtocol(settings, wall_clock_offset_s=wall_clock_offset_s())

    @property
    def lma(self) -> LmaProtocol:
        assert self.driver is not None
        endpoint: LmaProtocol = self.driver.endpoint
        return endpoint

    def commands(self) -> dict[str, Handler]:
        return {**super().commands(), "revoke": self.cmd_revoke}

    def apply_failed(self, action: Action, provider: str) -> None:
        """A route the LMA could not install: revoke the binding (RFC 5846) at its MAG.

        The PBA went out before the route (they run side by side), so the MAG
        believes in a binding whose downlink is black-holed: revocation is the
        protocol's way to take that back.
        """
        if not isinstance(action, MobileRouteUp):
            return
        assert self.driver is not None
        mn_id = action.mn_id
        revoking: bool = self.driver.call(lambda ep, now: ep.revoke(mn_id, now))
        _log(
            "warning",
            "route not installed: binding revoked",
            mn_id=mn_id,
            mag=str(action.mag),
            provider=provider,
            revoking=revoking,
        )

    async def cmd_revoke(self, request: Request) -> Response:
        mn_id = require_str(request, "mn_id")
        assert self.driver is not None
        if self.config.lma is not None and not self.config.lma.revocation:
            raise ControlError("revocation is switched off (lma.revocation = false)")
        found: bool = self.driver.call(lambda ep, now: ep.revoke(mn_id, now))
        if not found:
            raise ControlError(f"no binding for {mn_id}")
        _log("info", "revoke", mn_id=mn_id)
        return {"mn_id": mn_id, "revoking": True}


# --- entry points --------------------------------------------------------------------------


def _run(daemon_cls: type[_Daemon], config: Config) -> int:
    from ..config import ConfigError
    from ..plugins import PluginError

    setup_logging(config.log_level, config.log_format, config.log_target, config.syslog_socket)

    async def main() -> int:
        return await daemon_cls(config).run()

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        _log("error", str(exc), key_path=exc.key_path, source=exc.source or config.source)
        return 1
    except StartupError as exc:
        _log("error", f"cannot start: {exc}", key_path=exc.key_path, source=config.source)
        return 1
    except (ControlError, PluginError) as exc:
        _log("error", str(exc))
        return 1
    except PermissionError as exc:
        _log("error", f"permission denied: {exc} (raw MH sockets need root/CAP_NET_RAW)")
        return 1
    except ImportError as exc:  # a package missing on the device: name it, no traceback
        from ..packages import missing_hint

        _log("error", missing_hint(exc))
        return 1
    except OSError as exc:
        _log("error", f"cannot start: {exc}")
        return 1


def run_mag(config: Config) -> int:
    """Run the MAG until SIGTERM/SIGINT or a stop command; the exit code."""
    if config.role != "mag" or config.mag is None:
        raise ValueError("run_mag needs a config with daemon.role = 'mag'")
    return _run(MagDaemon, config)


def run_lma(config: Config) -> int:
    """Run the reference LMA until SIGTERM/SIGINT or a stop command; the exit code."""
    if config.role != "lma" or config.lma is None:
        raise ValueError("run_lma needs a config with daemon.role = 'lma'")
    return _run(LmaDaemon, config)
