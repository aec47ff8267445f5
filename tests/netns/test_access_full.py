"""The access side with full daemons: real clients against real ``mag-ap run`` / ``mag-ap lma``.

One lab per module (:class:`lab.access_lab.OpenAccessLab`): CN, LMA, two
access points running ``mag-ap run`` with the netlink datapath (seg6 here) and
the dhcp4, ra, triggers, macnai and localpolicy plugins, a radio namespace with
one bridge per AP. No 802.1X: a station is attached by its first DHCP DISCOVER
or Router Solicitation. Every scenario uses stations of its own (own namespace,
own MAC, hence own MN-ID, HNP and HoA), so the scenarios do not disturb each
other and each stands alone, in any order; a station walks out at the end of its
test, and the module's teardown checks that every station that left is gone from
both APs, the LMA and every datapath.

What is proved, each with real programs only:

* busybox udhcpc, ISC dhclient and dhcpcd get the LMA's IPv4 home address and
  default router, reach the CN through the tunnel, walk to the other AP, get
  the same address ACKed there (udhcpc: RENEW after SIGUSR1; dhclient and
  dhcpcd: INIT-REBOOT) and reach the CN again; the old AP de-registers;
* the kernel's SLAAC forms its address from the HNP, takes the RA's MTU and
  keeps the address across a walk;
* IPv4-only, IPv6-only and dual-stack profiles (per MAC) give exactly those
  families; two stations on one AP get their own prefixes and addresses only;
* DHCP RELEASE, link down and neighbour inactivity each de-register: the MAG's
  binding goes, the LMA's entry goes after MinDelayBeforeBCEDelete, and the
  datapath objects of that MN go on both ends.

Measurements (attach to lease, handover interruption per client) are printed
at the end of the module (``pytest -s``) and are not asserted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from lab.access_lab import OpenAccessLab, Station
from lab.demo_lab import PingRun
from lab.demo_report import parse_ping
from lab.dhcp_clients import CLIENTS, DhcpClient, make_client
from lab.topology import hold, wait_for
from tests.conftest import require_tool

CN4 = "198.51.100.2"
CN6 = "2001:db8:c0::2"
RA_MTU = 1460  # [plugin.ra] mtu default: 1500 - 40 (IPv6-in-IPv6)
V4_ONLY = "02:00:00:00:b4:01"
V6_ONLY = "02:00:00:00:b6:01"
PROFILES = {V4_ONLY: {"ipv6": False}, V6_ONLY: {"ipv4": False}}
TOOLS = ("ip", "ping", "busybox", "dhclient", "dhcpcd", "rdisc6")
MEASURED: dict[str, Any] = {"attach_to_lease_ms": {}, "handover": {}}


@pytest.fixture(scope="module")
def lab() -> Iterator[OpenAccessLab]:
    if os.geteuid() != 0:
        pytest.fail("netns tests need root (ip netns, raw sockets): run make test as root")
    for tool in TOOLS:
        require_tool(tool)
    workdir = Path(tempfile.mkdtemp(prefix="mag-ap-access-"))
    lab = OpenAccessLab(workdir, profiles=PROFILES)
    try:
        lab.build()
        lab.start()
        yield lab
    finally:
        failed = []
        # Whatever ran, in whatever order: every station that left is gone everywhere.
        departed = [st for st in lab.stations.values() if st.ap == 0]
        try:
            if departed:
                _assert_departed_gone(lab, departed)
        except Exception as exc:  # reported below, after the clean-up
            failed.append(f"left over after the module's departures: {exc!r}")
        domain = lab.dp.domain
        daemons = {f"mag{i}": d for i, d in enumerate(domain.mag, start=1)}
        if domain.lma is not None:
            daemons["lma"] = domain.lma
        for name, daemon in daemons.items():
            if daemon.proc is not None and daemon.proc.poll() is not None:
                failed.append(
                    f"{name} exited {daemon.proc.returncode}:\n{daemon.log_text()[-3000:]}"
                )
        prefix = lab.prefix
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)
        sys.stderr.write("\naccess measurements: " + json.dumps(MEASURED, sort_keys=True) + "\n")
        left = [ns for ns in _namespaces() if ns.startswith(f"{prefix}-")]
        assert not left, f"namespaces left behind: {left}"
        assert not failed, "\n".join(failed)


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# --- helpers ---------------------------------------------------------------------------


def _ping_ok(lab: OpenAccessLab, st: Station, target: str) -> None:
    lab.dp.wait_ping(st.host, target, timeout_s=15)


def _lease_after(client: DhcpClient, wall: float, timeout_s: float = 30) -> Any:
    found: list[Any] = []

    def new_lease() -> bool:
        found[:] = [e for e in client.leases() if e.wall >= wall]
        if client.proc is not None and client.kind == "udhcpc" and client.proc.poll() is not None:
            raise AssertionError(f"udhcpc exited: {client.log.read_text(errors='replace')}")
        return bool(found)

    try:
        wait_for(new_lease, timeout_s, f"{client.kind} lease", interval_s=0.05)
    except TimeoutError:
        log = client.log.read_text(errors="replace") if client.log.exists() else ""
        raise AssertionError(f"no {client.kind} lease; events {client.events()}\n{log}") from None
    return found[0]


def _slaac(st: Station, hnp: str) -> str | None:
    prefix = IPv6Network(hnp)
    for addr in st.addresses()["ipv6"]:
        if IPv6Address(addr.split("/")[0]) in prefix:
            return addr
    return None


def _wait_slaac(st: Station, hnp: str) -> str:
    found: list[str] = []

    def formed() -> bool:
        addr = _slaac(st, hnp)
        found[:] = [addr] if addr else []
        return bool(found)

    wait_for(formed, 15, f"a SLAAC address in {hnp} on {st.name}", interval_s=0.05)
    return found[0]


def _old_ap_lets_go(lab: OpenAccessLab, ap: int, st: Station) -> None:
    """The AP the station left detaches it (neighbour inactivity after probing)."""
    wait_for(
        lambda: lab.mag_binding(ap, st.mac) is None,
        40,
        f"mag{ap} to detach {st.mac} after it left",
        interval_s=0.2,
    )
    _wait_datapath_without(lab, f"mag{ap}", st.mn_id)


def _assert_cleaned_up(lab: OpenAccessLab, ap: int, st: Station, binding: dict[str, Any]) -> None:
    """MAG binding gone; LMA entry gone (after MinDelayBeforeBCEDelete); datapath clean."""
    wait_for(lambda: lab.mag_binding(ap, st.mac) is None, 20, f"mag{ap} binding of {st.mac} gone")
    wait_for(lambda: lab.lma_binding(st.mn_id) is None, 20, f"LMA entry of {st.mn_id} gone")
    hnp, hoa = binding.get("hnp"), binding.get("ipv4_hoa")
    for name in (f"mag{ap}", "lma"):
        _wait_datapath_without(lab, name, st.mn_id)
        assert lab.kernel_objects_for(name, hnp, hoa) == [], name


def _wait_datapath_without(lab: OpenAccessLab, name: str, mn_id: str) -> None:
    wait_for(lambda: mn_id not in lab.datapath_ids(name), 10, f"{name} datapath to drop {mn_id}")


def _detach_reasons(lab: OpenAccessLab, ap: int, mac: str) -> list[str]:
    reasons = []
    for line in lab.mag(ap).log_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            fields = record.get("fields") or {}
            if record.get("msg") == "detach" and fields.get("mac") == mac:
                reasons.append(str(fields.get("reason")))
    return reasons


# --- DHCPv4 clients: attach, ping, walk, same address -------------------------------------


def _start_ping(st: Station, family: str, target: str) -> PingRun:
    """A continuous 50 ms ping from the station (``ping -D -O``, parsed afterwards)."""
    log = st.workdir / f"ping-{family}-{time.monotonic_ns()}.log"
    flag = "-4" if family == "ipv4" else "-6"
    argv = ["ping", flag, "-D", "-O", "-n", "-W", "1", "-i", "0.05", target]
    return PingRun(family, target, 0.05, log, st.host.spawn(argv, log))


def _handover(run: PingRun, roamed_at: float) -> dict[str, Any]:
    """Interruption around a walk: the longest gap between replies touching it."""

    def replies_after_walk() -> int:
        log = parse_ping(run.output())
        first = log.first_reply_after(roamed_at)
        return 0 if first is None else sum(1 for t in log.replies.values() if t >= first[1])

    wait_for(
        lambda: replies_after_walk() >= 6,
        30,
        f"six {run.family} replies after the walk",
        interval_s=0.05,
    )
    log = parse_ping(run.stop())
    first = log.first_reply_after(roamed_at)
    assert first is not None
    return {
        "interruption_ms": log.interruption_ms(roamed_at - 0.2, first[1]),
        "first_reply_after_ms": round((first[1] - roamed_at) * 1000, 1),
        "lost": log.lost,
        "sent": log.transmitted,
    }


# --- DHCPv4 clients: attach, ping, walk, same address -------------------------------------


@pytest.mark.parametrize("kind", CLIENTS)
def test_dhcp_client_gets_the_lma_address_and_keeps_it_across_a_handover(
    lab: OpenAccessLab, kind: str
) -> None:
    number = CLIENTS.index(kind) + 1
    st = lab.add_station(f"c{number}", f"02:00:00:00:c0:0{number}", ap=1)
    client = make_client(kind, st)
    lab.link_up(st)
    client.start()
    lease = _lease_after(client, client.started_at)
    MEASURED["attach_to_lease_ms"][kind] = round((lease.wall - client.started_at) * 1000, 1)

    binding = lab.wait_bound(1, st.mac)
    hoa, router = binding["ipv4_hoa"], binding["ipv4_default_router"]
    assert hoa and router, binding
    assert lease.fields["ip"] == hoa.split("/")[0]
    assert lease.fields["router"] == router and lease.fields["server"] == router
    wait_for(
        lambda: (
            hoa in st.addresses()["ipv4"]
            and [r.get("gateway") for r in st.default_routes("ipv4")] == [router]
        ),
        10,
        f"{hoa} and default router {router} on {st.name}",
    )
    lma = lab.lma_binding(st.mn_id)
    assert lma is not None and lma["ipv4_hoa"] == hoa and lma["mag"] == lab.dp.domain.mag_address(1)
    _ping_ok(lab, st, CN4)

    run = _start_ping(st, "ipv4", CN4)
    wait_for(lambda: bool(parse_ping(run.output()).replies), 10, "the continuous ping to answer")
    roamed_at = lab.roam(st, 2)
    client.after_roam()
    again = _lease_after(client, roamed_at)
    assert again.fields["ip"] == hoa.split("/")[0], again  # the same HoA, ACKed at AP2
    assert again.fields["router"] == router
    there = lab.wait_bound(2, st.mac)
    assert (there["ipv4_hoa"], there["hnp"]) == (hoa, binding["hnp"])
    wait_for(
        lambda: (
            (b := lab.lma_binding(st.mn_id)) is not None
            and b["mag"] == lab.dp.domain.mag_address(2)
        ),
        10,
        "the LMA to route the MN to mag2",
    )
    measured = _handover(run, roamed_at)
    measured["lease_after_walk_ms"] = round((again.wall - roamed_at) * 1000, 1)
    measured["hook_event"] = again.event
    MEASURED["handover"][kind] = measured
    assert hoa in st.addresses()["ipv4"]
    _ping_ok(lab, st, CN4)
    dhcp2 = lab.plugin_status(2, "mag_ap_dhcp4")
    assert {"mac": st.mac, "address": hoa.split("/")[0]}.items() <= next(
        lease for lease in dhcp2["leases"] if lease["mac"] == st.mac
    ).items()
    _old_ap_lets_go(lab, 1, st)
    assert lab.lma_binding(st.mn_id) is not None  # the late de-registration changed nothing
    _ping_ok(lab, st, CN4)
    lab.leave(st)


# --- SLAAC ------------------------------------------------------------------------------------


def test_slaac_address_from_the_hnp_with_the_advertised_mtu_survives_a_handover(
    lab: OpenAccessLab,
) -> None:
    st = lab.add_station("s6", "02:00:00:00:d0:01", ap=1)
    lab.link_up(st)  # the kernel's Router Solicitation is the attach trigger
    binding = lab.wait_bound(1, st.mac)
    hnp = binding["hnp"]
    address = _wait_slaac(st, hnp)
    assert IPv6Network(hnp).prefixlen == 64
    wait_for(lambda: st.ipv6_mtu() == RA_MTU, 10, f"the RA's MTU {RA_MTU} on {st.name}")
    routes = st.default_routes("ipv6")
    assert [r.get("gateway") for r in routes] == ["fe80::200:5eff:fe00:5213"], routes
    _ping_ok(lab, st, CN6)
    run = _start_ping(st, "ipv6", CN6)
    wait_for(lambda: bool(parse_ping(run.output()).replies), 10, "the continuous ping to answer")
    roamed_at = lab.roam(st, 2)
    lab.solicit(st)  # the kernel itself only repeats MLD reports after a carrier flap
    there = lab.wait_bound(2, st.mac)
    assert there["hnp"] == hnp
    MEASURED["handover"]["slaac"] = _handover(run, roamed_at)
    assert _slaac(st, hnp) == address
    assert st.ipv6_mtu() == RA_MTU
    _ping_ok(lab, st, CN6)
    _old_ap_lets_go(lab, 1, st)
    lab.leave(st)


# --- profiles ---------------------------------------------------------------------------------


def test_ipv4_only_ipv6_only_and_dual_stack_profiles(lab: OpenAccessLab) -> None:
    v4 = lab.add_station("p4", V4_ONLY, ap=2)
    v6 = lab.add_station("p6", V6_ONLY, ap=2)
    dual = lab.add_station("pd", "02:00:00:00:bd:01", ap=2)
    no_hoa_before = lab.plugin_status(2, "mag_ap_dhcp4")["counters"]["no_ipv4_hoa"]
    clients = {}
    for st in (v4, v6, dual):
        lab.link_up(st)
        clients[st.name] = make_client("udhcpc", st)
        clients[st.name].start()
    for st in (v4, dual):
        _lease_after(clients[st.name], clients[st.name].started_at)
    b4, b6, bd = (lab.wait_bound(2, st.mac) for st in (v4, v6, dual))
    assert b4["hnp"] is None and b4["ipv4_hoa"]
    assert b6["hnp"] and b6["ipv4_hoa"] is None
    assert bd["hnp"] and bd["ipv4_hoa"]
    _wait_slaac(v6, b6["hnp"])
    _wait_slaac(dual, bd["hnp"])
    _ping_ok(lab, v4, CN4)
    _ping_ok(lab, v6, CN6)
    _ping_ok(lab, dual, CN4)
    _ping_ok(lab, dual, CN6)
    # the IPv6-only station asked for IPv4 and got no answer: its binding has no HoA
    wait_for(
        lambda: lab.plugin_status(2, "mag_ap_dhcp4")["counters"]["no_ipv4_hoa"] > no_hoa_before,
        10,
        "the dhcp4 server to see the IPv6-only binding",
    )
    assert v6.addresses()["ipv4"] == [] and clients["p6"].leases() == []
    # the IPv4-only station solicited routers too, and was never advertised a prefix
    ra = lab.plugin_status(2, "mag_ap_ra")
    assert v4.mac not in ra["nodes"] and v4.addresses()["ipv6"] == []
    assert v4.default_routes("ipv6") == []
    assert lab.lma_binding(v4.mn_id)["hnp"] is None  # type: ignore[index]
    assert lab.lma_binding(v6.mn_id)["ipv4_hoa"] is None  # type: ignore[index]
    for st in (v4, v6, dual):
        lab.leave(st)


def test_two_stations_on_one_ap_get_their_own_addresses_only(lab: OpenAccessLab) -> None:
    a = lab.add_station("ta", "02:00:00:00:e0:01", ap=1)
    b = lab.add_station("tb", "02:00:00:00:e0:02", ap=1)
    clients = []
    for st in (a, b):
        lab.link_up(st)
        client = make_client("udhcpc", st)
        client.start()
        clients.append(client)
        _lease_after(client, client.started_at)
    ba, bb = lab.wait_bound(1, a.mac), lab.wait_bound(1, b.mac)
    assert ba["hnp"] != bb["hnp"] and ba["ipv4_hoa"] != bb["ipv4_hoa"]
    addr_a, addr_b = _wait_slaac(a, ba["hnp"]), _wait_slaac(b, bb["hnp"])
    _ping_ok(lab, a, CN6)
    _ping_ok(lab, b, CN6)
    _ping_ok(lab, a, CN4)
    _ping_ok(lab, b, CN4)
    # each has its own prefix and address, and nothing of the other's
    assert a.addresses() == {"ipv4": [ba["ipv4_hoa"]], "ipv6": [addr_a]}
    assert b.addresses() == {"ipv4": [bb["ipv4_hoa"]], "ipv6": [addr_b]}
    for st, other in ((a, ba["hnp"]), (b, bb["hnp"])):
        own = ba["hnp"] if st is a else bb["hnp"]
        routes = st.host.ip("-6", "route", "show")
        assert own in routes and (other == own or other not in routes), routes
    assert ba["hnp"] not in b.host.ip("-6", "route", "show")
    assert bb["hnp"] not in a.host.ip("-6", "route", "show")
    for st in (a, b):
        lab.leave(st)


# --- detach paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CLIENTS)
def test_dhcp_release_deregisters_and_cleans_up(lab: OpenAccessLab, kind: str) -> None:
    number = CLIENTS.index(kind) + 1
    st = lab.add_station(f"r{number}", f"02:00:00:00:a0:0{number}", ap=1)
    lab.link_up(st)
    client = make_client(kind, st)
    client.start()
    _lease_after(client, client.started_at)
    binding = lab.wait_bound(1, st.mac)
    _ping_ok(lab, st, CN4)
    for name in ("mag1", "lma"):  # what the clean-up check looks for is there now
        assert lab.kernel_objects_for(name, binding["hnp"], binding["ipv4_hoa"]), name
        assert st.mn_id in lab.datapath_ids(name)
    deregistrations = lab.lma.counters().get("deregistrations", 0)
    client.release()
    _assert_cleaned_up(lab, 1, st, binding)
    assert "dhcp release" in _detach_reasons(lab, 1, st.mac)
    assert lab.lma.counters()["deregistrations"] > deregistrations
    lab.leave(st)


def test_access_link_down_deregisters_and_cleans_up(lab: OpenAccessLab) -> None:
    st = lab.add_station("ld", "02:00:00:00:a1:01", ap=2)
    lab.link_up(st)
    binding = lab.wait_bound(2, st.mac)
    _wait_slaac(st, binding["hnp"])
    _ping_ok(lab, st, CN6)
    lab.ap_link(2, up=False)
    try:
        _assert_cleaned_up(lab, 2, st, binding)
    finally:
        lab.ap_link(2, up=True)
    assert "link-down" in _detach_reasons(lab, 2, st.mac)
    lab.leave(st)


def test_neighbour_inactivity_deregisters_a_silent_departure(lab: OpenAccessLab) -> None:
    st = lab.add_station("ia", "02:00:00:00:a2:01", ap=1)
    lab.link_up(st)
    client = make_client("udhcpc", st)
    client.start()
    _lease_after(client, client.started_at)
    binding = lab.wait_bound(1, st.mac)
    _wait_slaac(st, binding["hnp"])
    _ping_ok(lab, st, CN4)
    _ping_ok(lab, st, CN6)
    # still there while present and idle: its STALE entry is probed and the probe answered
    probes = lab.plugin_status(1, "mag_ap_linkwatch")["probes"]
    hold(
        lambda: lab.mag_binding(1, st.mac) is not None,
        2 * lab.inactivity_timeout_s,
        f"the binding of idle {st.mac}",
        interval_s=0.2,
    )
    wait_for(
        lambda: lab.plugin_status(1, "mag_ap_linkwatch")["probes"] > probes,
        10,
        "the watch to probe the idle station",
    )
    assert lab.mag_binding(1, st.mac) is not None
    os.kill(client.proc.pid, 9)  # type: ignore[union-attr]  # no RELEASE: it just goes
    lab.leave(st)
    _assert_cleaned_up(lab, 1, st, binding)
    assert _detach_reasons(lab, 1, st.mac) == ["inactivity"]


def test_a_station_that_walks_and_leaves_is_gone_everywhere(lab: OpenAccessLab) -> None:
    """Attach at AP2, walk to AP1, leave: no binding, entry or datapath object is left over."""
    st = lab.add_station("zz", "02:00:00:00:f0:01", ap=2)
    lab.link_up(st)  # the kernel's Router Solicitation is the attach trigger
    binding = lab.wait_bound(2, st.mac)
    lab.roam(st, 1)
    lab.solicit(st)
    assert lab.wait_bound(1, st.mac)["hnp"] == binding["hnp"]
    lab.leave(st)
    _assert_departed_gone(lab, [st])


def _assert_departed_gone(lab: OpenAccessLab, departed: list[Station]) -> None:
    """Neither AP, nor the LMA, nor any datapath holds anything of these stations."""
    macs = {st.mac for st in departed}
    for ap in (1, 2):
        wait_for(
            functools.partial(_none_bound, lab, ap, macs),
            40,
            f"mag{ap} to detach every station that left",
            interval_s=0.2,
        )
    ids = {st.mn_id for st in departed}
    wait_for(lambda: not ids & {b["mn_id"] for b in lab.lma.status()["bindings"]}, 20, "LMA empty")
    for name in ("mag1", "mag2", "lma"):
        for mn_id in ids:
            _wait_datapath_without(lab, name, mn_id)


def _none_bound(lab: OpenAccessLab, ap: int, macs: set[str]) -> bool:
    return not {b["mac"] for b in lab.mag(ap).status()["bindings"]} & macs
