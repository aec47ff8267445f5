"""The pure datapath planner: bindings -> kernel objects, diff ordering, settings (no root)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network, ip_address

import pytest

from mag_ap.config import ConfigError
from mag_ap.config import parse_config_text as parse_config
from mag_ap.core.types import BindingDown, BindingUp, MobileRouteDown, MobileRouteUp
from mag_ap.plugins import PluginHost
from mag_ap_datapath._plan import (
    MAIN_TABLE,
    AddressObj,
    LocalRuleMove,
    MobileEntry,
    Op,
    PeerPath,
    PlanError,
    PlanSettings,
    RouteObj,
    RuleObj,
    Seg6Encap,
    Seg6LocalDecap,
    TunnelKey,
    TunnelLink,
    TunnelSource,
    apply_action,
    as_plan,
    assign_slots,
    batches,
    choose_kind,
    diff,
    endpoint,
    keep_endpoint,
    keep_idle_links,
    link_name,
    plan,
    tunnel_keys,
)
from mag_ap_datapath._provider import NetlinkDatapath
from mag_ap_datapath._settings import parse_settings

LMA = IPv6Address("2001:db8:ff::1")
MAG1 = IPv6Address("2001:db8:f1::2")
MAG2 = IPv6Address("2001:db8:f2::2")
SEG6 = frozenset({"seg6"})
ALL6 = frozenset({"seg6", "ip6tnl", "ip6gre"})
PATHS = {
    str(LMA): PeerPath("uplink", 1500),
    str(MAG1): PeerPath("to-mag1", 1500),
    str(MAG2): PeerPath("to-mag2", 1500),
}


def mag_settings(**kw: object) -> PlanSettings:
    base: dict[str, object] = {"role": "mag", "local": MAG1, "access_interface": "access"}
    base.update(kw)
    return PlanSettings(**base)  # type: ignore[arg-type]


def lma_settings(**kw: object) -> PlanSettings:
    base: dict[str, object] = {"role": "lma", "local": LMA}
    base.update(kw)
    return PlanSettings(**base)  # type: ignore[arg-type]


def up(mn: str = "a", hnp: int = 1, v4: int = 2, **kw: object) -> BindingUp:
    args: dict[str, object] = {
        "mn_id": mn,
        "mac": "02:00:00:00:00:01",
        "lma": LMA,
        "hnp": IPv6Network(f"2001:db8:100:{hnp}::/64"),
        "ipv4_hoa": IPv4Interface(f"10.200.0.{v4}/16"),
        "ipv4_default_router": IPv4Address("10.200.0.1"),
        "gre_key_to_lma": None,
        "gre_key_from_lma": None,
        "lifetime_s": 3600,
    }
    args.update(kw)
    return BindingUp(**args)  # type: ignore[arg-type]


def route_up(mn: str, mag: IPv6Address, hnp: int = 1) -> MobileRouteUp:
    return MobileRouteUp(
        mn_id=mn,
        mag=mag,
        hnp=IPv6Network(f"2001:db8:100:{hnp}::/64"),
        ipv4_hoa=IPv4Interface("10.200.0.2/16"),
        gre_key_to_mag=None,
        gre_key_from_mag=None,
    )


def build(settings: PlanSettings, entries: dict[str, MobileEntry], supported=SEG6):  # type: ignore[no-untyped-def]
    tunnels = tunnel_keys(settings, entries.values(), supported)
    slots = assign_slots({}, tunnels.values(), settings.max_tunnels)
    return plan(settings, entries.values(), tunnels, slots, PATHS)


def entries_after(*actions: object) -> dict[str, MobileEntry]:
    entries: dict[str, MobileEntry] = {}
    for action in actions:
        entries, _ = apply_action(entries, action)  # type: ignore[arg-type]
    return entries


# --- the MAG ----------------------------------------------------------------------------


def test_mag_seg6_plan_has_onlink_routes_rules_tunnel_table_and_decap() -> None:
    s = mag_settings()
    objs = set(build(s, entries_after(up())).values())
    table = s.tunnel_table(0)
    seg = Seg6Encap(str(LMA))
    assert objs == {
        RouteObj(6, MAIN_TABLE, "2001:db8:100:1::/64", "access"),
        RouteObj(4, MAIN_TABLE, "10.200.0.2/32", "access"),
        RuleObj(6, 1002, table, src="2001:db8:100:1::/64", iif="access"),
        RuleObj(4, 1002, table, src="10.200.0.2/32", iif="access"),
        AddressObj("access", "10.200.0.1/32"),
        RouteObj(6, table, "::/0", "uplink", seg, 1460),
        RouteObj(4, table, "0.0.0.0/0", "uplink", seg, 1460),
        TunnelSource(str(MAG1)),
        RouteObj(6, 2600, f"{MAG1}/128", "uplink", Seg6LocalDecap("End.DX6")),
        RouteObj(6, 2601, f"{MAG1}/128", "uplink", Seg6LocalDecap("End.DX4")),
        RuleObj(6, 1000, 2600, dst=f"{MAG1}/128", ipproto=41),
        RuleObj(6, 1000, 2601, dst=f"{MAG1}/128", ipproto=4),
        LocalRuleMove(1001),
    }


def test_second_mn_shares_the_tunnel_and_removing_one_leaves_the_other() -> None:
    s = mag_settings()
    one = build(s, entries_after(up("a")))
    two = build(s, entries_after(up("a"), up("b", hnp=2, v4=3)))
    ops = diff(one, two)
    assert all(op.verb == "add" for op in ops)
    added = {op.obj for op in ops}
    # Only b's routes and rules: the tunnel table, decap and default router are shared.
    assert added == {
        RouteObj(6, MAIN_TABLE, "2001:db8:100:2::/64", "access"),
        RouteObj(4, MAIN_TABLE, "10.200.0.3/32", "access"),
        RuleObj(6, 1002, s.tunnel_table(0), src="2001:db8:100:2::/64", iif="access"),
        RuleObj(4, 1002, s.tunnel_table(0), src="10.200.0.3/32", iif="access"),
    }
    down = BindingDown(mn_id="b", mac="x", lma=LMA, hnp=None, ipv4_hoa=None, reason="detach")
    back = build(s, entries_after(up("a"), up("b", hnp=2, v4=3), down))
    assert back == one
    assert {op.obj for op in diff(two, back)} == added
    assert all(op.verb == "remove" for op in diff(two, back))


def test_last_mn_gone_removes_everything_in_reverse_order() -> None:
    s = mag_settings()
    full = build(s, entries_after(up()))
    ops = diff(full, {})
    assert {op.obj for op in ops} == set(full.values())
    kinds = [type(op.obj).__name__ for op in ops]
    # Rules (and the local rule) go before routes, routes before addresses and the tunsrc.
    assert kinds.index("RuleObj") < kinds.index("RouteObj") < kinds.index("AddressObj")
    assert kinds[0] == "LocalRuleMove" and kinds[-1] == "TunnelSource"


def test_seg6_endpoint_stays_when_the_last_mn_leaves_and_serves_the_next() -> None:
    """Only the MN's objects come and go in a handover; stop (converge to {}) removes all."""
    s = mag_settings()
    full = build(s, entries_after(up()))
    after = keep_endpoint(s, full, {})
    endpoint = {
        TunnelSource(str(MAG1)),
        RouteObj(6, 2600, f"{MAG1}/128", "uplink", Seg6LocalDecap("End.DX6")),
        RouteObj(6, 2601, f"{MAG1}/128", "uplink", Seg6LocalDecap("End.DX4")),
        RuleObj(6, 1000, 2600, dst=f"{MAG1}/128", ipproto=41),
        RuleObj(6, 1000, 2601, dst=f"{MAG1}/128", ipproto=4),
        LocalRuleMove(1001),
    }
    assert set(after.values()) == endpoint
    removed = {op.obj for op in diff(full, after)}
    assert removed == set(full.values()) - endpoint
    back = keep_endpoint(s, after, build(s, entries_after(up("b", hnp=2, v4=3))))
    assert not [op for op in diff(after, back) if op.obj in endpoint]  # nothing rebuilt
    assert keep_endpoint(s, {}, {}) == {}


def test_an_endpoint_built_at_start_leaves_the_first_mn_only_its_own_objects() -> None:
    """The first station's install is the same diff as any later station's."""
    s = mag_settings()
    built = endpoint(s, "uplink")
    assert {type(o).__name__ for o in built.values()} == {
        "TunnelSource",
        "RouteObj",
        "RuleObj",
        "LocalRuleMove",
    }
    first = diff(built, keep_endpoint(s, built, build(s, entries_after(up()))))
    cold = diff({}, build(s, entries_after(up())))
    assert {op.obj for op in first} == {op.obj for op in cold} - set(built.values())
    assert all(op.verb == "add" for op in first)
    # on another link than the peer's path (the LMA's case): kept where it is, no replace
    elsewhere = endpoint(s, "eth9")
    later = diff(elsewhere, keep_endpoint(s, elsewhere, build(s, entries_after(up()))))
    assert not [op for op in later if op.obj.key in elsewhere]


def test_batches_send_runs_of_addresses_routes_and_rules_in_order() -> None:
    ops = diff({}, build(mag_settings(), entries_after(up())))
    groups = batches(ops)
    assert [op for g in groups for op in g] == ops  # nothing lost, nothing reordered
    kinds = [(type(g[0].obj).__name__, len(g)) for g in groups]
    # the tunnel source alone (iproute2), then address, routes and rules in one round
    # trip (the kernel applies them in order), then the local rule alone
    assert kinds == [("TunnelSource", 1), ("AddressObj", 11), ("LocalRuleMove", 1)]
    # a handover at a MAG whose endpoint is up: one round trip
    s = mag_settings()
    built = endpoint(s, "uplink")
    install = diff(built, keep_endpoint(s, built, build(s, entries_after(up()))))
    assert len(batches(install)) == 1 and len(install) == 7
    leave = diff(keep_endpoint(s, built, build(s, entries_after(up()))), built)
    assert len(batches(leave)) == 1 and [op.verb for op in leave] == ["remove"] * 7
    assert [type(op.obj).__name__ for op in leave][:2] == ["RuleObj", "RuleObj"]


def test_lma_decap_routes_stay_on_their_link_across_a_handover() -> None:
    """The LMA's plan names the link to the MN's MAG for decapsulation: no replace per move."""
    s = lma_settings()
    at_mag1 = build(s, entries_after(route_up("a", MAG1)))
    at_mag2 = build(s, entries_after(route_up("a", MAG2)))
    naive = {op.obj.key for op in diff(at_mag1, at_mag2)}
    kept = keep_endpoint(s, at_mag1, at_mag2)
    ops = diff(at_mag1, kept)
    assert {op.obj.key for op in ops} < naive  # the decap routes dropped out
    assert {(op.verb, op.obj.dst) for op in ops} == {  # type: ignore[union-attr]
        ("replace", "2001:db8:100:1::/64"),
        ("replace", "10.200.0.2/32"),
    }


def test_add_order_creates_tables_before_the_rules_that_point_at_them() -> None:
    ops = diff({}, build(mag_settings(), entries_after(up())))
    kinds = [type(op.obj).__name__ for op in ops]
    assert kinds.index("RouteObj") < kinds.index("RuleObj") < kinds.index("LocalRuleMove")


def test_ip6tnl_uses_one_named_device_with_derived_mtu() -> None:
    s = mag_settings(encapsulation="ip6tnl")
    objs = build(s, entries_after(up("a"), up("b", hnp=2, v4=3)), ALL6)
    links = [o for o in objs.values() if isinstance(o, TunnelLink)]
    assert len(links) == 1
    (link,) = links
    assert link.kind == "ip6tnl" and link.mtu == 1460 and link.remote == str(LMA)
    assert link.name.startswith("pm6-") and len(link.name) == 12
    assert not any(isinstance(o, LocalRuleMove | TunnelSource) for o in objs.values())
    assert RouteObj(6, s.tunnel_table(0), "::/0", link.name, None, 1460) in objs.values()


def test_gre_keys_give_one_device_and_table_per_key_pair() -> None:
    s = mag_settings(encapsulation="auto")
    entries = entries_after(
        up("a", gre_key_to_lma=100, gre_key_from_lma=200),
        up("b", hnp=2, v4=3, gre_key_to_lma=101, gre_key_from_lma=201),
    )
    objs = build(s, entries, ALL6)
    links = sorted(
        (o for o in objs.values() if isinstance(o, TunnelLink)), key=lambda x: x.okey or 0
    )
    assert [(ln.kind, ln.okey, ln.ikey, ln.mtu) for ln in links] == [
        ("ip6gre", 100, 200, 1452),
        ("ip6gre", 101, 201, 1452),
    ]
    tables = {o.table for o in objs.values() if isinstance(o, RuleObj)}
    assert len(tables) == 2


def test_an_emptied_unkeyed_tunnel_device_stays_for_the_next_mn_and_a_keyed_one_goes() -> None:
    s = mag_settings(encapsulation="auto")
    plain = build(s, entries_after(up("a")), ALL6)
    keyed = build(s, entries_after(up("k", gre_key_to_lma=100, gre_key_from_lma=200)), ALL6)
    installed = {**plain, **keyed}
    after = keep_idle_links(installed, {})
    (link,) = after.values()
    assert isinstance(link, TunnelLink) and link.kind == "ip6tnl"
    removed = {type(op.obj).__name__ for op in diff(installed, after)}
    assert removed == {"TunnelLink", "RouteObj", "RuleObj", "AddressObj"}  # the ip6gre one
    back = keep_idle_links(after, build(s, entries_after(up("b", hnp=2, v4=3)), ALL6))
    assert not [op for op in diff(after, back) if isinstance(op.obj, TunnelLink)]
    assert keep_idle_links({}, plain) is plain
    # the LMA: the device to the MAG the MN left stays, the MN's routes move
    lma = lma_settings(encapsulation="ip6tnl")
    at1 = build(lma, entries_after(route_up("a", MAG1)), ALL6)
    at2 = keep_idle_links(at1, build(lma, entries_after(route_up("a", MAG2)), ALL6))
    ops = diff(at1, at2)
    assert {(op.verb, type(op.obj).__name__) for op in ops} == {
        ("add", "TunnelLink"),
        ("replace", "RouteObj"),
    }


def test_choose_kind() -> None:
    v4 = ip_address("192.0.2.250")
    assert choose_kind("auto", LMA, False, ALL6) == "ip6tnl"
    assert choose_kind("auto", LMA, False, SEG6) == "seg6"
    assert choose_kind("auto", LMA, True, ALL6) == "ip6gre"
    assert choose_kind("auto", v4, False, frozenset({"ipip"})) == "ipip"
    assert choose_kind("auto", v4, True, frozenset({"gre"})) == "gre"
    with pytest.raises(PlanError, match="no GRE"):
        choose_kind("seg6", LMA, True, ALL6)
    with pytest.raises(PlanError, match="not supported by this kernel"):
        choose_kind("auto", LMA, True, SEG6)
    with pytest.raises(PlanError, match="cannot reach"):
        choose_kind("seg6", v4, False, SEG6)


def test_mtu_explicit_and_too_small() -> None:
    entries = entries_after(up())
    objs = build(mag_settings(mtu=1400), entries)
    assert {o.mtu for o in objs.values() if isinstance(o, RouteObj) and o.encap} >= {1400}
    small = {str(LMA): PeerPath("uplink", 1300)}
    s = mag_settings()
    tunnels = tunnel_keys(s, entries.values(), SEG6)
    with pytest.raises(PlanError, match="below 1280"):
        plan(s, entries.values(), tunnels, assign_slots({}, tunnels.values(), 4), small)
    with pytest.raises(PlanError, match="no route"):
        plan(s, entries.values(), tunnels, assign_slots({}, tunnels.values(), 4), {})


def test_slots_are_stable_and_bounded() -> None:
    a, b, c = (TunnelKey(str(LMA), "ip6gre", k, k) for k in (1, 2, 3))
    first = assign_slots({}, [a, b], 2)
    assert assign_slots(first, [b], 2) == {b: first[b]}
    assert assign_slots({b: first[b]}, [b, c], 2)[c] == first[a]  # the freed slot
    with pytest.raises(PlanError, match="max_tunnels"):
        assign_slots({}, [a, b, c], 2)


def test_link_names_depend_on_identity_only() -> None:
    k = TunnelKey(str(LMA), "ip6tnl")
    assert link_name("pm6-", k, str(MAG1)) == link_name("pm6-", k, str(MAG1))
    assert link_name("pm6-", k, str(MAG1)) != link_name("pm6-", k, str(MAG2))


# --- the LMA ----------------------------------------------------------------------------


def test_lma_handover_is_a_route_replace_not_del_add() -> None:
    s = lma_settings()
    at1 = build(s, entries_after(route_up("a", MAG1)))
    at2 = build(s, entries_after(route_up("a", MAG1), route_up("a", MAG2)))
    ops = diff(at1, at2)
    replaced = [op for op in ops if op.verb == "replace"]
    assert {
        (op.obj.dst, op.obj.dev)
        for op in replaced
        if isinstance(op.obj, RouteObj) and op.obj.table == MAIN_TABLE
    } == {
        ("2001:db8:100:1::/64", "to-mag2"),
        ("10.200.0.2/32", "to-mag2"),
    }
    assert not [op for op in ops if op.verb == "remove"]
    route = at2[("route", 6, MAIN_TABLE, "2001:db8:100:1::/64")]
    assert isinstance(route, RouteObj) and route.encap == Seg6Encap(str(MAG2))


def test_lma_late_route_down_from_the_old_mag_is_ignored() -> None:
    entries = entries_after(route_up("a", MAG1), route_up("a", MAG2))
    late = MobileRouteDown(mn_id="a", mag=MAG1, hnp=None, ipv4_hoa=None, reason="dereg")
    after, changed = apply_action(entries, late)
    assert not changed and after == entries
    now = MobileRouteDown(mn_id="a", mag=MAG2, hnp=None, ipv4_hoa=None, reason="dereg")
    after, changed = apply_action(entries, now)
    assert changed and after == {}


def test_refresh_is_no_change() -> None:
    entries = entries_after(up())
    _, changed = apply_action(entries, up(refresh=True))
    assert not changed


def test_diff_of_equal_plans_is_empty_and_changed_attrs_replace() -> None:
    r = RouteObj(6, 2602, "::/0", "uplink", Seg6Encap("2001:db8::1"), 1460)
    assert diff(as_plan([r]), as_plan([r])) == []
    r2 = RouteObj(6, 2602, "::/0", "uplink", Seg6Encap("2001:db8::1"), 1400)
    assert diff(as_plan([r]), as_plan([r2])) == [Op("replace", r2)]


# --- settings and hooks ------------------------------------------------------------------

_MAG = """
[daemon]
role = "mag"
control_socket = "/tmp/x.sock"
[mag]
own_address = "2001:db8:f1::2"
[plugin.localpolicy]
lma_address = "2001:db8:ff::1"
"""


def test_settings_defaults_and_errors() -> None:
    cfg = parse_config(_MAG + '[plugin.datapath]\naccess_interface = "wlan0"\n')
    s = parse_settings(cfg)
    assert s is not None and s.encapsulation == "auto" and s.local == MAG1
    assert s.route_protocol == 0xB5 and s.link_prefix == "pm6-"
    assert parse_settings(parse_config(_MAG)) is None
    off = _MAG + '[plugin.datapath]\nenabled = false\naccess_interface = "x"\n'
    assert parse_settings(parse_config(off)) is None
    for text, key in [
        ('[plugin.datapath]\nencapsulation = "seg6"\n', "access_interface"),
        ('[plugin.datapath]\naccess_interface = "a"\nencapsulation = "gre"\n', "encapsulation"),
        ('[plugin.datapath]\naccess_interface = "a"\nencapsulation = "vxlan"\n', "encapsulation"),
        ('[plugin.datapath]\naccess_interface = "a"\ntable_base = 250\n', "table_base"),
        ('[plugin.datapath]\naccess_interface = "a"\nlink_prefix = "toolong-"\n', "link_prefix"),
        ('[plugin.datapath]\naccess_interface = "a"\nmtu = 1000\n', "mtu"),
        ('[plugin.datapath]\naccess_interface = "a"\nbogus = 1\n', "bogus"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse_settings(parse_config(_MAG + text))
        assert err.value.key_path == f"plugin.datapath.{key}", (text, err.value)


def test_netlink_beats_the_null_datapath_only_when_enabled() -> None:
    on = parse_config(_MAG + '[plugin.datapath]\naccess_interface = "wlan0"\n')
    host = PluginHost.from_config(on, entry_points=False)
    assert isinstance(host.datapath_provider(), NetlinkDatapath)
    host = PluginHost.from_config(parse_config(_MAG), entry_points=False)
    assert host.datapath_provider().name == "null"  # type: ignore[union-attr]
    off = parse_config(_MAG + '[plugin.datapath]\nenabled = false\naccess_interface = "w"\n')
    host = PluginHost.from_config(off, entry_points=False)
    assert host.datapath_provider().name == "null"  # type: ignore[union-attr]


def test_plugin_import_does_not_load_pyroute2() -> None:
    import subprocess
    import sys

    code = "import sys, mag_ap_datapath; print('pyroute2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_building_the_provider_loads_pyroute2_before_the_timed_start() -> None:
    """The daemon gives ``start()`` 5 s; ``import pyroute2`` alone took longer in the
    QEMU guest (and can on an access point's CPU), so the import happens when a
    ``[plugin.datapath]`` section builds the provider, and validation stays light."""
    import subprocess
    import sys

    text = _MAG + '[plugin.datapath]\naccess_interface = "w"\n'
    code = (
        "import sys\n"
        "from mag_ap.config import parse_config_text\n"
        "from mag_ap.plugins import PluginHost\n"
        f"config = parse_config_text({text!r})\n"
        "host = PluginHost.from_config(config, entry_points=False)\n"
        "print('pyroute2' in sys.modules)\n"
        "provider = host.datapath_provider()\n"
        "print('pyroute2' in sys.modules, provider._kernel is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"], out.stdout + out.stderr
