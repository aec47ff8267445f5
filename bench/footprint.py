"""Benchmark 5: MAG daemon memory and start-up time.

Start-up: from spawning ``mag-ap run`` in its namespace (``ip netns exec``
execs the daemon, so the Popen pid is the daemon itself) to the control
socket answering ``status``, polled every 2 ms; median of several starts, each
stopped with SIGTERM before the next. Idle memory: VmRSS/VmHWM from
/proc/<pid>/status one second after ready, with no binding. The memory with
40,000 bindings comes from the capacity benchmark (:func:`add_loaded`).
Targets: RSS <= 25 MB idle, <= 60 MB with 40,000 bindings, start-up <= 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.domain import Daemon, mag_ap_command
from mag_ap.runtime.control import ControlError, NoDaemonError, request

from .capacity import TARGET_BINDINGS
from .common import BenchDomain, BenchResult, cpu_seconds, memory_mb, process_name, summary

TITLE = "MAG daemon footprint: RSS idle / with 40k bindings, start-up to ready"
TARGET_IDLE_RSS_MB = 25.0
TARGET_LOADED_RSS_MB = 60.0
TARGET_STARTUP_S = 0.5
READY_POLL_S = 0.002


def start_timed(daemon: Daemon, timeout_s: float = 10.0) -> tuple[float, float]:
    """Spawn the daemon; (seconds until its control socket answers, its CPU seconds then)."""
    daemon.config.write_text(daemon.config_text)
    sub = "run" if daemon.role == "mag" else "lma"
    argv = [*mag_ap_command(), sub, "-c", str(daemon.config)]
    started = time.monotonic()
    daemon.proc = daemon.host.spawn(argv, daemon.log)
    daemon.starts += 1
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"{daemon.role} exited {daemon.proc.returncode}")
        try:
            if request(daemon.socket, {"cmd": "status"}, timeout_s=1.0).get("ok"):
                return time.monotonic() - started, cpu_seconds(daemon.proc.pid)
        except (NoDaemonError, ControlError, OSError):
            pass
        time.sleep(READY_POLL_S)
    raise TimeoutError(f"{daemon.role} not ready within {timeout_s:g} s")


def python_floor_rss_mb(settle_s: float = 0.3) -> dict[str, float]:
    """VmRSS of this venv's interpreter doing nothing, bare and with asyncio imported.

    The floor under any Python daemon, so the daemon's own share can be seen.
    """
    out: dict[str, float] = {}
    for name, code in (
        ("bare", "import sys; sys.stdin.read()"),
        ("asyncio_json_logging", "import asyncio, json, logging, sys; sys.stdin.read()"),
    ):
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        try:
            time.sleep(settle_s)
            out[name] = memory_mb(proc.pid)["VmRSS"]
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=10)
    return out


def run(workdir: Path, starts: int = 7, idle_s: float = 1.0) -> BenchResult:
    result = BenchResult("footprint", TITLE)
    ready_s: dict[str, list[float]] = {"mag": [], "lma": []}
    ready_cpu_s: dict[str, list[float]] = {"mag": [], "lma": []}
    idle: dict[str, list[dict[str, float]]] = {"mag": [], "lma": []}
    names: dict[str, str] = {}
    with BenchDomain(workdir, mags=1) as domain:
        domain.build()
        assert domain.lma is not None
        for daemon in (domain.mag[0], domain.lma):
            for _ in range(starts):
                wall_s, cpu_s = start_timed(daemon)
                ready_s[daemon.role].append(wall_s)
                ready_cpu_s[daemon.role].append(cpu_s)
                assert daemon.proc is not None
                names[daemon.role] = process_name(daemon.proc.pid)
                time.sleep(idle_s)
                idle[daemon.role].append(memory_mb(daemon.proc.pid))
                code = daemon.stop()
                if code != 0:
                    result.notes.append(f"{daemon.role} exited {code} on SIGTERM")
    metrics: dict[str, Any] = {
        "starts_per_daemon": starts,
        "idle_wait_s": idle_s,
        "python_floor_rss_mb": python_floor_rss_mb(),
    }
    for role in ("mag", "lma"):
        rss = [m["VmRSS"] for m in idle[role]]
        hwm = [m["VmHWM"] for m in idle[role]]
        metrics[role] = {
            "process": names.get(role),
            "startup_s": summary(ready_s[role], digits=4),
            "first_start_s": round(ready_s[role][0], 4),
            "startup_cpu_s": summary(ready_cpu_s[role], digits=3),
            "idle_rss_mb_median": round(statistics.median(rss), 2),
            "idle_rss_mb_max": max(rss),
            "idle_hwm_mb_max": max(hwm),
        }
    result.metrics = metrics
    result.target(
        "mag_idle_rss_mb", metrics["mag"]["idle_rss_mb_median"], TARGET_IDLE_RSS_MB, "<=", "MB"
    )
    result.target(
        "mag_startup_s_median", metrics["mag"]["startup_s"]["median"], TARGET_STARTUP_S, "<=", "s"
    )
    result.notes.append(
        "start-up includes `ip netns exec`, the Python interpreter start and every import; "
        f"ready = control socket answers status (polled every {READY_POLL_S * 1000:g} ms); "
        "startup_cpu_s is the daemon's own CPU time at that moment (10 ms clock ticks)"
    )
    return result


def add_loaded(result: BenchResult, capacity: BenchResult | None) -> None:
    """The 60 MB target, from the MAG's RSS at the end of the capacity refresh cycle."""
    if capacity is None or capacity.error is not None:
        result.target("mag_rss_mb_with_40k_bindings", None, TARGET_LOADED_RSS_MB, "<=", "MB")
        result.notes.append("no RSS with 40k bindings: the capacity benchmark did not run")
        return
    m = capacity.metrics
    held = int(m.get("bindings_held") or 0)
    end = m.get("memory_end_of_cycle_mb") or {}
    rss = end.get("VmRSS")
    result.metrics["loaded"] = {
        "bindings": held,
        "rss_mb_end_of_refresh_cycle": rss,
        "max_rss_mb_in_cycle": m.get("max_rss_in_cycle_mb"),
        "memory_bound_mb": m.get("memory_bound_mb"),
        "memory_after_final_status_mb": m.get("memory_after_final_status_mb"),
    }
    key = "mag_rss_mb_with_40k_bindings"
    result.target(key, rss, TARGET_LOADED_RSS_MB, "<=", "MB")
    if held < TARGET_BINDINGS:
        result.targets[key]["verdict"] = "miss"
        result.targets[key]["incomplete"] = f"measured with {held} bindings, not {TARGET_BINDINGS}"
        result.notes.append(
            f"loaded RSS was measured with only {held} bindings (capacity benchmark cap)"
        )
    result.notes.append(
        "VmHWM after the final status includes the status JSON of every binding; "
        "the target uses VmRSS at the end of the refresh cycle, before that status"
    )
