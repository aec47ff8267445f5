"""The feed's Depends follow from the code's imports; the SDK Makefile is not stale."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mag_ap.packages import KERNEL_MODULES
from mag_ap_datapath._plan import LINK_KINDS
from openwrt.tools import feed
from openwrt.tools.feed import (
    BASE_PYTHON,
    HEAVY,
    MAIN,
    FeedError,
    feed_packages,
    implied,
    imports_of,
    needs_of,
    openwrt_package_for,
    render_makefile,
)
from openwrt.tools.releases import release
from tests.conftest import ROOT


def _makefile_depends(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, body in re.findall(r"define Package/([\w-]+)\n(.*?)\nendef", text, re.S):
        hit = re.search(r"^\s*DEPENDS:=(.*)$", body, re.M)
        if hit:
            out[name] = [d.lstrip("+") for d in hit.group(1).split()]
    return out


def test_committed_makefile_is_generated_from_the_table() -> None:
    current = (ROOT / feed.MAKEFILE).read_text()
    assert current == render_makefile(ROOT), (
        "openwrt/net/mag-ap/Makefile is stale: python -m openwrt.tools.feed --write"
    )


def test_committed_pyroute2_module_list_is_generated() -> None:
    current = (ROOT / feed.PYROUTE2_SDK_LIST).read_text()
    assert current == feed.render_pyroute2_list(ROOT), (
        f"{feed.PYROUTE2_SDK_LIST} is stale: python -m openwrt.tools.feed --write"
    )
    listed = [line for line in current.splitlines() if not line.startswith("#")]
    assert "pyroute2/iproute/linux.py" in listed and "pyroute2/__init__.py" not in listed
    assert not any(line.startswith("pyroute2/ndb/") for line in listed)  # sqlite3: not used


def test_makefile_follows_python_feed_conventions() -> None:
    text = (ROOT / feed.MAKEFILE).read_text()
    assert "include $(TOPDIR)/feeds/packages/lang/python/python3-package.mk" in text
    assert "PKGARCH:=all" in text
    for pkg in feed_packages(ROOT):
        assert f"$(eval $(call BuildPackage,{pkg.name}))" in text


def test_makefile_depends_equal_the_imports() -> None:
    declared = _makefile_depends((ROOT / feed.MAKEFILE).read_text())
    packages = {p.name: p for p in feed_packages(ROOT)}
    assert set(declared) == set(packages)
    main_needs = needs_of(ROOT, packages[MAIN].modules).required - {MAIN}
    assert set(declared[MAIN]) == main_needs | set(feed.EXTRA_DEPENDS.get(MAIN, ()))
    assert {BASE_PYTHON, "python3-asyncio", "python3-logging", "python3-pluggy"} <= main_needs
    for name, pkg in packages.items():
        if name == MAIN:
            continue
        own = needs_of(ROOT, pkg.modules).required - {name}
        assert MAIN in declared[name]
        # everything the plugin imports is provided by its Depends or by mag-ap's
        assert own <= set(declared[name]) | main_needs | {MAIN}
        assert set(declared[name]) - own - {MAIN} == set(feed.EXTRA_DEPENDS.get(name, ()))


def test_main_package_stays_light_and_every_plugin_is_packaged() -> None:
    packages = feed_packages(ROOT)
    main = packages[0]
    assert main.name == MAIN
    assert not set(main.depends) & HEAVY, "a heavy dependency slipped into mag-ap"
    shipped = {Path(m).name for p in packages for m in p.modules}
    found = {d.name for d in feed.plugin_dirs(ROOT)}
    assert found <= shipped
    assert "mag_ap_localpolicy" in found


def test_datapath_package_carries_the_tunnel_modules() -> None:
    packages = {p.name: p for p in feed_packages(ROOT)}
    if "mag-ap-datapath" not in packages:
        pytest.fail("plugins/mag_ap_datapath is expected (the kernel datapath)")
    deps = packages["mag-ap-datapath"].depends
    assert "mag-ap-pyroute2" in deps and "python3-pyroute2" not in deps  # not the full python3
    # every link kind the datapath creates, by the package the start-up errors name
    for kind in LINK_KINDS:
        assert KERNEL_MODULES[kind][1] in deps, kind


def test_imports_of_sees_lazy_optional_and_type_only_imports() -> None:
    src = """
import asyncio
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import sqlite3
try:
    from importlib import metadata
except ImportError:
    metadata = None
if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli
def later():
    import pyroute2
"""
    found = {(i.module, i.optional) for i in imports_of(src)}
    assert ("asyncio", False) in found
    assert ("pyroute2", False) in found  # lazy imports count
    assert ("tomllib", False) in found
    assert ("tomli", True) in found
    assert ("importlib.metadata", True) in found
    assert not any(m == "sqlite3" for m, _ in found)


def test_stdlib_modules_map_to_openwrt_packages() -> None:
    first = {"mag_ap": MAIN, "mag_ap_datapath": "mag-ap-datapath"}
    assert openwrt_package_for("asyncio.subprocess", first) == "python3-asyncio"
    assert openwrt_package_for("logging.handlers", first) == "python3-logging"
    # importlib.metadata is python3-light's, but it loads email at import time:
    assert openwrt_package_for("importlib.metadata", first) == BASE_PYTHON
    assert implied({"importlib.metadata"}, None) == {"importlib.metadata", "email"}
    # release-less (the SDK Makefile): email via python3-urllib, which exists on every
    # release and depends on python3-email where that is separate
    assert openwrt_package_for("email.message", first) == "python3-urllib"
    r2410, master = release("openwrt-24.10"), release("master")
    assert openwrt_package_for("email.message", first, r2410) == "python3-email"
    assert openwrt_package_for("email.message", first, master) == "python3-urllib"
    # 3.11's pathlib imports urllib.parse at load time, but mag_ap/__init__.py hides it
    assert implied({"pathlib"}, r2410) == {"pathlib"}
    assert implied({"pathlib"}, master) == {"pathlib"}
    # pluggy 1.3 imports importlib.metadata at load time, but mag_ap/_pluggy.py hides it
    assert implied({"pluggy"}, r2410) == {"pluggy"}
    assert implied({"pluggy"}, master) == {"pluggy"}  # pluggy 1.6
    assert openwrt_package_for("importlib.util", first) == BASE_PYTHON
    assert openwrt_package_for("tomllib", first) == BASE_PYTHON
    assert openwrt_package_for("ssl", first) == "python3-openssl"
    assert openwrt_package_for("pluggy", first) == "python3-pluggy"
    assert openwrt_package_for("mag_ap_datapath._kernel_io", first) == "mag-ap-datapath"
    assert openwrt_package_for("no_such_module_xyz", first) is None
    with pytest.raises(FeedError, match="not shipped"):
        openwrt_package_for("lab.topology", first)
    with pytest.raises(FeedError, match="does not exist on OpenWrt"):
        openwrt_package_for("tkinter", first)


def test_an_unknown_third_party_import_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mag_ap").mkdir()
    (tmp_path / "plugins").mkdir()
    (tmp_path / "mag_ap/__init__.py").write_text("import requests\n")
    with pytest.raises(FeedError, match="'requests' is no standard module"):
        needs_of(tmp_path, ("mag_ap",))


def test_importing_the_main_package_loads_only_what_its_depends_provide(tmp_path: Path) -> None:
    """Dynamic cross-check of the ast scan: import every shipped module, look at sys.modules."""
    main = feed_packages(ROOT)[0]
    lib = tmp_path / "lib"
    for item in main.files:
        if item.dest.startswith(feed.LIB_DIR + "/"):
            target = lib / item.dest[len(feed.LIB_DIR) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.source.read_bytes())
    modules = sorted(
        str(p.relative_to(lib).with_suffix("")).replace("/", ".").removesuffix(".__init__")
        for p in lib.rglob("*.py")
        if p.name != "__main__.py"
    )
    code = f"""
import importlib, json, sys
sys.path.insert(0, {str(lib)!r})
before = set(sys.modules)
for name in {modules!r}:
    module = importlib.import_module(name)
    assert module.__file__.startswith({str(lib)!r}), module.__file__
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    loaded = json.loads(out.stdout)
    first = {Path(m).name: MAIN for m in main.modules}
    # asyncio imports ssl inside try/except ImportError: it works without python3-openssl
    soft = {"ssl"}
    found = {
        openwrt_package_for(m, first) for m in loaded if not m.startswith("_") and m not in soft
    }
    needed = {pkg for pkg in found if pkg is not None}
    assert needed <= {*main.depends, MAIN}, sorted(needed - {*main.depends, MAIN})
    assert "python3-asyncio" in needed


def test_the_daemon_names_the_same_packages_as_the_feed() -> None:
    from mag_ap import packages

    for d in feed.plugin_dirs(ROOT):
        assert packages.package_of_plugin(d.name) == feed.package_of_plugin(d.name)
    for module, pkg in feed.THIRD_PARTY.items():
        if module != "tomli":
            assert packages.package_of_module(module) == pkg
    hint = packages.missing_hint(ModuleNotFoundError("No module named 'pyroute2'", name="pyroute2"))
    assert hint.endswith("install the OpenWrt package mag-ap-pyroute2")
