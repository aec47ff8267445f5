"""Router advertisements and access triggers against the kernel's own SLAAC, in namespaces.

Topology (every name carries the lab's unique prefix): the MAG namespace holds
a Linux bridge ``br0`` with one veth port per mobile node; each MN namespace
has ``eth0`` with accept_ra=1 and forwarding 0 (the kernel is the SLAAC
client). The plugin's real IO runs in the MAG namespace through
lab/access_harness.py, and the test calls its ``apply(BindingUp)``
directly: no LMA in this tier. tshark on MN2 proves the link-layer unicast;
``rdisc6`` (ndisc6) is an independent RS sender and RA printer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.harness import HarnessProcess
from lab.topology import Host, Lab, wait_for
from tests.conftest import require_tool

MAG_LL = "fe80::200:5eff:fe00:5213"
MN1_MAC, MN2_MAC = "02:00:00:00:a0:01", "02:00:00:00:a0:02"
HNP1, HNP2 = "2001:db8:1:1::/64", "2001:db8:1:2::/64"
MTU = 1400


class Harness(HarnessProcess):
    """The RA and linkwatch IO running in the MAG namespace; commands in, events out."""

    def __init__(self, lab: Lab, mag: Host, ra: dict[str, Any], triggers: dict[str, Any]):
        super().__init__(lab, mag, "lab.access_harness", [json.dumps(ra), json.dumps(triggers)])

    def status(self) -> dict[str, Any]:
        self.send(op="status")
        return self.expect("status")

    def up(self, mac: str, hnp: str, lifetime_s: int = 3600) -> None:
        self.send(op="up", mac=mac, hnp=hnp, lifetime_s=lifetime_s)
        self.expect("applied", op="up", mac=mac)

    def down(self, mac: str, hnp: str) -> None:
        self.send(op="down", mac=mac, hnp=hnp)
        self.expect("applied", op="down", mac=mac)


@dataclass
class Access:
    lab: Lab
    mag: Host
    mn1: Host
    mn2: Host


def _mn(lab: Lab, mag: Host, name: str, port: str, mac: str) -> Host:
    mn = lab.add_host(name)
    lab.link(mag, port, mn, "eth0")
    mn.ip("link", "set", "eth0", "address", mac)
    mn.sysctl("net.ipv6.conf.eth0.forwarding", "0")
    mn.sysctl("net.ipv6.conf.eth0.accept_ra", "1")
    mn.sysctl("net.ipv6.conf.eth0.autoconf", "1")
    mag.ip("link", "set", port, "master", "br0")
    return mn


@pytest.fixture
def access() -> Iterator[Access]:
    require_tool("ip")
    with Lab() as lab:
        mag = lab.add_host("mag")
        mag.ip("link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        mag.ip("link", "set", "br0", "up")
        mn1 = _mn(lab, mag, "mn1", "p1", MN1_MAC)
        mn2 = _mn(lab, mag, "mn2", "p2", MN2_MAC)
        # fast NUD on the MAG side so a vanished station turns FAILED within seconds
        mag.sysctl("net.ipv6.neigh.br0.base_reachable_time_ms", "1000")
        mag.sysctl("net.ipv6.neigh.br0.delay_first_probe_time", "1")
        yield Access(lab, mag, mn1, mn2)


def addresses(mn: Host) -> list[dict[str, Any]]:
    out = json.loads(mn.ip("-6", "-j", "addr", "show", "dev", "eth0"))
    return [a for iface in out for a in iface.get("addr_info", []) if a.get("scope") == "global"]


def in_prefix(addr: dict[str, Any], hnp: str) -> bool:
    import ipaddress

    return ipaddress.IPv6Address(addr["local"]) in ipaddress.IPv6Network(hnp)


def default_routers(mn: Host) -> list[str]:
    routes = json.loads(mn.ip("-6", "-j", "route", "show", "default"))
    return [r.get("gateway", "") for r in routes]


def link_local(mn: Host) -> str:
    out = json.loads(mn.ip("-6", "-j", "addr", "show", "dev", "eth0", "scope", "link"))
    return str(out[0]["addr_info"][0]["local"])


def link_mtu(mn: Host) -> int:
    return int(mn.run("cat", "/proc/sys/net/ipv6/conf/eth0/mtu").strip())


def ra_config(**extra: Any) -> dict[str, Any]:
    return {"interface": "br0", "mtu": MTU, "rs_delay_max_s": 0, **extra}


def test_mn_autoconfigures_from_its_own_prefix_and_the_other_mn_never_sees_it(
    access: Access, tmp_path: Path
) -> None:
    tshark = require_tool("tshark")
    log = tmp_path / "tshark.log"
    fields = ["-e", "eth.dst", "-e", "ipv6.dst", "-e", "icmpv6.opt.prefix"]
    # -p: no promiscuous mode. A bridge floods unicast to a MAC it has not learned
    # yet; what counts is what MN2's interface accepts, as a Wi-Fi station would.
    argv = [tshark, "-n", "-l", "-p", "-i", "eth0", "-f", "icmp6", "-Y", "icmpv6.type == 134",
            "-T", "fields", *fields]  # fmt: skip
    cap = access.mn2.spawn(argv, log)
    wait_for(lambda: "Capturing on" in log.read_text(), 20, "tshark to capture on MN2")
    h = Harness(access.lab, access.mag, ra_config(), {})
    assert MAG_LL in access.mag.ip("-6", "addr", "show", "dev", "br0")
    h.up(MN1_MAC, HNP1)
    h.up(MN2_MAC, HNP2)
    wait_for(lambda: any(in_prefix(a, HNP1) for a in addresses(access.mn1)), 20, "MN1 SLAAC")
    wait_for(lambda: any(in_prefix(a, HNP2) for a in addresses(access.mn2)), 20, "MN2 SLAAC")
    assert all(in_prefix(a, HNP1) for a in addresses(access.mn1))
    assert all(in_prefix(a, HNP2) for a in addresses(access.mn2))
    assert link_mtu(access.mn1) == MTU and link_mtu(access.mn2) == MTU
    assert default_routers(access.mn1) == [MAG_LL]

    def rows() -> list[tuple[str, ...]]:
        """RAs MN2's stack accepts: to its own MAC or to a multicast MAC. A bridge floods
        unicast for a MAC it has not learned yet, and veth hands such PACKET_OTHERHOST
        frames to a capture even without promiscuous mode; the kernel drops them."""
        lines = [tuple(line.split("\t")) for line in log.read_text().splitlines() if "\t" in line]
        return [r for r in lines if r[0] == MN2_MAC or r[0].startswith("33:33:")]

    # the three initial RAs of both MNs are out, and MN2 saw its own three
    wait_for(lambda: h.status()["ra"]["ra_sent"] >= 6, 20, "the initial RAs of both MNs")
    wait_for(lambda: len(rows()) >= 3, 20, "MN2's own RAs in the capture")
    cap.terminate()
    cap.wait(timeout=20)
    assert set(rows()) == {(MN2_MAC, "ff02::1", HNP2.split("/", maxsplit=1)[0])}, log.read_text()


def test_rs_from_a_new_mac_fires_the_trigger_and_a_bound_mn_gets_its_prefix(
    access: Access,
) -> None:
    rdisc6 = require_tool("rdisc6")
    h = Harness(access.lab, access.mag, ra_config(), {})
    access.mn2.run(rdisc6, "-1", "-w", "300", "-r", "1", "eth0", check=False)
    assert h.expect("attached")["mac"] == MN2_MAC
    h.up(MN2_MAC, HNP2)
    out = access.mn2.run(rdisc6, "-1", "-w", "2000", "-r", "3", "eth0")
    assert HNP2 in out and HNP1 not in out
    assert f"{MTU} bytes" in out and MAG_LL in out
    assert h.status()["ra"]["rs_answered"] >= 1


def test_binding_down_withdraws_the_default_route_and_deprecates_the_address(
    access: Access,
) -> None:
    h = Harness(access.lab, access.mag, ra_config(), {})
    h.up(MN1_MAC, HNP1, lifetime_s=3600)
    wait_for(lambda: any(in_prefix(a, HNP1) for a in addresses(access.mn1)), 20, "MN1 SLAAC")
    wait_for(lambda: default_routers(access.mn1) == [MAG_LL], 20, "MAG as default router")
    h.down(MN1_MAC, HNP1)
    wait_for(lambda: default_routers(access.mn1) == [], 20, "the default route to go")
    wait_for(
        lambda: all(a.get("preferred_life_time") == 0 for a in addresses(access.mn1)),
        20,
        "the address to be deprecated",
    )
    # RFC 4862 5.5.3 e): with at most 2 hours left, a lower valid lifetime is
    # ignored, so the kernel keeps the (deprecated) address until it expires.
    (addr,) = addresses(access.mn1)
    assert addr.get("deprecated") is True
    assert 0 < addr["valid_life_time"] <= 3600
    routes = access.mn1.ip("-6", "route", "show", HNP1)
    assert routes.strip() == "", "Linux drops the on-link prefix route on valid lifetime 0"
    wait_for(lambda: h.status()["ra"]["withdrawals_sent"] == 3, 20, "three final RAs")
    assert h.status()["ra"]["nodes"] == {}


def test_link_down_detaches_the_bound_station(tmp_path: Path) -> None:
    with Lab() as lab:
        mag = lab.add_host("mag")
        mn = lab.add_host("mn")
        lab.link(mag, "acc", mn, "eth0")
        mn.ip("link", "set", "eth0", "address", MN1_MAC)
        h = Harness(lab, mag, {}, {"interface": "acc", "link_down_detach": True})
        wait_for(lambda: h.status()["linkwatch"]["link_up"] is True, 20, "link seen up")
        h.up(MN1_MAC, HNP1)
        mn.ip("link", "set", "eth0", "down")
        event = h.expect("detached")
        assert (event["mac"], event["reason"]) == (MN1_MAC, "link-down")
        assert h.status()["linkwatch"]["link_up"] is False


def test_inactivity_detaches_a_station_whose_neighbour_entries_failed(
    access: Access, tmp_path: Path
) -> None:
    h = Harness(
        access.lab,
        access.mag,
        {},
        {"interface": "br0", "inactivity_timeout_s": 3, "poll_interval_s": 0.5},
    )
    mn1_ll, mn2_ll = link_local(access.mn1), link_local(access.mn2)
    logs = [tmp_path / f"{ll}.log" for ll in (mn1_ll, mn2_ll)]
    for ll, log in zip((mn1_ll, mn2_ll), logs, strict=True):
        access.mag.spawn(["ping", "-6", "-n", "-i", "0.2", f"{ll}%br0"], log)
    # both answer before they are bound: a busy machine may start ping late, and a
    # station bound with no neighbour entry yet is (rightly) inactive after 3 s
    for log in logs:

        def answered(log: Path = log) -> bool:
            return "bytes from" in log.read_text()

        wait_for(answered, 30, f"replies in {log.name}")
    h.up(MN1_MAC, HNP1)
    h.up(MN2_MAC, HNP2)
    # both stations answer: their neighbour entries stay alive past the timeout
    wait_for(lambda: h.status()["linkwatch"]["polls"] >= 12, 30, "6 s of neighbour polls")
    assert h.events("detached") == []
    access.mn1.ip("link", "del", "eth0")  # MN1 leaves without a word
    event = h.expect("detached", timeout_s=30)
    assert (event["mac"], event["reason"]) == (MN1_MAC, "inactivity")
    status = h.status()["linkwatch"]
    assert status["inactivity_detaches"] == 1
    assert h.pending("detached") == []  # MN2 is still there


def test_a_station_that_sends_no_rs_is_found_by_its_mld_report_or_dad(access: Access) -> None:
    """SLAAC without an RS (switched off here, or sent at the previous AP): the station's
    MLD report and DAD solicitations report it, and its RA goes out at once."""
    # MN1 goes quiet first: its own late RS or MLD report must not be taken for MN2's.
    access.mn1.ip("link", "set", "eth0", "down")
    h = Harness(access.lab, access.mag, ra_config(), {})
    mn = access.mn2
    mn.sysctl("net.ipv6.conf.eth0.router_solicitations", "0")
    # Joining the link again sends MLDv2 reports and DAD for fe80::; on a busy machine the
    # station joins once more if the first join went unreported, as a real one would.
    for attempt, wait_s in ((1, 10.0), (2, 20.0)):
        mn.ip("link", "set", "eth0", "down")
        mn.ip("link", "set", "eth0", "up")
        try:
            assert h.expect("attached", timeout_s=wait_s, mac=MN2_MAC)["mac"] == MN2_MAC
            break
        except TimeoutError:
            if attempt == 2:
                raise AssertionError(f"MN2 not reported: ra {h.status()['ra']}") from None
    assert h.events("attached", mac=MN1_MAC) == []
    h.up(MN2_MAC, HNP2)
    wait_for(lambda: any(in_prefix(a, HNP2) for a in addresses(mn)), 20, "MN2 SLAAC")
    ra = h.status()["ra"]
    assert ra["rs_received"] == 0, ra  # it never solicited
    # one unknown-station report per join that was not reported before
    assert ra["station_signals"] >= 1 and 1 <= ra["station_signals_unknown"] <= attempt, ra
