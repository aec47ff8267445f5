"""``python -m bench`` (``make bench``): run the benchmarks, write results.json, print a table.

Needs root (network namespaces, raw sockets) except for the in-process LMA
loop. Every benchmark has its own time budget; a failing one is recorded with
its error and the others still run. Results are written after each benchmark,
so an interrupted run leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import (
    access_flood,
    attach_latency,
    capacity,
    footprint,
    idle,
    lma_outage,
    lma_rate,
    mass_attach,
    mipsel,
    openwrt_startup,
    scaling,
    timer_schedules,
    ubus_status,
    unauth_flood,
)
from .common import BenchResult, host_cpu_jiffies, host_load, machine_info

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
ORDER = (
    "lma_rate", "scaling", "attach_latency", "mass_attach", "footprint", "capacity",
    "ubus_status", "openwrt_startup", "idle", "unauth_flood", "lma_outage", "access_flood",
    "mipsel", "timer_schedules",
)  # fmt: skip


def _runners(args: argparse.Namespace, workdir: Path) -> dict[str, Callable[[], BenchResult]]:
    quick = args.quick
    return {
        "lma_rate": lambda: lma_rate.run(
            workdir / "lma_rate", n=2000 if quick else 20_000, count=2000 if quick else 15_000
        ),
        "scaling": lambda: scaling.run(
            sizes=(1000,) if quick else scaling.SIZES,
            lma_sizes=(1000,) if quick else scaling.LMA_SIZES,
        ),
        "attach_latency": lambda: attach_latency.run(
            workdir / "attach_latency", n=50 if quick else args.attaches
        ),
        "mass_attach": lambda: mass_attach.run(
            workdir / "mass_attach", n=100 if quick else 1000, connections=args.connections
        ),
        "footprint": lambda: footprint.run(workdir / "footprint", starts=3 if quick else 7),
        "openwrt_startup": lambda: openwrt_startup.run(
            workdir / "openwrt_startup", starts=3 if quick else 7
        ),
        "capacity": lambda: capacity.run(
            workdir / "capacity",
            n=1000 if quick else args.capacity_n,
            lifetime_s=40 if quick else 120,
            refresh_before_s=20 if quick else 60,
            attach_budget_s=args.capacity_attach_budget_s,
        ),
        "ubus_status": lambda: ubus_status.run(workdir / "ubus_status", n=50 if quick else 200),
        "lma_outage": lambda: lma_outage.run(
            workdir / "lma_outage", n=100 if quick else 1000, outage_s=10.0 if quick else 60.0
        ),
        "unauth_flood": lambda: unauth_flood.run(
            workdir / "unauth_flood", attaches=100 if quick else 1000
        ),
        "idle": lambda: idle.run(workdir / "idle", starts=1 if quick else 3),
        "timer_schedules": lambda: timer_schedules.run(
            sizes=(1000,) if quick else timer_schedules.SIZES
        ),
        "access_flood": lambda: access_flood.run(
            workdir / "access_flood", macs=2000 if quick else 10_000
        ),
        "mipsel": lambda: mipsel.run(workdir / "mipsel", sizes=(1000,) if quick else mipsel.SIZES),
    }


def _baseline_load(seconds: float = 1.0) -> dict[str, Any]:
    """What the rest of the machine uses while we do nothing (sampled before each benchmark)."""
    before = host_cpu_jiffies()
    time.sleep(seconds)
    return host_load(before, host_cpu_jiffies())


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    selected = [name for name in ORDER if not args.only or name in args.only]
    workdir = Path(tempfile.mkdtemp(prefix="mag-ap-bench-"))
    runners = _runners(args, workdir)
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "quick": bool(args.quick),
        "benchmarks": {},
    }
    results: dict[str, BenchResult] = {}
    t_all = time.monotonic()
    for name in selected:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        idle_load = _baseline_load()
        before = host_cpu_jiffies()
        t0 = time.monotonic()
        try:
            result = runners[name]()
        except Exception as exc:
            result = BenchResult(name, name)
            result.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        result.duration_s = time.monotonic() - t0
        during = host_load(before, host_cpu_jiffies())
        result.metrics["host"] = {
            "before": idle_load,
            "during": during,
            "note": "host-wide CPU (all processes, ours included during the run); "
            "a busy 'before' means other work shared the machine",
        }
        if name == "capacity" and "footprint" in results:
            footprint.add_loaded(results["footprint"], result)
            report["benchmarks"]["footprint"] = results["footprint"].to_json()
        results[name] = result
        report["benchmarks"][name] = result.to_json()
        print(f"[bench] {name}: {result.verdict} ({result.duration_s:.1f} s)", file=sys.stderr)
        _write(args.out, report, time.monotonic() - t_all)
    if "footprint" in results and "capacity" not in results:
        footprint.add_loaded(results["footprint"], None)
        report["benchmarks"]["footprint"] = results["footprint"].to_json()
    report["verdict"] = _overall(report["benchmarks"])
    _write(args.out, report, time.monotonic() - t_all)
    if args.keep_workdir:
        print(f"[bench] daemon logs and configs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)  # the capacity logs alone are ~150 MB
    return report


def _overall(benchmarks: dict[str, Any]) -> str:
    verdicts = [b["verdict"] for b in benchmarks.values()]
    if "error" in verdicts:
        return "error"
    return "miss" if "miss" in verdicts else "pass"


def _write(path: Path, report: dict[str, Any], elapsed_s: float) -> None:
    report["duration_s"] = round(elapsed_s, 1)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def render(report: dict[str, Any]) -> str:
    """The human summary: one row per target, then machine info."""
    rows = [("benchmark", "target", "measured", "limit", "verdict", "ratio")]
    for name, bench in report["benchmarks"].items():
        if bench.get("error"):
            rows.append((name, "-", "-", "-", "ERROR", "-"))
            continue
        for key, t in bench["targets"].items():
            limit = f"{t['op']} {_fmt(t['target'])} {t.get('unit', '')}".rstrip()
            verdict = t["verdict"].upper()
            if t.get("incomplete"):
                verdict = "MISS (incomplete)"
            elif t["verdict"] == "miss" and t.get("miss_by_pct") is not None:
                verdict += f" by {t['miss_by_pct']}%"
            rows.append((name, key, _fmt(t["value"]), limit, verdict, _fmt(t.get("ratio"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = report["machine"]
    lines.append("")
    lines.append(
        f"machine: {m['nproc']} CPUs ({m.get('cpu_model')}), Python {m['python']}, "
        f"kernel {m['kernel']}, commit {m.get('git_commit')}, "
        f"mag.py {m.get('mag_engine_sha256')}, daemon log level {m.get('daemon_log_level')}"
    )
    for name, bench in report["benchmarks"].items():
        host = bench.get("metrics", {}).get("host", {})
        before = host.get("before", {}).get("host_cpu_busy_pct")
        if before is not None and before > 20:
            lines.append(
                f"note: {name}: the machine was {before}% busy before it started "
                "(other work): wall-clock numbers are pessimistic"
            )
        if bench.get("error"):
            lines.append(f"error: {name}: {bench['error']}")
    curves = report["benchmarks"].get("scaling", {}).get("metrics", {}).get("table")
    if curves:
        lines.append("")
        lines.append("scaling (in process):")
        lines.extend(curves)
    emulated = report["benchmarks"].get("mipsel", {}).get("metrics", {}).get("table")
    if emulated:
        lines.append("")
        lines.append("32-bit mipsel (qemu-user, emulated) beside x86_64, same run:")
        lines.extend(emulated)
    lines.append(f"overall: {report.get('verdict', '?')} in {report.get('duration_s')} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=[],
        help=f"comma-separated subset of {','.join(ORDER)}",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a dry run of the harness")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep the daemons' logs and configs"
    )
    parser.add_argument("--attaches", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--capacity-n", type=int, default=capacity.TARGET_BINDINGS)
    parser.add_argument("--capacity-attach-budget-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if name not in ORDER]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)} (known: {', '.join(ORDER)})")
    if os.geteuid() != 0:
        print("bench: needs root for the namespace benchmarks", file=sys.stderr)
    report = run_all(args)
    print(render(report))
    print(f"\nresults: {args.out}")
    return 1 if report.get("verdict") == "error" else 0  # a miss is a result, not a failure


if __name__ == "__main__":
    raise SystemExit(main())
