"""Access-link triggers: link down and neighbour inactivity -> station detached.

One :class:`AccessWatch` is both an AddressServiceProvider (it only *observes*
``BindingUp``/``BindingDown`` to know which MACs are bound; it hands out no
address) and a TriggerProvider (``run`` owns the sockets until cancelled).

* Link state: a plain AF_NETLINK socket subscribed to RTMGRP_LINK gets
  RTM_NEWLINK on every operstate change of the access interface (event
  driven, no polling); the initial state is read from
  /sys/class/net/<if>/operstate.
* Neighbours: an RTM_GETNEIGH dump every ``poll_interval_s`` (v4 and v6 in one
  dump), filtered to the access interface; the STALE entries of bound stations
  are then "used" (RTM_NEWNEIGH + NTF_USE on a second socket, whose answers are
  only counted) so the kernel probes them. No ``ip`` process per poll, and no
  pyroute2 (reserved for the datapath plugin).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any, Final

from mag_ap.core.types import Action, BindingDown, BindingUp
from mag_ap.providers import TriggerSink
from mag_ap.runtime import asyncio
from mag_ap.wire import DecodeError

from ._netlink import (
    RTMGRP_LINK,
    Done,
    LinkMessage,
    NeighbourMessage,
    NetlinkError,
    decode_messages,
    neighbour_dump_request,
    neighbour_probe_request,
)
from ._settings import LinkwatchConfig
from ._watch import StationWatch, WatchSettings

__all__ = ["AccessWatch"]

log = logging.getLogger(__name__)
NETLINK_BUFFER: Final = 1 << 16
_OPERSTATE_UP: Final = ("up", "unknown")


def read_operstate(ifname: str) -> bool:
    with open(f"/sys/class/net/{ifname}/operstate", encoding="ascii") as f:
        return f.read().strip() in _OPERSTATE_UP


class AccessWatch:
    """Detaches bound stations when the access link goes down or they fall silent."""

    name = "linkwatch"

    def __init__(self, config: LinkwatchConfig) -> None:
        assert config.interface is not None
        self.config = config
        self.ifname: str = config.interface
        self.watch = StationWatch(
            WatchSettings(
                inactivity_timeout_s=config.inactivity_timeout_s,
                link_down_detach=config.link_down_detach,
            )
        )
        self._sink: TriggerSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self.bad_messages = 0
        self.polls = 0
        self.probes = 0
        self.probe_errors = 0

    # --- AddressServiceProvider: observe bindings only ---------------------------

    async def start(self) -> None:
        """Nothing to open here: ``run`` owns the sockets."""

    async def apply(self, action: Action) -> None:
        now = asyncio.get_running_loop().time()
        if isinstance(action, BindingUp):
            self.watch.binding_up(action.mac, now)
            self._wake.set()
        elif isinstance(action, BindingDown):
            self.watch.binding_down(action.mac)

    async def stop(self) -> None:
        """Nothing to release: cancelling ``run`` closed the sockets."""

    # --- TriggerProvider ----------------------------------------------------------

    async def run(self, sink: TriggerSink) -> None:
        loop = asyncio.get_running_loop()
        self._sink = sink
        self._loop = loop
        ifindex = socket.if_nametoindex(self.ifname)
        link_sock: socket.socket | None = None
        neigh_sock: socket.socket | None = None
        probe_sock: socket.socket | None = None
        try:
            if self.config.link_down_detach:
                link_sock = _netlink_socket(groups=RTMGRP_LINK)
                loop.add_reader(link_sock.fileno(), self._link_readable, link_sock, ifindex)
                self.watch.link(read_operstate(self.ifname), loop.time())
            if self.config.inactivity_timeout_s > 0:
                neigh_sock = _netlink_socket(groups=0)
                probe_sock = _netlink_socket(groups=0)
            sequence = 0
            while True:
                if neigh_sock is not None:
                    sequence += 1
                    entries = await self._dump_neighbours(neigh_sock, sequence, ifindex)
                    if entries is not None:
                        self.watch.neighbours(entries, loop.time())
                        if probe_sock is not None:
                            sequence = self._probe(probe_sock, entries, sequence)
                    self.polls += 1
                    self.watch.handle_timer(loop.time())
                self._report()
                self._wake.clear()
                delay = self.config.poll_interval_s if neigh_sock is not None else None
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation racing with the wake-up, and the daemon would not stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            if link_sock is not None:
                loop.remove_reader(link_sock.fileno())
                link_sock.close()
            if neigh_sock is not None:
                neigh_sock.close()
            if probe_sock is not None:
                probe_sock.close()
            self._sink = None
            self._loop = None

    def status(self) -> dict[str, Any]:
        now = self._loop.time() if self._loop is not None else 0.0
        return {
            "interface": self.ifname,
            "running": self._sink is not None,
            "polls": self.polls,
            "probes": self.probes,
            "probe_errors": self.probe_errors,
            "bad_messages": self.bad_messages,
            **self.watch.status(now),
        }

    # --- IO glue ------------------------------------------------------------------

    def _report(self) -> None:
        while (item := self.watch.next_detach()) is not None:
            mac, reason = item
            log.info("triggers: %s detached (%s)", mac, reason)
            if self._sink is not None:
                self._sink.station_detached(mac, reason)

    def _link_readable(self, sock: socket.socket, ifindex: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(64):
            try:
                data = sock.recv(NETLINK_BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ENOBUFS: we missed events, re-read the state
                log.warning("triggers: link socket: %s", exc)
                self.watch.link(read_operstate(self.ifname), loop.time())
                continue
            try:
                messages = decode_messages(data)
            except DecodeError as exc:
                self.bad_messages += 1
                log.warning("triggers: bad netlink message: %s", exc)
                continue
            for msg in messages:
                if isinstance(msg, LinkMessage) and msg.ifindex == ifindex:
                    self.watch.link(msg.up, loop.time())
        self._report()

    def _probe(self, sock: socket.socket, entries: list[NeighbourMessage], sequence: int) -> int:
        """Have the kernel probe the STALE entries of bound stations; the next sequence.

        Answers (only errors come back: ENOENT for an entry that just went) are
        drained and counted; a probe that cannot be sent waits for the next poll.
        """
        self._drain_probe_answers(sock)
        for entry in self.watch.to_probe(entries):
            assert entry.dst is not None
            sequence += 1
            try:
                sock.send(neighbour_probe_request(sequence, entry.ifindex, entry.dst))
            except OSError as exc:
                self.probe_errors += 1
                log.debug("triggers: probe of %s not sent: %s", entry.dst, exc)
                break
            self.probes += 1
        return sequence

    def _drain_probe_answers(self, sock: socket.socket) -> None:
        for _ in range(256):
            try:
                data = sock.recv(NETLINK_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.probe_errors += 1
                return
            try:
                messages = decode_messages(data)
            except DecodeError:
                self.bad_messages += 1
                continue
            self.probe_errors += sum(1 for m in messages if isinstance(m, NetlinkError) and m.errno)

    async def _dump_neighbours(
        self, sock: socket.socket, sequence: int, ifindex: int
    ) -> list[NeighbourMessage] | None:
        """One full neighbour dump of ``ifindex``; None when it failed (no conclusion)."""
        loop = asyncio.get_running_loop()
        entries: list[NeighbourMessage] = []
        try:
            await loop.sock_sendall(sock, neighbour_dump_request(sequence))
            while True:
                data = await loop.sock_recv(sock, NETLINK_BUFFER)
                for msg in decode_messages(data):
                    if isinstance(msg, Done):
                        return entries
                    if isinstance(msg, NetlinkError) and msg.errno:
                        raise OSError(msg.errno, "neighbour dump refused")
                    if isinstance(msg, NeighbourMessage) and msg.ifindex == ifindex:
                        entries.append(msg)
        except (OSError, DecodeError) as exc:
            self.bad_messages += 1
            log.warning("triggers: neighbour dump failed: %s", exc)
            return None


def _netlink_socket(groups: int) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.bind((0, groups))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
