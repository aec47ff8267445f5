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
from mag_ap.cli import _import_asyncio_without_ssl
_import_asyncio_without_ssl()
from mag_ap.config import load_config
from mag_ap.plugins import PluginHost
from mag_ap.runtime.daemon import MagDaemon
config = load_config(sys.argv[1])
host = PluginHost.from_config(config, entry_points=config.plugins.entry_points)
import ssl  # hidden only while asyncio imported: still there for whoever needs it
print(json.dumps(sorted(sys.modules)))
"""

# pyroute2 and dnslib: only with [plugin.datapath] / [plugin.dns]; ssl and _hashlib map
# libssl/libcrypto (MBs of RSS); importlib.metadata only with plugins.entry_points.
NOT_IN_LIGHT = ("pyroute2", "dnslib", "_hashlib", "importlib.metadata")


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
    modules = set(json.loads(out.stdout))
    assert "mag_ap.runtime.daemon" in modules
    assert "ssl" in modules  # the probe imported it after asyncio: it stays importable
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_IN_LIGHT or m in NOT_IN_LIGHT)
    assert loaded == []


def test_asyncio_imported_without_ssl_has_no_ssl_support() -> None:
    code = (
        "import sys\n"
        "from mag_ap.cli import _import_asyncio_without_ssl\n"
        "_import_asyncio_without_ssl()\n"
        "import asyncio.sslproto\n"
        "print(asyncio.sslproto.ssl is None, 'ssl' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"]


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
    modules = set(json.loads(lines[0]))
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
