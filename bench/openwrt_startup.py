"""Benchmark: daemon start-up CPU inside the openwrt-24.10 device root, with and without .pyc.

Two device roots of the minimal MAG (mag-ap and its Depends closure, see
tests/netns/test_openwrt_matrix.py): one from `make ipk`'s packages (sourceless
.pyc for 3.11), one with the same packages shipping .py sources. The daemon
(IPv4 transport on a loopback address, local policy) runs in the root with
chroot in a private mount namespace and `python -B` in both (OpenWrt's Python
never writes bytecode): CPU seconds (utime+stime of the daemon) from exec to
its control socket answering, median of ``starts``. Target (issue 11): with
.pyc <= half of without.

CPU is read from ``/proc/<pid>/task/*/schedstat`` (nanoseconds on CPU), not
utime+stime, which count 10 ms ticks. The *floor* is what neither root can
change: the interpreter importing the same standard-library modules and pluggy
that the daemon had loaded at ready (both roots hold those as .pyc, as OpenWrt
ships them), measured as a process that imports them and exits. Start-up minus
the floor is the project's own part: its modules loaded (or compiled) and run.
"""

from __future__ import annotations

import resource
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

from mag_ap.runtime.control import ControlError, NoDaemonError, request
from openwrt.tools import ipk
from openwrt.tools.feed import package_version
from openwrt.tools.releases import device_root, interpreter, release

from .common import BenchResult

TITLE = "start-up CPU in the 24.10 device root: shipped .pyc vs sources"
RELEASE = "openwrt-24.10"
CONFIG = (
    '[daemon]\nrole = "mag"\ncontrol_socket = "/var/run/b.sock"\ntransport = "ipv4"\n'
    'state_dir = "/var/lib/mag-ap"\n[mag]\nown_address = "127.77.0.2"\n'
    '[plugin.localpolicy]\nlma_address = "127.77.0.1"\n[plugin.localpolicy.default]\n'
)


def _root(base: Path, compiled: bool) -> Path:
    rel = release(RELEASE)
    out = base / ("pyc" if compiled else "src")
    pkgs = ipk.release_packages(rel)
    code = ipk.compile_payload(pkgs, interpreter(rel)) if compiled else None
    paths = []
    for pkg in pkgs:
        path = out / "ipk" / ipk.ipk_name(pkg, pkg.version or package_version())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ipk.build_ipk(pkg, pkg.version or package_version(), 0, code))
        paths.append(path)
    root = device_root(rel, out / "root", paths, ("mag-ap",)).path
    (root / "etc/b.toml").write_text(CONFIG)
    return root


def _cpu_ns(pid: int) -> float:
    """Seconds on CPU of a process's live threads (schedstat: nanoseconds, not ticks)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just exited
    return total / 1e9


def _start_cpu(root: Path, timeout_s: float = 20.0, python_args: str = "") -> float:
    script = (
        f"mount -t proc proc {root}/proc && exec chroot {root} "
        f"/usr/bin/python3 -B {python_args} /usr/bin/mag-ap run -c /etc/b.toml"
    )
    sock = root / "var/run/b.sock"
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited {proc.returncode}")
            try:
                if sock.exists() and request(str(sock), {"cmd": "status"}, timeout_s=1.0)["ok"]:
                    return _cpu_ns(proc.pid)
            except (NoDaemonError, ControlError, OSError):
                pass
            time.sleep(0.002)
        raise TimeoutError("not ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _loaded_at_ready(root: Path) -> list[str]:
    """Modules the daemon imported up to ready, in import order (``-X importtime``)."""
    log = root / "tmp/importtime.log"
    script = (
        f"mount -t proc proc {root}/proc && exec chroot {root} /usr/bin/python3 -B "
        f"-X importtime /usr/bin/mag-ap run -c /etc/b.toml 2>{log}"
    )
    sock = root / "var/run/b.sock"
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    try:
        deadline = time.monotonic() + 20.0
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the daemon did not get ready under -X importtime")
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    names = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            names.append(line.rsplit("|", 1)[1].strip())
    return names


def _floor_cpu(root: Path, modules: list[str]) -> float:
    """CPU of the interpreter importing ``modules`` (the stdlib and pluggy) and exiting."""
    code = (
        "import importlib\n"
        f"for m in {modules!r}:\n"
        "    try:\n        importlib.import_module(m)\n"
        "    except ImportError:\n        pass\n"
    )
    (root / "tmp/floor.py").write_text(code, encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -t proc proc {root}/proc && exec chroot {root} /usr/bin/python3 -B /tmp/floor.py"],
        check=True, env={},
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(workdir: Path, starts: int = 5) -> BenchResult:
    result = BenchResult("openwrt_startup", TITLE)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        cpu: dict[str, list[float]] = {}
        roots = {compiled: _root(workdir, compiled) for compiled in (True, False)}
        for _ in range(starts):  # interleaved: load changes hit both alike
            for compiled, root in roots.items():
                cpu.setdefault("pyc" if compiled else "py", []).append(_start_cpu(root))
        pyc, src = statistics.median(cpu["pyc"]), statistics.median(cpu["py"])
        loaded = _loaded_at_ready(roots[True])
        floor_mods = [m for m in loaded if not m.startswith("mag_ap") and m != "__main__"]
        floor = statistics.median(_floor_cpu(roots[True], floor_mods) for _ in range(starts))
        own_pyc, own_src = pyc - floor, src - floor
        result.metrics.update(
            startup_cpu_s_pyc=round(pyc, 3), startup_cpu_s_sources=round(src, 3),
            ratio=round(pyc / src, 3) if src else None, starts=starts,
            modules_at_ready=len(loaded),
            project_modules_at_ready=len([m for m in loaded if m.startswith("mag_ap")]),
            floor_cpu_s_stdlib_and_pluggy=round(floor, 3),
            project_part_cpu_s_pyc=round(own_pyc, 3),
            project_part_cpu_s_sources=round(own_src, 3),
            project_part_ratio=round(own_pyc / own_src, 3) if own_src > 0 else None,
        )  # fmt: skip
        result.target("startup_cpu_ratio_pyc_vs_sources", pyc / src if src else None, 0.5, "<=")
        result.notes.append(
            "the ratio cannot go below (floor + pyc part) / (floor + sources part): the "
            "floor (interpreter, stdlib, pluggy) is .pyc in both roots"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


__all__ = ["run"]
