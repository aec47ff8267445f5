"""The pure packages import no IO: DESIGN.md rule 1, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PURE_PACKAGES = ["mag_ap/mh", "mag_ap/core", "mag_ap/lma"]
FORBIDDEN = {"asyncio", "socket", "time", "pyroute2", "select", "subprocess", "selectors"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
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
