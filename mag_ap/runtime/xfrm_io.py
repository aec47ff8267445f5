"""Install, watch and remove the ESP SAs and policies of :mod:`mag_ap.ipsec` over NETLINK_XFRM.

At start, whatever our tag (:data:`~mag_ap.ipsec.XFRM_TAG`) marks at our own
address is removed first (leftovers of a daemon killed by SIGKILL), then the
plan is installed; at a clean stop exactly the plan is removed. Requests are
short and the kernel answers at once, so a blocking socket with a timeout is
used (start, stop, and a dump every few seconds for the authentication check).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import socket
from collections.abc import Iterator
from typing import Final

from ..core.types import Address
from ..ipsec import XFRM_TAG, IpsecPlan
from ..wire import DecodeError
from ..xfrm import (
    DIRECTIONS,
    NETLINK_XFRM,
    XFRM_MSG_GETPOLICY,
    XFRM_MSG_GETSA,
    Ack,
    DumpItem,
    PolicyRecord,
    SaRecord,
    del_policy,
    del_sa,
    dump_request,
    new_policy,
    new_sa,
    parse_dump,
)
from .startup_errors import StartupError

log = logging.getLogger("mag_ap.ipsec")

ACK_TIMEOUT_S: Final = 5.0
# What the kernel's errno means: which part is missing (the kernel checks the algorithm
# before ESP itself, so a kernel without both names the algorithm first).
_MISSING: Final = {
    errno.ENOSYS: "the AEAD algorithm rfc4106(gcm(aes)) (CONFIG_CRYPTO_GCM)",
    errno.ENOENT: "a crypto module (CONFIG_CRYPTO_GCM, CONFIG_CRYPTO_SEQIV)",
    errno.EPROTONOSUPPORT: "ESP for this address family (CONFIG_INET_ESP / CONFIG_INET6_ESP)",
}
OPENWRT_KMODS: Final = "kmod-ipsec kmod-ipsec4 kmod-ipsec6 kmod-crypto-gcm"
_seq = itertools.count(1)


def _socket() -> socket.socket:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
    except OSError as exc:
        raise StartupError(
            f"cannot open NETLINK_XFRM: {exc.strerror or exc}. Fix: load xfrm_user "
            '(OpenWrt: install kmod-ipsec; Linux: CONFIG_XFRM_USER), or set ipsec.mode = "off"',
            key_path="ipsec.mode",
        ) from exc
    sock.settimeout(ACK_TIMEOUT_S)
    sock.bind((0, 0))
    return sock


def _request(sock: socket.socket, build: bytes, seq: int) -> int:
    """Send ``build``; the errno of the ack for ``seq`` (0: success)."""
    sock.send(build)
    while True:
        for item in parse_dump(sock.recv(65536)):
            if isinstance(item, Ack) and item.seq == seq:
                return item.errno


def _dump(sock: socket.socket, kind: int) -> Iterator[DumpItem]:
    seq = next(_seq)
    sock.send(dump_request(kind, seq))
    while True:
        for item in parse_dump(sock.recv(1 << 20)):
            if item is None:
                return
            if isinstance(item, Ack):
                if item.errno:
                    raise OSError(item.errno, os.strerror(item.errno))
                return
            yield item


def _ours(own: Address) -> tuple[list[SaRecord], list[PolicyRecord]]:
    with _socket() as sock:
        states = [
            s
            for s in _dump(sock, XFRM_MSG_GETSA)
            if isinstance(s, SaRecord) and s.reqid == XFRM_TAG and own in (s.src, s.dst)
        ]
        policies = [
            p
            for p in _dump(sock, XFRM_MSG_GETPOLICY)
            if isinstance(p, PolicyRecord) and p.priority == XFRM_TAG and own in (p.src, p.dst)
        ]
    return states, policies


def reconcile(own: Address) -> int:
    """Remove every SA and policy at ``own`` carrying our tag; how many were found."""
    states, policies = _ours(own)
    with _socket() as sock:
        for p in policies:
            seq = next(_seq)
            _request(sock, del_policy(p.direction, seq, index=p.index), seq)
        for s in states:
            seq = next(_seq)
            _request(sock, del_sa(s.dst, s.spi, seq), seq)
    return len(states) + len(policies)


def install(plan: IpsecPlan, own: Address) -> None:
    """Reconcile, then add every SA and policy of ``plan``; StartupError naming what is missing."""
    leftovers = reconcile(own)
    if leftovers:
        log.info("ipsec: removed %d leftover SAs and policies at %s", leftovers, own)
    with _socket() as sock:
        for sa in plan.states:
            seq = next(_seq)
            code = _request(sock, new_sa(sa, seq), seq)
            if code:
                _fail(code, f"SA {sa.src} -> {sa.dst} spi 0x{sa.spi:x}")
        for policy in plan.policies:
            seq = next(_seq)
            code = _request(sock, new_policy(policy, seq), seq)
            if code:
                _fail(code, f"{policy.direction} policy {policy.selector}")
    log.info(
        "ipsec: %d SAs and %d policies installed at %s (ESP transport for the signalling)",
        len(plan.states), len(plan.policies), own,
    )  # fmt: skip


def _fail(code: int, what: str) -> None:
    missing = _MISSING.get(code)
    fix = (
        f"the kernel lacks {missing}: on OpenWrt install {OPENWRT_KMODS}, elsewhere load "
        'esp4/esp6 and gcm, or set ipsec.mode = "off"'
        if missing
        else "check the ipsec.peer addresses and SPIs (another SA or policy may hold them)"
    )
    raise StartupError(
        f"cannot install IPsec {what}: {os.strerror(code)}. Fix: {fix}", key_path="ipsec"
    )


def remove(plan: IpsecPlan) -> None:
    """Delete exactly what ``plan`` installed (absent objects are fine)."""
    with _socket() as sock:
        for policy in plan.policies:
            seq = next(_seq)
            code = _request(
                sock, del_policy(DIRECTIONS[policy.direction], seq, sel=policy.selector), seq
            )
            if code not in (0, errno.ENOENT):
                log.warning("ipsec: deleting a policy: %s", os.strerror(code))
        for sa in plan.states:
            seq = next(_seq)
            code = _request(sock, del_sa(sa.dst, sa.spi, seq), seq)
            if code not in (0, errno.ESRCH, errno.ENOENT):
                log.warning("ipsec: deleting SA spi 0x%x: %s", sa.spi, os.strerror(code))


def integrity_failures(own: Address) -> dict[tuple[Address, int], int]:
    """Per inbound SA of ours (peer, spi): packets that failed authentication so far."""
    try:
        states, _ = _ours(own)
    except (OSError, DecodeError, StartupError) as exc:
        log.warning("ipsec: cannot read SA counters: %s", exc)
        return {}
    return {(s.src, s.spi): s.integrity_failed for s in states if s.dst == own}


class IpsecGuard:
    """The daemon's IPsec: install at start, report failed authentication, remove at stop."""

    CHECK_INTERVAL_S: Final = 2.0

    def __init__(self, plan: IpsecPlan, own: Address) -> None:
        self.plan = plan
        self.own = own
        self.installed = False
        self.auth_failures = 0  # packets our inbound SAs refused (wrong key at the peer)
        self._seen: dict[tuple[Address, int], int] = {}

    def start(self) -> None:
        self.installed = True  # a half-done install is removed by stop() too
        install(self.plan, self.own)
        self._seen = integrity_failures(self.own)

    def stop(self) -> None:
        if self.installed:
            remove(self.plan)
            self.installed = False

    def check(self) -> None:
        """Log each inbound SA whose authentication failures grew since the last check."""
        now = integrity_failures(self.own)
        for (peer, spi), count in now.items():
            grown = count - self._seen.get((peer, spi), 0)
            if grown > 0:
                self.auth_failures += grown
                log.warning(
                    "ipsec: %d packets from %s on SA spi 0x%x failed authentication: "
                    "the key (or algorithm) of that peer differs from ipsec.peer key_in here",
                    grown, peer, spi,
                )  # fmt: skip
        self._seen = now

    def status(self) -> dict[str, object]:
        return {
            "mode": "static",
            "states": len(self.plan.states),
            "policies": len(self.plan.policies),
            "auth_failures": self.auth_failures,
        }


__all__ = ["IpsecGuard", "install", "integrity_failures", "reconcile", "remove"]
