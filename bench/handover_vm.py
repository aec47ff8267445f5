"""Handover interruption with real ip6tnl and ip6gre tunnels (VM tier), against seg6 on the host.

``python -m bench.handover_vm [--handovers N] [--variants ip6tnl,ip6gre] [--out PATH]``
(root, qemu). The host kernel has no tunnel modules, so ``make demo`` measures
the seg6 datapath only. This runs the same demo (``lab.demo``: hostapd,
802.1X, both walk modes, per-handover breakdown from real events) once on the
host (seg6) and once per variant inside one QEMU guest with a stock Debian
kernel (``lab.vm``), and reports each variant's interruption medians and its
ratio to the host's. The guest runs under TCG (software emulation, ~10-30x
slower CPU), so the ratio says what emulation costs as much as what the
tunnel does: the per-step breakdown shows where the time goes. Heavy: run it
rarely, with a small N, and read the load averages recorded with each run.
Not part of ``make bench``. Writes ``bench/handover_vm_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import vm

from .common import host_cpu_jiffies, host_load

DEFAULT_OUT = Path(__file__).resolve().parent / "handover_vm_results.json"
VARIANTS = ("ip6tnl", "ip6gre")
# What the guest runs per variant; the boot runs them one after the other.
GUEST_TIMEOUT_PER_VARIANT_S = 900.0
HOST_TIMEOUT_S = 900.0
STEP = "datapath install at the new MAG"


# Deadlines in the guest: Python starts 35-45x slower there (tests/vm uses 240 s for daemons).
GUEST_SLOW = 12.0


def demo_argv(handovers: int, datapath: str, report: Path, slow: float = 1.0) -> list[str]:
    return [
        sys.executable, "-m", "lab.demo", "--json-only", "--mode", "both",
        "--handovers", str(handovers), "--datapath", datapath, "--report", str(report),
        "--slow", str(slow),
    ]  # fmt: skip


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Per mode and family: interruption p50/p95, lost packets, the datapath install step."""
    if not report.get("ok"):
        return {"ok": False, "error": report.get("error", "no report")}
    out: dict[str, Any] = {
        "ok": True,
        "encapsulation": report.get("datapath", {}).get("encapsulation"),
        "kernel": report.get("versions", {}).get("kernel"),
    }
    for mode, families in report.get("summary", {}).items():
        out[mode] = {
            family: {
                "interruption_p50_ms": f["interruption_p50_ms"],
                "interruption_p95_ms": f["interruption_p95_ms"],
                "lost_per_handover_p50": f["lost_per_handover_p50"],
                "unaccounted_p50_ms": f["unaccounted_p50_ms"],
                "datapath_install_p50_ms": f["step_p50_ms"].get(STEP),
                "pbu_to_pba_p50_ms": f["step_p50_ms"].get("PBU to PBA (LMA round trip)"),
                "lma_route_switch_p50_ms": f["step_p50_ms"].get("LMA route switch"),
                "step_p50_ms": f["step_p50_ms"],
            }
            for family, f in families.items()
        }
    return out


def ratios(variant: dict[str, Any], host: dict[str, Any]) -> dict[str, float | None]:
    """Variant p50 interruption over the host's, per mode and family."""
    out: dict[str, float | None] = {}
    for mode in ("bbm", "mbb"):
        for family in ("ipv4", "ipv6"):
            a = variant.get(mode, {}).get(family, {}).get("interruption_p50_ms")
            b = host.get(mode, {}).get(family, {}).get("interruption_p50_ms")
            out[f"{mode}_{family}"] = round(a / b, 2) if a and b else None
    return out


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_host(handovers: int, workdir: Path) -> dict[str, Any]:
    report = workdir / "host.json"
    load_before = _load()
    started = time.monotonic()
    cpu = host_cpu_jiffies()
    proc = subprocess.run(
        demo_argv(handovers, "seg6", report),
        capture_output=True,
        text=True,
        timeout=HOST_TIMEOUT_S,
        check=False,
    )
    data = json.loads(report.read_text()) if report.is_file() else {"ok": False}
    if proc.returncode != 0:
        data.setdefault("error", proc.stderr[-2000:])
    return {
        "datapath": "seg6",
        "load_before": load_before,
        "load": host_load(cpu, host_cpu_jiffies()),
        "wall_s": round(time.monotonic() - started, 1),
        "summary": summary(data),
    }


def run_guest(handovers: int, variants: list[str], share: Path) -> dict[str, Any]:
    """One boot: the demo once per variant, each report into the share."""
    lines = [
        "cd " + str(vm.REPO_ROOT),
        # as an access point loads its kmod packages at boot (the probe would load them too)
        "modprobe -a ip6_tunnel ip6_gre",
        "uptime > " + str(share / "guest-load-before.txt"),
    ]
    for name in variants:
        argv = demo_argv(handovers, name, share / f"{name}.json", GUEST_SLOW)
        lines.append(
            " ".join(argv) + f" > {share / name}.out 2>&1; echo {name}=$? >> {share / 'rc.txt'}"
        )
        lines.append(f"cat /proc/loadavg > {share / name}.loadavg")
    load_before = _load()
    cpu = host_cpu_jiffies()
    result = vm.run_in_vm(
        "\n".join(lines), GUEST_TIMEOUT_PER_VARIANT_S * len(variants) + 300, share, memory_mb=1536
    )
    out: dict[str, Any] = {
        "host_load_before": load_before,
        "host_load": host_load(cpu, host_cpu_jiffies()),
        "guest_boot_s": round(result.boot_s, 1),
        "guest_command_s": round(result.command_s, 1),
        "wall_s": round(result.wall_s, 1),
        "accelerator": "tcg (no nested KVM here)",
        "variants": {},
    }
    for name in variants:
        path = share / f"{name}.json"
        data = json.loads(path.read_text()) if path.is_file() else {"ok": False}
        if not data.get("ok"):
            tail = (share / f"{name}.out").read_text(errors="replace")[-2000:]
            data.setdefault("error", tail or result.stdout[-2000:])
        loadavg = share / f"{name}.loadavg"
        out["variants"][name] = {
            "guest_loadavg_after": loadavg.read_text().split()[:3] if loadavg.is_file() else None,
            "summary": summary(data),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handover_vm", description=__doc__)
    parser.add_argument("--handovers", type=int, default=5, metavar="N", help="walks per mode")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="ip6tnl,ip6gre")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-host", action="store_true", help="guest only (no ratio)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if not set(variants) <= set(VARIANTS):
        parser.error(f"--variants: choose among {', '.join(VARIANTS)}")
    if os.geteuid() != 0:
        print("bench.handover_vm: needs root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mag-ap-hovm-") as tmp:
        workdir = Path(tmp)
        host = None if args.skip_host else run_host(args.handovers, workdir)
        share = workdir / "share"
        share.mkdir()
        guest = run_guest(args.handovers, variants, share)
    if host is not None:
        for entry in guest["variants"].values():
            entry["ratio_to_host_seg6_p50"] = ratios(entry["summary"], host["summary"])
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "handovers_per_mode": args.handovers,
        "host": host,
        "guest": guest,
    }
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    ok = all(e["summary"].get("ok") for e in guest["variants"].values())
    return 0 if ok and (host is None or host["summary"].get("ok")) else 1


if __name__ == "__main__":
    sys.exit(main())
