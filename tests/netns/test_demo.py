"""``make demo`` end to end: the real demo program, as a user runs it, and its report.

Runs ``python -m lab.demo --json-only --handovers 2`` (real hostapd,
wpa_supplicant, udhcpc, kernel SLAAC, mag-ap MAG and LMA daemons, seg6 data
path) in a temporary directory and checks the report: the station keeps its
IPv4 and IPv6 home addresses across both walks, the 802.1X NAI is the MN-ID on
the MAG and in the LMA's binding cache, both pings got through before and after
every handover, loss stays within a sanity bound (not a timing assertion), and
no namespace or process is left behind. A second test interrupts the demo
(SIGINT, as Ctrl-C) once the lab is up and checks the clean-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, require_tool

TOOLS = ("ip", "ping", "hostapd", "hostapd_cli", "wpa_supplicant", "wpa_cli", "busybox")


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in TOOLS:
        require_tool(tool)


def _namespaces() -> str:
    return subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def _demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lab.demo", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_demo_walks_twice_keeping_addresses_and_pings(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--json-only", "--handovers", "1")  # one walk of each mode
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, f"demo failed:\n{err}\n{out[-3000:]}"
    report: dict[str, Any] = json.loads((tmp_path / "demo-report.json").read_text())
    assert json.loads(out) == report  # --json-only prints exactly the report
    sys.stderr.write(
        "\ndemo: "
        + json.dumps(
            {
                "attach_ms": report["attach_ms"],
                "ping": report["ping"],
                "handovers": [h["ping"] for h in report["handovers"]],
            }
        )
        + "\n"
    )
    assert report["ok"] is True

    # one interface, same MAC, same IPv4 and IPv6 home addresses before and after
    before, after = report["addresses"]["before"], report["addresses"]["after"]
    assert len(before["ipv4"]) == 1 and before["ipv4"][0].startswith("10.200."), before
    assert len(before["ipv6"]) == 1 and before["ipv6"][0].startswith("2001:db8:100:"), before
    assert after == before
    mn = report["mobile_node"]
    assert mn["mac_after"] == mn["mac"]

    # the 802.1X identity is the MN-ID on the serving MAG and in the LMA's cache
    nai = mn["nai"]
    assert nai == "alice@example.net"
    assert report["mn_id"]["mag"] == [nai]
    assert report["mn_id"]["lma"] == [nai]
    assert report["mn_id"]["mag_daemon"] == "mag1"  # two walks: back at AP1
    lma = report["lma_binding"]
    assert lma["mn_id"] == nai and lma["state"] == "registered"
    assert lma["mag"] == "2001:db8:f1::2"

    # both walks: same prefix and HoA at the new AP, pings answered again
    walks = [(h["mode"], h["from"], h["to"]) for h in report["handovers"]]
    assert walks == [("bbm", "AP1", "AP2"), ("mbb", "AP2", "AP1")]
    for h in report["handovers"]:
        assert h["hnp"] == before["ipv6"][0].split("::")[0] + "::/64"
        assert h["ipv4_hoa"] == before["ipv4"][0]
        assert h["handoff_indicator"] in (3, 4), h  # never 1 from the trigger path
        for family in ("ipv4", "ipv6"):
            p = h["ping"][family]
            assert p["first_reply_after_ms"] is not None
            assert p["window_sent"] > 0
            # a sanity bound, not a timing assertion: the real numbers are printed above
            assert p["window_lost"] < 0.5 * p["window_sent"], (family, h)
            cut = p["breakdown"]
            assert cut["gap_ms"] > 0 and cut["steps"], cut
            assert "PBU to PBA (LMA round trip)" in {s["step"] for s in cut["steps"]}, cut
    bbm, mbb = report["handovers"]
    assert "AP-STA-DISCONNECTED" in bbm["departure_detected_by"]
    # make-before-break: the protocol cleaned up the old MAG (the LMA's BRI), and its
    # hostapd's late departure report found nothing left to de-register
    assert mbb["old_mag_cleanup"] == "BRI trigger 2", mbb
    assert mbb["late_departure_ignored"] is True
    assert set(report["summary"]) == {"bbm", "mbb"}

    # the pings ran through the whole demo and mostly got through
    for family in ("ipv4", "ipv6"):
        p = report["ping"][family]
        assert p["sent"] > 0 and p["received"] > 0
        assert p["lost"] < 0.5 * p["sent"], (family, p)

    assert [e for e in report["timeline"] if "802.1X success" in e["event"]]
    assert report["versions"]["hostapd"].startswith("hostapd")

    # nothing left behind
    assert report["lab_prefix"] not in _namespaces()
    assert _processes_mentioning(report["workdir"]) == []
    assert not Path(report["workdir"]).exists()


def test_ctrl_c_cleans_up(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--handovers", "1")
    assert proc.stdout is not None
    prefix = ""
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "lab prefix" in line:
            prefix = line.split("lab prefix ", 1)[1].split(",")[0]
        if "lab built" in line:
            break
        assert time.monotonic() < deadline, "the lab was not built"
    assert prefix, "the demo did not name its lab prefix"
    assert prefix in _namespaces()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert prefix not in _namespaces()
    report = json.loads((tmp_path / "demo-report.json").read_text())
    assert report["ok"] is False and report["error"] == "interrupted"
    assert _processes_mentioning(prefix) == []
