"""The netlink datapath on the host kernel (SRv6 reduced encapsulation, no tunnel modules).

CN - LMA - MAG1/MAG2 - MN in namespaces, real ``mag-ap`` daemons with
``[plugin.datapath]``: the MN pings the CN over IPv6 and IPv4 through the
tunnel; tshark on the MAG-LMA link shows plain IPv6-in-IPv6 (next header 41)
and IPv4-in-IPv6 (4) with no routing header; handover to MAG2; kill -9 and
restart; a clean stop leaves no tagged object; bad configurations are refused
with the key path. The shared scenarios live in lab/e2e_datapath.py (the VM
tier runs them with real ip6tnl/ip6gre).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import e2e_datapath as e2e
from lab.datapath_lab import CN4, CN6, MN_MAC, DatapathLab, datapath_lab
from lab.topology import wait_for
from tests.conftest import require_tool


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("ping")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[DatapathLab]:
    with datapath_lab(tmp_path / "dp") as built:
        yield built


def test_auto_picks_seg6_and_mn_pings_cn_over_both_families(lab: DatapathLab) -> None:
    binding = e2e.attach_and_ping(lab, 1)
    mag = e2e.netlink_status(lab, "mag1")
    assert mag["encapsulation"] == "seg6"
    assert "ip6tnl" not in mag["encapsulations_supported"]  # this host kernel has none
    (tunnel,) = mag["tunnels"]
    assert tunnel["peer"] == lab.domain.lma_service_address()
    assert tunnel["mtu"] == 1500 - 40
    six, four = e2e.ping_both(lab, count=20)
    sys.stderr.write(
        f"\nthrough the seg6 tunnel: IPv6 rtt {six.rtt_avg_ms} ms loss {six.loss:.0%}, "
        f"IPv4 rtt {four.rtt_avg_ms} ms loss {four.loss:.0%}\n"
    )
    # The MAG answers for the IPv4 default router on the access link.
    mag_host = lab.host("mag1")
    assert binding["ipv4_default_router"] in mag_host.ip("-4", "addr", "show", "dev", "access")
    # Nothing fragments: the largest IPv4 packet the tunnel MTU allows gets through with DF.
    big = lab.ping(lab.mn, CN4, count=2, size=1460 - 28, dont_fragment=True)
    assert big.received == 2, big.output
    too_big = lab.ping(lab.mn, CN4, count=2, size=1500 - 28, dont_fragment=True)
    assert too_big.received == 0, too_big.output


def test_tshark_sees_plain_ip_in_ipv6_without_routing_header(
    lab: DatapathLab, tmp_path: Path
) -> None:
    tshark = require_tool("tshark")
    binding = lab.attach(1)
    e2e.ping_both(lab)
    pcap = tmp_path / "uplink.pcap"
    log = pcap.with_suffix(".log")
    proc = lab.host("mag1").spawn(
        [tshark, "-q", "-i", "uplink", "-f", "ip6 and not ip6 proto 135", "-w", str(pcap)], log
    )
    wait_for(lambda: "Capture started" in log.read_text(errors="replace"), 30, "tshark")
    e2e.ping_both(lab, count=3)
    proc.terminate()
    proc.wait(timeout=10)
    fields = ["ipv6.nxt", "ipv6.src", "ipv6.dst", "ip.src", "ip.dst", "ipv6.routing.type"]
    argv = [tshark, "-r", str(pcap), "-T", "fields", *(a for f in fields for a in ("-e", f))]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    mn6 = lab.hnp_address(binding).split("/")[0]
    mn4 = binding["ipv4_hoa"].split("/")[0]
    lma, mag = lab.domain.lma_service_address(), lab.domain.mag_address(1)
    outer = {(lma, mag), (mag, lma)}
    six = [r for r in rows if r[0].startswith("41,")]
    four = [r for r in rows if r[0].startswith("4,") or r[0] == "4"]
    assert all(r[5] == "" for r in rows), "a routing header (SRH) was sent"
    assert all(not r[0].startswith(("43", "0,", "60")) for r in rows), rows
    assert {tuple(r[1].split(",")[:1] + r[2].split(",")[:1]) for r in six + four} <= outer
    assert {(r[1].split(",")[1], r[2].split(",")[1]) for r in six} == {(mn6, CN6), (CN6, mn6)}
    assert {(r[3], r[4]) for r in four} == {(mn4, CN4), (CN4, mn4)}


def test_handover_moves_the_lma_routes_to_mag2(lab: DatapathLab) -> None:
    e2e.handover_keeps_pinging(lab)
    lma_routes = lab.host("lma").ip("-6", "route", "show", "proto", "181")
    assert f"segs 1 [ {lab.domain.mag_address(2)} ]" in lma_routes, lma_routes
    assert lab.domain.mag_address(1) not in lma_routes


def test_kill_restart_and_clean_stop_leave_no_tagged_object(lab: DatapathLab) -> None:
    removed = e2e.kill_and_restart_reconciles(lab, 1)
    assert removed > 0
    e2e.clean_stop_leaves_nothing(lab)


def test_the_seg6_endpoint_is_built_at_start_and_the_first_station_pays_no_more(
    lab: DatapathLab,
) -> None:
    """Before any station, each MAG already decapsulates; the first attach installs only
    the MN's own objects, as many kernel operations as a later attach. (The lab's LMA has
    its address on lo and no transport_interface: its endpoint waits for the first MAG.)"""
    for name in ("mag1", "mag2"):
        state = lab.tagged_state(name)
        assert lab.mn_state(name) == [], state  # nothing but the endpoint
        assert any("seg6local action End.DX6" in line for line in state), state
        assert any("seg6local action End.DX4" in line for line in state), state
        assert any(line.startswith("tunsrc ") for line in state), state
        assert any("lookup local" in line for line in state), state
    built = lab.datapath_status("mag1")["counters"]["ops"]
    lab.attach(1)
    first = lab.datapath_status("mag1")["counters"]["ops"] - built
    lab.detach(1)
    lab.wait_datapath("mag1", present=False)
    after_detach = lab.datapath_status("mag1")["counters"]["ops"]
    lab.attach(1)
    second = lab.datapath_status("mag1")["counters"]["ops"] - after_detach
    # the MN's routes, rules, the IPv4 default router and the tunnel table's default routes
    assert first == second == 7, (first, second)


def test_detach_removes_exactly_that_mn(lab: DatapathLab) -> None:
    lab.attach(1)
    e2e.ping_both(lab)
    before = lab.tagged_state("mag1")
    lab.detach(1)
    lab.wait_datapath("mag1", present=False)
    assert lab.mn_state("mag1") == [], lab.mn_state("mag1")  # the seg6 endpoint stays
    # the LMA keeps the entry for MinDelayBeforeBCEDelete (10 s) before it lets go
    wait_for(lambda: lab.mn_state("lma") == [], 40, "LMA to remove the MN's routes")
    assert before


# --- bad paths: clear errors, no crash ------------------------------------------------


def test_explicit_ip6tnl_on_a_kernel_without_it_is_refused_at_start(tmp_path: Path) -> None:
    # Real: this host's kernel has no ip6_tunnel module (LAB-FACTS.md), so the datapath's
    # netlink request to create an ip6tnl link fails with "Unknown device type".
    assert not Path("/sys/module/ip6_tunnel").exists(), "this host has ip6_tunnel after all"
    with datapath_lab(tmp_path / "dp", start=False, encapsulation="ip6tnl") as lab:
        mag = lab.domain.mag[0]
        with pytest.raises(RuntimeError) as err:
            mag.start()
        text = mag.log_text()
        [line] = [ln for ln in text.splitlines() if "cannot start" in ln]
        assert "plugin.datapath.encapsulation = 'ip6tnl'" in line, text
        assert "kernel module ip6_tunnel" in line and "/sys/module/ip6_tunnel absent" in line
        assert "opkg install kmod-ip6-tunnel" in line and "modprobe ip6_tunnel" in line
        assert "available here: seg6" in line, line
        assert "Traceback" not in text, text
        assert "exited 1" in str(err.value)


def test_a_foreign_link_under_our_prefix_is_refused(tmp_path: Path) -> None:
    with datapath_lab(tmp_path / "dp", start=False) as lab:
        mag1 = lab.host("mag1")
        lab.domain.lab.link(mag1, "pm6-clash", lab.cn, "clashpeer")
        mag = lab.domain.mag[0]
        with pytest.raises(RuntimeError):
            mag.start()
        text = mag.log_text()
        assert "plugin.datapath.link_prefix" in text and "pm6-clash (veth)" in text, text
        assert "Traceback" not in text, text
        assert "pm6-clash" in mag1.ip("-o", "link", "show")  # and it was left alone


def test_gre_keys_with_seg6_fail_that_binding_only(tmp_path: Path) -> None:
    """GRE keys negotiated but seg6 cannot carry them: the apply fails on both sides and
    is logged, the binding is removed (the MAG de-registers, the LMA revokes: whichever
    comes first), and both daemons live."""
    with datapath_lab(tmp_path / "dp", profile_extra="gre_key = true\n") as lab:
        mag = lab.domain.mag[0]
        answer = lab.domain.attach(1, MN_MAC, lab.mn_id)
        # the answer may already find the binding revoked by the LMA
        assert answer["binding"] is None or answer["binding"]["gre_key_to_lma"] is not None
        assert '"gre_key_to_lma"' in mag.log_text()  # GRE keys were negotiated (None is not logged)
        wait_for(
            lambda: e2e.netlink_status(lab, "mag1")["counters"]["apply_failures"] == 1,
            10,
            "the failed apply",
        )
        status = e2e.netlink_status(lab, "mag1")
        assert status["mobile_nodes"] == 0
        assert "ip6gre" in status["recent_failures"][0]["error"], status
        assert lab.mn_state("mag1") == []  # the seg6 endpoint was built at start and stays
        assert mag.proc is not None and mag.proc.poll() is None
        assert "provider failed to apply an action" in mag.log_text()
        wait_for(lambda: not mag.bindings(), 10, "the unapplied binding to be removed")
        assert mag.request({"cmd": "status"})["runtime"]["mag"]["bindings_removed_unapplied"] == 1
        lma = lab.domain.lma
        assert lma is not None
        wait_for(
            lambda: (
                lab.mn_id not in lma.bindings()
                or lma.bindings()[lab.mn_id]["state"] != "registered"
            ),
            10,
            "the LMA to see the de-registration",
        )
        assert lma.proc is not None and lma.proc.poll() is None
        assert "route not installed: binding revoked" in lma.log_text()


def test_a_capture_stopped_right_after_the_traffic_holds_every_frame(lab: DatapathLab) -> None:
    """capture_stop waits until dumpcap has written what the link counted (the VM tier's
    GRE-keys flake lost the tail of the pings when it stopped at once)."""
    tshark = require_tool("tshark")
    require_tool("dumpcap")
    lab.attach(1)
    pcap = lab.workdir / "uplink.pcapng"
    proc = lab.capture("mag1", "uplink", pcap)
    before = lab.link_packets("mag1", "uplink")
    ping = lab.ping(lab.mn, CN6, count=5, interval_s=0.05)
    crossed = lab.link_packets("mag1", "uplink") - before
    lab.capture_stop(proc)  # at once: no sleep between the last reply and the stop
    assert ping.received == 5, ping.output
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", "icmpv6.type == 128 || icmpv6.type == 129",
         "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert len(out.stdout.split()) == 10, out.stdout  # 5 requests up, 5 replies down
    assert crossed >= 10
