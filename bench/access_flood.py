"""Fault benchmark: forged-MAC DHCP DISCOVER + Router Solicitation flood at one AP.

The open-access lab (``lab.access_lab``: LMA, two APs running ``mag-ap run``
with the dhcp4, ra, linkwatch, macnai and localpolicy plugins, seg6 datapath).
A station namespace on AP1 sends, for each of ``macs`` distinct forged MACs, a
broadcast DISCOVER and an RS (``lab.floods``) at ``rate`` MACs per second.
Measured on the MAG daemon itself: CPU seconds and RSS (sampled every 0.25 s:
before, peak, after) during the flood; and for a real station (kernel SLAAC +
busybox udhcpc) started while the flood runs, the time from ``udhcpc`` start
to its lease and to its SLAAC address, against the same station timing
without a flood just before. Run: ``python -m bench.access_flood`` (root).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from lab.access_lab import OpenAccessLab, Station
from lab.demo_lab import MN_IF
from lab.dhcp_clients import make_client
from lab.topology import wait_for

from .common import BenchResult, cpu_seconds, memory_mb

TITLE = "forged-MAC DISCOVER + RS flood at one AP: daemon CPU/RSS, a real station's time to lease"
TARGET_LEASE_S = 5.0  # udhcpc retries each second: the gate's second chance is the 1st retry
TARGET_RSS_GROWTH_MIB = 16.0
TARGET_CPU_SHARE = 0.5  # of one core, while the flood runs


def _station_times(lab: OpenAccessLab, st: Station, timeout_s: float = 40.0) -> dict[str, float]:
    """Bring ``st`` up (kernel RS), start udhcpc; seconds to lease and to SLAAC."""
    lab.link_up(st)
    client = make_client("udhcpc", st)
    t0 = time.monotonic()
    client.start()
    wait_for(lambda: bool(client.leases()), timeout_s, f"{st.name}'s lease", 0.02)
    lease_s = time.monotonic() - t0
    binding = lab.wait_bound(1, st.mac, timeout_s=10)
    prefix = IPv6Network(binding["hnp"])

    def slaac() -> bool:
        return any(IPv6Address(a.split("/")[0]) in prefix for a in st.addresses()["ipv6"])

    wait_for(slaac, timeout_s, f"{st.name}'s SLAAC address", 0.02)
    return {"lease_s": round(lease_s, 3), "slaac_s": round(time.monotonic() - t0, 3)}


class _Sampler(threading.Thread):
    """RSS of one process every ``interval_s`` until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.samples: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(memory_mb(self.pid)["VmRSS"])
            self._stop_event.wait(self.interval_s)

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join(timeout=5)
        return self.samples


def run(workdir: Path, macs: int = 10_000, rate: float = 500.0) -> BenchResult:
    result = BenchResult("access_flood", TITLE)
    workdir.mkdir(parents=True, exist_ok=True)
    lab = OpenAccessLab(workdir)
    try:
        lab.build()
        lab.start()
        mag = lab.mag(1)
        assert mag.proc is not None
        pid = mag.proc.pid
        baseline = _station_times(lab, lab.add_station("calm", "02:00:00:00:f2:01", ap=1))
        flooder = lab.add_station("flooder", "02:00:00:00:f2:ff", ap=1)
        flooder.host.sysctl(f"net.ipv6.conf.{MN_IF}.disable_ipv6", "1")
        lab.link_up(flooder)
        rss_before = memory_mb(pid)["VmRSS"]
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        sampler = _Sampler(pid)
        sampler.start()
        argv = [sys.executable, "-m", "lab.floods", MN_IF, "dhcp,rs", str(macs), str(rate)]
        flood = flooder.host.spawn(argv, flooder.workdir / "flood.log")
        try:
            time.sleep(3.0)  # measure the station once the flood runs at its rate
            during = _station_times(lab, lab.add_station("legit", "02:00:00:00:f2:02", ap=1))
            flood_running_at_lease = flood.poll() is None
            flood.wait(timeout=macs / rate + 60)
        finally:
            if flood.poll() is None:
                flood.kill()
                flood.wait()
        flood_s = time.monotonic() - t0
        cpu_s = cpu_seconds(pid) - cpu0
        samples = sampler.stop()
        rss_after = memory_mb(pid)
        dhcp = lab.plugin_status(1, "mag_ap_dhcp4")
        ra = lab.plugin_status(1, "mag_ap_ra")
        runtime = mag.request({"cmd": "status"})["runtime"]["mag"]
        bindings = len(mag.status()["bindings"])
        alive = mag.proc.poll() is None
    finally:
        lab.close()
    peak = max(samples, default=rss_before)
    result.metrics = {
        "flood": {
            "forged_macs": macs,
            "macs_per_s": rate,
            "frames": (flooder.workdir / "flood.log").read_text().strip(),
            "duration_s": round(flood_s, 2),
        },
        "mag_cpu_s": round(cpu_s, 3),
        "mag_cpu_share_of_one_core": round(cpu_s / flood_s, 3),
        "mag_rss_mib": {
            "before": rss_before,
            "peak": peak,
            "after": rss_after["VmRSS"],
            "hwm": rss_after["VmHWM"],
        },
        "station_without_flood": baseline,
        "station_during_flood": during,
        "flood_still_running_when_served": flood_running_at_lease,
        "mag_bindings_after": bindings,
        "mag_alive": alive,
        "dhcp4": {
            k: dhcp["counters"][k]
            for k in ("received", "rate_limited_global", "admitted_on_retry", "attach_triggers")
        }
        | {"pending": dhcp["pending"], "newcomers_remembered": dhcp["newcomers_remembered"]},
        "ra": {
            k: ra[k]
            for k in (
                "rs_received",
                "rs_unknown",
                "unknown_dropped_rate",
                "unknown_admitted_on_retry",
                "unknown_held_off",
                "unknown_remembered",
            )
        },
        "runtime": runtime,
    }
    result.target("station_lease_during_flood_s", during["lease_s"], TARGET_LEASE_S, "<=", "s")
    result.target("mag_rss_growth_mib", peak - rss_before, TARGET_RSS_GROWTH_MIB, "<=", "MiB")
    result.target("mag_cpu_share", cpu_s / flood_s, TARGET_CPU_SHARE, "<=", "cores")
    result.notes.append(
        "every admitted forged MAC becomes a binding (open access: macnai + localpolicy "
        "accept any MAC), at the gates' rate (20/s + second chances, per plugin); "
        "linkwatch's inactivity detach removes them later. Tables of the gates are capped "
        "(4,096 remembered MACs, ~160 B each)"
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.access_flood", description=__doc__)
    parser.add_argument("--macs", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--out", type=Path, default=Path("bench/access_flood.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mag-ap-bench-flood-") as tmp:
        started = time.monotonic()
        result = run(Path(tmp), macs=args.macs, rate=args.rate)
        result.duration_s = time.monotonic() - started
    report: dict[str, Any] = result.to_json()
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if result.verdict == "pass" else 1


if __name__ == "__main__":
    raise SystemExit(main())
