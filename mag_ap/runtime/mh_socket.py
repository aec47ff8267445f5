"""Sockets that carry Mobility Header messages: raw IPv6 protocol 135, or UDP 5436 over IPv4.

IPv6 transport: ``socket(AF_INET6, SOCK_RAW, 135)``. The kernel fills the MH
checksum on send and silently drops bad ones on receive (IPV6_CHECKSUM offset 4);
we read the MH (from its first byte), the source from ``recvmsg`` and the
destination from IPV6_PKTINFO.

Both sockets ask for SO_TIMESTAMPNS: the kernel's receive time of every datagram
goes to the callback, so the protocol can judge a Timestamp option at arrival
rather than after the datagram waited behind a burst in the receive buffer.

IPv4-only transport (RFC 5844 section 4), **our convention**: both ends bind UDP
port 5436 (IANA "pmip6-cntl") on their own address and send to port 5436 of the
peer; the UDP payload is exactly the Mobility Header (no inner IPv6 header). The
MH checksum is computed with :func:`mag_ap.mh.with_checksum` over the IPv4-mapped
addresses (``::ffff:a.b.c.d``) of sender and receiver, so a capture decodes as a
valid MH. A receiver accepts a correct checksum or zero (a sender that leaves it
to UDP's own checksum) and drops anything else, counted, like the kernel does for
raw sockets. NAT traversal (replying to the source port) is not supported.

Everything else that arrives (short, garbled, unknown types) is handed to the
protocol object, which decodes and counts it: a bad packet is never a crash here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol, TypeVar

from ..core.types import Address
from ..mh import checksum_ok, with_checksum
from ..mh.constants import IPPROTO_MH

log = logging.getLogger("mag_ap.runtime.socket")

PMIP6_CNTL_PORT = 5436  # RFC 5844 section 4: UDP port of the control plane over IPv4
_MAX_DATAGRAM = 65535
_PKTINFO_LEN = 20  # struct in6_pktinfo: 16-byte address + 4-byte ifindex
_MH_CHECKSUM_OFFSET = 4

#: Called for every datagram read: (MH bytes, source, destination when known,
#: kernel receive time as Unix seconds when known).
ReceiveCallback = Callable[[bytes, Address, Address | None, float | None], None]
_Read = tuple[bytes, Address, Address | None, float | None]
#: Called instead, when given, with every datagram of one wake-up (at most MAX_BATCH).
BatchCallback = Callable[[list[_Read]], None]

K = TypeVar("K")

MAX_BATCH = 64  # datagrams read per wake-up before the loop runs other work again
_ADDRESS_CACHE_MAX = 4096  # peers' parsed addresses and sockaddrs kept (a handful of MAGs)

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value
_SO_TIMESTAMPNS_NEW = 64  # Linux >= 5.1 on 32-bit time_t ABIs: always 64-bit fields
_TIMESTAMP_SPACE = socket.CMSG_SPACE(16)


def _receive_time(level: int, kind: int, payload: bytes) -> float | None:
    """A SO_TIMESTAMPNS control message as Unix seconds (struct timespec, 32 or 64 bit)."""
    if level != socket.SOL_SOCKET or kind not in (SO_TIMESTAMPNS, _SO_TIMESTAMPNS_NEW):
        return None
    if len(payload) >= 16:
        sec, nsec = struct.unpack_from("=qq", payload)
    elif len(payload) >= 8:
        sec, nsec = struct.unpack_from("=ii", payload)
    else:
        return None
    return float(sec) + float(nsec) / 1e9


class MhSocket(Protocol):
    """What the daemon needs of a Mobility Header socket, whatever carries it."""

    counters: dict[str, int]

    def open(self, loop: asyncio.AbstractEventLoop) -> None: ...

    def send(self, data: bytes, peer: Address) -> bool: ...

    def close(self) -> None: ...


class _BaseMhSocket:
    """Shared reader loop and counters; subclasses create the socket and parse reads."""

    family: int = socket.AF_UNSPEC

    def __init__(
        self,
        own_address: Address,
        on_datagram: ReceiveCallback,
        on_batch: BatchCallback | None = None,
    ) -> None:
        self.own_address = own_address
        self._on_datagram = on_datagram
        self._on_batch = on_batch
        # Parsing and printing addresses cost more than the syscalls: remember them per peer.
        self._addresses: dict[object, Address] = {}
        self._sockaddrs: dict[Address, tuple[str, int]] = {}
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counters: dict[str, int] = {
            "rx_datagrams": 0,
            "tx_datagrams": 0,
            "tx_errors": 0,
            "rx_dropped_checksum": 0,
        }

    def _make_socket(self) -> socket.socket:
        raise NotImplementedError

    def _read_one(self, sock: socket.socket) -> _Read | None:
        raise NotImplementedError

    def _sendto(self, sock: socket.socket, data: bytes, peer: Address) -> None:
        raise NotImplementedError

    @property
    def fileno(self) -> int:
        """The socket's descriptor (tests and diagnostics)."""
        if self._sock is None:
            raise RuntimeError("socket is not open")
        return self._sock.fileno()

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Create, bind and register the socket with the loop (raises OSError, e.g. EPERM)."""
        sock = self._make_socket()
        _enlarge_receive_buffer(sock)
        with contextlib.suppress(OSError):  # without it the protocol judges at read time
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        self._sock = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        """Unregister and close; safe to call twice."""
        if self._sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None

    def _readable(self) -> None:
        if self._on_batch is not None:
            self._read_batch()
            return
        # Drain everything queued: one wake-up may stand for many datagrams.
        sock = self._sock
        while sock is not None:
            try:
                got = self._read_one(sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP-induced ECONNREFUSED on UDP: not fatal
                log.debug("receive error: %s", exc, extra={"fields": {"errno": exc.errno}})
                return
            if got is None:
                continue
            data, src, dst, received_unix = got
            self.counters["rx_datagrams"] += 1
            self._on_datagram(data, src, dst, received_unix)
            sock = self._sock  # the callback may have closed us

    def _read_batch(self) -> None:
        """Up to MAX_BATCH datagrams, handed over at once; the loop calls again while more wait.

        The owner then does its after-event work (send, re-arm, drain actions)
        once per batch, and a flood cannot starve the loop's other tasks.
        """
        sock = self._sock
        if sock is None or self._on_batch is None:
            return
        batch: list[_Read] = []
        read_one = self._read_one
        for _ in range(MAX_BATCH):
            try:
                got = read_one(sock)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP-induced ECONNREFUSED on UDP: not fatal
                log.debug("receive error: %s", exc, extra={"fields": {"errno": exc.errno}})
                break
            if got is not None:
                batch.append(got)
        if batch:
            self.counters["rx_datagrams"] += len(batch)
            self._on_batch(batch)

    def _address(self, key: K, parse: Callable[[K], Address]) -> Address:
        """The parsed address for a raw one (cached, bounded)."""
        found = self._addresses.get(key)
        if found is None:
            if len(self._addresses) >= _ADDRESS_CACHE_MAX:
                self._addresses.clear()
            found = self._addresses[key] = parse(key)
        return found

    def _sockaddr(self, peer: Address, port: int) -> tuple[str, int]:
        found = self._sockaddrs.get(peer)
        if found is None:
            if len(self._sockaddrs) >= _ADDRESS_CACHE_MAX:
                self._sockaddrs.clear()
            found = self._sockaddrs[peer] = (str(peer), port)
        return found

    def send(self, data: bytes, peer: Address) -> bool:
        """Send one MH; a failure is counted and logged, never raised (timers retransmit)."""
        if self._sock is None:
            self.counters["tx_errors"] += 1
            return False
        try:
            self._sendto(self._sock, data, peer)
        except OSError as exc:
            self.counters["tx_errors"] += 1
            log.warning(
                "send to %s failed: %s",
                peer,
                exc.strerror or exc,
                extra={"fields": {"peer": str(peer), "errno": exc.errno}},
            )
            return False
        self.counters["tx_datagrams"] += 1
        return True


RECEIVE_BUFFER_BYTES = 4 << 20  # a burst of refreshes from 40,000 bindings fits
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux value; typeshed lacks it


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """Room for signalling bursts: the default (~200 KiB, ~300 MH packets) drops PBUs.

    SO_RCVBUFFORCE (root) passes net.core.rmem_max; without the privilege the
    plain SO_RCVBUF request is capped by the kernel, which is still the best we can do.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
    except OSError:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)


class RawMhSocket(_BaseMhSocket):
    """Raw IPv6 protocol-135 socket; needs CAP_NET_RAW."""

    family = socket.AF_INET6

    def __init__(
        self,
        own_address: IPv6Address,
        on_datagram: ReceiveCallback,
        *,
        kernel_checksum: bool = True,
        on_batch: BatchCallback | None = None,
    ) -> None:
        super().__init__(own_address, on_datagram, on_batch)
        self.kernel_checksum = kernel_checksum  # False only for tests sending bad checksums

    def _make_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        try:
            offset = _MH_CHECKSUM_OFFSET if self.kernel_checksum else -1
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, offset)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.bind((str(self.own_address), 0))
        except OSError:
            sock.close()
            raise
        return sock

    def _read_one(self, sock: socket.socket) -> _Read | None:
        data, ancdata, _flags, addr = sock.recvmsg(
            _MAX_DATAGRAM, socket.CMSG_SPACE(_PKTINFO_LEN) + _TIMESTAMP_SPACE
        )
        dst: Address | None = None
        received_unix: float | None = None
        for level, kind, payload in ancdata:
            if (
                level == socket.IPPROTO_IPV6
                and kind == socket.IPV6_PKTINFO
                and len(payload) >= _PKTINFO_LEN
            ):
                dst = self._address(payload[:16], IPv6Address)
            elif (at := _receive_time(level, kind, payload)) is not None:
                received_unix = at
        return data, self._address(addr[0], _parse_host), dst, received_unix

    def _sendto(self, sock: socket.socket, data: bytes, peer: Address) -> None:
        if not isinstance(peer, IPv6Address):
            raise OSError(errno.EAFNOSUPPORT, f"raw MH socket cannot send to IPv4 {peer}")
        sock.sendto(data, self._sockaddr(peer, 0))


def _parse_host(host: str) -> Address:
    return ip_address(host.split("%", 1)[0])


def _mapped(addr: IPv4Address) -> IPv6Address:
    return IPv6Address(b"\x00" * 10 + b"\xff\xff" + addr.packed)


class UdpMhSocket(_BaseMhSocket):
    """UDP port 5436 on an IPv4 transport network (see the module docstring)."""

    family = socket.AF_INET

    def __init__(
        self,
        own_address: IPv4Address,
        on_datagram: ReceiveCallback,
        *,
        port: int = PMIP6_CNTL_PORT,
        peer_port: int = PMIP6_CNTL_PORT,
        on_batch: BatchCallback | None = None,
    ) -> None:
        super().__init__(own_address, on_datagram, on_batch)
        self.port = port
        self.peer_port = peer_port

    def _make_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.bind((str(self.own_address), self.port))
        except OSError:
            sock.close()
            raise
        if self.port == 0:
            self.port = sock.getsockname()[1]
        return sock

    def _read_one(self, sock: socket.socket) -> _Read | None:
        data, ancdata, _flags, addr = sock.recvmsg(_MAX_DATAGRAM, _TIMESTAMP_SPACE)
        received_unix: float | None = None
        for level, kind, payload in ancdata:
            if (at := _receive_time(level, kind, payload)) is not None:
                received_unix = at
        src = self._address(addr[0], IPv4Address)
        assert isinstance(src, IPv4Address)
        own = self.own_address
        assert isinstance(own, IPv4Address)
        has_checksum = len(data) >= 6 and data[4:6] != b"\x00\x00"
        if has_checksum and not checksum_ok(_mapped(src), _mapped(own), data):
            self.counters["rx_dropped_checksum"] += 1
            log.debug("bad MH checksum from %s dropped", src)
            return None
        return data, src, own, received_unix

    def _sendto(self, sock: socket.socket, data: bytes, peer: Address) -> None:
        if not isinstance(peer, IPv4Address):
            raise OSError(errno.EAFNOSUPPORT, f"UDP MH socket cannot send to IPv6 {peer}")
        own = self.own_address
        assert isinstance(own, IPv4Address)
        if len(data) >= 6:
            data = with_checksum(_mapped(own), _mapped(peer), data)
        sock.sendto(data, self._sockaddr(peer, self.peer_port))


def open_mh_socket(
    own_address: Address,
    on_datagram: ReceiveCallback,
    loop: asyncio.AbstractEventLoop,
    on_batch: BatchCallback | None = None,
) -> MhSocket:
    """The socket for the transport family of ``own_address``, bound and registered."""
    sock: MhSocket
    if isinstance(own_address, IPv6Address):
        sock = RawMhSocket(own_address, on_datagram, on_batch=on_batch)
    else:
        sock = UdpMhSocket(own_address, on_datagram, on_batch=on_batch)
    sock.open(loop)
    return sock


def close_quietly(sock: MhSocket | None) -> None:
    """Close a socket during teardown without letting an error hide the first one."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
