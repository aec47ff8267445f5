"""mag_ap.imports (hiding, deferred) and the datapath's pyroute2 imports built on them.

Each case runs in a fresh interpreter: these tools act on sys.modules, and this
process has long imported everything.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _run(code: str, tmp_path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}:{ROOT / 'plugins'}", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.splitlines()[-1]))


def _package(tmp_path: Path) -> None:
    """heavy/: an __init__ that records it ran and defines API, and a light submodule."""
    pkg = tmp_path / "heavy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import sys\nsys.modules['heavy_init_ran'] = sys\nAPI = 'from init'\n"
        "from heavy.sub.leaf import VALUE as LEAF\n"
    )
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("from heavy import sub\nVALUE = 42\n")
    (tmp_path / "tls_like.py").write_text("import sys\nsys.modules['tls_ran'] = sys\nX = 1\n")


def test_deferred_package_imports_submodules_without_its_init(tmp_path: Path) -> None:
    _package(tmp_path)
    found = _run(
        "import json, sys\n"
        "from mag_ap.imports import deferred\n"
        "deferred('heavy')\n"
        "from heavy.sub.leaf import VALUE\n"  # `from heavy import sub` inside: a submodule
        "import heavy\n"
        "before = 'heavy_init_ran' in sys.modules\n"
        "from heavy import API\n"  # a name only the __init__ defines: it runs now, once
        "after = 'heavy_init_ran' in sys.modules\n"
        "print(json.dumps({'value': VALUE, 'before': before, 'after': after, 'api': API,\n"
        "                  'leaf': heavy.LEAF, 'same': sys.modules['heavy'] is heavy}))\n",
        tmp_path,
    )
    assert found == {
        "value": 42, "before": False, "after": True, "api": "from init", "leaf": 42, "same": True
    }  # fmt: skip


def test_deferred_module_runs_on_first_name_not_on_import(tmp_path: Path) -> None:
    _package(tmp_path)
    found = _run(
        "import json, sys\n"
        "from mag_ap.imports import deferred\n"
        "deferred('tls_like')\n"
        "import tls_like\n"  # the import statement alone does not run it (LazyLoader would)
        "import tls_like as again\n"
        "before = 'tls_ran' in sys.modules\n"
        "x = tls_like.X\n"
        "missing = deferred('no_such_module_xyz')\n"
        "print(json.dumps({'before': before, 'after': 'tls_ran' in sys.modules, 'x': x,\n"
        "                  'missing': missing is None, 'kept': deferred('tls_like') is again}))\n",
        tmp_path,
    )
    assert found == {"before": False, "after": True, "x": 1, "missing": True, "kept": True}


def test_a_deferred_name_that_does_not_exist_is_an_attribute_error(tmp_path: Path) -> None:
    _package(tmp_path)
    found = _run(
        "import json\n"
        "from mag_ap.imports import deferred\n"
        "mod = deferred('tls_like')\n"
        "try:\n"
        "    mod.nope\n"
        "except AttributeError as exc:\n"
        "    first = str(exc)\n"
        "print(json.dumps({'first': first, 'has_x': hasattr(mod, 'X'),\n"
        "                  'second': hasattr(mod, 'nope')}))\n",
        tmp_path,
    )
    assert found == {"first": "module 'tls_like' has no attribute 'nope'", "has_x": True,
                     "second": False}  # fmt: skip


def test_hiding_makes_the_importer_take_its_fallback_then_restores(tmp_path: Path) -> None:
    found = _run(
        "import json, sys\n"
        "from mag_ap.imports import hiding\n"
        "with hiding('_hashlib', 'json'):\n"  # json already imported: not hidden
        "    import hashlib, hmac\n"
        "hidden = '_hashlib' in sys.modules\n"
        "import _hashlib\n"  # importable again afterwards
        "print(json.dumps({'hidden': hidden, 'md5': hashlib.md5(b'abc').hexdigest(),\n"
        "                  'builtin': type(hashlib.md5()).__module__ != '_hashlib',\n"
        "                  'hmac': hmac.new(b'Jefe', b'what do ya want for nothing?',\n"
        "                                   hashlib.md5).hexdigest()}))\n",
        tmp_path,
    )
    assert found == {
        "hidden": False,
        "md5": "900150983cd24fb0d6963f7d28e17f72",  # RFC 1321 A.5
        "builtin": True,
        "hmac": "750c783e6ab0b503eaa86e310a5db738",  # RFC 2202 test case 2
    }


def _pyroute2_imports() -> list[str]:
    """The pyroute2 modules _kernel_io's import statements name, in order."""
    tree = ast.parse((ROOT / "plugins/mag_ap_datapath/_kernel_io.py").read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pyroute2"):
            names.append(str(node.module))
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.startswith("pyroute2")]
    return list(dict.fromkeys(names))


def test_pyroute2_modules_names_exactly_what_the_datapath_imports() -> None:
    from mag_ap_datapath._kernel_io import PYROUTE2_MODULES

    assert sorted(PYROUTE2_MODULES) == sorted(_pyroute2_imports())
    assert all(name in sys.modules for name in PYROUTE2_MODULES)


@pytest.mark.parametrize("version", ["0.7.9", "0.9.6", "installed"])
def test_datapath_imports_pyroute2_without_its_init_on_each_release(
    version: str, tmp_path: Path
) -> None:
    """OpenWrt 24.10/25.12 carry 0.7.9, master 0.9.6, this venv the newest: the same
    importer works on each (tests/netns/test_openwrt_matrix.py runs the datapath on them)."""
    path = f"{ROOT}:{ROOT / 'plugins'}"
    if version != "installed":
        from openwrt.tools.releases import unpacked_wheel

        path = f"{unpacked_wheel('pyroute2', version)}:{path}"
    code = (
        "import json, sys\n"
        "import mag_ap_datapath._kernel_io as k\n"
        "import pyroute2\n"
        "from pyroute2.config.version import __version__\n"
        "init_ran = 'IPRoute' in vars(pyroute2)\n"
        "print(json.dumps({'version': __version__, 'init_ran': init_ran,\n"
        "  'ssl_ran': '_ssl' in sys.modules, 'sqlite3': 'sqlite3' in sys.modules,\n"
        "  'async': k._AsyncIPRoute is not None, 'encap_red': k.ENCAP_RED_OVER_NETLINK,\n"
        "  'imported': all(m in sys.modules for m in k.PYROUTE2_MODULES),\n"
        "  'mp': 'multiprocessing' in sys.modules,\n"
        "  'file': pyroute2.__file__}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    found = json.loads(out.stdout)
    if version != "installed":
        assert found["version"] == version and found["file"].startswith(path.split(":")[0])
    v09 = not str(found["version"]).startswith("0.7.")
    assert (found["init_ran"], found["ssl_ran"], found["sqlite3"]) == (False, False, False)
    assert (found["async"], found["encap_red"], found["imported"]) == (v09, True, True)
    if version == "0.7.9":  # pyroute2.config loaded with a stand-in (24.10/25.12: no package)
        assert found["mp"] is False
