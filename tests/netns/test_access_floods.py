"""Floods of forged MACs at one AP, with full daemons and a real station (issue 13, item 6).

A namespace on AP1's access bridge sends, for each of 10,000 distinct MACs, a
broadcast DHCPDISCOVER (chaddr = Ethernet source = that MAC) and a Router
Solicitation from it (``lab.floods``, raw AF_PACKET), paced at 500 MACs/s.
Meanwhile a new station comes up with the kernel's SLAAC (its RS) and busybox
udhcpc. What must hold:

* the station gets its IPv4 lease and its SLAAC address while the flood runs
  (it retransmits: the gate of ``mag_ap.admission`` gives a refused MAC that
  asks again a second chance that forged MACs never reach);
* the MAG's state stays bounded: DHCP pending stations and MACs remembered,
  RA hold-off and remembered tables, the daemon's table of MACs turned away
  while its binding pipeline was behind, all under their caps, and the
  bindings the flood could create limited by the gates' rates;
* every drop is counted, the log sums them up once per interval (not one line
  per packet), and the daemon is alive and answers at the end.

CPU and RSS of the daemon during such a flood, and the station's time to
lease, are measured in ``bench/access_flood.py`` (not asserted here).
"""

from __future__ import annotations

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
from lab.demo_lab import MN_IF
from lab.dhcp_clients import make_client
from lab.topology import wait_for
from tests.conftest import require_tool

FLOOD_MACS = 10_000
FLOOD_RATE = 500  # forged MACs per second (a DISCOVER and an RS each)
LEGIT_MAC = "02:00:00:00:f1:01"
FLOODER_MAC = "02:00:00:00:f1:ff"
ROOT = Path(__file__).resolve().parents[2]
# Gates (defaults of [plugin.dhcp4] global_* and [plugin.ra] rs_trigger_*): burst + rate/s,
# and as much again for second chances.
GATE_BURST, GATE_RATE = 50, 20


@pytest.fixture
def lab() -> Iterator[OpenAccessLab]:
    if os.geteuid() != 0:
        pytest.fail("netns tests need root (ip netns, raw sockets): run make test as root")
    for tool in ("ip", "busybox"):
        require_tool(tool)
    workdir = Path(tempfile.mkdtemp(prefix="mag-ap-floods-"))
    # The forged RSs carry source link-layer addresses: the MAG's kernel fills its neighbour
    # table (gc_thresh3) and the real station may get no entry at all, so the lab's 3 s
    # inactivity detach would take it down mid-test (README "Floods on the access link").
    lab = OpenAccessLab(workdir, inactivity_timeout_s=60.0)
    try:
        lab.build()
        lab.start()
        yield lab
    finally:
        prefix = lab.prefix
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)
        out = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout
        left = [line.split()[0] for line in out.splitlines() if line.startswith(f"{prefix}-")]
        assert not left, f"namespaces left behind: {left}"


def _slaac_in(st: Station, hnp: str) -> bool:
    prefix = IPv6Network(hnp)
    return any(IPv6Address(a.split("/")[0]) in prefix for a in st.addresses()["ipv6"])


def _log_records(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            records.append({"msg": line})
    return records


def test_forged_mac_flood_is_bounded_and_a_real_station_still_gets_its_addresses(
    lab: OpenAccessLab,
) -> None:
    mag = lab.mag(1)
    flooder = lab.add_station("flooder", FLOODER_MAC, ap=1)
    flooder.host.sysctl(f"net.ipv6.conf.{MN_IF}.disable_ipv6", "1")  # only forged frames
    lab.link_up(flooder)
    started = time.monotonic()
    flood = flooder.host.spawn(
        [sys.executable, "-m", "lab.floods", MN_IF, "dhcp,rs", str(FLOOD_MACS), str(FLOOD_RATE)],
        flooder.workdir / "flood.log",
    )
    try:

        def gates_dropping() -> bool:
            dhcp = lab.plugin_status(1, "mag_ap_dhcp4")["counters"]
            ra = lab.plugin_status(1, "mag_ap_ra")
            return bool(dhcp["rate_limited_global"] > 200 and ra["unknown_dropped_rate"] > 200)

        wait_for(gates_dropping, 20, "both gates to drop the flood")
        legit = lab.add_station("legit", LEGIT_MAC, ap=1)
        lab.link_up(legit)  # the kernel solicits a router
        client = make_client("udhcpc", legit)
        client.start()
        wait_for(lambda: bool(client.leases()), 30, "udhcpc's lease during the flood", 0.1)
        binding = lab.wait_bound(1, LEGIT_MAC, timeout_s=5)
        try:
            wait_for(lambda: _slaac_in(legit, binding["hnp"]), 30, "SLAAC during the flood", 0.1)
        except TimeoutError:
            ra = lab.plugin_status(1, "mag_ap_ra")
            node = ra["nodes"].get(LEGIT_MAC)
            counters = {k: v for k, v in ra.items() if k != "nodes"}
            addrs = legit.host.run("ip", "-6", "addr", "show", "dev", MN_IF)
            watch = lab.plugin_status(1, "mag_ap_linkwatch")
            message = (
                f"no SLAAC: RA node {node}, ra {counters}, addresses {addrs}, linkwatch {watch}"
            )
            raise AssertionError(message) from None
        assert flood.poll() is None, "the flood ended before the station was served"
        lease = client.leases()[0]
        assert lease.fields["ip"] == binding["ipv4_hoa"].split("/")[0]
        assert flood.wait(timeout=60) == 0
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    elapsed = time.monotonic() - started
    assert (flooder.workdir / "flood.log").read_text().strip() == f"sent {2 * FLOOD_MACS}"

    dhcp = lab.plugin_status(1, "mag_ap_dhcp4")
    ra = lab.plugin_status(1, "mag_ap_ra")
    runtime = mag.request({"cmd": "status"})["runtime"]["mag"]
    c = dhcp["counters"]
    # Bounded state: every table under its cap, whatever the flood's size.
    assert dhcp["pending"] <= 1024 and dhcp["newcomers_remembered"] <= 4096, dhcp
    assert ra["unknown_held_off"] <= 4096 and ra["unknown_remembered"] <= 4096, ra
    admitted_max = 2 * (GATE_BURST + GATE_RATE * elapsed)  # first chances + second chances
    assert c["attach_triggers"] <= admitted_max, c
    assert ra["rs_unknown"] <= admitted_max, ra
    bindings = mag.status()["bindings"]
    assert len(bindings) <= 2 * admitted_max + 1
    # Counted, and summed up in a few log lines, not one per dropped packet.
    assert c["rate_limited_global"] >= FLOOD_MACS // 2, c
    assert ra["unknown_dropped_rate"] >= FLOOD_MACS // 2, ra
    assert c["admitted_on_retry"] + ra["unknown_admitted_on_retry"] >= 1
    records = _log_records(mag.log_text())
    summaries = [r for r in records if "without a binding dropped" in r.get("msg", "")]
    assert 2 <= len(summaries) <= 2 * (elapsed / 10 + 2), summaries
    # Admitted at the pace of the binding pipeline (mag_ap.runtime.daemon MAX_BACKLOG_*):
    # the MACs it turned away are remembered for their retry in a bounded table.
    assert runtime["trigger_busy_remembered"] <= 1024, runtime
    # Alive and serving.
    assert mag.proc is not None and mag.proc.poll() is None
    ra_counters = {k: v for k, v in ra.items() if k != "nodes"}
    summary = {"elapsed_s": round(elapsed, 1), "dhcp": c, "bindings": len(bindings)}
    print("flood:", json.dumps({**summary, "ra": ra_counters, "runtime": runtime}))
