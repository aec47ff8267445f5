"""PURE planner of the datapath: bindings in, the kernel objects they need out, and the diff.

No pyroute2, no asyncio, no sockets: the IO module (:mod:`._kernel_io`) turns the
:class:`Op` list of :func:`diff` into netlink requests, and turns a kernel dump
back into the same object types so that :func:`diff` also reconciles what an
earlier run left behind (DESIGN.md rule 6).

The model (RFC 5213 sections 5.6 and 6.10, RFC 5844 section 4, RFC 5845):

* one shared bidirectional tunnel per MAG-LMA pair; with GRE keys (RFC 5845)
  one tunnel per pair *and key pair*, since the key is what tells MNs apart;
* MAG: the MN's HNP and IPv4 HoA are on-link on the access interface, and a
  source rule (``from <HNP|HoA> iif <access>``) sends its traffic to the table
  of its tunnel, whose default routes go into the tunnel to the LMA;
* LMA: the MN's HNP and HoA are routed into the tunnel to its current MAG,
  replaced in place on handover;
* ``seg6`` (kernels without ip6_tunnel): no device; the routes carry an SRv6
  reduced encapsulation with the peer as the only segment (plain IPv6-in-IPv6 /
  IPv4-in-IPv6, no SRH), and packets to our tunnel address with next header
  41/4 are decapsulated by ``seg6local End.DX6 / End.DX4`` routes reached by
  rules placed before the ``local`` rule, which is moved after them.

Every object carries our tags: route and rule protocol number, a rule priority
range, a table range, the link name prefix, the address protocol number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Network
from typing import Final, Literal

from mag_ap.core.types import (
    Action,
    Address,
    BindingDown,
    BindingUp,
    MobileRouteDown,
    MobileRouteUp,
)
from mag_ap.packages import kernel_module_fix

# The settings live with their parser (the plugin validates them without loading the
# planner); named here too, where the planner's users have always found them.
from ._settings import ENCAPSULATIONS, MIN_MTU, PlanSettings

__all__ = [
    "ENCAPSULATIONS",
    "LINK_KINDS",
    "MAIN_TABLE",
    "OVERHEAD_BYTES",
    "AddressObj",
    "KernelObject",
    "LocalRuleMove",
    "MobileEntry",
    "Op",
    "PeerPath",
    "PlanError",
    "PlanSettings",
    "RouteObj",
    "RuleObj",
    "Seg6Encap",
    "Seg6LocalDecap",
    "TunnelKey",
    "TunnelLink",
    "TunnelSource",
    "apply_action",
    "assign_slots",
    "batches",
    "choose_kind",
    "diff",
    "endpoint",
    "keep_endpoint",
    "keep_idle_links",
    "link_name",
    "plan",
    "tunnel_keys",
    "tunnel_mtu",
    "without",
]

Family = Literal[4, 6]
Verb = Literal["add", "replace", "remove"]

# Kernel link kinds we create: a link with our prefix and one of these kinds is ours.
# "ipip" is built as a sit device in mode any: it carries IPv4 *and* IPv6 over IPv4.
LINK_KINDS: Final = frozenset({"ip6tnl", "ip6gre", "gre", "sit"})
KERNEL_KIND: Final[Mapping[str, str]] = {
    "ip6tnl": "ip6tnl",
    "ip6gre": "ip6gre",
    "gre": "gre",
    "ipip": "sit",
}
# Outer headers added per packet: IPv6 40 / IPv4 20, GRE 4 + key 4.
OVERHEAD_BYTES: Final[Mapping[str, int]] = {
    "seg6": 40,
    "ip6tnl": 40,
    "ip6gre": 48,
    "gre": 28,
    "ipip": 20,
}
MAIN_TABLE: Final = 254
IPPROTO_IPIP: Final = 4
IPPROTO_IPV6: Final = 41


class PlanError(ValueError):
    """The bindings ask for something this datapath cannot build (say why)."""


# --- kernel objects -------------------------------------------------------------------


@dataclass(frozen=True)
class TunnelLink:
    """A tunnel device (ip6tnl mode any, ip6gre, gre, sit mode any)."""

    name: str
    kind: str  # kernel link kind
    local: str
    remote: str
    ikey: int | None = None
    okey: int | None = None
    mtu: int = 1500

    @property
    def key(self) -> tuple[object, ...]:
        return ("link", self.name)


@dataclass(frozen=True)
class AddressObj:
    """An address we add to an interface (the IPv4 default router on the access link)."""

    ifname: str
    address: str  # "10.200.0.1/32"

    @property
    def key(self) -> tuple[object, ...]:
        return ("addr", self.ifname, self.address)


@dataclass(frozen=True)
class Seg6Encap:
    """SRv6 reduced encapsulation with one segment: plain IP-in-IPv6 to ``segment``."""

    segment: str


@dataclass(frozen=True)
class Seg6LocalDecap:
    """seg6local End.DX6 / End.DX4 with an unspecified next hop: decapsulate, route inner."""

    action: Literal["End.DX6", "End.DX4"]


@dataclass(frozen=True)
class RouteObj:
    """A route; identity is (family, table, dst), the rest is replaced in place."""

    family: Family
    table: int
    dst: str  # network text: "2001:db8:1::/64", "10.200.0.2/32", "::/0", "0.0.0.0/0"
    dev: str
    encap: Seg6Encap | Seg6LocalDecap | None = None
    mtu: int | None = None

    @property
    def key(self) -> tuple[object, ...]:
        return ("route", self.family, self.table, self.dst)


@dataclass(frozen=True)
class RuleObj:
    """A policy rule; every field is identity (rules cannot be changed in place)."""

    family: Family
    priority: int
    table: int
    src: str | None = None
    dst: str | None = None
    iif: str | None = None
    ipproto: int | None = None

    @property
    def key(self) -> tuple[object, ...]:
        return (
            "rule",
            self.family,
            self.priority,
            self.table,
            self.src,
            self.dst,
            self.iif,
            self.ipproto,
        )


@dataclass(frozen=True)
class LocalRuleMove:
    """The IPv6 ``lookup local`` rule moved from priority 0 to ``priority`` (seg6 decap)."""

    priority: int

    @property
    def key(self) -> tuple[object, ...]:
        return ("local-rule", 6)


@dataclass(frozen=True)
class TunnelSource:
    """The namespace's SRv6 tunnel source address (``ip sr tunsrc``)."""

    address: str

    @property
    def key(self) -> tuple[object, ...]:
        return ("tunsrc",)


KernelObject = TunnelLink | AddressObj | RouteObj | RuleObj | LocalRuleMove | TunnelSource
Plan = dict[tuple[object, ...], KernelObject]

# Order of creation; removal runs backwards (rules before the tables they point at...).
_RANK: Final[Mapping[type, int]] = {
    TunnelSource: 0,
    TunnelLink: 1,
    AddressObj: 2,
    RouteObj: 3,
    RuleObj: 4,
    LocalRuleMove: 5,
}


@dataclass(frozen=True)
class Op:
    verb: Verb
    obj: KernelObject


# Objects the IO side writes as rtnetlink requests sent together (tunnel links, the
# tunnel source and the local rule are singletons or go through iproute2, one at a time).
_BATCHABLE: Final = (AddressObj, RouteObj, RuleObj)


def batches(ops: Iterable[Op]) -> list[list[Op]]:
    """``diff``'s operations cut into groups the kernel may take in one round trip.

    A group is a run of address, route and rule operations, in ``diff`` order:
    the kernel applies the requests of one buffer one after the other, so a
    rule still comes after the route of the table it points at. Each group costs
    one round trip instead of one per object (a handover is 4 to 8 objects, and
    on a loaded AP every round trip is a wake-up of the daemon).
    """
    out: list[list[Op]] = []
    for op in ops:
        last = out[-1] if out else None
        if (
            last is not None
            and isinstance(op.obj, _BATCHABLE)
            and isinstance(last[0].obj, _BATCHABLE)
        ):
            last.append(op)
        else:
            out.append([op])
    return out


def as_plan(objects: Iterable[KernelObject]) -> Plan:
    return {obj.key: obj for obj in objects}


def diff(current: Mapping[tuple[object, ...], KernelObject], desired: Plan) -> list[Op]:
    """The ordered operations that turn ``current`` into ``desired``.

    Removals first (rules, routes, addresses, links, in that order), so a route
    that moves to another tunnel never points at a device being deleted; then
    additions and in-place replacements from links up to rules.
    """
    removals = [Op("remove", obj) for key, obj in current.items() if key not in desired]
    removals.sort(key=lambda op: -_RANK[type(op.obj)])
    changes: list[Op] = []
    for key, obj in desired.items():
        old = current.get(key)
        if old is None:
            changes.append(Op("add", obj))
        elif old != obj:
            changes.append(Op("replace", obj))
    changes.sort(key=lambda op: _RANK[type(op.obj)])
    return removals + changes


# --- the bindings -----------------------------------------------------------------------


@dataclass(frozen=True)
class MobileEntry:
    """One MN as the datapath sees it: its prefixes and the peer its tunnel goes to."""

    mn_id: str
    peer: Address  # MAG: the LMA; LMA: the MN's current MAG
    hnp: IPv6Network | None
    ipv4_hoa: IPv4Interface | None
    ipv4_default_router: IPv4Address | None = None
    okey: int | None = None  # GRE key we put in packets to the peer
    ikey: int | None = None  # GRE key the peer puts in packets to us

    @property
    def keyed(self) -> bool:
        return self.okey is not None or self.ikey is not None


def apply_action(
    entries: Mapping[str, MobileEntry], action: Action
) -> tuple[dict[str, MobileEntry], bool]:
    """The entries after ``action``, and whether anything changed for the datapath.

    A ``MobileRouteDown`` from a MAG the MN already left (late de-registration
    after a handover) leaves the routes to the new MAG alone.
    """
    out = dict(entries)
    if isinstance(action, BindingUp):
        entry = MobileEntry(
            mn_id=action.mn_id,
            peer=action.lma,
            hnp=action.hnp,
            ipv4_hoa=action.ipv4_hoa,
            ipv4_default_router=action.ipv4_default_router,
            okey=action.gre_key_to_lma,
            ikey=action.gre_key_from_lma,
        )
    elif isinstance(action, MobileRouteUp):
        entry = MobileEntry(
            mn_id=action.mn_id,
            peer=action.mag,
            hnp=action.hnp,
            ipv4_hoa=action.ipv4_hoa,
            okey=action.gre_key_to_mag,
            ikey=action.gre_key_from_mag,
        )
    elif isinstance(action, BindingDown | MobileRouteDown):
        old = out.get(action.mn_id)
        peer = action.lma if isinstance(action, BindingDown) else action.mag
        if old is None or old.peer != peer:
            return out, False
        del out[action.mn_id]
        return out, True
    else:
        return out, False
    changed = out.get(entry.mn_id) != entry
    out[entry.mn_id] = entry
    return out, changed


# --- settings and facts the IO side resolves --------------------------------------------


@dataclass(frozen=True)
class PeerPath:
    """How the transport reaches a peer: the interface and its MTU (resolved by IO)."""

    dev: str
    link_mtu: int


@dataclass(frozen=True, order=True)
class TunnelKey:
    """Identity of one shared tunnel: peer, encapsulation, GRE keys (RFC 5845)."""

    peer: str
    kind: str  # seg6 | ip6tnl | ip6gre | gre | ipip
    okey: int | None = None
    ikey: int | None = None


def choose_kind(encapsulation: str, peer: Address, keyed: bool, supported: frozenset[str]) -> str:
    """The encapsulation for one MN: GRE when keys were negotiated, else the configured one.

    ``auto`` prefers the kernel tunnel of the transport family and falls back to
    ``seg6`` (IPv6 transport, no keys) when ip6_tunnel is missing.

    :raises PlanError: the choice is impossible here (say which and why).
    """
    v6 = peer.version == 6
    if keyed:
        if encapsulation == "seg6":
            raise PlanError(
                "GRE keys were negotiated but encapsulation is 'seg6', which has no GRE"
            )
        kind = "ip6gre" if v6 else "gre"
    elif encapsulation == "auto":
        if not v6:
            kind = "ipip"
        elif "ip6tnl" in supported:
            kind = "ip6tnl"
        else:
            kind = "seg6"
    else:
        kind = encapsulation
    if (kind in ("seg6", "ip6tnl", "ip6gre")) != v6:
        raise PlanError(f"encapsulation {kind!r} cannot reach the IPv{peer.version} peer {peer}")
    if kind not in supported:
        raise PlanError(
            f"encapsulation {kind!r} is not supported by this kernel "
            f"(available: {', '.join(sorted(supported)) or 'none'}): {kernel_module_fix(kind)}"
        )
    return kind


def tunnel_keys(
    settings: PlanSettings, entries: Iterable[MobileEntry], supported: frozenset[str]
) -> dict[str, TunnelKey]:
    """The tunnel of every MN, by MN-ID."""
    out: dict[str, TunnelKey] = {}
    for e in entries:
        kind = choose_kind(settings.encapsulation, e.peer, e.keyed, supported)
        keys = (e.okey, e.ikey) if kind in ("ip6gre", "gre") else (None, None)
        out[e.mn_id] = TunnelKey(str(e.peer), kind, *keys)
    return out


def assign_slots(
    previous: Mapping[TunnelKey, int], needed: Iterable[TunnelKey], max_tunnels: int
) -> dict[TunnelKey, int]:
    """Stable small numbers for tunnels (their table); a tunnel keeps its slot while used."""
    wanted = sorted(set(needed))
    out = {key: slot for key, slot in previous.items() if key in wanted}
    free = (s for s in range(max_tunnels) if s not in out.values())
    for key in wanted:
        if key not in out:
            slot = next(free, None)
            if slot is None:
                raise PlanError(f"more than max_tunnels={max_tunnels} tunnels are needed")
            out[key] = slot
    return out


def link_name(prefix: str, key: TunnelKey, local: str) -> str:
    """``<prefix><8 hex>``: a digest of what the tunnel is, so a restart finds the same name."""
    text = f"{key.kind}|{local}|{key.peer}|{key.okey}|{key.ikey}"
    import hashlib  # here: hashlib maps libcrypto, and a MAG without tunnels never names one

    return prefix + hashlib.blake2s(text.encode(), digest_size=4).hexdigest()


def tunnel_mtu(settings: PlanSettings, kind: str, path: PeerPath) -> int:
    if settings.mtu is not None:
        return settings.mtu
    mtu = path.link_mtu - OVERHEAD_BYTES[kind]
    if mtu < MIN_MTU:
        raise PlanError(
            f"the transport link MTU {path.link_mtu} minus {OVERHEAD_BYTES[kind]} bytes of "
            f"{kind} overhead is below {MIN_MTU}: raise the link MTU"
        )
    return mtu


# --- the plan ------------------------------------------------------------------------------


@dataclass
class _Target:
    """Where packets for a tunnel go: a device, or a device plus an SRv6 encapsulation."""

    dev: str
    encap: Seg6Encap | None
    mtu: int
    objects: list[KernelObject] = field(default_factory=list)


def _target(settings: PlanSettings, key: TunnelKey, path: PeerPath) -> _Target:
    mtu = tunnel_mtu(settings, key.kind, path)
    if key.kind == "seg6":
        return _Target(path.dev, Seg6Encap(key.peer), mtu)
    link = TunnelLink(
        name=link_name(settings.link_prefix, key, str(settings.local)),
        kind=KERNEL_KIND[key.kind],
        local=str(settings.local),
        remote=key.peer,
        ikey=key.ikey,
        okey=key.okey,
        mtu=mtu,
    )
    return _Target(link.name, None, mtu, [link])


def _decap_objects(settings: PlanSettings, dev: str) -> list[KernelObject]:
    """What a seg6 tunnel endpoint needs to decapsulate and to set the outer source.

    ``dev`` must be a real interface: an IPv6 route via ``lo`` that is not a
    local route becomes a reject route, and the decapsulation never runs.
    """
    local = f"{settings.local}/128"
    t6, t4 = settings.decap_tables
    prio = settings.decap_priority
    return [
        TunnelSource(str(settings.local)),
        RouteObj(6, t6, local, dev, Seg6LocalDecap("End.DX6")),
        RouteObj(6, t4, local, dev, Seg6LocalDecap("End.DX4")),
        RuleObj(6, prio, t6, dst=local, ipproto=IPPROTO_IPV6),
        RuleObj(6, prio, t4, dst=local, ipproto=IPPROTO_IPIP),
        LocalRuleMove(settings.local_priority),
    ]


def endpoint(settings: PlanSettings, dev: str) -> Plan:
    """The seg6 tunnel endpoint alone, built at start on ``dev`` before any binding.

    It is the same for every MN, so building it when the first station arrives
    (several iproute2 calls, ~100 ms on a loaded AP) only delays that station's
    first packets; :func:`keep_endpoint` then keeps it until stop.
    """
    return as_plan(_decap_objects(settings, dev))


def keep_endpoint(
    settings: PlanSettings, installed: Mapping[tuple[object, ...], KernelObject], desired: Plan
) -> Plan:
    """``desired`` plus the seg6 tunnel endpoint already installed, kept until stop.

    The endpoint (tunnel source, decapsulation routes and rules, the moved
    ``local`` rule) is the same for every binding; taking it down when the last
    MN leaves and rebuilding it for the next costs several iproute2 calls, tens
    of milliseconds inside a handover, and gains nothing.
    """
    keys = {obj.key for obj in _decap_objects(settings, "-")}
    kept = {key: obj for key, obj in installed.items() if key in keys and key not in desired}
    # Its routes stay on the interface they were put on: on the LMA the plan names the
    # link toward the MN's current MAG, and following each handover with a replace of
    # the decapsulation routes would add two kernel round trips to every move.
    sticky = {
        key: obj
        for key, obj in installed.items()
        if key in keys
        and isinstance(obj, RouteObj)
        and isinstance(want := desired.get(key), RouteObj)
        and replace(want, dev=obj.dev) == obj
    }
    if not kept and not sticky:
        return desired
    return as_plan([*desired.values(), *kept.values(), *sticky.values()])


def keep_idle_links(installed: Mapping[tuple[object, ...], KernelObject], desired: Plan) -> Plan:
    """``desired`` plus the unkeyed tunnel devices installed and no longer used, kept until stop.

    A station walking between two MAGs empties the shared tunnel at the old MAG
    and at the LMA on every move, and the next move wants it back: creating a
    tunnel device is the dearest kernel operation of a handover (on a slow CPU,
    hundreds of milliseconds). An unkeyed device is one per peer, so keeping it
    is bounded by the peers; a GRE-keyed one (RFC 5845) may be one per key pair
    and goes with its last MN.
    """
    idle = {
        key: obj
        for key, obj in installed.items()
        if isinstance(obj, TunnelLink)
        and obj.ikey is None
        and obj.okey is None
        and key not in desired
    }
    return as_plan([*desired.values(), *idle.values()]) if idle else desired


def plan(
    settings: PlanSettings,
    entries: Iterable[MobileEntry],
    tunnels: Mapping[str, TunnelKey],
    slots: Mapping[TunnelKey, int],
    paths: Mapping[str, PeerPath],
) -> Plan:
    """Every kernel object the current bindings need.

    ``tunnels`` from :func:`tunnel_keys`, ``slots`` from :func:`assign_slots`,
    ``paths`` by peer address text (resolved by the IO side).

    :raises PlanError: a peer without a path, an MTU too small.
    """
    objects: list[KernelObject] = []
    targets: dict[TunnelKey, _Target] = {}
    families_by_tunnel: dict[TunnelKey, set[Family]] = {}
    for e in sorted(entries, key=lambda e: e.mn_id):
        key = tunnels[e.mn_id]
        path = paths.get(key.peer)
        if path is None:
            raise PlanError(f"no route to the peer {key.peer}")
        target = targets.get(key)
        if target is None:
            target = targets[key] = _target(settings, key, path)
            objects.extend(target.objects)
        fams = families_by_tunnel.setdefault(key, set())
        if settings.role == "lma":
            for dst, fam in _mn_prefixes(e):
                objects.append(RouteObj(fam, MAIN_TABLE, dst, target.dev, target.encap, target.mtu))
            continue
        access = settings.access_interface
        assert access is not None  # the settings parser requires it for a MAG
        table = settings.tunnel_table(slots[key])
        for dst, fam in _mn_prefixes(e):
            fams.add(fam)
            objects.append(RouteObj(fam, MAIN_TABLE, dst, access))
            objects.append(RuleObj(fam, settings.mn_priority, table, src=dst, iif=access))
        if e.ipv4_hoa is not None and e.ipv4_default_router is not None:
            objects.append(AddressObj(access, f"{e.ipv4_default_router}/32"))
    if settings.role == "mag":
        for key, fams in families_by_tunnel.items():
            target = targets[key]
            table = settings.tunnel_table(slots[key])
            for fam in sorted(fams):
                dst = "::/0" if fam == 6 else "0.0.0.0/0"
                objects.append(RouteObj(fam, table, dst, target.dev, target.encap, target.mtu))
    seg6_devs = sorted(t.dev for key, t in targets.items() if key.kind == "seg6")
    if seg6_devs:
        objects.extend(_decap_objects(settings, settings.transport_interface or seg6_devs[0]))
    return as_plan(objects)


def _mn_prefixes(e: MobileEntry) -> list[tuple[str, Family]]:
    out: list[tuple[str, Family]] = []
    if e.hnp is not None:
        out.append((str(e.hnp), 6))
    if e.ipv4_hoa is not None:
        out.append((f"{e.ipv4_hoa.ip}/32", 4))
    return out


def without(entries: Mapping[str, MobileEntry], mn_id: str) -> dict[str, MobileEntry]:
    """The entries minus one MN (rollback of a failed apply)."""
    return {k: v for k, v in entries.items() if k != mn_id}


def describe(obj: KernelObject) -> str:
    """One line for logs and status, close to iproute2's spelling."""
    if isinstance(obj, TunnelLink):
        keys = f" ikey {obj.ikey} okey {obj.okey}" if obj.ikey or obj.okey else ""
        return f"link {obj.name} {obj.kind} {obj.local} -> {obj.remote}{keys} mtu {obj.mtu}"
    if isinstance(obj, AddressObj):
        return f"addr {obj.address} dev {obj.ifname}"
    if isinstance(obj, RouteObj):
        encap = ""
        if isinstance(obj.encap, Seg6Encap):
            encap = f" encap seg6 mode encap.red segs {obj.encap.segment}"
        elif isinstance(obj.encap, Seg6LocalDecap):
            encap = f" encap seg6local action {obj.encap.action}"
        mtu = f" mtu {obj.mtu}" if obj.mtu else ""
        return f"route -{obj.family} {obj.dst}{encap} dev {obj.dev} table {obj.table}{mtu}"
    if isinstance(obj, RuleObj):
        parts = [f"rule -{obj.family} pref {obj.priority}"]
        parts += [f"from {obj.src}"] if obj.src else []
        parts += [f"to {obj.dst}"] if obj.dst else []
        parts += [f"iif {obj.iif}"] if obj.iif else []
        parts += [f"ipproto {obj.ipproto}"] if obj.ipproto else []
        return " ".join([*parts, f"lookup {obj.table}"])
    if isinstance(obj, LocalRuleMove):
        return f"rule -6 lookup local moved to pref {obj.priority}"
    return f"sr tunsrc {obj.address}"
