"""The RADIUS accounting listener (IO half): UDP socket, answers, identity look-ups.

``run`` binds the UDP socket and serves until cancelled; every datagram is
decoded by :mod:`mag_ap_radius.packet`, checked against the shared secret, applied to the
:class:`._identities.IdentityMap` and answered with an Accounting-Response
(RFC 2866 section 4.2: only a request we recorded is acknowledged). Anything bad
is counted and dropped. ``identity_for`` waits up to ``identity_wait_s`` for the
Accounting-Start, which hostapd sends about when it reports the station
authorized: the trigger may ask first.
"""

from __future__ import annotations

import logging
import socket
from typing import cast

from mag_ap.mac import parse_mac
from mag_ap.providers import IDENTITY_PRIORITY, TriggerSink
from mag_ap.runtime import asyncio
from mag_ap.wire import DecodeError
from mag_ap_radius.packet import accounting_response, decode, verify_request

from ._identities import IdentityMap
from ._settings import RadAcctSettings

log = logging.getLogger("mag_ap.radacct")


class RadAcctListener:
    """TriggerProvider (runs the listener; detaches on Stop) and IdentityProvider."""

    name = "radacct"
    priority = IDENTITY_PRIORITY["radacct"]

    def __init__(self, settings: RadAcctSettings) -> None:
        self.settings = settings
        self.identities = IdentityMap()
        self.counters: dict[str, int] = {
            "received": 0,
            "answered": 0,
            "malformed": 0,
            "bad_authenticator": 0,
            "not_accounting": 0,
            "ignored": 0,
            "fallback": 0,
            "identity_changes": 0,
        }
        self.bound: tuple[str, int] | None = None
        self._changed = asyncio.Event()
        self._sink: TriggerSink | None = None

    # --- IdentityProvider ------------------------------------------------------------

    async def identity_for(self, mac: str) -> str | None:
        normal = parse_mac(mac)
        if normal is None:
            return None
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + self.settings.identity_wait_s
        while (name := self.identities.get(normal)) is None:
            left_s = deadline_at - loop.time()
            if left_s <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left_s)
            except TimeoutError:
                break
        if name is None:
            self.counters["fallback"] += 1  # declined: the next provider of the chain answers
        return name

    # --- TriggerProvider: the listener -----------------------------------------------

    async def run(self, sink: TriggerSink) -> None:
        self._sink = sink
        self._changed = asyncio.Event()
        address = str(self.settings.address)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self),
            local_addr=(address, self.settings.port),
            family=family,
        )
        self.bound = transport.get_extra_info("sockname")[:2]
        log.info("RADIUS accounting listener on %s port %d", *self.bound)
        try:
            await asyncio.Future()  # until cancelled
        finally:
            transport.close()

    def handle(self, data: bytes, source: str) -> bytes | None:
        """One datagram -> the reply to send, or None (dropped and counted)."""
        self.counters["received"] += 1
        try:
            packet = decode(data)
        except DecodeError as exc:
            self.counters["malformed"] += 1
            log.warning("RADIUS from %s dropped: %s", source, exc)
            return None
        reason = verify_request(packet, self.settings.secret)
        if reason is not None:
            key = "not_accounting" if "no Accounting-Request" in reason else "bad_authenticator"
            self.counters[key] += 1
            log.warning("RADIUS from %s dropped: %s", source, reason)
            return None
        outcome = self.identities.apply(packet, source)
        if outcome.kind in ("start", "interim"):
            log.info("accounting %s: %s is %s", outcome.kind, outcome.mac, outcome.user_name)
            self._changed.set()
            if outcome.user_changed and outcome.mac and self._sink is not None:
                # re-authenticated as another user: the binding changes MN-ID
                self.counters["identity_changes"] += 1
                log.info("accounting: %s is now %s (was %s): re-binding",
                         outcome.mac, outcome.user_name, outcome.previous)  # fmt: skip
                self._sink.station_detached(outcome.mac, "radius-accounting-identity-changed")
                self._sink.station_attached(outcome.mac, outcome.user_name)
        elif outcome.kind in ("no-mac", "no-user-name", "mac-user-name", "ignored-status"):
            self.counters["ignored"] += 1
            log.info("accounting from %s: %s", source, outcome.kind)
        if outcome.detach and outcome.mac and self.settings.detach_on_stop and self._sink:
            self._sink.station_detached(outcome.mac, "radius-accounting-stop")
        self.counters["answered"] += 1
        return accounting_response(packet, self.settings.secret)

    def status(self) -> dict[str, object]:
        return {**self.counters, "identities": len(self.identities.entries)}


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listener: RadAcctListener) -> None:
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            reply = self.listener.handle(data, str(addr[0]))
        except Exception:  # a bug of ours must not stop the listener: count and go on
            self.listener.counters["malformed"] += 1
            log.exception("RADIUS datagram from %s crashed the handler", addr[0])
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.warning("RADIUS socket error: %s", exc)
