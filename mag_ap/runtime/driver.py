"""The asyncio driver of a sans-IO endpoint (MAG or LMA): clock, one timer, output draining.

The protocol objects never see a clock or a socket (DESIGN.md rule 1). This driver
is the only place that reads ``time.monotonic``, owns exactly one ``loop.call_at``
handle (re-armed from ``get_timer()`` after every event), and after every event
drains ``datagrams_to_send`` to the socket and ``next_action`` to an async action
sink. Actions are applied strictly in order by one worker task, each with a
timeout, so a slow datapath delays its own work, never the protocol's timers.
Log events are no work for a provider: they are written at once, in the event
that produced them, and never wait in the queue behind a route installation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ..core.types import Action, Address, Datagram, LogEvent, SansIOEndpoint
from .one_timer import OneTimer

log = logging.getLogger("mag_ap.runtime.driver")

E = TypeVar("E", bound=SansIOEndpoint)
T = TypeVar("T")

SendFn = Callable[[Datagram], object]
ActionSink = Callable[[Action], Awaitable[None]]
LogSink = Callable[[LogEvent], None]
InlineSink = Callable[[Action], None]
Predicate = Callable[[E, float], bool]

#: Older kernel receive times mean a wall-clock step, not a queue (4 MiB drain in far less).
MAX_RECEIVE_AGE_S = 30.0


def _on_protocol_clock(
    received_unix: float | None, now: float, wall_minus_protocol: float
) -> float | None:
    """A kernel receive time (Unix seconds) on the protocol clock; None if there is none
    or it cannot be one (in the future, or older than a queue can be: the wall clock stepped)."""
    if received_unix is None:
        return None
    received_at = received_unix - wall_minus_protocol
    return received_at if 0.0 <= now - received_at <= MAX_RECEIVE_AGE_S else None


def wall_clock_offset_s() -> float:
    """Add to a monotonic ``now`` to get Unix time (RFC 5213 Timestamp option)."""
    return time.time() - time.monotonic()


def log_event(event: LogEvent) -> None:
    """The default log sink: the event as a record of this module's logger, with its fields."""
    level = logging.getLevelName(event.level.upper())
    log.log(level if isinstance(level, int) else logging.INFO, event.message,
            extra={"fields": event.fields})  # fmt: skip


class Driver(Generic[E]):
    """Runs one sans-IO endpoint on the running asyncio loop."""

    def __init__(
        self,
        endpoint: E,
        *,
        send: SendFn,
        action_sink: ActionSink,
        action_timeout_s: float | None = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        log_sink: LogSink = log_event,
        inline_sink: InlineSink | None = None,
    ) -> None:
        """``inline_sink``, when given, applies every action at once inside the event
        (providers that do no IO, such as the null datapath): no queue, no worker."""
        self.endpoint = endpoint
        self._send = send
        self._action_sink = action_sink
        self._log_sink = log_sink
        self._inline_sink = inline_sink
        self.action_timeout_s = action_timeout_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer = OneTimer(self._on_timer)
        self._actions: asyncio.Queue[Action] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Predicate[E], asyncio.Future[None]]] = []
        self._in_event = False
        self.counters: dict[str, int] = {
            "events": 0,
            "timer_events": 0,
            "datagrams_sent": 0,
            "actions_applied": 0,
            "log_events": 0,
            "log_failures": 0,
            "action_failures": 0,
            "action_timeouts": 0,
            "endpoint_errors": 0,
        }

    # --- lifecycle ------------------------------------------------------------------

    def now(self) -> float:
        """The protocol clock (monotonic seconds)."""
        return self._clock()

    def start(self) -> None:
        """Bind to the running loop, start the action worker and arm the first timer."""
        self._loop = asyncio.get_running_loop()
        self._worker = self._loop.create_task(self._apply_actions(), name="mag-ap-actions")
        self._after_event()

    async def drain_actions(self, timeout_s: float) -> bool:
        """Wait until every queued action has been applied; False on timeout."""
        try:
            await asyncio.wait_for(self._actions.join(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop the timer and the worker (call :meth:`drain_actions` first to keep them)."""
        self._timer.cancel()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        self._waiters.clear()

    # --- events -----------------------------------------------------------------------

    def datagram_received(
        self,
        data: bytes,
        src: Address,
        dst: Address | None = None,
        received_unix: float | None = None,
    ) -> None:
        """Socket callback: hand the bytes to the endpoint (it decodes and counts bad ones).

        ``received_unix`` is the kernel's receive time (wall clock): its age, taken on
        the wall clock, moves it onto the protocol clock, so a datagram that waited in
        the receive buffer behind a burst is seen as arrived when it arrived.
        """
        del dst  # sockets are bound to our own address; kept for the callback signature
        now = self.now()
        received_at = _on_protocol_clock(received_unix, now, self._wall_clock() - now)
        try:
            self.endpoint.receive_datagram(data, src, now, received_at=received_at)
        except Exception:
            self.counters["endpoint_errors"] += 1
            log.exception("endpoint failed on a datagram from %s", src)
        self._after_event()

    def datagrams_received(
        self, batch: list[tuple[bytes, Address, Address | None, float | None]]
    ) -> None:
        """Socket callback for one wake-up's datagrams: one after-event pass for them all."""
        endpoint = self.endpoint
        clock = self._clock
        wall_minus_protocol = self._wall_clock() - clock()  # once per batch: cheap
        for data, src, _dst, received_unix in batch:
            now = clock()
            received_at = _on_protocol_clock(received_unix, now, wall_minus_protocol)
            try:
                endpoint.receive_datagram(data, src, now, received_at=received_at)
            except Exception:
                self.counters["endpoint_errors"] += 1
                log.exception("endpoint failed on a datagram from %s", src)
        self._after_event()

    def call(self, fn: Callable[[E, float], T]) -> T:
        """Run ``fn(endpoint, now)`` as one event (attach, detach, revoke, shutdown...)."""
        try:
            return fn(self.endpoint, self.now())
        finally:
            self._after_event()

    def snapshot(self, fn: Callable[[E, float], T]) -> T:
        """Read-only access (status): no outputs can appear, so nothing to drain."""
        return fn(self.endpoint, self.now())

    async def wait_for(self, predicate: Predicate[E], timeout_s: float) -> bool:
        """Wait until ``predicate(endpoint, now)`` holds after some event; False on timeout."""
        if predicate(self.endpoint, self.now()):
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        return True

    def _on_timer(self) -> None:
        self.counters["timer_events"] += 1
        try:
            self.endpoint.handle_timer(self.now())
        except Exception:
            self.counters["endpoint_errors"] += 1
            log.exception("endpoint failed in handle_timer")
        self._after_event()

    # --- after every event: outputs, timer, waiters -----------------------------------------

    def _after_event(self) -> None:
        if self._in_event:  # a re-entrant call (send callback feeding us): outer call drains
            return
        self._in_event = True
        try:
            self.counters["events"] += 1
            now = self.now()
            clock = self._clock
            for built in self.endpoint.datagrams_to_send(now):
                # A Timestamp is written as the datagram leaves, not when it was built.
                out = (
                    built
                    if built.timestamp_at < 0
                    else Datagram(built.at_departure(clock()), built.peer)
                )
                self._send(out)
                self.counters["datagrams_sent"] += 1
            inline = self._inline_sink
            while (action := self.endpoint.next_action()) is not None:
                if isinstance(action, LogEvent):
                    self._write_log(action)
                elif inline is not None:
                    self._apply_inline(inline, action)
                else:
                    self._actions.put_nowait(action)
            self._rearm(self.endpoint.get_timer())
            self._wake_waiters(now)
        except Exception:
            self.counters["endpoint_errors"] += 1
            log.exception("endpoint failed while draining its outputs")
        finally:
            self._in_event = False

    def _apply_inline(self, sink: InlineSink, action: Action) -> None:
        try:
            sink(action)
            self.counters["actions_applied"] += 1
        except Exception as exc:
            self._action_failed(action, exc)

    def _action_failed(self, action: Action, exc: Exception) -> None:
        self.counters["action_failures"] += 1
        log.error(
            "applying %s failed: %s",
            type(action).__name__,
            exc,
            exc_info=True,
            extra={"fields": {"action": type(action).__name__}},
        )

    def _write_log(self, event: LogEvent) -> None:
        """At once, not through the queue; a broken sink must not lose the actions after it."""
        self.counters["log_events"] += 1
        try:
            self._log_sink(event)
        except Exception:
            self.counters["log_failures"] += 1
            log.exception("log sink failed on %r", event.message)

    def _rearm(self, deadline: float | None) -> None:
        # call_at runs on loop.time(); OneTimer translates from our clock in case they differ.
        self._timer.arm(self._loop, deadline, now=self.now())

    @property
    def action_backlog(self) -> int:
        """Actions queued for the providers, not yet applied (the datapath's backlog)."""
        return self._actions.qsize()

    @property
    def timer_deadline(self) -> float | None:
        """When the one timer fires (protocol clock), for tests and status."""
        return self._timer.deadline

    def _wake_waiters(self, now: float) -> None:
        for predicate, fut in list(self._waiters):
            if fut.done():
                continue
            try:
                ok = predicate(self.endpoint, now)
            except Exception as exc:
                fut.set_exception(exc)
                continue
            if ok:
                fut.set_result(None)

    async def _apply_actions(self) -> None:
        while True:
            action = await self._actions.get()
            try:
                if self.action_timeout_s is None:  # the sink bounds its own work
                    await self._action_sink(action)
                else:
                    # asyncio.timeout keeps a stop's cancellation (wait_for can lose it on 3.11)
                    async with asyncio.timeout(self.action_timeout_s):
                        await self._action_sink(action)
                self.counters["actions_applied"] += 1
            except TimeoutError:
                self.counters["action_timeouts"] += 1
                log.error(
                    "applying %s timed out after %.1f s",
                    type(action).__name__,
                    self.action_timeout_s or 0.0,
                    extra={"fields": {"action": type(action).__name__}},
                )
            except Exception as exc:
                self._action_failed(action, exc)
            finally:
                self._actions.task_done()
