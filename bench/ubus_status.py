"""Benchmark 6: ``ubus call mag-ap status`` as rpcd runs it, without a Python interpreter per call.

rpcd starts its exec plugin once per ubus call. The plugin is a busybox ash
script (openwrt/net/mag-ap/files/mag-ap.rpcd) that fetches one JSON line from
the daemon's 127.0.0.1 status port with busybox ``nc``. Measured here: the
wall time of ``busybox sh mag-ap.rpcd call status`` (what rpcd forks) against a
running MAG daemon (IPv4 transport on a loopback address, no root needed),
and for comparison ``mag-ap status --json`` (a Python interpreter per call,
what the old Python plugin cost at least). ubusd/rpcd themselves do not run
here (not in Debian): their blobmsg conversion adds to both paths alike.
Target: p50 <= 50 ms. The answer must equal the CLI's (volatile fields aside).
CPU per call (plugin processes, and the daemon's share) is reported too: unlike
wall time, it does not grow when other work shares the machine.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mag_ap.plugins import DEFAULT_PLUGINS

from .common import BenchResult, cpu_seconds, summary

TITLE = "ubus status: shell rpcd plugin + busybox nc vs a Python interpreter per call"
TARGET_P50_MS = 50.0
ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "openwrt/net/mag-ap/files/mag-ap.rpcd"
VOLATILE = (("runtime", "uptime_s"), ("runtime", "control"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _strip(answer: dict[str, Any]) -> dict[str, Any]:
    for section, key in VOLATILE:
        answer.get(section, {}).pop(key, None)
    return answer


def _timed(argv: list[str], env: dict[str, str], n: int) -> tuple[list[float], str, float]:
    """Wall ms of each call, the last answer, and CPU ms per call of the called processes."""
    times, out = [], ""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(n):
        t0 = time.perf_counter()
        done = subprocess.run(argv, input=b"{}", capture_output=True, env=env, check=True)
        times.append((time.perf_counter() - t0) * 1000)
        out = done.stdout.decode()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000 / n
    return times, out, round(cpu, 3)


def run(workdir: Path, n: int = 200) -> BenchResult:
    result = BenchResult("ubus_status", TITLE)
    workdir.mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox")
    if busybox is None:
        raise RuntimeError("busybox is not installed (scripts/setup.sh installs it)")
    tools = workdir / "bin"
    tools.mkdir(exist_ok=True)
    if not (tools / "nc").exists():
        (tools / "nc").symlink_to(busybox)
    net = f"127.{random.randint(32, 250)}.{random.randint(1, 250)}"
    port = _free_port()
    sock = workdir / "mag.sock"
    keep = ("mag_ap_localpolicy", "mag_ap_macnai", "mag_ap_nulldatapath")
    config = workdir / "mag-ap.toml"
    config.write_text(
        f'[daemon]\nrole = "mag"\ntransport = "ipv4"\ncontrol_socket = "{sock}"\n'
        f'state_dir = "{workdir / "state"}"\nstatus_port = {port}\n'
        f'[mag]\nown_address = "{net}.2"\n'
        f"[plugins]\ndisabled = {json.dumps([p for p in DEFAULT_PLUGINS if p not in keep])}\n"
        f'[plugin.localpolicy]\nlma_address = "{net}.1"\n'
    )
    log = (workdir / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mag_ap", "run", "-c", str(config)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "MAG_AP_CONFIG": str(config)}
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start (see {workdir / 'daemon.log'})")
            time.sleep(0.01)
        daemon_cpu0 = cpu_seconds(daemon.pid)
        shell_ms, shell_out, shell_cpu = _timed(
            [busybox, "sh", str(PLUGIN), "call", "status"], env, n
        )
        daemon_cpu_ms = (cpu_seconds(daemon.pid) - daemon_cpu0) * 1000 / n
        cli_ms, cli_out, cli_cpu = _timed(
            [sys.executable, "-m", "mag_ap", "status", "--json", "-s", str(sock)], env,
            max(10, n // 10),
        )  # fmt: skip
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
    ubus, cli = json.loads(shell_out), json.loads(cli_out)
    same = _strip(ubus) == _strip(cli)
    shell = summary(shell_ms)
    result.metrics["rpcd_plugin_ms"] = shell
    result.metrics["rpcd_plugin_cpu_ms_per_call"] = shell_cpu
    result.metrics["daemon_cpu_ms_per_call"] = round(daemon_cpu_ms, 3)
    result.metrics["python_per_call_ms"] = summary(cli_ms)
    result.metrics["python_per_call_cpu_ms"] = cli_cpu
    result.metrics["answer_bytes"] = len(shell_out)
    result.metrics["same_as_cli"] = same
    result.target("rpcd_plugin_p50_ms", shell["median"], TARGET_P50_MS, "<=", "ms")
    result.target("same_as_cli", 1.0 if same else 0.0, 1.0, ">=")
    result.notes.append(
        "busybox sh + busybox nc per call; the daemon answers from its own status handler "
        "(one JSON encoding); rpcd/ubusd add their blobmsg conversion on a device"
    )
    return result
