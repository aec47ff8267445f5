"""The NETLINK_XFRM messages that install, find and remove our ESP SAs and policies, as bytes.

The kernel's IPsec (xfrm) is configured over its own netlink family; the daemon
speaks it directly so the main package needs no ``ip`` program (ip-full) and no
pyroute2 (issue 11: anything executed comes from a declared package). Layouts
are linux/xfrm.h for an ABI where ``__u64`` is 8-byte aligned (x86_64, arm,
aarch64, mips, powerpc; not i386, whose 32-bit compat layout differs by 4 bytes:
:data:`USERSA_INFO` checks its size). Host byte order, except SPIs and ports
(network order). Pure: the IO side is :mod:`mag_ap.runtime.xfrm_io`.

Each C struct is one :class:`struct.Struct`; requests are built from the plan's
:class:`~mag_ap.ipsec.SaSpec` / :class:`~mag_ap.ipsec.PolicySpec`, and a dump is
read back into :class:`SaRecord` / :class:`PolicyRecord` (:func:`parse_dump`).
Malformed kernel answers raise :class:`~mag_ap.wire.DecodeError`.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from .core.types import Address
from .ipsec import IPPROTO_ESP, PolicySpec, SaSpec, Selector
from .wire import DecodeError

NETLINK_XFRM: Final = 6
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLM_F_DUMP: Final = 0x300
XFRM_MSG_NEWSA: Final = 0x10
XFRM_MSG_DELSA: Final = 0x11
XFRM_MSG_GETSA: Final = 0x12
XFRM_MSG_NEWPOLICY: Final = 0x13
XFRM_MSG_DELPOLICY: Final = 0x14
XFRM_MSG_GETPOLICY: Final = 0x15
XFRMA_TMPL: Final = 5
XFRMA_ALG_AEAD: Final = 18
XFRM_MODE_TRANSPORT: Final = 0
XFRM_POLICY_IN: Final = 0
XFRM_POLICY_OUT: Final = 1
XFRM_POLICY_ALLOW: Final = 0
XFRM_INF: Final = 0xFFFFFFFFFFFFFFFF
DIRECTIONS: Final = {"in": XFRM_POLICY_IN, "out": XFRM_POLICY_OUT}

NLMSGHDR: Final = struct.Struct("=IHHII")
ATTR: Final = struct.Struct("=HH")
# xfrm_selector: daddr, saddr, (ports: network order, packed apart), family, prefixlen_d,
# prefixlen_s, proto, ifindex, user
SELECTOR: Final = struct.Struct("=16s16s8sHBBB3xiI")
PORTS: Final = struct.Struct("!HHHH")  # dport, dport_mask, sport, sport_mask
XFRM_ID: Final = struct.Struct("=16s4sB3x")  # daddr, spi (network order), proto
LIFETIME_CFG: Final = struct.Struct("=8Q")
LIFETIME_CUR: Final = struct.Struct("=4Q")  # bytes, packets, add_time, use_time
STATS: Final = struct.Struct("=3I")  # replay_window, replay, integrity_failed
# xfrm_usersa_info: sel, id, saddr, lft, curlft, stats, seq, reqid, family, mode,
# replay_window, flags
USERSA_INFO: Final = struct.Struct("=56s24s16s64s32s12sIIHBBB7x")
USERSA_ID: Final = struct.Struct("=16s4sHB1x")  # daddr, spi, family, proto
# xfrm_userpolicy_info: sel, lft, curlft, priority, index, dir, action, flags, share
USERPOLICY_INFO: Final = struct.Struct("=56s64s32sIIBBBB4x")
USERPOLICY_ID: Final = struct.Struct("=56sIB3x")  # sel, index, dir
# xfrm_user_tmpl: id, family, saddr, reqid, mode, share, optional, aalgos, ealgos, calgos
USER_TMPL: Final = struct.Struct("=24sH2x16sIBBBx3I")
ALGO_AEAD: Final = struct.Struct("=64sII")  # alg_name, alg_key_len (bits), alg_icv_len (bits)

if USERSA_INFO.size != 224 or USERPOLICY_INFO.size != 168 or USER_TMPL.size != 64:
    raise ImportError("the xfrm struct layouts do not match this ABI")  # pragma: no cover


def _family(address: Address) -> int:
    return socket.AF_INET if isinstance(address, IPv4Address) else socket.AF_INET6


def _xaddr(address: Address) -> bytes:
    """xfrm_address_t: 16 bytes, an IPv4 address in the first four."""
    return address.packed.ljust(16, b"\0")


def _addr(raw: bytes, family: int) -> Address:
    if family == socket.AF_INET:
        return IPv4Address(raw[:4])
    return IPv6Address(raw[:16])


def _attr(kind: int, value: bytes) -> bytes:
    raw = ATTR.pack(ATTR.size + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body


def selector(sel: Selector) -> bytes:
    """struct xfrm_selector for ``sel`` (a UDP destination port is matched exactly)."""
    ports = PORTS.pack(sel.dport, 0xFFFF if sel.dport else 0, 0, 0)
    return SELECTOR.pack(
        _xaddr(sel.dst), _xaddr(sel.src), ports, _family(sel.dst), sel.dst_len, sel.src_len,
        sel.proto, 0, 0,
    )  # fmt: skip


def _no_limits() -> bytes:
    return LIFETIME_CFG.pack(XFRM_INF, XFRM_INF, XFRM_INF, XFRM_INF, 0, 0, 0, 0)


def new_sa(sa: SaSpec, seq: int) -> bytes:
    """XFRM_MSG_NEWSA: ESP transport, AEAD, no anti-replay window (manual keys, see below).

    A manually keyed sender restarts its sequence numbers at 1 whenever its daemon
    restarts; a receiver keeping a replay window would drop it as replays until the
    counter caught up. PMIPv6 has its own replay protection (timestamps or sequence
    numbers, RFC 5213 5.5), so the window is off as for manual SAs in RFC 4303 3.3.3.
    """
    family = _family(sa.dst)
    body = USERSA_INFO.pack(
        selector(sa.selector),
        XFRM_ID.pack(_xaddr(sa.dst), sa.spi.to_bytes(4, "big"), IPPROTO_ESP),
        _xaddr(sa.src),
        _no_limits(),
        bytes(LIFETIME_CUR.size),
        bytes(STATS.size),
        0, sa.reqid, family, XFRM_MODE_TRANSPORT, 0, 0,
    )  # fmt: skip
    name = sa.aead.kernel_name.encode()
    algo = ALGO_AEAD.pack(name, len(sa.key) * 8, sa.aead.icv_bits) + sa.key
    body += _attr(XFRMA_ALG_AEAD, algo)
    return _message(XFRM_MSG_NEWSA, NLM_F_ACK, seq, body)


def del_sa(dst: Address, spi: int, seq: int) -> bytes:
    """XFRM_MSG_DELSA of the ESP SA (``dst``, ``spi``)."""
    body = USERSA_ID.pack(_xaddr(dst), spi.to_bytes(4, "big"), _family(dst), IPPROTO_ESP)
    return _message(XFRM_MSG_DELSA, NLM_F_ACK, seq, body)


def new_policy(policy: PolicySpec, seq: int) -> bytes:
    """XFRM_MSG_NEWPOLICY: ``policy.selector`` in its direction requires ESP transport."""
    sel = policy.selector
    body = USERPOLICY_INFO.pack(
        selector(sel),
        _no_limits(),
        bytes(LIFETIME_CUR.size),
        policy.priority, 0, DIRECTIONS[policy.direction], XFRM_POLICY_ALLOW, 0, 0,
    )  # fmt: skip
    tmpl = USER_TMPL.pack(
        XFRM_ID.pack(_xaddr(policy.dst), bytes(4), IPPROTO_ESP),
        _family(sel.dst), _xaddr(policy.src), policy.reqid, XFRM_MODE_TRANSPORT, 0, 0,
        0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
    )  # fmt: skip
    body += _attr(XFRMA_TMPL, tmpl)
    return _message(XFRM_MSG_NEWPOLICY, NLM_F_ACK, seq, body)


def del_policy(direction: int, seq: int, *, sel: Selector | None = None, index: int = 0) -> bytes:
    """XFRM_MSG_DELPOLICY by selector and direction, or by the kernel's ``index``."""
    raw = selector(sel) if sel is not None else bytes(SELECTOR.size)
    body = USERPOLICY_ID.pack(raw, index, direction)
    return _message(XFRM_MSG_DELPOLICY, NLM_F_ACK, seq, body)


def dump_request(kind: int, seq: int) -> bytes:
    """XFRM_MSG_GETSA or XFRM_MSG_GETPOLICY with NLM_F_DUMP: every SA or policy."""
    return _message(kind, NLM_F_DUMP, seq, b"")


@dataclass(frozen=True)
class SaRecord:
    """One SA of a dump: what identifies it, its tag, and its counters."""

    src: Address
    dst: Address
    spi: int
    proto: int
    reqid: int
    packets: int
    integrity_failed: int


@dataclass(frozen=True)
class PolicyRecord:
    """One policy of a dump: its kernel index, direction, priority (our tag) and addresses."""

    index: int
    direction: int
    priority: int
    src: Address
    dst: Address


@dataclass(frozen=True)
class Ack:
    """The kernel's answer to a request: errno 0 is success."""

    seq: int
    errno: int


DumpItem = SaRecord | PolicyRecord | Ack | None  # None: NLMSG_DONE


def _sa_record(body: bytes, at: int) -> SaRecord:
    if len(body) < USERSA_INFO.size:
        raise DecodeError("xfrm_usersa_info truncated", at)
    _sel, xid, saddr, _lft, cur, stats, _seq, reqid, family, *_ = USERSA_INFO.unpack_from(body)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise DecodeError(f"SA family {family} is neither IPv4 nor IPv6", at)
    daddr, spi, proto = XFRM_ID.unpack(xid)
    _bytes, packets, _add, _use = LIFETIME_CUR.unpack(cur)
    _window, _replay, failed = STATS.unpack(stats)
    return SaRecord(
        _addr(saddr, family), _addr(daddr, family), int.from_bytes(spi, "big"), proto, reqid,
        packets, failed,
    )  # fmt: skip


def _policy_record(body: bytes, at: int) -> PolicyRecord:
    if len(body) < USERPOLICY_INFO.size:
        raise DecodeError("xfrm_userpolicy_info truncated", at)
    sel, _lft, _cur, priority, index, direction, *_ = USERPOLICY_INFO.unpack_from(body)
    daddr, saddr, _ports, family, *_ = SELECTOR.unpack(sel)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise DecodeError(f"policy family {family} is neither IPv4 nor IPv6", at)
    return PolicyRecord(index, direction, priority, _addr(saddr, family), _addr(daddr, family))


def parse_dump(data: bytes) -> Iterator[DumpItem]:
    """The messages of one netlink read: SAs, policies, acks (errno) and None for NLMSG_DONE."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, kind, _flags, seq, _pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            raise DecodeError(f"netlink message length {length} is invalid", offset)
        body = data[offset + NLMSGHDR.size : offset + length]
        if kind == NLMSG_ERROR:
            if len(body) < 4:
                raise DecodeError("netlink error message truncated", offset)
            (code,) = struct.unpack_from("=i", body)
            yield Ack(seq, -code)
        elif kind == NLMSG_DONE:
            yield None
        elif kind == XFRM_MSG_NEWSA:
            yield _sa_record(body, offset)
        elif kind == XFRM_MSG_NEWPOLICY:
            yield _policy_record(body, offset)
        offset += (length + 3) & ~3


__all__ = [
    "NETLINK_XFRM",
    "XFRM_MSG_GETPOLICY",
    "XFRM_MSG_GETSA",
    "XFRM_POLICY_IN",
    "XFRM_POLICY_OUT",
    "Ack",
    "DumpItem",
    "PolicyRecord",
    "SaRecord",
    "del_policy",
    "del_sa",
    "dump_request",
    "new_policy",
    "new_sa",
    "parse_dump",
    "selector",
]
