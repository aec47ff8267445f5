"""The IO side of the datapath: plan operations -> netlink (pyroute2), kernel dumps -> plan objects.

The only module of the project that imports pyroute2, loaded lazily when a
``[plugin.datapath]`` section builds the provider. pyroute2 knows only the SRv6
mode names ``inline`` and ``encap`` and silently turns any other value into
``encap`` (which would add an SRH): this module teaches its codec ``encap.red``
(the kernel's mode 3) so SRv6 routes go over netlink like every other route,
without a ~10 ms ``ip`` process in the handover path; where the codec cannot be
taught (a pyroute2 laid out differently) they go through iproute2 (OpenWrt:
ip-full) as before. The namespace's SRv6 tunnel source (``ip sr tunsrc``, a
generic-netlink command pyroute2 has no API for) always does, once per tunnel.

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

from mag_ap.imports import deferred
from mag_ap.runtime import asyncio

# The pyroute2 modules this file imports (the import statements below name exactly
# these; a unit test holds them equal). The OpenWrt packaging ships what they need.
PYROUTE2_MODULES: Final = (
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

from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402

try:  # pyroute2 >= 0.9 (OpenWrt master)
    from pyroute2.iproute.linux import AsyncIPRoute as _AsyncIPRoute
except ImportError:  # 0.7.x (OpenWrt 24.10, 25.12): no asyncio API
    _AsyncIPRoute = None
from pyroute2.iproute.linux import IPRoute as _IPRoute  # noqa: E402

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
RT_SCOPE_LINK: Final = 253
RT_SCOPE_NOWHERE: Final = 255
RTAX_MTU_LOCK: Final = 1 << 2  # "mtu lock": the route MTU is not lowered by PMTU
IP6_TNL_F_IGN_ENCAP_LIMIT: Final = 0x1  # "encaplimit none": no destination-options header
GRE_KEY: Final = 0x2000  # GRE header flag, network order
SEG6_IPTUN_MODE_ENCAP_RED: Final = 3  # linux/seg6_iptunnel.h: encap without an SRH for 1 segment


def _teach_pyroute2_encap_red() -> bool:
    """Make pyroute2's SRH codec encode and decode mode ``encap.red`` (mode 3).

    False when this pyroute2 has no such codec tables: routes then use iproute2.
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
                index = await self._index(name)
            else:
                answer = await self.ipr.route("get", dst=peer)
                index = answer[0].get("oif")
                if index is None:
                    raise KernelError(f"the route to the peer {peer} has no output interface")
            link = (await self.ipr.link("get", index=index))[0]
        except NetlinkError as exc:
            raise KernelError(f"no route to the peer {peer}: {exc}") from exc
        return PeerPath(str(link.get("ifname")), int(link.get("mtu")))

    async def _index(self, ifname: str) -> int:
        """The interface's index, cached while it exists (a link dump per route costs ms)."""
        index = self._indexes.get(ifname)
        if index is not None:
            return index
        found = await self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise KernelError(f"interface {ifname!r} does not exist")
        self._indexes[ifname] = int(found[0])
        return int(found[0])

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
        """Operations that do not depend on each other, in flight together.

        One round trip for the group (``batches`` in the plan says what may go
        together); each operation's own failure comes back in its place.
        """
        if len(ops) == 1:
            try:
                await self.execute(ops[0])
            except OSError as exc:
                return [exc]
            return [None]
        results = await asyncio.gather(*(self.execute(op) for op in ops), return_exceptions=True)
        out: list[OSError | None] = []
        for result in results:
            if isinstance(result, OSError):
                out.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                out.append(None)
        return out

    async def execute(self, op: Op) -> None:
        """Apply one operation; KernelError names the object on failure."""
        try:
            try:
                await self._dispatch(op)
            except NetlinkError as exc:
                if _code(exc) != errno.ENODEV or not self._indexes:
                    raise
                self._indexes.clear()  # an interface was re-created: look indexes up again
                await self._dispatch(op)
        except NetlinkError as exc:
            raise KernelError(f"{op.verb} {describe(op.obj)}: {exc}") from exc

    async def _dispatch(self, op: Op) -> None:
        obj = op.obj
        remove = op.verb == "remove"
        if isinstance(obj, TunnelLink):
            await (self._del_link_named(obj.name) if remove else self._put_link(obj))
        elif isinstance(obj, AddressObj):
            await (self._del_addr(obj) if remove else self._add_addr(obj))
        elif isinstance(obj, RouteObj):
            await (self._del_route(obj) if remove else self._put_route(obj))
        elif isinstance(obj, RuleObj):
            await (self._del_rule(obj) if remove else self._add_rule(obj))
        elif isinstance(obj, LocalRuleMove):
            await (self._restore_local(obj) if remove else self._move_local(obj))
        else:
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
                    "(module missing: 'Unknown device type')"
                ) from exc
            if code != errno.EEXIST:
                raise
            await self._check_ours(link)
        index = await self._index(link.name)
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

    async def _add_addr(self, a: AddressObj) -> None:
        iface = ip_network(a.address, strict=False)
        addr = a.address.split("/")[0]
        index = await self._index(a.ifname)
        extra = {"flags": 0x200} if iface.version == 6 else {}  # IFA_F_NOPREFIXROUTE
        try:
            await self.ipr.addr(
                "add",
                index=index,
                address=addr,
                prefixlen=iface.prefixlen,
                proto=self.settings.route_protocol,
                **extra,
            )
        except NetlinkError as exc:
            if _code(exc) != errno.EEXIST:
                raise

    async def _del_addr(self, a: AddressObj) -> None:
        found = await self.ipr.link_lookup(ifname=a.ifname)
        if not found:
            return
        addr, plen = a.address.split("/")
        await _gone_ok(self.ipr.addr("del", index=found[0], address=addr, prefixlen=int(plen)))

    async def _put_route(self, r: RouteObj) -> None:
        if isinstance(r.encap, Seg6Encap) and not ENCAP_RED_OVER_NETLINK:
            argv = [f"-{r.family}", "route", "replace", r.dst,
                    "proto", str(self.settings.route_protocol), "table", str(r.table),
                    "encap", "seg6", "mode", "encap.red", "segs", r.encap.segment,
                    "dev", r.dev]  # fmt: skip
            if r.mtu:
                argv += ["mtu", "lock", str(r.mtu)]
            await _ip(*argv)
            return
        kw: dict[str, Any] = {
            "dst": r.dst,
            "table": r.table,
            "proto": self.settings.route_protocol,
            "oif": await self._index(r.dev),
        }
        if r.family == 4 and r.encap is None:
            kw["scope"] = RT_SCOPE_LINK
        if r.mtu:
            kw["metrics"] = {"mtu": r.mtu, "lock": RTAX_MTU_LOCK}
        if isinstance(r.encap, Seg6Encap):
            # a fresh list each time: the codec edits the one it is given
            kw["encap"] = {"type": "seg6", "mode": "encap.red", "segs": [r.encap.segment]}
        elif isinstance(r.encap, Seg6LocalDecap):
            nh = {"nh6": "::"} if r.encap.action == "End.DX6" else {"nh4": "0.0.0.0"}
            kw["encap"] = {"type": "seg6local", "action": r.encap.action, **nh}
        await self.ipr.route("replace", family=_af(r.family), **kw)

    async def _del_route(self, r: RouteObj) -> None:
        # IPv4 deletes match the scope too: "nowhere" (255) matches any, as iproute2 does.
        scope = {"scope": RT_SCOPE_NOWHERE} if r.family == 4 else {}
        await _gone_ok(
            self.ipr.route(
                "del",
                family=_af(r.family),
                dst=r.dst,
                table=r.table,
                proto=self.settings.route_protocol,
                **scope,
            )
        )

    def _rule_kw(self, r: RuleObj) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "family": _af(r.family),
            "priority": r.priority,
            "table": r.table,
            "protocol": self.settings.route_protocol,
        }
        for side, value in (("src", r.src), ("dst", r.dst)):
            if value is not None:
                net = ip_network(value, strict=False)
                kw[side] = str(net.network_address)
                kw[f"{side}_len"] = net.prefixlen
        if r.iif is not None:
            kw["iifname"] = r.iif
        if r.ipproto is not None:
            kw["ip_proto"] = r.ipproto
        return kw

    async def _add_rule(self, r: RuleObj) -> None:
        try:
            await self.ipr.rule("add", **self._rule_kw(r))
        except NetlinkError as exc:
            if _code(exc) != errno.EEXIST:
                raise

    async def _del_rule(self, r: RuleObj) -> None:
        await _gone_ok(self.ipr.rule("del", **self._rule_kw(r)))

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


def _af(family: int) -> int:
    return socket.AF_INET6 if family == 6 else socket.AF_INET


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
