"""Sockets and kernel state of the collocated DHCPv4 server (the pure part is ``_server``).

One :class:`Dhcp4Service` is both the AddressServiceProvider (the runtime feeds
it BindingUp/BindingDown) and the TriggerProvider (it reports DISCOVERs from
unknown MACs as ``station_attached`` and RELEASE/DECLINE/expiry as
``station_detached``), so both roles share one server and one set of sockets.

Sockets, and why:

- receive: a UDP socket on port 67, ``SO_BINDTODEVICE`` to the access
  interface, so the kernel hands us broadcasts from clients with no address and
  unicast renewals/RELEASEs to the router address (and sends no ICMP port
  unreachable for them);
- send: an ``AF_PACKET`` socket on the same interface. A client that has no
  address yet cannot answer ARP, so a unicast OFFER/ACK must go to its chaddr
  at the link layer; we build Ethernet/IPv4/UDP ourselves with the pure codec
  (no ARP injection, no routes needed, and broadcasts go the same way). Only
  replies to a relay (giaddr) use the UDP socket, through the kernel's routing.

Default router on the access link (RFC 5844 section 3.2.1, RFC 5213 6.8): with
``assign_router_address`` each binding's IPv4 default-router address is added
to the access interface as a /32, so the kernel answers ARP for it and accepts
unicast renewals; the addresses we added are removed at stop. With
``fixed_link_layer_address`` the interface gets that MAC at start (the original
one is restored at stop), so a station moving between MAGs keeps a valid ARP
entry for its router. Both are rtnetlink requests (:mod:`mag_ap.rtnl`): no `ip`
program is run; pyroute2 stays the datapath plugin's alone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import time
from ipaddress import IPv4Address
from typing import Any, Final

from mag_ap.core.types import Action, BindingDown, BindingUp, LogEvent
from mag_ap.providers import TriggerSink
from mag_ap.runtime import asyncio
from mag_ap.runtime.one_timer import OneTimer
from mag_ap.runtime.rtnl_io import change_address, set_link_address

from ._packet import CLIENT_PORT, SERVER_PORT, encode, encode_udp_frame
from ._server import Dhcp4Server, SendReply, ServerAction, StationAttached, StationDetached
from ._settings import Dhcp4Config

log = logging.getLogger("mag_ap.dhcp4")

RECV_BUFFER: Final = 4096  # larger than any DHCP message we accept (RFC 2131: 576 minimum)
SO_RCVBUF_BYTES: Final = 1 << 20


class Dhcp4Error(RuntimeError):
    """The service could not set up its sockets or the interface."""


class Dhcp4Service:
    """AddressServiceProvider + TriggerProvider around one :class:`Dhcp4Server`."""

    name = "dhcp4"
    forgeable = True  # a DISCOVER's chaddr is whatever the sender writes

    def __init__(self, config: Dhcp4Config, server: Dhcp4Server | None = None) -> None:
        self.config = config
        self.server = server or Dhcp4Server(config.server)
        self.counters: dict[str, int] = {"sent": 0, "send_errors": 0, "triggers_queued": 0}
        self._sink: TriggerSink | None = None
        self._queued: list[StationAttached | StationDetached] = []
        self._udp: socket.socket | None = None
        self._raw: socket.socket | None = None
        self._own_mac = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer = OneTimer(self._on_timer)
        self._added_routers: set[IPv4Address] = set()
        self._original_mac: str | None = None
        self._kernel_lock = asyncio.Lock()

    # --- AddressServiceProvider ------------------------------------------------

    async def start(self) -> None:
        """Set the fixed MAC, open both sockets on the access interface."""
        self._loop = asyncio.get_running_loop()
        ifname = self.config.interface
        if self.config.fixed_link_layer_address is not None:
            await self._set_fixed_mac(ifname, self.config.fixed_link_layer_address)
        try:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SO_RCVBUF_BYTES)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            udp.bind(("0.0.0.0", SERVER_PORT))
            udp.setblocking(False)
            self._udp = udp
            raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only
            raw.bind((ifname, 0))
            raw.setblocking(False)
            self._raw = raw
            self._own_mac = bytes(raw.getsockname()[4][:6])
        except OSError as exc:
            self._close_sockets()
            raise Dhcp4Error(f"dhcp4: cannot listen on {ifname!r}: {exc}") from exc
        self._loop.add_reader(udp.fileno(), self._readable)
        log.info(
            "dhcp4 server listening",
            extra={"fields": {"interface": ifname, "mac": self._own_mac.hex(":")}},
        )

    async def apply(self, action: Action) -> None:
        now = self._now()
        if isinstance(action, BindingUp):
            if self.config.assign_router_address and action.ipv4_default_router is not None:
                await self._add_router(action.ipv4_default_router)
            self.server.binding_up(action, now)
        elif isinstance(action, BindingDown):
            self.server.binding_down(action, now)
        else:
            return
        self._flush()

    async def stop(self) -> None:
        """Close the sockets, remove the router addresses we added, restore the MAC."""
        self._timer.cancel()
        self._close_sockets()
        ifname = self.config.interface
        for router in sorted(self._added_routers):
            with contextlib.suppress(OSError):  # gone already, or the interface is
                await change_address(False, ifname, f"{router}/32")
        self._added_routers.clear()
        if self._original_mac is not None:
            with contextlib.suppress(OSError):
                await set_link_address(ifname, self._original_mac)
            self._original_mac = None

    # --- TriggerProvider ---------------------------------------------------------

    async def run(self, sink: TriggerSink) -> None:
        """Report stations into ``sink`` until cancelled (queued ones first)."""
        self._sink = sink
        queued, self._queued = self._queued, []
        for event in queued:
            self._report(event)
        try:
            await asyncio.Event().wait()
        finally:
            self._sink = None

    # --- status ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        out = self.server.status(self._now())
        out["counters"] = {**out["counters"], **self.counters}
        out["interface"] = self.config.interface
        out["router_addresses"] = sorted(str(a) for a in self._added_routers)
        return out

    # --- internals -----------------------------------------------------------------

    def _now(self) -> float:
        """The loop's clock (the timer uses it); monotonic before start (status only)."""
        return self._loop.time() if self._loop is not None else time.monotonic()

    def _readable(self) -> None:
        """Drain the UDP socket (bounded per wake-up so the loop stays responsive)."""
        if self._udp is None:
            return
        for _ in range(256):
            try:
                data = self._udp.recv(RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.warning("dhcp4 receive failed", extra={"fields": {"error": str(exc)}})
                break
            self.server.receive(data, self._now())
        self._flush()

    def _flush(self) -> None:
        for action in self.server.drain():
            self._do(action)
        self._schedule()

    def _do(self, action: ServerAction) -> None:
        if isinstance(action, SendReply):
            self._send(action)
        elif isinstance(action, StationAttached | StationDetached):
            if not self.config.trigger:
                return
            if self._sink is None:
                self.counters["triggers_queued"] += 1
                self._queued.append(action)
            else:
                self._report(action)
        elif isinstance(action, LogEvent):
            level = logging.getLevelName(action.level.upper())
            log.log(level, action.message, extra={"fields": action.fields})

    def _report(self, event: StationAttached | StationDetached) -> None:
        assert self._sink is not None
        if isinstance(event, StationAttached):
            self._sink.station_attached(event.mac)
        else:
            self._sink.station_detached(event.mac, event.reason)

    def _send(self, action: SendReply) -> None:
        dest = action.destination
        payload = encode(action.message)
        try:
            if dest.via_relay:
                if self._udp is None:
                    return
                self._udp.sendto(payload, (str(dest.ip), dest.port))
            else:
                if self._raw is None:
                    return
                frame = encode_udp_frame(
                    src_mac=self._own_mac,
                    dst_mac=dest.mac,
                    src_ip=action.server_ip,
                    dst_ip=dest.ip,
                    src_port=SERVER_PORT,
                    dst_port=dest.port or CLIENT_PORT,
                    payload=payload,
                )
                self._raw.send(frame)
            self.counters["sent"] += 1
        except OSError as exc:
            self.counters["send_errors"] += 1
            log.warning("dhcp4 send failed", extra={"fields": {"error": str(exc)}})

    def _schedule(self) -> None:
        if self._loop is None:
            return
        self._timer.arm(self._loop, self.server.get_timer())

    def _on_timer(self) -> None:
        self.server.handle_timer(self._now())
        self._flush()

    async def _add_router(self, router: IPv4Address) -> None:
        if router in self._added_routers:
            return
        async with self._kernel_lock:
            # Already there (e.g. the datapath plugin added it): not ours to remove.
            try:
                code = await change_address(True, self.config.interface, f"{router}/32")
            except OSError as exc:
                raise Dhcp4Error(f"dhcp4: adding {router}/32: {exc}") from exc
            if code == 0:
                self._added_routers.add(router)
            elif code != errno.EEXIST:
                raise Dhcp4Error(f"dhcp4: adding {router}/32: {os.strerror(code)}")

    async def _set_fixed_mac(self, ifname: str, mac: str) -> None:
        try:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as probe:
                probe.bind((ifname, 0))
                current = bytes(probe.getsockname()[4][:6]).hex(":")
        except OSError as exc:
            raise Dhcp4Error(f"dhcp4: no interface {ifname!r}: {exc}") from exc
        if current == mac:
            return
        try:
            await set_link_address(ifname, mac)
        except OSError as exc:
            raise Dhcp4Error(f"dhcp4: setting the MAC of {ifname}: {exc}") from exc
        self._original_mac = current

    def _close_sockets(self) -> None:
        if self._udp is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
