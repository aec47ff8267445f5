"""Benchmark: emulated 32-bit MIPS (Debian mipsel root under qemu-user) beside x86_64, same run.

An OpenWrt AP's CPU is usually 32-bit MIPS (mt7621: mipsel). The root comes
from :mod:`bench.mipsel_root` (built once, ~5 min, then reused); the project's
mag_ap/, plugins/, lab/ and bench/ are copied into it, byte-compiled on the host
(CPython 3.11 on both sides: same .pyc). Each figure is measured twice, by the
host's interpreter and by the root's python3 under qemu-user, in fresh processes:

* bytes per binding, MAG and LMA, at 1,000 and 10,000 bindings: tracemalloc
  with the in-memory MAG<->LMA harness of :mod:`bench.scaling` (LMA: ``n``
  registrations and one refresh; MAG: the pair minus the LMA alone);
* heap after imports: the light daemon's imports, argv, config and plugin
  providers under tracemalloc (the probe of :mod:`bench.idle`), and their wall time;
* start-up to ``status`` answered: ``mag-ap run`` with the light config (null
  datapath) in a network namespace this bench makes (removed also on failure);
  the emulated daemon runs chrooted in the root with its own /proc.

Emulated: qemu-user translates MIPS code to x86_64 (TCG), so the mipsel times
are not an AP's times (only their ratio to x86_64 hints at how start-up grows
with a slow CPU); the bytes are real 32-bit CPython bytes. No targets: info.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mag_ap.runtime.control import ControlError, NoDaemonError, request

from . import idle, mipsel_root, scaling
from .common import ROOT, BenchResult, machine_info
from .lma_loadgen import PbuTemplates

TITLE = "emulated 32-bit MIPS (qemu-user, Debian mipsel root) beside x86_64"
SIZES = (1000, 10_000)
RESULTS = Path(__file__).resolve().parent / "mipsel_results.json"  # standalone runs
SRC_DIR = "opt/mag-ap-src"  # in the root
TREES = ("mag_ap", "plugins", "lab", "bench")
READY_TIMEOUT_S = 120.0  # the emulated daemon takes seconds where x86_64 takes a fraction
PYTHONPATH = f"/{SRC_DIR}:/{SRC_DIR}/plugins:/{mipsel_root.DEPS_DIR}"
NOTE = (
    "mipsel: qemu-user (TCG) emulation on this x86_64 host, Debian bookworm python3 3.11: "
    "bytes are real 32-bit CPython bytes; times are emulated, not device times (the "
    "ratio only shows how much a slower CPU multiplies start-up)"
)


# --- inside either interpreter ---------------------------------------------------------------


def lma_bytes(n: int) -> float:
    """tracemalloc bytes per binding of an LMA after ``n`` registrations and one refresh."""
    gc.collect()
    tracemalloc.start(1)
    try:
        lma = scaling._lma(n)
        lma.receive_datagram(
            PbuTemplates().pbu(n + 1, 1000 + scaling.UNIX_EPOCH_AT_ZERO),
            scaling.MAG_ADDRESS,
            1000.0,
        )
        lma.datagrams_to_send(1000.0)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        scaling._register_all(lma, n, 1000.0, 0)
        scaling._register_all(lma, n, 1001.0, 1)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del lma
    return used / n


def pair_bytes(n: int) -> tuple[float, int]:
    """tracemalloc bytes per binding of a MAG<->LMA pair after attach and one refresh; bound."""
    gc.collect()
    tracemalloc.start(1)
    try:
        pair = scaling._Pair(n)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        pair.attach_all(n, 1000.0)
        pair.run_timers(1000.0 + scaling.LIFETIME_S - scaling.REFRESH_BEFORE_S + 1.0)
        bound = len(pair.up)
        pair.up.clear()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del pair
    return used / n, bound


def probe(sizes: Sequence[int]) -> dict[str, Any]:
    """Bytes per binding at each size, in this interpreter (run in a fresh process)."""
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        lma_b = lma_bytes(n)
        pair_b, bound = pair_bytes(n)
        rows.append(
            {
                "bindings": n,
                "bound": bound,
                "lma_bytes_per_binding": round(lma_b, 1),
                "mag_bytes_per_binding": round(pair_b - lma_b, 1),
                "wall_s": round(time.perf_counter() - t0, 2),
            }
        )
    return {
        "machine": platform.machine(),
        "pointer_bits": 64 if sys.maxsize > 2**32 else 32,
        "byteorder": sys.byteorder,
        "python": platform.python_version(),
        "sizes": rows,
    }


# --- on the host ------------------------------------------------------------------------------


def copy_sources(root: Path) -> Path:
    """The project's Python trees into the root, byte-compiled by the host's 3.11."""
    dest = root / SRC_DIR
    if dest.exists():
        shutil.rmtree(dest)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*results.json")
    for tree in TREES:
        shutil.copytree(ROOT / tree, dest / tree, ignore=skip)
    if sys.version_info[:2] == (3, 11):  # the root's python3; else it compiles on first import
        for compiled in (dest, root / mipsel_root.DEPS_DIR):
            compileall.compile_dir(compiled, quiet=1)
    return dest


def root_python(root: Path) -> list[str]:
    """argv prefix: the root's python3 under qemu-user, chrooted, with the project importable.

    In a private mount namespace with /proc mounted (gone with the process): the
    probes and the daemon read /proc/self.
    """
    env = ["/usr/bin/env", f"PYTHONPATH={PYTHONPATH}", "/usr/bin/python3"]
    script = 'mount -t proc proc /proc && exec "$@"'
    return ["unshare", "--mount", "chroot", str(root), "/bin/sh", "-c", script, "sh", *env]


def host_python(*argv: str) -> list[str]:
    return [sys.executable, *argv]


def run_probe(cmd: list[str], timeout_s: float) -> dict[str, Any]:
    out = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[:3]}... exited {out.returncode}: {out.stderr[-1500:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def ready_s(ns: str, cmd: list[str], sock: Path, log: Path) -> float:
    """Seconds from starting ``cmd`` (``mag-ap run``) in ``ns`` to ``status`` answered."""
    with log.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=out, stderr=out)
    try:
        deadline = started + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mag exited {proc.returncode}: {log.read_text()[-800:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mag not ready within {READY_TIMEOUT_S} s")
            try:
                if request(sock, {"cmd": "status"}, timeout_s=2.0).get("ok"):
                    return round(time.monotonic() - started, 3)
            except (NoDaemonError, ControlError, OSError):
                pass
            time.sleep(0.02)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _first_line(cmd: list[str]) -> str:
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    return (out.stdout.splitlines() or ["?"])[0]


def _ratio(mipsel: float | None, x86: float | None) -> float | None:
    if mipsel is None or not x86:
        return None
    return round(mipsel / x86, 3)


def compare(x86: dict[str, Any], mips: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: x86_64, mipsel and their ratio."""
    rows: list[dict[str, Any]] = []

    def add(what: str, unit: str, a: float | None, b: float | None, emulated_time: bool) -> None:
        rows.append(
            {
                "what": what,
                "unit": unit,
                "x86_64": a,
                "mipsel": b,
                "ratio": _ratio(b, a),
                "emulated_time": emulated_time,
            }
        )

    mips_by_n = {r["bindings"]: r for r in mips.get("sizes", [])}
    for row in x86.get("sizes", []):
        n = row["bindings"]
        other = mips_by_n.get(n, {})
        for key, label in (("mag_bytes_per_binding", "MAG"), ("lma_bytes_per_binding", "LMA")):
            add(f"{label} bytes/binding at {n}", "B", row.get(key), other.get(key), False)
    add("heap after imports (light)", "MB", x86.get("heap_mb"), mips.get("heap_mb"), False)
    add("import daemon + plugins (light)", "s", x86.get("import_s"), mips.get("import_s"), True)
    add("start to status answered (light)", "s", x86.get("ready_s"), mips.get("ready_s"), True)
    return rows


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The comparison as printable lines (also stored in results.json)."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    cells = [("figure", "unit", "x86_64", "mipsel", "mipsel/x86_64")]
    for r in rows:
        label = r["what"] + (" *" if r["emulated_time"] else "")
        cells.append((label, r["unit"], fmt(r["x86_64"]), fmt(r["mipsel"]), fmt(r["ratio"])))
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(
            (c.ljust(w) if i < 2 else c.rjust(w))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("* emulated time (qemu-user TCG on x86_64): not a device time")
    return lines


def _side(
    label: str,
    *,
    python: list[str],
    daemon: list[str],
    config: Path,
    config_arg: str,
    ns: str,
    sizes: Sequence[int],
    timeout_s: float,
) -> dict[str, Any]:
    """All figures for one interpreter: ``python`` runs a module, ``daemon`` is its mag-ap run."""
    print(f"[mipsel] {label}: imports and start-up", file=sys.stderr, flush=True)
    heap = run_probe([*python, "-c", idle._PROBE, config_arg, "heap"], timeout_s)
    timed = run_probe([*python, "-c", idle._PROBE, config_arg, "time"], timeout_s)
    ready = ready_s(ns, daemon, config.parent / "mag.sock", config.parent / "mag.log")
    print(f"[mipsel] {label}: bytes per binding at {list(sizes)}", file=sys.stderr, flush=True)
    found = run_probe(
        [*python, "-m", "bench.mipsel", "--probe", ",".join(map(str, sizes))], timeout_s
    )
    found["heap_mb"] = round(heap["heap_mb"], 2)
    found["import_s"] = round(timed["import_s"], 3)
    found["modules"] = timed["modules"]
    found["ready_s"] = ready
    return found


def run(workdir: Path, sizes: Sequence[int] = SIZES, root: Path | None = None) -> BenchResult:
    """Build or reuse the root, measure both sides, compare."""
    result = BenchResult("mipsel", TITLE)
    root = mipsel_root.build(root or mipsel_root.DEFAULT_ROOT)
    copy_sources(root)
    idle.compile_sources()
    timeout_s = 60.0 + 0.05 * sum(sizes) * 10  # emulated: ~10x the host, 2 passes
    ns = f"magmips-{os.getpid()}"
    inner = Path("/tmp") / f"mag-ap-bench-{os.getpid()}"  # the config dir as the root sees it
    host_dir = workdir / "x86_64"
    mips_dir = root / inner.relative_to("/")
    try:
        idle._make_netns(ns)
        host_dir.mkdir(parents=True, exist_ok=True)
        mips_dir.mkdir(parents=True, exist_ok=True)
        host_cfg = host_dir / "mag.toml"
        host_cfg.write_text(idle.CONFIGS["light"].format(dir=host_dir))
        mips_cfg = mips_dir / "mag.toml"
        mips_cfg.write_text(idle.CONFIGS["light"].format(dir=inner))
        x86 = _side(
            "x86_64",
            python=host_python(),
            daemon=host_python("-m", "mag_ap", "run", "-c", str(host_cfg)),
            config=host_cfg,
            config_arg=str(host_cfg),
            ns=ns,
            sizes=sizes,
            timeout_s=timeout_s,
        )
        mips_cfg_arg = str(inner / "mag.toml")
        mips = _side(
            "mipsel",
            python=root_python(root),
            daemon=[*root_python(root), "-m", "mag_ap", "run", "-c", mips_cfg_arg],
            config=mips_cfg,
            config_arg=mips_cfg_arg,
            ns=ns,
            sizes=sizes,
            timeout_s=timeout_s,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        shutil.rmtree(mips_dir, ignore_errors=True)
    rows = compare(x86, mips)
    result.metrics = {
        "x86_64": x86,
        "mipsel": mips,
        "comparison": rows,
        "table": table(rows),
        "emulated": True,
        "qemu": _first_line([mipsel_root.QEMU, "--version"]),
        "root_debian": (root / "etc/debian_version").read_text().strip(),
    }
    result.notes.append(NOTE)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mipsel", description=__doc__)
    parser.add_argument("--probe", help="in-process: bytes per binding at these sizes (JSON)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe([int(s) for s in args.probe.split(",")])))
        return 0
    import tempfile

    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.monotonic()
    res = run(Path(tempfile.mkdtemp(prefix="mag-ap-mipsel-")), sizes)
    res.duration_s = time.monotonic() - t0
    record = {"machine": machine_info(), "benchmarks": {"mipsel": res.to_json()}}
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print("\n".join(res.metrics["table"]))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
