"""``make fuzz``: every target under atheris for ``--runs`` executions; JSON under build/fuzz/.

Each target runs in its own process (libFuzzer exits when done). New inputs go to
``build/fuzz/corpus/<target>`` (kept between runs), crashes to
``build/fuzz/crashes/<target>/``; the seeds in ``fuzz/corpus/<target>`` are read only.
The exit code is 1 when any target found something or stopped short of its runs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fuzz import TARGETS

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "corpus"

_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_COV = re.compile(r"cov: (\d+) ft: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def run_target(
    name: str, runs: int, out: Path, timeout_s: int, max_time_s: int = 0
) -> dict[str, Any]:
    """Fuzz one target; its numbers and findings as a dict (the log is kept beside)."""
    _, max_len = TARGETS[name]
    work = out / "corpus" / name
    crashes = out / "crashes" / name
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "fuzz._atheris_main",
        name,
        f"-runs={runs}",
        f"-max_len={max_len}",
        f"-timeout={timeout_s}",
        "-print_final_stats=1",
        f"-max_total_time={max_time_s}",
        f"-artifact_prefix={crashes}/",
        str(work),
        str(SEEDS / name),
    ]
    started = time.monotonic()
    log_path = out / f"{name}.log"
    with log_path.open("w") as log_file:  # libFuzzer's progress lines, readable while it runs
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    log = log_path.read_text(errors="replace")
    stats = {key: int(value) for key, value in _STAT.findall(log)}
    coverage = _COV.findall(log)
    executed = stats.get("number_of_executed_units", 0)
    findings = _ARTIFACT.findall(log)
    return {
        "target": name,
        "runs_requested": runs,
        "max_time_s": max_time_s,
        "executions": executed,
        "seconds": round(elapsed, 1),
        "execs_per_s": round(executed / elapsed) if elapsed > 0 else 0,
        "coverage": int(coverage[-1][0]) if coverage else 0,
        "features": int(coverage[-1][1]) if coverage else 0,
        "new_corpus_units": stats.get("new_units_added", 0),
        "peak_rss_mb": stats.get("peak_rss_mb", 0),
        "exit_code": proc.returncode,
        "findings": findings,
        "ok": proc.returncode == 0 and not findings and executed >= runs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen targets (all by default) one after another; write results.json."""
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--runs", type=int, default=1_000_000, help="executions per target")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument(
        "--max-time", type=int, default=0, help="seconds per target at most (0: no limit)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    args.out.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> dict[str, Any]:
        print(f"fuzz {name}: {args.runs} runs ...", flush=True)
        result = run_target(name, args.runs, args.out, args.timeout, args.max_time)
        if result["ok"]:
            verdict = "ok"
        elif result["findings"] or result["exit_code"] != 0:
            verdict = f"FINDING (see {args.out / (name + '.log')})"
        else:
            verdict = f"short of {args.runs} runs (--max-time)"
        print(
            f"fuzz {name}: {result['executions']} execs in {result['seconds']} s "
            f"({result['execs_per_s']}/s), cov {result['coverage']}, "
            f"{len(result['findings'])} findings: {verdict}",
            flush=True,
        )
        return result

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, names))
    summary = {
        "runs_per_target": args.runs,
        "max_time_per_target_s": args.max_time,
        "total_executions": sum(r["executions"] for r in results),
        "total_findings": sum(len(r["findings"]) for r in results),
        "targets": results,
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"fuzz: wrote {args.out / 'results.json'}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
