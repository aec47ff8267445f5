"""Shared plumbing of the benchmarks: targets, statistics, /proc readings, lab and control helpers.

Every helper here is bounded: loops carry a count and a deadline, sockets a
timeout. Nothing sends traffic outside the lab namespaces (the control sockets
are AF_UNIX files in the lab's work directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.domain import Domain
from lab.topology import Host

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

#: Log level of the daemons the benchmarks start; "info" is the shipped default.
LOG_LEVEL = os.environ.get("BENCH_LOG_LEVEL", "info")


# --- targets and results -----------------------------------------------------------------


def check(value: float | None, target: float, op: str, unit: str = "") -> dict[str, Any]:
    """One target: ``op`` is "<=" (at most) or ">=" (at least).

    ``ratio`` is measured / target; ``miss_by`` is how far on the wrong side
    (absolute, in ``unit``) and ``miss_by_pct`` the same relative to the target.
    """
    if op not in ("<=", ">="):
        raise ValueError(f"op must be <= or >=, not {op!r}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {
            "value": None,
            "target": target,
            "op": op,
            "unit": unit,
            "verdict": "miss",
            "ratio": None,
            "miss_by": None,
            "miss_by_pct": None,
        }
    ok = value <= target if op == "<=" else value >= target
    miss_by = 0.0 if ok else abs(value - target)
    return {
        "value": round(value, 4),
        "target": target,
        "op": op,
        "unit": unit,
        "verdict": "pass" if ok else "miss",
        "ratio": round(value / target, 4) if target else None,
        "miss_by": round(miss_by, 4),
        "miss_by_pct": round(100.0 * miss_by / target, 1) if target else None,
    }


@dataclass
class BenchResult:
    """What one benchmark reports: measured numbers, targets with verdicts, notes."""

    name: str
    title: str
    metrics: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0

    def target(self, key: str, value: float | None, target: float, op: str, unit: str = "") -> None:
        self.targets[key] = check(value, target, op, unit)

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        if not self.targets:
            return "info"
        return "pass" if all(t["verdict"] == "pass" for t in self.targets.values()) else "miss"

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "verdict": self.verdict,
            "metrics": self.metrics,
            "targets": self.targets,
            "notes": self.notes,
            "error": self.error,
            "duration_s": round(self.duration_s, 2),
        }


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float | int]:
    """count, min, median, p90, p99, max and mean of a sample (empty: count 0 only)."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "min": round(min(values), digits),
        "median": round(percentile(values, 50), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(sum(values) / len(values), digits),
    }


# --- /proc readings --------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process in MiB, from /proc/<pid>/status."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(rest.split()[0]) / 1024.0, 2)  # kB -> MiB
    return out


def process_name(pid: int) -> str:
    """argv of a process joined by spaces (to prove we measure the daemon itself)."""
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


# --- machine ----------------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory, Python, kernel, and which code was measured."""
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    mag_py = ROOT / "mag_ap" / "core" / "mag.py"
    dirty = _git("status", "--porcelain", "--", "mag_ap", "plugins")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_total_mb": mem_total_mb,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty_sources": bool(dirty) if dirty is not None else None,
        "mag_engine_sha256": hashlib.sha256(mag_py.read_bytes()).hexdigest()[:12]
        if mag_py.exists()
        else None,
        "daemon_log_level": LOG_LEVEL,
    }


# --- lab ---------------------------------------------------------------------------------------


class BenchDomain(Domain):
    """The lab domain with the daemons' log level of the benchmarks (tests use debug)."""

    def _head(self, role: str, directory: Path) -> str:
        head = super()._head(role, directory)
        return head.replace('log_level = "debug"', f'log_level = "{LOG_LEVEL}"')


def mac_of(i: int) -> str:
    """A locally administered unicast MAC for station number ``i`` (< 2**24)."""
    return f"02:be:00:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def mn_id_of(i: int) -> str:
    return f"mn{i}@bench.example"


def attach_request(i: int, wait_s: float | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {"cmd": "attach", "mac": mac_of(i), "mn_id": mn_id_of(i)}
    if wait_s is not None:
        req["wait_s"] = wait_s
    return req


class Deadline:
    """A time budget: ``left()`` seconds remain, ``expired`` once it is spent."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.start = time.monotonic()
        self.end = self.start + budget_s

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def poll(
    condition: Callable[[], bool], timeout_s: float, interval_s: float, max_polls: int = 100_000
) -> bool:
    """Call ``condition`` until true; False after ``timeout_s`` or ``max_polls`` calls."""
    end = time.monotonic() + timeout_s
    for _ in range(max_polls):
        if condition():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval_s)
    return False


# --- control socket, pipelined --------------------------------------------------------------


class ControlPipeError(RuntimeError):
    """The daemon did not answer every pipelined request in time."""


def pipeline(
    path: Path, payloads: Iterable[dict[str, Any]], timeout_s: float
) -> list[dict[str, Any]]:
    """Send many request lines on ONE connection and collect one answer per line, in order.

    The daemon reads a connection's lines one after the other and answers each,
    so this is the "many lines on one connection" mode of the control protocol.
    A thread writes while this one reads, so neither side's buffer can stall
    the other. Raises ControlPipeError when answers are missing at the deadline.
    """
    lines = [json.dumps(p, separators=(",", ":")).encode() + b"\n" for p in payloads]
    if not lines:
        return []
    deadline = time.monotonic() + timeout_s
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    send_error: list[BaseException] = []
    try:
        sock.settimeout(max(0.1, timeout_s))
        sock.connect(str(path))

        def writer() -> None:
            try:
                sock.sendall(b"".join(lines))
            except OSError as exc:
                send_error.append(exc)

        thread = threading.Thread(target=writer, name="bench-control-writer", daemon=True)
        thread.start()
        answers: list[dict[str, Any]] = []
        buf = b""
        while len(answers) < len(lines):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                break
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            answers.extend(json.loads(line) for line in complete if line.strip())
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        sock.close()
    if send_error:
        raise ControlPipeError(f"sending requests failed: {send_error[0]}")
    if len(answers) < len(lines):
        raise ControlPipeError(
            f"{len(answers)} of {len(lines)} answers within {timeout_s:g} s on {path}"
        )
    return answers


def parallel_pipelines(
    path: Path, batches: Sequence[Sequence[dict[str, Any]]], timeout_s: float
) -> list[dict[str, Any]]:
    """One pipelined connection per batch, all at once; every answer (batch order)."""
    results: list[list[dict[str, Any]] | BaseException | None] = [None] * len(batches)

    def run(k: int) -> None:
        try:
            results[k] = pipeline(path, batches[k], timeout_s)
        except BaseException as exc:
            results[k] = exc

    threads = [
        threading.Thread(target=run, args=(k,), name=f"bench-pipe-{k}", daemon=True)
        for k in range(len(batches))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout_s + 5)
    out: list[dict[str, Any]] = []
    for item in results:
        if isinstance(item, BaseException):
            raise item
        if item is None:
            raise ControlPipeError("a pipelined connection did not finish")
        out.extend(item)
    return out


def binding_states(status: dict[str, Any]) -> dict[str, int]:
    """How many bindings of an endpoint status are in each state."""
    counts: dict[str, int] = {}
    for binding in status.get("bindings", []):
        state = str(binding.get("state"))
        counts[state] = counts.get(state, 0) + 1
    return counts


SETTLED = ("bound", "refreshing")

#: Whether the daemons' logs carry "binding up"/"binding down" (see BindingLog).
LOG_HAS_BINDINGS = LOG_LEVEL in ("debug", "info")


def settled_count(states: dict[str, int]) -> int:
    """Bindings that are up (a refresh in flight keeps the binding up)."""
    return sum(states.get(s, 0) for s in SETTLED)


# --- the rest of the machine -------------------------------------------------------------


def host_cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat (busy = total - idle - iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - fields[3] - fields[4], total


def host_load(before: tuple[int, int], after: tuple[int, int]) -> dict[str, Any]:
    """Whole-machine CPU use between two samples, and the load average now.

    The benchmarks share the machine with whatever else runs: a busy host
    slows the wall-clock numbers (CPU-second numbers much less).
    """
    busy = after[0] - before[0]
    total = after[1] - before[1]
    load1, load5, _ = os.getloadavg()
    return {
        "host_cpu_busy_pct": round(100.0 * busy / total, 1) if total > 0 else None,
        "loadavg_1m": round(load1, 2),
        "loadavg_5m": round(load5, 2),
    }


def raw6_drops(host: Host, protocol: int = 135) -> int:
    """Datagrams the kernel dropped on the raw IPv6 ``protocol`` sockets of a lab host.

    A full receive buffer drops silently; /proc/net/raw6 (read inside the
    namespace) counts the drops per socket, in its last column.
    """
    text = host.run("cat", "/proc/net/raw6", check=False, timeout_s=10.0)
    total = 0
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 13 or not cols[1].endswith(f":{protocol:04X}"):
            continue
        try:
            total += int(cols[-1])
        except ValueError:
            continue
    return total


class BindingLog:
    """Which MNs are up, from a MAG daemon's JSON log lines, read incrementally.

    Needs ``log_format = "json"`` (the lab's) and a log level of info or debug.
    Reading the file costs the daemon nothing, unlike a ``status`` request that
    serialises every binding inside the daemon's event loop.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.up: set[str] = set()
        self.expired = 0  # "binding down" lines seen
        self.retransmissions = 0  # lines about sending a PBU again
        self._partial = b""
        self.last_up_unix_s: float | None = None  # "ts" of the latest "binding up" line

    def read(self, max_bytes: int = 256 << 20) -> int:
        """Consume what the log gained (bounded); the number of MNs up."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except FileNotFoundError:
            return 0
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if b'"msg": "binding up"' in line or b'"msg": "binding down"' in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                mn_id = str(record.get("fields", {}).get("mn_id"))
                if record.get("msg") == "binding up":
                    self.up.add(mn_id)
                    with contextlib.suppress(TypeError, ValueError):
                        self.last_up_unix_s = datetime.fromisoformat(record["ts"]).timestamp()
                else:
                    self.up.discard(mn_id)
                    self.expired += 1
            elif b"sending again" in line or b"retrying registration" in line:
                self.retransmissions += 1
        return len(self.up)
