"""Benchmark: idle MAG memory, light install against full install, and import time.

Light: ``[plugin.localpolicy]`` only (the null datapath, no access-side
plugin in use). Full: datapath, dhcp4, ra, hostapd, radius, dns and linkwatch
configured. Each daemon runs ``mag-ap run`` in a network namespace this bench
creates (unique name, removed also on failure) with two dummy links; ready =
the control socket answers ``status``; RSS is read one second later. Import
time and heap: a fresh interpreter parses argv, imports the daemon, loads the plugins
for the config and builds their providers (wall time, tracemalloc and ``-X importtime``
each in separate runs, as each costs the others). mag_ap/ and plugins/ are
byte-compiled first, as installed (see :func:`compile_sources`). Targets (x86_64): idle
RSS light <= 22 MB, full <= 30 MB.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.domain import mag_ap_command
from mag_ap.runtime.control import ControlError, NoDaemonError, request

from .common import BenchResult, memory_mb

TITLE = "MAG idle RSS, light / full install, and import cost"
TARGET_LIGHT_MB = 22.0
TARGET_FULL_MB = 30.0
OWN = "2001:db8:ffff::10"
LMA = "2001:db8:ffff::1"

_BASE = f"""[daemon]
role = "mag"
control_socket = "{{dir}}/mag.sock"
state_dir = "{{dir}}"
[mag]
own_address = "{OWN}"
[plugin.localpolicy]
lma_address = "{LMA}"
[plugin.localpolicy.default]
ipv4 = true
"""

_FULL = """
[plugin.datapath]
access_interface = "access"
[plugin.dhcp4]
interface = "access"
[plugin.ra]
interface = "access"
[plugin.linkwatch]
interface = "access"
[plugin.hostapd]
control_sockets = ["{dir}/hostapd/access"]
client_dir = "{dir}"
[plugin.radius]
servers = [{{ address = "2001:db8:ffff::1", secret = "bench" }}]
[plugin.dns]
servers = ["127.0.0.1"]
"""

CONFIGS = {"light": _BASE, "full": _BASE + _FULL}

_PROBE = """
import json, sys, time, tracemalloc
if sys.argv[2] == "heap":
    tracemalloc.start()
t0 = time.perf_counter()
from mag_ap.cli import build_parser  # what `mag-ap run` does, in its order
build_parser().parse_args(["run", "-c", sys.argv[1]])
from mag_ap.config import load_config
config = load_config(sys.argv[1])
import mag_ap.runtime.daemon
from mag_ap.plugins import PluginHost
host = PluginHost.from_config(config, entry_points=config.plugins.entry_points)
for ask in (host.datapath_provider, host.address_services, host.identity_provider,
            host.policy_provider, host.trigger_providers, host.lma_discovery_provider):
    ask()  # the providers the daemon builds at start (no socket is opened)
elapsed = time.perf_counter() - t0
heap = tracemalloc.get_traced_memory()[0]
rss = next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pyroute2", "dnslib", "_ssl", "_hashlib"})
print(json.dumps({"import_s": elapsed, "heap_mb": heap / 2**20, "rss_mb": int(rss) / 1024,
                  "modules": len(sys.modules), "heavy": heavy}))
"""


def _netns(name: str, *args: str) -> None:
    subprocess.run(["ip", "-n", name, *args], check=True, capture_output=True)


def _make_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    _netns(name, "link", "set", "lo", "up")
    for link in ("transport", "access"):  # veth pairs: no dummy module needed
        _netns(name, "link", "add", link, "type", "veth", "peer", "name", f"{link}-p")
        for dev in (link, f"{link}-p"):
            _netns(name, "link", "set", dev, "up")
    _netns(name, "addr", "add", f"{OWN}/64", "dev", "transport", "nodad")


def probe_import(config: Path, mode: str = "time") -> dict[str, Any]:
    """Import the daemon and load the plugins for ``config`` in a fresh interpreter.

    ``mode`` "heap" traces allocations (tracemalloc slows the imports: no timing then);
    "importtime" adds ``importtime_ms``, the sum of ``-X importtime``'s top-level
    cumulative times (the interpreter's own start-up imports included).
    """
    flags = ["-X", "importtime"] if mode == "importtime" else []
    out = subprocess.run(
        [sys.executable, *flags, "-c", _PROBE, str(config), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    found = dict(json.loads(out.stdout))
    if mode == "importtime":
        found["importtime_ms"] = importtime_total_ms(out.stderr)
    return found


def importtime_total_ms(stderr: str) -> float:
    """Sum of the top-level (not nested) cumulative times of ``-X importtime`` output."""
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not name.startswith("  "):  # one space after the bar: a top-level import
            total_us += int(cumulative)
    return round(total_us / 1000, 1)


def compile_sources() -> None:
    """Byte-compile mag_ap/ and plugins/ in place, as an install does.

    A wheel install and the OpenWrt packages ship .pyc; a checkout run with
    PYTHONDONTWRITEBYTECODE compiles every module from source at each start, which
    costs the daemon about 1.5 MB of RSS more (compiler memory) and the time.
    """
    root = Path(__file__).resolve().parent.parent
    for tree in ("mag_ap", "plugins"):
        compileall.compile_dir(root / tree, quiet=1)


def idle_rss(ns: str, config: Path, log: Path, idle_s: float = 1.0) -> dict[str, float]:
    """Start ``mag-ap run`` in ``ns``, wait for ``status``, read its memory, stop it."""
    sock = config.parent / "mag.sock"
    argv = ["ip", "netns", "exec", ns, *mag_ap_command(), "run", "-c", str(config)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30.0
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mag exited {proc.returncode}: {log.read_text()[-800:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("mag not ready within 30 s")
            try:
                if request(sock, {"cmd": "status"}, timeout_s=1.0).get("ok"):
                    break
            except (NoDaemonError, ControlError, OSError):
                pass
            time.sleep(0.01)
        ready_s = time.monotonic() - started
        time.sleep(idle_s)
        mem = memory_mb(proc.pid)
        mem["ready_s"] = round(ready_s, 3)
        return mem
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(workdir: Path, starts: int = 3) -> BenchResult:
    result = BenchResult("idle", TITLE)
    ns = f"magidle-{os.getpid()}"
    metrics: dict[str, Any] = {}
    compile_sources()
    try:
        _make_netns(ns)
        for kind, template in CONFIGS.items():
            d = workdir / kind
            d.mkdir(parents=True, exist_ok=True)
            config = d / "mag.toml"
            config.write_text(template.format(dir=d))
            imports = [probe_import(config) for _ in range(starts)]
            heap = probe_import(config, "heap")
            importtime = [probe_import(config, "importtime") for _ in range(starts)]
            runs = [idle_rss(ns, config, d / f"mag{i}.log") for i in range(starts)]
            metrics[kind] = {
                "idle_rss_mb_median": round(statistics.median(r["VmRSS"] for r in runs), 2),
                "idle_hwm_mb_max": max(r["VmHWM"] for r in runs),
                "ready_s_median": statistics.median(r["ready_s"] for r in runs),
                "import_s_median": round(statistics.median(i["import_s"] for i in imports), 4),
                "importtime_ms_median": statistics.median(i["importtime_ms"] for i in importtime),
                "import_heap_mb": round(heap["heap_mb"], 2),
                "import_rss_mb": round(imports[0]["rss_mb"], 2),
                "modules": imports[0]["modules"],
                "heavy_modules": imports[0]["heavy"],
            }
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    result.metrics = metrics
    light, full = metrics["light"], metrics["full"]
    result.target("idle_rss_light_mb", light["idle_rss_mb_median"], TARGET_LIGHT_MB, "<=", "MB")
    result.target("idle_rss_full_mb", full["idle_rss_mb_median"], TARGET_FULL_MB, "<=", "MB")
    result.notes.append(
        "import_s: fresh interpreter importing the daemon and loading the plugins for the "
        "config (wall clock, no target: it scales with machine load); importtime_ms: the "
        "sum of -X importtime's top-level cumulative times for the same; import_heap_mb: the "
        "same under tracemalloc; idle RSS: the daemon itself, 1 s after ready; mag_ap/ and "
        "plugins/ byte-compiled first, as installed"
    )
    return result


if __name__ == "__main__":
    import tempfile

    res = run(Path(tempfile.mkdtemp(prefix="mag-ap-idle-")))
    print(json.dumps(res.to_json(), indent=2))
