"""The IO side of the datapath: plan operations -> netlink, kernel dumps -> plan objects.

The only module of the project that imports pyroute2, loaded lazily when a
``[plugin.datapath]`` section builds the provider. pyroute2 creates the tunnel
links, probes the kernel and reads its dumps. Addresses, routes and rules, the
objects of every handover, go as one buffer of rtnetlink requests encoded by
:mod:`mag_ap.rtnl` (one round trip; pyroute2 spends about a millisecond of CPU
per request, and gathering its requests saves no CPU). pyroute2 knows only the
SRv6 mode names ``inline`` and ``encap``: this module teaches its codec
``encap.red`` (the kernel's mode 3) so dumps of our SRv6 routes decode. The
namespace's SRv6 tunnel source (``ip sr tunsrc``, a generic-netlink command) and
the move of the ``local`` rule go through iproute2 (OpenWrt: ip-full), once, at start.

Idempotent by construction: EEXIST on add and ENOENT/ESRCH/ENODEV/EADDRNOTAVAIL
on delete count as success; routes are always written with replace.

pyroute2 is imported submodule by submodule (:data:`PYROUTE2_MODULES`) without running
its package ``__init__`` (:data:`DEFERRED_FOR_PYROUTE2`).
"""

from __future__ import annotations

import concurrent.futures
import errno
import logging
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any, Final

from mag_ap.imports import deferred, standing_in
from mag_ap.rtnl import address_request, route_request, rule_request
from mag_ap.runtime import asyncio
from mag_ap.runtime.rtnl_io import exchange

# The pyroute2 modules this file imports (the import statements below name exactly
# these; a unit test holds them equal). The OpenWrt packaging ships what they need.
PYROUTE2_MODULES: Final = (
    "pyroute2.config",
    "pyroute2.netlink.exceptions",
    "pyroute2.netlink.rtnl.rtmsg",
    "pyroute2.iproute.linux",
)
# Imported deferred (mag_ap.imports.deferred): their code runs only if something asks
# them for a name. pyroute2: the package __init__, 6 MB of RSS (every netlink API,
# NDB with sqlite3, ...; no lazy mode or switch in 0.7.9 or 0.9.x): the submodules
# above import without it. ssl: imported by 0.9's probe_msg for a TLS probe never used
# here (libssl + libcrypto). A third-party `from pyroute2 import IPRoute` still works.
DEFERRED_FOR_PYROUTE2: Final = ("pyroute2", "ssl")
for _name in DEFERRED_FOR_PYROUTE2:
    deferred(_name)
# pyroute2.config imports multiprocessing at load only to name Pipe/Queue/Process for
# APIs not used here (NDB, remote, netns): python3-multiprocessing (0.18 MB on flash) is
# then not needed on 24.10/25.12 (openwrt/tools/feed.py HIDDEN_IMPORTS says the same).
MULTIPROCESSING_NAMES: Final = ("Pipe", "Queue", "Process")
with standing_in("multiprocessing", MULTIPROCESSING_NAMES):
    import pyroute2.config  # noqa: F401

from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402

try:  # pyroute2 >= 0.9 (OpenWrt master)
    from pyroute2.iproute.linux import AsyncIPRoute as _AsyncIPRoute
except ImportError:  # 0.7.x (OpenWrt 24.10, 25.12): no asyncio API
    _AsyncIPRoute = None
from pyroute2.iproute.linux import IPRoute as _IPRoute  # noqa: E402

from mag_ap.packages import kernel_module_fix  # noqa: E402

from ._plan import (  # noqa: E402
    LINK_KINDS,
    AddressObj,
    KernelObject,
    LocalRuleMove,
    Op,
    PeerPath,
    Plan,
    PlanSettings,
    RouteObj,
    RuleObj,
    Seg6Encap,
    Seg6LocalDecap,
    TunnelLink,
    TunnelSource,
    as_plan,
    describe,
)

__all__ = ["Kernel", "KernelError"]

# pyroute2 logs every netlink message at debug level: keep it out of the daemon's log.
logging.getLogger("pyroute2").setLevel(logging.WARNING)

SBIN_PATH: Final = "/usr/sbin:/sbin"
LOCAL_TABLE: Final = 255
IFF_LOOPBACK: Final = 0x8
IP6_TNL_F_IGN_ENCAP_LIMIT: Final = 0x1  # "encaplimit none": no destination-options header
GRE_KEY: Final = 0x2000  # GRE header flag, network order
SEG6_IPTUN_MODE_ENCAP_RED: Final = 3  # linux/seg6_iptunnel.h: encap without an SRH for 1 segment


def _teach_pyroute2_encap_red() -> bool:
    """Make pyroute2's SRH codec decode (and encode) mode ``encap.red`` (mode 3).

    False when this pyroute2 has no such codec tables (its dumps then name the mode
    by number; :meth:`Kernel.snapshot` does not read it).
    """
    codec: Any = getattr(getattr(rtmsg, "seg6_encap_info", None), "ipv6_sr_hdr", None)
    modes = getattr(codec, "encapmodes", None)
    names = getattr(codec, "r_encapmodes", None)
    if not isinstance(modes, dict) or not isinstance(names, dict):
        return False
    modes.setdefault("encap.red", SEG6_IPTUN_MODE_ENCAP_RED)
    names.setdefault(SEG6_IPTUN_MODE_ENCAP_RED, "encap.red")
    return bool(modes["encap.red"] == SEG6_IPTUN_MODE_ENCAP_RED)


ENCAP_RED_OVER_NETLINK: Final = _teach_pyroute2_encap_red()
TUNNEL_TTL: Final = 64
SEG6_LOCAL_ACTIONS: Final = {5: "End.DX6", 6: "End.DX4"}
_GONE: Final = frozenset({errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL})
# Which kernel link kind proves which encapsulation name.
_PROBES: Final = {"ip6tnl": "ip6tnl", "ip6gre": "ip6gre", "gre": "gre", "ipip": "sit"}
_PROBE_PEER: Final = {"ip6tnl": "2001:db8::dead", "ip6gre": "2001:db8::dead"}


class KernelError(OSError):
    """A kernel operation failed; the message says which object and why."""


class _Answer(list[Any]):
    """A blocking pyroute2 answer as 0.9's AsyncIPRoute gives it: indexable and async-iterable."""

    async def _iter(self) -> AsyncIterator[Any]:
        for item in self:
            yield item

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()


class _ThreadedIPRoute:
    """pyroute2 0.7's blocking IPRoute behind 0.9's AsyncIPRoute calls (the subset used here).

    Every request runs in one worker thread, one at a time, so the event loop never
    blocks on netlink and the socket is never used by two threads at once.
    """

    def __init__(self) -> None:
        self._ipr = _IPRoute()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="netlink")

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> _Answer:
        def run() -> _Answer:
            out = getattr(self._ipr, name)(*args, **kwargs)
            return _Answer(out if isinstance(out, list | tuple) else list(out or ()))

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def link(self, *args: Any, **kwargs: Any) -> _Answer:
        return await self._call("link", *args, **kwargs)

    async def addr(self, *args: Any, **kwargs: Any) -> _Answer:
        return await self._call("addr", *args, **kwargs)

    async def route(self, *args: Any, **kwargs: Any) -> _Answer:
        return await self._call("route", *args, **kwargs)

    async def rule(self, *args: Any, **kwargs: Any) -> _Answer:
        return await self._call("rule", *args, **kwargs)

    async def link_lookup(self, *args: Any, **kwargs: Any) -> _Answer:
        return await self._call("link_lookup", *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._ipr.close()


def open_iproute() -> Any:
    """An AsyncIPRoute where pyroute2 has one (0.9), else the threaded 0.7 stand-in."""
    return _AsyncIPRoute() if _AsyncIPRoute is not None else _ThreadedIPRoute()


def _code(exc: NetlinkError) -> int:
    return int(exc.code) if isinstance(getattr(exc, "code", None), int) else -1


class Kernel:
    """Executes plan operations in the current network namespace."""

    def __init__(self, settings: PlanSettings) -> None:
        self.settings = settings
        self._ipr: Any = None
        self._indexes: dict[str, int] = {}  # ifname -> index; dropped when a link is deleted
        self._seg6 = False

    # --- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        self._ipr = open_iproute()
        # Only the SRv6 datapath runs `ip` (ip-full); the tunnel kinds never do.
        self._seg6 = self.settings.encapsulation == "seg6"

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    @property
    def ipr(self) -> Any:
        if self._ipr is None:
            raise KernelError("the netlink socket is not open")
        return self._ipr

    @staticmethod
    def now() -> float:
        """Monotonic seconds, for the provider's timing logs (it reads no clock itself)."""
        return time.monotonic()

    # --- facts -----------------------------------------------------------------------

    @staticmethod
    def missing_module(encapsulation: str, available: frozenset[str] | None) -> Exception:
        """The start-up error for a kernel without ``encapsulation`` (module, package, fix).

        ``available`` None: "auto" found nothing at all, ``encapsulation`` is what to add.
        """
        from mag_ap.runtime.startup_errors import StartupError, kernel_module_error

        key = "plugin.datapath.encapsulation"
        if available is not None:
            return kernel_module_error(encapsulation, key=key, available=available)
        return StartupError(
            f"{key} = 'auto': no encapsulation available, the kernel has neither tunnel "
            f"modules nor SRv6. Fix: {kernel_module_fix(encapsulation)}",
            key_path=key,
        )

    async def probe(self, wanted: Iterable[str]) -> frozenset[str]:
        """Which of the ``wanted`` encapsulations this kernel can build.

        A tunnel kind is probed by creating (and deleting) a down device: the
        kernel loads the module on demand and answers EOPNOTSUPP ("Unknown
        device type") when there is none.
        """
        found: set[str] = set()
        for name in sorted(set(wanted)):
            if name == "seg6":
                if Path("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists():
                    found.add(name)
                continue
            kind = _PROBES[name]
            probe = f"{self.settings.link_prefix}probe"[:15]
            remote = _PROBE_PEER.get(name, "192.0.2.254")
            local = "2001:db8::beef" if name in _PROBE_PEER else "192.0.2.253"
            attrs = {f"{kind}_local": local, f"{kind}_remote": remote}
            try:
                await self.ipr.link("add", ifname=probe, kind=kind, **attrs)
            except NetlinkError as exc:
                if _code(exc) in (errno.EOPNOTSUPP, errno.ENOENT, errno.EAFNOSUPPORT):
                    continue
                if _code(exc) != errno.EEXIST:
                    raise KernelError(f"probing {kind} tunnels: {exc}") from exc
            found.add(name)
            await self._del_link_named(probe)
        # "auto" falls back to SRv6 only on a kernel without ip6tnl
        self._seg6 = "seg6" in found and (
            self.settings.encapsulation == "seg6" or "ip6tnl" not in found
        )
        return frozenset(found)

    async def foreign_links(self) -> list[tuple[str, str]]:
        """Links that carry our prefix but are no tunnel of ours: (name, kind)."""
        out = []
        async for msg in await self.ipr.link("dump"):
            name = str(msg.get("ifname") or "")
            if name.startswith(self.settings.link_prefix):
                kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "none"
                if kind not in LINK_KINDS:
                    out.append((name, str(kind)))
        return out

    async def resolve(self, peer: str) -> PeerPath:
        """The transport interface toward ``peer`` and its MTU."""
        name = self.settings.transport_interface
        try:
            if name is not None:
                try:
                    index = self._index(name)
                except OSError as exc:
                    raise KernelError(f"interface {name!r} does not exist") from exc
            else:
                answer = await self.ipr.route("get", dst=peer)
                index = answer[0].get("oif")
                if index is None:
                    raise KernelError(f"the route to the peer {peer} has no output interface")
            link = (await self.ipr.link("get", index=index))[0]
        except NetlinkError as exc:
            raise KernelError(f"no route to the peer {peer}: {exc}") from exc
        return PeerPath(str(link.get("ifname")), int(link.get("mtu")))

    async def endpoint_device(self) -> str | None:
        """Where the seg6 endpoint's decapsulation routes go before any peer is known.

        The configured transport interface, else the interface that holds our
        tunnel address; None when that is the loopback (a decapsulation route
        via ``lo`` is a reject route) or the address is not configured yet.
        """
        if self.settings.transport_interface is not None:
            return self.settings.transport_interface
        family = socket.AF_INET6 if self.settings.local.version == 6 else socket.AF_INET
        async for msg in await self.ipr.addr("dump", family=family):
            found = msg.get("address")
            if found is None or ip_address(found) != self.settings.local:
                continue
            link = (await self.ipr.link("get", index=int(msg["index"])))[0]
            if int(link.get("flags") or 0) & IFF_LOOPBACK:
                return None
            return str(link.get("ifname"))
        return None

    def _index(self, ifname: str) -> int:
        """The interface's index, cached while it exists (an ioctl, not a netlink dump).

        :raises OSError: ENODEV, no such interface.
        """
        index = self._indexes.get(ifname)
        if index is None:
            index = self._indexes[ifname] = socket.if_nametoindex(ifname)
        return index

    async def _name(self, index: int, cache: dict[int, str]) -> str:
        if index not in cache:
            try:
                cache[index] = str((await self.ipr.link("get", index=index))[0].get("ifname"))
            except NetlinkError:
                cache[index] = f"#{index}"
        return cache[index]

    # --- snapshot: what an earlier run left ----------------------------------------------

    async def snapshot(self) -> Plan:
        """Every object in this namespace that carries our tags."""
        s = self.settings
        names: dict[int, str] = {}
        found: list[KernelObject] = []
        async for msg in await self.ipr.link("dump"):
            name = str(msg.get("ifname") or "")
            kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            if name.startswith(s.link_prefix) and kind in LINK_KINDS:
                found.append(TunnelLink(name, str(kind), "?", "?", mtu=int(msg.get("mtu") or 0)))
        async for msg in await self.ipr.addr("dump"):
            if msg.get("proto") == s.route_protocol:
                ifname = await self._name(int(msg["index"]), names)
                found.append(AddressObj(ifname, f"{msg.get('address')}/{msg['prefixlen']}"))
        for family in (socket.AF_INET, socket.AF_INET6):
            async for msg in await self.ipr.route("dump", family=family):
                if msg["proto"] != s.route_protocol:
                    continue
                found.append(await self._route_of(msg, family, names))
            async for msg in await self.ipr.rule("dump", family=family):
                rule = self._rule_of(msg, family)
                if rule is not None:
                    found.append(rule)
        tunsrc = await self._tunsrc() if self._seg6 else None
        if tunsrc is not None and ip_address(tunsrc) == s.local:
            found.append(TunnelSource(str(s.local)))
        return as_plan(found)

    async def _route_of(self, msg: Any, family: int, names: dict[int, str]) -> RouteObj:
        fam = 6 if family == socket.AF_INET6 else 4
        dst = msg.get("dst") or ("::" if fam == 6 else "0.0.0.0")
        net = str(ip_network(f"{dst}/{msg['dst_len']}", strict=False))
        oif = msg.get("oif")
        dev = await self._name(int(oif), names) if oif is not None else "?"
        encap: Seg6Encap | Seg6LocalDecap | None = None
        info = msg.get("encap")
        if info is not None and hasattr(info, "get"):
            attrs = dict(info.get("attrs", []) or [])
            action = SEG6_LOCAL_ACTIONS.get(attrs.get("SEG6_LOCAL_ACTION", -1))
            if action is not None:
                encap = Seg6LocalDecap(action)  # type: ignore[arg-type]
        metrics = msg.get("metrics")
        mtu = metrics.get("RTAX_MTU") if metrics is not None else None
        table = msg.get("table") or msg["table"]
        return RouteObj(fam, int(table), net, dev, encap, int(mtu) if mtu else None)  # type: ignore[arg-type]

    def _rule_of(self, msg: Any, family: int) -> RuleObj | LocalRuleMove | None:
        s = self.settings
        if msg.get("protocol") != s.route_protocol:
            return None
        fam = 6 if family == socket.AF_INET6 else 4
        prio = int(msg.get("priority") or 0)
        table = int(msg.get("table") or msg["table"])
        if table == LOCAL_TABLE and fam == 6:
            return LocalRuleMove(prio)
        src = msg.get("src")
        dst = msg.get("dst")
        return RuleObj(
            fam,  # type: ignore[arg-type]
            prio,
            table,
            src=f"{src}/{msg['src_len']}" if src else None,
            dst=f"{dst}/{msg['dst_len']}" if dst else None,
            iif=msg.get("iifname"),
            ipproto=msg.get("ip_proto"),
        )

    async def _tunsrc(self) -> str | None:
        out = await _ip("sr", "tunsrc", "show", check=False)
        parts = out.split()
        return parts[-1] if parts and parts[0] == "tunsrc" else None

    # --- operations -----------------------------------------------------------------------

    async def execute_batch(self, ops: Sequence[Op]) -> list[OSError | None]:
        """Operations in order, each one's failure in its place (None: done).

        Addresses, routes and rules go to the kernel as one buffer of rtnetlink
        requests (:func:`mag_ap.runtime.rtnl_io.exchange`): one round trip, and
        the kernel applies them in the order given (``batches`` in the plan says
        what may go together). Links, the tunnel source and the local rule go
        one at a time.
        """
        if all(isinstance(op.obj, _RAW) for op in ops):
            return await self._execute_raw(ops)
        out: list[OSError | None] = []
        for op in ops:
            try:
                await self.execute(op)
            except OSError as exc:
                out.append(exc)
            else:
                out.append(None)
        return out

    async def execute(self, op: Op) -> None:
        """Apply one operation; KernelError names the object on failure."""
        if isinstance(op.obj, _RAW):
            (failure,) = await self._execute_raw([op])
            if failure is not None:
                raise failure
            return
        try:
            await self._dispatch(op)
        except NetlinkError as exc:
            raise KernelError(f"{op.verb} {describe(op.obj)}: {exc}") from exc

    async def _execute_raw(self, ops: Sequence[Op]) -> list[OSError | None]:
        """Addresses, routes and rules as rtnetlink requests sent together.

        An ENODEV with cached interface indexes retries once with fresh ones (an
        interface was re-created under the same name).
        """
        out = await self._raw_round(ops)
        stale = [i for i, code in enumerate(out) if code == errno.ENODEV]
        if stale and self._indexes:
            self._indexes.clear()
            again = await self._raw_round([ops[i] for i in stale])
            for i, code in zip(stale, again, strict=True):
                out[i] = code
        return [
            None
            if code == 0 or _settled(op, code)
            else KernelError(f"{op.verb} {describe(op.obj)}: {os.strerror(code)}")
            for op, code in zip(ops, out, strict=True)
        ]

    async def _raw_round(self, ops: Sequence[Op]) -> list[int]:
        """One exchange with the kernel: the errno of each operation (0: success)."""
        codes: list[int | None] = []
        requests: list[bytes] = []
        for op in ops:
            try:
                requests.append(self._request(op))
                codes.append(None)
            except OSError as exc:  # an interface that is not there (if_nametoindex)
                codes.append(exc.errno or errno.ENODEV)
        answers = iter(await exchange(requests))
        return [next(answers) if code is None else code for code in codes]

    def _request(self, op: Op) -> bytes:
        obj = op.obj
        add = op.verb != "remove"
        proto = self.settings.route_protocol
        if isinstance(obj, AddressObj):
            v6 = ip_network(obj.address, strict=False).version == 6
            return address_request(
                add,
                self._index(obj.ifname),
                obj.address,
                noprefixroute=v6,
                proto=proto if add else None,
            )
        if isinstance(obj, RouteObj):
            return route_request(
                add,
                obj.dst,
                table=obj.table,
                proto=proto,
                oif=self._index(obj.dev) if add else None,
                mtu=obj.mtu,
                seg6_segment=obj.encap.segment if isinstance(obj.encap, Seg6Encap) else None,
                seg6local=obj.encap.action if isinstance(obj.encap, Seg6LocalDecap) else None,
            )
        assert isinstance(obj, RuleObj)
        return rule_request(
            add,
            obj.family,
            priority=obj.priority,
            table=obj.table,
            proto=proto,
            src=obj.src,
            dst=obj.dst,
            iifname=obj.iif,
            ip_proto=obj.ipproto,
        )

    async def _dispatch(self, op: Op) -> None:
        obj = op.obj
        remove = op.verb == "remove"
        if isinstance(obj, TunnelLink):
            await (self._del_link_named(obj.name) if remove else self._put_link(obj))
        elif isinstance(obj, LocalRuleMove):
            await (self._restore_local(obj) if remove else self._move_local(obj))
        else:
            assert isinstance(obj, TunnelSource)
            await _ip("sr", "tunsrc", "set", "::" if remove else obj.address)

    async def _put_link(self, link: TunnelLink) -> None:
        kind = link.kind
        attrs: dict[str, Any] = {
            f"{kind}_local": link.local,
            f"{kind}_remote": link.remote,
            f"{kind}_ttl": TUNNEL_TTL,
        }
        if kind == "ip6tnl":
            attrs.update(ip6tnl_proto=0, ip6tnl_flags=IP6_TNL_F_IGN_ENCAP_LIMIT)  # mode any
        elif kind == "sit":
            attrs.update(sit_proto=0)  # mode any: IPv6 and IPv4 over IPv4
        elif kind in ("ip6gre", "gre"):
            # pyroute2 0.9.7 sends IFLA_GRE_[IO]FLAGS big-endian for gre but in host
            # order for ip6gre: htons() gives the right bytes on either endianness.
            flag = socket.htons(GRE_KEY) if kind == "ip6gre" else GRE_KEY
            if kind == "ip6gre":
                attrs["ip6gre_flags"] = IP6_TNL_F_IGN_ENCAP_LIMIT
            if link.ikey is not None:
                attrs.update({f"{kind}_ikey": link.ikey, f"{kind}_iflags": flag})
            if link.okey is not None:
                attrs.update({f"{kind}_okey": link.okey, f"{kind}_oflags": flag})
        try:
            await self.ipr.link("add", ifname=link.name, kind=kind, mtu=link.mtu, **attrs)
        except NetlinkError as exc:
            code = _code(exc)
            if code == errno.EOPNOTSUPP:
                raise KernelError(
                    f"cannot create {link.name}: this kernel has no {kind} tunnels "
                    f"('Unknown device type'): {kernel_module_fix(kind)}"
                ) from exc
            if code != errno.EEXIST:
                raise
            await self._check_ours(link)
        index = self._index(link.name)
        await self.ipr.link("set", index=index, mtu=link.mtu, state="up")

    async def _check_ours(self, link: TunnelLink) -> None:
        """EEXIST: adopt our own device of that name, refuse anything else."""
        try:
            found = await self.ipr.link("get", ifname=link.name)
        except NetlinkError as exc:
            if _code(exc) != errno.ENODEV:
                raise
            # No device of that name: the kernel allows one tunnel per endpoint pair
            # (and key) and someone else's holds ours.
            raise KernelError(
                f"cannot create tunnel {link.name}: another {link.kind} tunnel from "
                f"{link.local} to {link.remote} exists (one per endpoint pair): remove it"
            ) from exc
        kind = found[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") if found else None
        if kind != link.kind:
            raise KernelError(
                f"cannot create tunnel {link.name}: a {kind or 'different'} link of that "
                "name exists (name clash: rename it or change plugin.datapath.link_prefix)"
            )

    async def _del_link_named(self, name: str) -> None:
        self._indexes.pop(name, None)
        found = await self.ipr.link_lookup(ifname=name)
        for index in found:
            await _gone_ok(self.ipr.link("del", index=index))

    async def _local_rules(self) -> list[int]:
        """Priorities of the IPv6 ``lookup local`` rules, with 0 for the kernel's own."""
        out = []
        async for msg in await self.ipr.rule("dump", family=socket.AF_INET6):
            if int(msg.get("table") or msg["table"]) == LOCAL_TABLE:
                out.append(int(msg.get("priority") or 0))
        return out

    async def _move_local(self, move: LocalRuleMove) -> None:
        """Add ``lookup local`` after our decap rules first, then drop the one at 0."""
        if move.priority not in await self._local_rules():
            await _ip("-6", "rule", "add", "pref", str(move.priority), "lookup", "local",
                      "protocol", str(self.settings.route_protocol))  # fmt: skip
        for prio in await self._local_rules():
            if prio != move.priority:
                await _ip("-6", "rule", "del", "pref", str(prio), "lookup", "local", check=False)

    async def _restore_local(self, move: LocalRuleMove) -> None:
        """Put ``lookup local`` back at 0 before removing ours (never a moment without one)."""
        if 0 not in await self._local_rules():
            await _ip("-6", "rule", "add", "pref", "0", "lookup", "local")
        await _ip("-6", "rule", "del", "pref", str(move.priority), "lookup", "local", check=False)


_RAW: Final = (AddressObj, RouteObj, RuleObj)


def _settled(op: Op, code: int) -> bool:
    """The kernel refused, but the object is as wanted: present after an add, gone after a remove.

    Routes are written with replace (no EEXIST); rules and addresses are exclusive.
    """
    if op.verb == "remove":
        return code in _GONE
    return code == errno.EEXIST and not isinstance(op.obj, RouteObj)


async def _gone_ok(request: Any) -> None:
    """Await a delete; the object being gone already is success."""
    try:
        result = await request
        if isinstance(result, AsyncIterator):
            async for _ in result:
                pass
    except NetlinkError as exc:
        if _code(exc) not in _GONE:
            raise


async def _ip(*argv: str, check: bool = True) -> str:
    """Run iproute2 (for what pyroute2 cannot say); KernelError with its stderr on failure."""
    # ip-full installs /sbin/ip; procd's PATH has it, an empty environment does not
    ip = shutil.which("ip", path=f"{os.environ.get('PATH', os.defpath)}:{SBIN_PATH}")
    try:
        if ip is None:
            raise FileNotFoundError("ip")
        proc = await asyncio.create_subprocess_exec(
            ip,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise KernelError(
            "the seg6 datapath needs the `ip` command: install the OpenWrt package ip-full"
        ) from exc
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise KernelError(f"ip {' '.join(argv)}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")
