"""Pure rtnetlink codec: the few messages the access-side triggers need.

Link state (RTM_NEWLINK/RTM_DELLINK: ifindex, name, IFLA_OPERSTATE) and the
neighbour table (RTM_NEWNEIGH: ifindex, state, NDA_DST, NDA_LLADDR), read over a
plain AF_NETLINK socket: the datapath plugin is the only importer of pyroute2
(DESIGN.md rule 5). Layouts are those of linux/rtnetlink.h, linux/if_link.h
and linux/neighbour.h, host byte order. Malformed input raises
:class:`DecodeError` with the byte offset. No IO here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final

from mag_ap.wire import DecodeError

__all__ = [
    "ALIVE_STATES",
    "LinkMessage",
    "NeighbourMessage",
    "NetlinkError",
    "decode_messages",
    "neighbour_dump_request",
    "neighbour_probe_request",
]

NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_NEWNEIGH: Final = 28
RTM_DELNEIGH: Final = 29
RTM_GETNEIGH: Final = 30
NLM_F_REQUEST: Final = 0x1
NLM_F_DUMP: Final = 0x300
RTMGRP_LINK: Final = 0x1
IFLA_IFNAME: Final = 3
IFLA_OPERSTATE: Final = 16
NTF_USE: Final = 0x01  # ndm_flags: "use" the entry, i.e. start NUD as if a packet went out
AF_INET: Final = 2
AF_INET6: Final = 10
NDA_DST: Final = 1
NDA_LLADDR: Final = 2
IF_OPER_UP: Final = 6
IF_OPER_UNKNOWN: Final = 0  # e.g. loopback or a driver without carrier reporting

# linux/neighbour.h NUD_* states
NUD_INCOMPLETE: Final = 0x01
NUD_REACHABLE: Final = 0x02
NUD_STALE: Final = 0x04
NUD_DELAY: Final = 0x08
NUD_PROBE: Final = 0x10
NUD_FAILED: Final = 0x20
NUD_NOARP: Final = 0x40
NUD_PERMANENT: Final = 0x80
# A station is present while one of its entries is in one of these states.
ALIVE_STATES: Final = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_NDMSG = struct.Struct("=BxxxiHBB")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True)
class LinkMessage:
    """A link changed (or was deleted): its operational state."""

    ifindex: int
    ifname: str | None
    operstate: int | None
    deleted: bool = False

    @property
    def up(self) -> bool:
        return not self.deleted and self.operstate in (IF_OPER_UP, IF_OPER_UNKNOWN)


@dataclass(frozen=True)
class NeighbourMessage:
    """One neighbour table entry."""

    ifindex: int
    state: int
    dst: IPv4Address | IPv6Address | None
    lladdr: str | None  # aa:bb:cc:dd:ee:ff
    deleted: bool = False

    @property
    def alive(self) -> bool:
        return not self.deleted and bool(self.state & ALIVE_STATES)


@dataclass(frozen=True)
class NetlinkError:
    """NLMSG_ERROR: ``errno`` 0 is an acknowledgement."""

    errno: int


@dataclass(frozen=True)
class Done:
    """NLMSG_DONE: the end of a dump."""


NetlinkMessage = LinkMessage | NeighbourMessage | NetlinkError | Done


def neighbour_dump_request(sequence: int, family: int = 0) -> bytes:
    """RTM_GETNEIGH dump of every family (0 = AF_UNSPEC) or one."""
    body = _NDMSG.pack(family, 0, 0, 0, 0)
    return (
        _NLMSGHDR.pack(
            _NLMSGHDR.size + len(body), RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0
        )
        + body
    )


def neighbour_probe_request(sequence: int, ifindex: int, dst: IPv4Address | IPv6Address) -> bytes:
    """RTM_NEWNEIGH with NTF_USE for an existing entry: the kernel treats it as used.

    A STALE entry goes to DELAY and then to unicast probes (REACHABLE when the
    station answers, FAILED when it is gone). No NLM_F_CREATE: an entry that
    vanished meanwhile is not recreated (the kernel answers ENOENT).
    """
    family = AF_INET if dst.version == 4 else AF_INET6
    body = _NDMSG.pack(family, ifindex, 0, NTF_USE, 0)
    raw = dst.packed
    body += _RTATTR.pack(_RTATTR.size + len(raw), NDA_DST) + raw  # 4 and 16: aligned
    return (
        _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_NEWNEIGH, NLM_F_REQUEST, sequence, 0) + body
    )


def _attrs(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes, int]]:
    pos = start
    while pos + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, pos)
        if length < _RTATTR.size or pos + length > end:
            raise DecodeError(f"attribute {kind} of length {length} overruns", pos)
        yield kind & 0x3FFF, data[pos + _RTATTR.size : pos + length], pos
        pos += (length + 3) & ~3


def _link(data: bytes, start: int, end: int, kind: int) -> LinkMessage:
    if end - start < _IFINFOMSG.size:
        raise DecodeError("short ifinfomsg", start)
    _, _, ifindex, _, _ = _IFINFOMSG.unpack_from(data, start)
    name: str | None = None
    oper: int | None = None
    for attr, value, pos in _attrs(data, start + _IFINFOMSG.size, end):
        if attr == IFLA_IFNAME:
            name = value.split(b"\x00", 1)[0].decode(errors="replace")
        elif attr == IFLA_OPERSTATE:
            if len(value) < 1:
                raise DecodeError("empty IFLA_OPERSTATE", pos)
            oper = value[0]
    return LinkMessage(ifindex, name, oper, deleted=kind == RTM_DELLINK)


def _neighbour(data: bytes, start: int, end: int, kind: int) -> NeighbourMessage:
    if end - start < _NDMSG.size:
        raise DecodeError("short ndmsg", start)
    _, ifindex, state, _, _ = _NDMSG.unpack_from(data, start)
    dst: IPv4Address | IPv6Address | None = None
    lladdr: str | None = None
    for attr, value, _ in _attrs(data, start + _NDMSG.size, end):
        if attr == NDA_DST and len(value) in (4, 16):
            dst = ip_address(value)
        elif attr == NDA_LLADDR and len(value) == 6:
            lladdr = ":".join(f"{b:02x}" for b in value)
    return NeighbourMessage(ifindex, state, dst, lladdr, deleted=kind == RTM_DELNEIGH)


def decode_messages(data: bytes) -> list[NetlinkMessage]:
    """Every message of one netlink datagram that the triggers care about."""
    out: list[NetlinkMessage] = []
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > len(data):
            raise DecodeError(f"netlink message of length {length} overruns", pos)
        body, end = pos + _NLMSGHDR.size, pos + length
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            out.append(_link(data, body, end, kind))
        elif kind in (RTM_NEWNEIGH, RTM_DELNEIGH):
            out.append(_neighbour(data, body, end, kind))
        elif kind == NLMSG_ERROR:
            if end - body < 4:
                raise DecodeError("short NLMSG_ERROR", body)
            out.append(NetlinkError(-struct.unpack_from("=i", data, body)[0]))
        elif kind == NLMSG_DONE:
            out.append(Done())
        pos += (length + 3) & ~3
    return out
