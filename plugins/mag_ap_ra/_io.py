"""Router advertisements on the access link: AF_PACKET socket, asyncio timer, RS trigger.

:class:`RaService` is the AddressServiceProvider (``BindingUp`` -> RAs with the
HNP, ``BindingDown`` -> withdrawal); :class:`RsTrigger` is the TriggerProvider
that reports an RS from a MAC without a binding as an attached station. Both
share one :class:`RaService`, which owns the socket and the single timer; the
logic is in :mod:`._schedule` and the bytes in :mod:`._packet`.

Why AF_PACKET: the RA goes to ff02::1 at the IP layer but to the MN's unicast
MAC at the link layer (RFC 6085), which an ICMPv6 socket cannot express. A
classic BPF filter keeps everything but Router Solicitations in the kernel, so
the forwarded traffic of an access point never reaches Python.
"""

from __future__ import annotations

import array
import contextlib
import errno
import logging
import os
import socket
import struct
from typing import Any, Final

from mag_ap.core.types import Action, BindingDown, BindingUp
from mag_ap.mac import mac_bytes
from mag_ap.providers import TriggerSink
from mag_ap.runtime import asyncio
from mag_ap.runtime.one_timer import OneTimer
from mag_ap.runtime.rtnl_io import change_address

from ._packet import ALL_ROUTERS, ETH_P_IPV6, multicast_mac
from ._schedule import RaScheduler, RaSettings
from ._settings import RaConfig

__all__ = ["RaService", "RsTrigger", "interface_mac"]

log = logging.getLogger(__name__)

SOL_PACKET: Final = 263
PACKET_ADD_MEMBERSHIP: Final = 1
PACKET_MR_MULTICAST: Final = 0
PACKET_OUTGOING: Final = 4
SO_ATTACH_FILTER: Final = 26
PACKET_STATISTICS: Final = 6  # struct tpacket_stats {tp_packets, tp_drops}, reset on read
SO_RCVBUFFORCE: Final = 33
# A bound station's RS must survive the loop being busy during a flood of forged MACs
# (500 RS/s): the default ~200 KiB holds ~0.4 s of it and the kernel drops the rest,
# the real station's solicitation among them. 2 MiB holds seconds of such a flood.
RECEIVE_BUFFER_BYTES: Final = 2 << 20
MAX_FRAME: Final = 65535

# Router Solicitations, Neighbor Solicitations (DAD) and MLDv2 reports behind an
# 8-octet Hop-by-Hop header; everything else stays in the kernel. (code, jt, jf, k):
_RS_FILTER: Final = (
    (0x28, 0, 0, 12),  # 0: ldh [12] ethertype
    (0x15, 0, 11, ETH_P_IPV6),  # 1: IPv6? else drop
    (0x30, 0, 0, 20),  # 2: ldb [20] next header
    (0x15, 0, 3, 58),  # 3: ICMPv6? else 7
    (0x30, 0, 0, 54),  # 4: ldb [54] ICMPv6 type
    (0x15, 6, 0, 133),  # 5: RS: accept
    (0x15, 5, 6, 135),  # 6: NS: accept, else drop
    (0x15, 0, 5, 0),  # 7: Hop-by-Hop? else drop
    (0x30, 0, 0, 54),  # 8: ldb [54] its next header
    (0x15, 0, 3, 58),  # 9: ICMPv6? else drop
    (0x30, 0, 0, 62),  # 10: ldb [62] ICMPv6 type after 8 octets of options
    (0x15, 0, 1, 143),  # 11: MLDv2 report: accept, else drop
    (0x06, 0, 0, MAX_FRAME),  # 12: accept
    (0x06, 0, 0, 0),  # 13: drop
)
PACKET_MR_ALLMULTI: Final = 2  # DAD goes to solicited-node groups: all of them


def _attach_rs_filter(sock: socket.socket) -> None:
    """SO_ATTACH_FILTER without ctypes: array.buffer_info() gives the program's address."""
    program = array.array("B", b"".join(struct.pack("=HBBI", *ins) for ins in _RS_FILTER))
    address, _ = program.buffer_info()
    fprog = struct.pack("@HP", len(_RS_FILTER), address)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies it


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """SO_RCVBUFFORCE (root) passes net.core.rmem_max; else the capped SO_RCVBUF."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
    except OSError:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)


def interface_mac(ifname: str) -> str:
    with open(f"/sys/class/net/{ifname}/address", encoding="ascii") as f:
        return f.read().strip()


class RaService:
    """AddressServiceProvider: per-MN unicast RAs on one access interface."""

    name = "ra"

    def __init__(self, config: RaConfig) -> None:
        assert config.interface is not None
        self.config = config
        self.ifname: str = config.interface
        self.scheduler: RaScheduler | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer = OneTimer(self._on_timer)
        self._added_link_local = False
        self._sinks: list[TriggerSink] = []
        self.send_errors = 0
        self.receive_drops = 0  # frames the kernel dropped: our receive buffer was full

    # --- AddressServiceProvider -------------------------------------------------

    async def start(self) -> None:
        import random

        loop = asyncio.get_running_loop()
        cfg = self.config
        mac = cfg.mac or interface_mac(self.ifname)
        settings = RaSettings(
            mac=mac_bytes(mac),
            link_local=cfg.link_local_address,
            mtu=cfg.mtu,
            router_lifetime_s=cfg.router_lifetime_s,
            interval_s=cfg.interval_s,
            rs_delay_max_s=cfg.rs_delay_max_s,
            rs_trigger_holdoff_s=cfg.rs_trigger_holdoff_s,
            rs_trigger_rate_per_s=cfg.rs_trigger_rate_per_s,
            rs_trigger_burst=cfg.rs_trigger_burst,
        )
        if cfg.add_link_local:
            await self._add_link_local()
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
        try:
            _attach_rs_filter(sock)
            _enlarge_receive_buffer(sock)
            sock.bind((self.ifname, ETH_P_IPV6))
            mreq = struct.pack(
                "iHH8s",
                socket.if_nametoindex(self.ifname),
                PACKET_MR_MULTICAST,
                6,
                multicast_mac(ALL_ROUTERS),
            )
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            if cfg.rs_trigger:  # MLD reports (ff02::16) and DAD solicitations find us too
                allmulti = struct.pack(
                    "iHH8s", socket.if_nametoindex(self.ifname), PACKET_MR_ALLMULTI, 0, b""
                )
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, allmulti)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = loop
        self.scheduler = RaScheduler(settings, random=random.random)
        loop.add_reader(sock.fileno(), self._readable)
        log.info("ra: serving %s as %s (%s)", self.ifname, cfg.link_local_address, mac)

    async def apply(self, action: Action) -> None:
        if self.scheduler is None or self._loop is None:
            return
        now = self._loop.time()
        if isinstance(action, BindingUp):
            self.scheduler.binding_up(
                action.mac, action.hnp, action.lifetime_s, now, refresh=action.refresh
            )
        elif isinstance(action, BindingDown):
            self.scheduler.binding_down(action.mac, now)
        else:
            return
        self._service(now)

    async def stop(self) -> None:
        if self.scheduler is not None and self._loop is not None:
            self._service(self._loop.time())  # what is due now (withdrawals at offset 0)
        self._timer.cancel()
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None
        if self._added_link_local:
            with contextlib.suppress(OSError):  # the interface may be gone
                await change_address(False, self.ifname, f"{self.config.link_local_address}/64")
            self._added_link_local = False

    # --- for the RS trigger and status ------------------------------------------

    def add_sink(self, sink: TriggerSink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: TriggerSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    def status(self) -> dict[str, Any]:
        if self.scheduler is None or self._loop is None:
            return {"interface": self.ifname, "running": False}
        return {
            "interface": self.ifname,
            "running": True,
            "send_errors": self.send_errors,
            "receive_drops": self._receive_drops(),
            **self.scheduler.status(self._loop.time()),
        }

    # --- IO glue ------------------------------------------------------------------

    async def _add_link_local(self) -> None:
        addr = f"{self.config.link_local_address}/64"
        code = await change_address(True, self.ifname, addr, nodad=True)
        if code == 0:
            self._added_link_local = True
        elif code != errno.EEXIST:  # present already: someone else's, left alone
            raise OSError(code, f"adding {addr} on {self.ifname}: {os.strerror(code)}")

    def _receive_drops(self) -> int:
        """Kernel drops on the socket so far (PACKET_STATISTICS resets on read: summed)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
                self.receive_drops += struct.unpack("=II", raw)[1]
        return self.receive_drops

    def _readable(self) -> None:
        assert self._sock is not None and self.scheduler is not None and self._loop is not None
        for _ in range(64):  # bounded per wake-up so a flood cannot starve the loop
            try:
                data, addr = self._sock.recvfrom(MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.warning("ra: receive failed on %s: %s", self.ifname, exc)
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            self.scheduler.frame_received(data, self._loop.time())
        self._service(self._loop.time())

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._service(self._loop.time())

    def _service(self, now: float) -> None:
        """Run due timers, send frames, report unknown stations, re-arm the one timer."""
        scheduler = self.scheduler
        assert scheduler is not None and self._loop is not None
        scheduler.handle_timer(now)
        for frame in scheduler.frames_to_send():
            try:
                if self._sock is not None:
                    self._sock.send(frame)
            except OSError as exc:
                self.send_errors += 1
                log.warning("ra: send failed on %s: %s", self.ifname, exc)
        while (mac := scheduler.next_unknown_station()) is not None:
            if self.config.rs_trigger:
                for sink in self._sinks:
                    sink.station_attached(mac)
        dropped = scheduler.gate.summary(now)
        if dropped is not None:  # one line per interval during a flood, not one per packet
            log.warning(
                "ra: %d solicitations from stations without a binding dropped (rate limit) "
                "in %.0f s; %d remembered for a retry",
                dropped,
                scheduler.gate.settings.summary_interval_s,
                scheduler.gate.remembered,
            )
        self._timer.arm(self._loop if self._sock is not None else None, scheduler.get_timer())


class RsTrigger:
    """TriggerProvider: a Router Solicitation from a MAC with no binding attaches it."""

    name = "ra-rs"
    forgeable = True  # any source MAC can solicit

    def __init__(self, service: RaService) -> None:
        self.service = service

    async def run(self, sink: TriggerSink) -> None:
        self.service.add_sink(sink)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self.service.remove_sink(sink)
