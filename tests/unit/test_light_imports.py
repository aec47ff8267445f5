"""A light install (localpolicy only) imports nothing it does not use (issue 14 item 3).

Run in a fresh interpreter, the way ``mag-ap run`` imports: asyncio with ssl
hidden, the config, the plugins it validates, the daemon module. Memory itself
is measured by bench/idle.py; this checks the behaviour behind it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LIGHT = """\
[daemon]
role = "mag"
[mag]
own_address = "2001:db8:ffff::10"
[plugin.localpolicy]
lma_address = "2001:db8:ffff::1"
"""

PROBE = """
import json, sys
from mag_ap.cli import build_parser
build_parser().parse_args(["run", "-c", sys.argv[1]])
from mag_ap.config import load_config
from mag_ap.plugins import PluginHost
config = load_config(sys.argv[1])  # what `mag-ap run` does, in its order
from mag_ap.runtime.daemon import MagDaemon
host = PluginHost.from_config(config, entry_points=config.plugins.entry_points)
# the providers the daemon asks for at start (MagDaemon.prepare_providers and its base)
host.datapath_provider(), host.address_services(), host.identity_provider()
host.policy_provider(), host.trigger_providers(), host.lma_discovery_provider()
host.status_extra()
before = sorted(sys.modules)
import ssl  # hidden only while asyncio imported: still there for whoever needs it
print(json.dumps({"before": before, "after": sorted(sys.modules)}))
"""

# pyroute2 and dnslib: only with [plugin.datapath] / [plugin.dns]; ssl and _hashlib map
# libssl/libcrypto (MBs of RSS); importlib.metadata only with plugins.entry_points;
# bz2 and lzma (shutil's, which argparse imports for the terminal width) map their libraries.
NOT_IN_LIGHT = (
    "pyroute2", "dnslib", "_hashlib", "importlib.metadata", "ssl", "_ssl", "bz2", "lzma"
)  # fmt: skip


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NOT_IN_LIGHT or m in NOT_IN_LIGHT)


def test_light_config_loads_no_heavy_module(tmp_path: Path) -> None:
    config = tmp_path / "mag.toml"
    config.write_text(LIGHT)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = json.loads(out.stdout)
    modules, after = set(found["before"]), set(found["after"])
    assert "mag_ap.runtime.daemon" in modules
    assert "ssl" in after  # the probe imported it after asyncio: it stays importable
    assert _heavy(modules) == []
    # plugins the config does not enable load their settings and nothing else (IO
    # modules, planners, codecs come with the section that uses them)
    plugin_modules = {m for m in modules if m.startswith("mag_ap_") and "." in m}
    unused = {m for m in plugin_modules if not m.startswith("mag_ap_localpolicy.")}
    assert sorted(m for m in unused if not m.endswith("._settings")) == []


@pytest.mark.parametrize(
    "first",
    [
        "mag_ap.runtime.daemon",
        "mag_ap.runtime.control",
        "mag_ap_dhcp4._io",
        "mag_ap_hostapd._ctrl_io",
    ],
)
def test_asyncio_imported_without_ssl_has_no_ssl_support(first: str) -> None:
    """Whatever a process imports first (daemon, LMA, a plugin's IO module in a test),
    asyncio comes from the runtime's one import, with ssl hidden."""
    code = (
        "import sys\n"
        f"import {first}\n"
        "import asyncio.sslproto\n"
        "print(asyncio.sslproto.ssl is None, 'ssl' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"], out.stderr


def test_pluggy_1_3_loads_without_importlib_metadata(tmp_path: Path) -> None:
    """OpenWrt 24.10/25.12 ship pluggy 1.3.0, which imports importlib.metadata (email, zipfile,
    csv, ...) at load time: mag_ap/_pluggy.py keeps that out, and the real module loadable."""
    from openwrt.tools.releases import unpacked_wheel

    pluggy_13 = unpacked_wheel("pluggy", "1.3.0")
    config = tmp_path / "mag.toml"
    config.write_text(LIGHT)
    check = "import pluggy\nassert pluggy.__file__.startswith(sys.argv[2])\n"
    code = PROBE.replace("import ssl ", check + "import ssl ")
    code += "import importlib.metadata\nprint(importlib.metadata.version('pluggy'))\n"
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(pluggy_13)!r})\n" + code,
         str(config), str(pluggy_13)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = out.stdout.splitlines()
    modules = set(json.loads(lines[0])["before"])
    assert "pluggy._manager" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] == "email" or m == "importlib.metadata")
    assert heavy == []
    assert lines[1] == "1.3.0"  # the real importlib.metadata afterwards, from the 1.3 dist-info


def test_pathlib_on_3_11_loads_without_urllib() -> None:
    """OpenWrt 24.10's Python 3.11: pathlib imports urllib.parse (python3-urllib, and with it
    python3-email) at load time for Path.as_uri only; mag_ap keeps it out until as_uri."""
    from openwrt.tools.releases import ROOT, interpreter, release

    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import mag_ap, pathlib\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('urllib', 'email')))\n"
        "print(pathlib.PurePosixPath('/etc/mag ap').as_uri())\n"
        "print('urllib.parse' in sys.modules)\n"
    )
    python = interpreter(release("openwrt-24.10"))
    # -S: this pyenv's site-packages .pth files import pathlib (a device root has none)
    out = subprocess.run([str(python), "-I", "-S", "-c", code], check=True, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.stdout.splitlines() == ["[]", "file:///etc/mag%20ap", "True"]


FULL = (
    LIGHT
    + """
[plugin.datapath]
access_interface = "access"
[plugin.dhcp4]
interface = "access"
[plugin.ra]
interface = "access"
[plugin.linkwatch]
interface = "access"
[plugin.hostapd]
control_sockets = ["/nonexistent/hostapd/access"]
[plugin.radius]
servers = [{ address = "2001:db8:ffff::1", secret = "test" }]
[plugin.dns]
servers = ["127.0.0.1"]
"""
)


def test_full_config_maps_no_openssl_and_skips_pyroute2s_package_init(tmp_path: Path) -> None:
    """Full install: pyroute2's submodules without its __init__ (every netlink API,
    sqlite3 for NDB), no ssl/_hashlib (libssl, libcrypto: RADIUS uses the built-in MD5),
    dnslib only at the first DNS lookup; a later `from pyroute2 import X` still works."""
    config = tmp_path / "mag.toml"
    config.write_text(FULL)
    probe = PROBE.replace(
        "before = sorted(sys.modules)",
        "before = sorted(sys.modules)\n"
        "import pyroute2\n"
        "init_ran = 'IPRoute' in vars(pyroute2)\n"
        "from pyroute2 import IPRoute\n"
        "before.append(f'init_ran={init_ran}')\n"
        "before.append(f'init_on_demand={IPRoute is vars(pyroute2)[\"IPRoute\"]}')",
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(config)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = set(json.loads(out.stdout)["before"])
    assert {"init_ran=False", "init_on_demand=True"} <= modules, out.stderr
    assert {"mag_ap_datapath._kernel_io", "mag_ap_radius.packet", "mag_ap_dhcp4._io"} <= modules
    # ssl itself is there, deferred (mag_ap.imports.deferred): _ssl shows whether it ran
    heavy = {"_ssl", "_hashlib", "sqlite3", "dnslib", "pyroute2.ndb", "pyroute2.ipdb"}
    assert sorted(modules & heavy) == []
