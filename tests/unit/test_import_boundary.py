"""The pure packages import no IO: DESIGN.md rule 1, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PURE_PACKAGES = ["mag_ap/mh", "mag_ap/core", "mag_ap/lma"]
# mag_ap.runtime: the IO layer, and where IO modules take asyncio from (its one import).
FORBIDDEN = {
    "asyncio", "socket", "time", "pyroute2", "select", "subprocess", "selectors", "mag_ap.runtime"
}  # fmt: skip
RUNTIME = "mag_ap.runtime"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
            names.update(RUNTIME for a in node.names if a.name.startswith(RUNTIME))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
            if node.module.startswith(RUNTIME):
                names.add(RUNTIME)
    return names


def _plugin_pure_modules() -> list[Path]:
    """Every plugin module not named ``*_io.py``: the naming rule says it does no IO."""
    return sorted(p for p in (ROOT / "plugins").rglob("*.py") if not p.stem.endswith("_io"))


@pytest.mark.parametrize(
    "path", _plugin_pure_modules(), ids=lambda p: str(p.relative_to(ROOT / "plugins"))
)
def test_plugin_module_not_named_io_imports_no_io(path: Path) -> None:
    assert sorted(_imported_modules(path) & FORBIDDEN) == []


def test_every_plugin_has_pure_modules_under_the_rule() -> None:
    plugins = {p.parent.name for p in _plugin_pure_modules()}
    assert plugins == {
        p.name for p in (ROOT / "plugins").iterdir() if p.is_dir() and p.name.startswith("mag_ap_")
    }


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_source_imports_no_io(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {package}"
    offenders = {str(f.relative_to(ROOT)): sorted(_imported_modules(f) & FORBIDDEN) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_the_codec_loads_no_io_module() -> None:
    # 'time' is loaded by the interpreter itself: only count modules the import adds.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import mag_ap.mh\n"
        f"print(sorted(m for m in {sorted(FORBIDDEN)!r} if m in set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_boundary_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom asyncio import sleep\nimport json\n")
    assert _imported_modules(bad) & FORBIDDEN == {"socket", "asyncio"}


def _private_imports_of_other_plugins(path: Path, own: str) -> list[str]:
    """``mag_ap_<other>._module`` (or a ``_name`` from another plugin) imported by ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        modules: list[tuple[str, list[str]]]
        if isinstance(node, ast.Import):
            modules = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for module, names in modules:
            parts = module.split(".")
            if not parts[0].startswith("mag_ap_") or parts[0] == own:
                continue
            private = [p for p in parts[1:] if p.startswith("_")]
            private += [f"{module}.{n}" for n in names if n.startswith("_")]
            if private:
                found.append(module)
    return found


def test_plugins_import_nothing_private_from_each_other() -> None:
    """DESIGN.md rule 9: plugins meet only in public modules (``mag_ap_radius.packet``)."""
    offenders = {
        str(path.relative_to(ROOT)): bad
        for path in sorted((ROOT / "plugins").rglob("*.py"))
        if (
            bad := _private_imports_of_other_plugins(
                path, path.relative_to(ROOT / "plugins").parts[0]
            )
        )
    }
    assert offenders == {}


def test_private_import_checker_sees_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from mag_ap_hostapd._stations import StationTable\n"
        "import mag_ap_radius._packet\n"
        "from mag_ap_macnai import _secret\n"
        "from mag_ap_radius.packet import decode\n"
        "from mag_ap_mine._own import x\n"
        "from ._local import y\n"
    )
    assert _private_imports_of_other_plugins(bad, "mag_ap_mine") == [
        "mag_ap_hostapd._stations",
        "mag_ap_radius._packet",
        "mag_ap_macnai",
    ]
