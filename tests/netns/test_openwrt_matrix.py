"""The release matrix: the built packages run on each OpenWrt release's Python, and nothing more.

Per release (openwrt-24.10: CPython 3.11; openwrt-25.12: 3.13; master: 3.14 on the
device, 3.13 from pyenv standing in here): `make ipk`'s packages for that release
(.pyc compiled for its Python) go into a device root holding only the interpreter,
the stdlib files of the python3-* packages their Depends pull by that release's
split, python3-pluggy and pyroute2 at the release's versions (pip download,
cached under build/), and the host's native libraries the ELF files load. No
shell, no `ip`, no site-packages of the host: a program the code runs that no
declared package provides is missing, and the test fails. Everything runs with
chroot in a private mount namespace and an empty environment.

Checked: every shipped module imports; `--help`; `uci-to-toml` of the shipped UCI
file and `check-config` of its output; a MAG with the kernel datapath in a
network namespace registers a station with the reference LMA (tunnel in the
kernel, clean stop); nothing compiled or written next to the code; a config
naming a plugin that is not installed gives one log line naming the package.
Needs root (namespaces, chroot) and pyenv's 3.11 and 3.13: without them it FAILS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openwrt.tools import ipk
from openwrt.tools.releases import DeviceRoot, device_root, release
from tests.conftest import require_tool

MAG_AP = str(Path(sys.executable).parent / "mag-ap")
FULL_MAG = ("mag-ap-datapath", "mag-ap-hostapd", "mag-ap-ubus", "mag-ap-radius", "mag-ap-dns")
MAC = "02:00:00:00:0b:01"
MN_ID = "matrix@example.org"
LMA_ADDR, MAG_ADDR = "2001:db8:7b::1", "2001:db8:7b::2"
MOUNT, CHROOT, SH = "/usr/bin/mount", "/usr/sbin/chroot", "/bin/sh"


def _wait_for(cond: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr}")
    return proc


class Device:
    """A device root and how to run a command inside it (optionally in a netns)."""

    def __init__(self, root: DeviceRoot) -> None:
        self.root = root
        self.path = root.path

    def argv(self, cmd: list[str], netns: str | None = None) -> list[str]:
        """chroot in a private mount namespace with /proc and /sys (of the netns) mounted."""
        r = str(self.path)
        script = (
            f"{MOUNT} -t proc proc {r}/proc && {MOUNT} -t sysfs sysfs {r}/sys && "
            f'exec {CHROOT} {r} "$@"'
        )
        inner = ["unshare", "-m", "--propagation", "private", SH, "-c", script, "sh", *cmd]
        inner[0] = shutil.which("unshare") or "unshare"
        if netns is None:
            return inner
        return [shutil.which("ip") or "ip", "netns", "exec", netns, *inner]

    def run(self, *cmd: str, netns: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(list(cmd), netns), env={}, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip

    def mag_ap(self, *args: str, netns: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("/usr/bin/mag-ap", *args, netns=netns)


@pytest.fixture(scope="module", params=["openwrt-24.10", "openwrt-25.12", "master"])
def device(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Device:
    if os.geteuid() != 0:
        pytest.fail("the release matrix needs root (chroot, mount and network namespaces)")
    for tool in ("unshare", "ip"):
        require_tool(tool)
    rel = release(request.param)
    if rel.stand_in:
        print(f"{rel.branch}: Python {rel.python} on the device, {rel.pyenv_minor} stands in")
    base = tmp_path_factory.mktemp(f"owrt-{rel.branch}")
    built = ipk.build_release(rel, base / "ipk", mtime=0)
    # This host's kernel has no tunnel modules, only SRv6: the datapath's seg6 mode, which
    # needs `ip` from ip-full (installed by the user for seg6; not a Depends)
    root = device_root(rel, base / "root", built, (*FULL_MAG, "ip-full"))
    print(f"{rel.branch}: {' '.join(root.packages)}; not modelled: {root.not_modelled}")
    return Device(root)


def _tree(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


def test_every_shipped_module_imports_and_no_source_is_needed(device: Device) -> None:
    lib = device.path / "usr/lib/mag-ap"
    assert not list(lib.rglob("*.py")), "modules ship as .pyc only"
    modules = sorted(
        p.relative_to(lib).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for p in lib.rglob("*.pyc")
    )
    site = device.path / device.root.release.pyenv_minor.join(("usr/lib/python", "/site-packages"))
    modules += sorted(
        p.relative_to(site).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for p in (site / "dnslib").rglob("*.pyc")
    )
    # __main__ runs the CLI when imported: it is run by --help below
    ours = [m for m in modules if not m.startswith("pyroute2") and not m.endswith("__main__")]
    assert {"mag_ap.cli", "mag_ap_datapath._kernel_io", "mag_ap_dns._answers"} <= set(ours)
    # pyroute2: the modules the datapath loads (the rest of the library is optional there)
    script = (
        "import importlib, sys\n"
        "sys.path.insert(0, '/usr/lib/mag-ap')\n"
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(bad) or 'all imported')\n"
        "print('pyroute2 modules:', len([m for m in sys.modules if m.startswith('pyroute2')]))\n"
    )
    proc = device.run("/usr/bin/python3", "-c", script, *ours)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("all imported"), proc.stdout
    assert "pyroute2 modules: 0" not in proc.stdout


def test_the_datapath_imports_its_pyroute2_submodules_only(device: Device) -> None:
    """The release's pyroute2 (0.7.9 or 0.9.6) as shipped: _kernel_io's submodules load
    without the package __init__ (mag_ap.imports.deferred), nothing maps libssl, and
    the API matches the version (AsyncIPRoute from 0.9 on)."""
    script = (
        "import json, sys\n"
        "sys.path.insert(0, '/usr/lib/mag-ap')\n"
        "import mag_ap_datapath._kernel_io as k\n"
        "from pyroute2.config.version import __version__\n"
        "pyroute2 = sys.modules['pyroute2']\n"
        "print(json.dumps({'version': __version__, 'init_ran': '__version__' in vars(pyroute2),\n"
        "  'ssl_ran': '_ssl' in sys.modules, 'async': k._AsyncIPRoute is not None,\n"
        "  'imported': all(m in sys.modules for m in k.PYROUTE2_MODULES),\n"
        "  'encap_red': k.ENCAP_RED_OVER_NETLINK}))\n"
    )
    proc = device.run("/usr/bin/python3", "-c", script)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    version = device.root.release.pyroute2
    assert found["version"] == version
    assert (found["init_ran"], found["ssl_ran"]) == (False, False)  # the slim __init__ sets it
    assert found["async"] is not version.startswith("0.7.")
    assert found["imported"] and found["encap_red"]


def test_help_check_config_and_the_shipped_uci_config(device: Device) -> None:
    before = _tree(device.path / "usr")
    proc = device.mag_ap("--help")
    assert proc.returncode == 0 and "check-config" in proc.stdout, proc.stderr
    # `uci export` needs OpenWrt's uci program (Depends: uci), which cannot run here:
    # without it, one line and exit 1; the shipped file stands in for its export
    proc = device.mag_ap("uci-to-toml")
    assert proc.returncode == 1 and "cannot run uci export" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = device.mag_ap("uci-to-toml", "--export", "/etc/config/mag-ap")
    assert proc.returncode == 0, proc.stderr
    (device.path / "tmp/shipped.toml").write_text(proc.stdout)
    proc = device.mag_ap("check-config", "-c", "/tmp/shipped.toml")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    assert _tree(device.path / "usr") == before, "something was written next to the code"


def test_a_plugin_whose_package_is_missing_is_named_in_one_line(device: Device) -> None:
    (device.path / "tmp/extra.toml").write_text(
        '[daemon]\nrole = "mag"\ncontrol_socket = "/var/run/x.sock"\n'
        '[mag]\nown_address = "2001:db8::2"\n'
        '[plugins]\nenabled_extra = ["mag_ap_nosuch"]\n'
    )
    for cmd in ("check-config", "run"):
        proc = device.mag_ap(cmd, "-c", "/tmp/extra.toml")
        assert proc.returncode != 0
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text, text
        assert "mag-ap-nosuch" in text, text


@contextlib.contextmanager
def _namespaces(prefix: str) -> Iterator[tuple[str, str]]:
    lma, mag = f"{prefix}-lma", f"{prefix}-mag"
    try:
        for ns in (lma, mag):
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "link", "add", f"{prefix}l", "netns", lma, "type", "veth", "peer", "name",
              f"{prefix}m", "netns", mag])  # fmt: skip
        for ns, ifname, addr in ((lma, f"{prefix}l", LMA_ADDR), (mag, f"{prefix}m", MAG_ADDR)):
            _run(["ip", "-n", ns, "addr", "add", f"{addr}/64", "dev", ifname, "nodad"])
            _run(["ip", "-n", ns, "link", "set", ifname, "up"])
        _run(["ip", "-n", mag, "link", "add", "acc", "type", "veth", "peer", "name", "sta"])
        for ifname in ("acc", "sta"):
            _run(["ip", "-n", mag, "link", "set", ifname, "up"])
        yield lma, mag
    finally:
        for ns in (lma, mag):
            for pid in _run(["ip", "netns", "pids", ns], check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "delete", ns], check=False)
        left = _run(["ip", "netns", "list"], check=False).stdout
        assert prefix + "-" not in left, f"namespaces left behind: {left}"


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            return -9
    return proc.returncode


def test_mag_with_the_datapath_registers_a_station_with_the_lma(
    device: Device, tmp_path: Path
) -> None:
    rel = device.root.release
    prefix = f"om{os.getpid() % 1000}{rel.pyenv_minor.replace('.', '')}{rel.branch[-1]}"
    lma_conf = tmp_path / "lma.toml"
    lma_sock = tmp_path / "lma.sock"
    lma_conf.write_text(
        f'[daemon]\nrole = "lma"\ncontrol_socket = "{lma_sock}"\nstate_dir = "{tmp_path}/st"\n'
        f'[lma]\nown_address = "{LMA_ADDR}"\nmin_delay_before_bce_delete_s = 0\n'
    )
    (device.path / "etc/mag.toml").write_text(
        '[daemon]\nrole = "mag"\ncontrol_socket = "/var/run/mag-ap.sock"\n'
        'state_dir = "/var/lib/mag-ap"\nlog_level = "debug"\n'
        f'[mag]\nown_address = "{MAG_ADDR}"\n'
        f'[plugin.localpolicy]\nlma_address = "{LMA_ADDR}"\n[plugin.localpolicy.default]\n'
        '[plugin.datapath]\naccess_interface = "acc"\nlink_prefix = "mx"\n'
        'encapsulation = "seg6"\n'
    )
    mag_log = tmp_path / "mag.log"
    with _namespaces(prefix) as (lma_ns, mag_ns):
        lma = subprocess.Popen(
            ["ip", "netns", "exec", lma_ns, MAG_AP, "lma", "-c", str(lma_conf)],
            stdout=(tmp_path / "lma.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        with mag_log.open("wb") as out:
            mag = subprocess.Popen(
                device.argv(["/usr/bin/mag-ap", "run", "-c", "/etc/mag.toml"], mag_ns),
                env={}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            sock = device.path / "var/run/mag-ap.sock"

            def ready() -> bool:
                if mag.poll() is not None:
                    raise AssertionError(f"the MAG exited {mag.returncode}:\n{mag_log.read_text()}")
                return sock.exists() and lma_sock.exists()

            _wait_for(ready, 30, "both control sockets")
            proc = device.mag_ap("attach", MAC, "--mn-id", MN_ID, "--wait", "10", "--json")
            assert proc.returncode == 0, proc.stdout + proc.stderr + mag_log.read_text()
            answer = json.loads(proc.stdout)
            assert answer["ok"] is True, answer
            status = json.loads(device.mag_ap("status", "--json").stdout)
            rows = status["status"]["bindings"]
            assert [r["state"] for r in rows if r.get("mn_id") == MN_ID] == ["bound"], rows
            routes = _run(["ip", "-n", mag_ns, "-6", "route", "show", "table", "all"]).stdout
            assert f"segs 1 [ {LMA_ADDR} ]" in routes, routes  # the MN's route to the LMA
            assert "seg6local" in routes, routes  # the decap route, made by pyroute2
            lma_status = subprocess.run(
                [MAG_AP, "status", "--json", "-s", str(lma_sock)], capture_output=True,
                text=True, timeout=20, check=True,
            )  # fmt: skip
            assert MN_ID in lma_status.stdout
            assert _stop(mag) == 0, mag_log.read_text()
            left = _run(["ip", "-n", mag_ns, "-6", "route", "show", "table", "all"]).stdout
            assert "seg6" not in left, left  # the datapath removed its routes at stop
            assert "Traceback" not in mag_log.read_text()
        finally:
            _stop(mag)
            _stop(lma)


def test_a_package_removed_from_the_device_is_named_in_one_line(device: Device) -> None:
    """mag-ap-pyroute2 missing (datapath configured), mag-ap-dns missing ([plugin.dns])."""
    lib = device.path / "usr/lib/mag-ap"
    (device.path / "etc/dp.toml").write_text(
        '[daemon]\nrole = "mag"\ncontrol_socket = "/var/run/dp.sock"\n'
        'state_dir = "/var/lib/mag-ap"\n[mag]\nown_address = "2001:db8::2"\n'
        '[plugin.localpolicy]\nlma_address = "2001:db8::1"\n'
        '[plugin.datapath]\naccess_interface = "lo"\nencapsulation = "seg6"\n'
    )
    (device.path / "etc/dns.toml").write_text(
        '[daemon]\nrole = "mag"\ncontrol_socket = "/var/run/dns.sock"\n'
        '[mag]\nown_address = "2001:db8::2"\n[plugin.dns]\nservers = ["2001:db8::53"]\n'
    )
    cases = (
        ("pyroute2", ("run", "-c", "/etc/dp.toml"), "install the OpenWrt package mag-ap-pyroute2"),
        ("mag_ap_dns", ("check-config", "-c", "/etc/dns.toml"), "OpenWrt package mag-ap-dns"),
        ("mag_ap_dns", ("run", "-c", "/etc/dns.toml"), "OpenWrt package mag-ap-dns"),
    )
    for module, args, wanted in cases:
        aside = lib.parent / f"{module}.aside"
        (lib / module).rename(aside)
        try:
            proc = device.mag_ap(*args)
        finally:
            aside.rename(lib / module)
        text = (proc.stdout + proc.stderr).strip()
        assert proc.returncode != 0, text
        assert "Traceback" not in text, text
        lines = [line for line in text.splitlines() if wanted in line]
        assert len(lines) == 1, text
