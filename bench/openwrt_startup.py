"""Benchmark: daemon start-up CPU inside the openwrt-24.10 device root, with and without .pyc.

Two device roots of the minimal MAG (mag-ap and its Depends closure, see
tests/netns/test_openwrt_matrix.py): one from `make ipk`'s packages (sourceless
.pyc for 3.11), one with the same packages shipping .py sources. The daemon
(IPv4 transport on a loopback address, local policy) runs in the root with
chroot in a private mount namespace and `python -B` in both (OpenWrt's Python
never writes bytecode): CPU seconds (utime+stime of the daemon) from exec to
its control socket answering, median of ``starts``. Target (issue 11): with
.pyc <= half of without.
"""

from __future__ import annotations

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

from .common import BenchResult, cpu_seconds

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


def _start_cpu(root: Path, timeout_s: float = 20.0) -> float:
    script = (
        f"mount -t proc proc {root}/proc && exec chroot {root} "
        "/usr/bin/python3 -B /usr/bin/mag-ap run -c /etc/b.toml"
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
                    return cpu_seconds(proc.pid)
            except (NoDaemonError, ControlError, OSError):
                pass
            time.sleep(0.002)
        raise TimeoutError("not ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def run(workdir: Path, starts: int = 5) -> BenchResult:
    result = BenchResult("openwrt_startup", TITLE)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        cpu = {}
        for compiled in (True, False):
            root = _root(workdir, compiled)
            cpu["pyc" if compiled else "py"] = [_start_cpu(root) for _ in range(starts)]
        pyc, src = statistics.median(cpu["pyc"]), statistics.median(cpu["py"])
        result.metrics.update(
            startup_cpu_s_pyc=round(pyc, 3), startup_cpu_s_sources=round(src, 3),
            ratio=round(pyc / src, 3) if src else None, starts=starts,
        )  # fmt: skip
        result.target("startup_cpu_ratio_pyc_vs_sources", pyc / src if src else None, 0.5, "<=")
        result.notes.append("CPU clock ticks are 10 ms: medians of several starts")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


__all__ = ["run"]
