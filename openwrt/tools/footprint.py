"""The footprint report of ``make ipk``: per release and install set, what lands on flash.

Three install sets: the minimal MAG (local policy), the full MAG (datapath, hostapd
and ubus triggers, RADIUS, DNS) and the LMA. For each, the DEPENDS closure by the
release's python3 split; per package the installed bytes and the gzip-compressed
bytes. Our packages and the third-party ones this feed builds are measured from
their ``.ipk`` (compressed = the file, installed = the payload). OpenWrt's python3-*
and python3-pluggy are modelled from the pyenv CPython standing in (x86_64, not
stripped, each ``.py`` counted as its compiled ``.pyc`` like OpenWrt ships it, each
file gzip'd alone): an upper bound. Native libraries (libc, zlib, libffi, ...) and
kernel modules are listed, not counted.
"""

from __future__ import annotations

import functools
import gzip
import io
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from .releases import ROOT, Release, closure, pyroot, release, stdlib_owner, unpacked_wheel

INSTALL_SETS: Final[Mapping[str, tuple[str, ...]]] = {
    "minimal MAG (local policy)": ("mag-ap",),
    "full MAG (datapath, hostapd, ubus, RADIUS, DNS)": (
        "mag-ap-datapath", "mag-ap-hostapd", "mag-ap-ubus", "mag-ap-radius", "mag-ap-dns",
    ),
    "LMA": ("mag-ap-datapath",),
}  # fmt: skip
FULL_MAG: Final = "full MAG (datapath, hostapd, ubus, RADIUS, DNS)"
TARGET_FULL_MAG_24_10: Final = 6 * 1024 * 1024  # issue 11: <= 6 MB compressed on 24.10


def _ipk_sizes(path: Path) -> tuple[int, int, list[str]]:
    """(installed bytes, compressed bytes, Depends) of one .ipk."""
    with tarfile.open(path, mode="r:gz") as outer:
        data = outer.extractfile("./data.tar.gz")
        control = outer.extractfile("./control.tar.gz")
        assert data is not None and control is not None
        with tarfile.open(fileobj=io.BytesIO(data.read()), mode="r:gz") as tar:
            installed = sum(m.size for m in tar.getmembers() if m.isfile())
        with tarfile.open(fileobj=io.BytesIO(control.read()), mode="r:gz") as tar:
            f = tar.extractfile("./control")
            assert f is not None
            fields = dict(
                line.split(": ", 1) for line in f.read().decode().splitlines() if ": " in line
            )
    deps = [d.strip() for d in fields.get("Depends", "").split(",") if d.strip()]
    return installed, path.stat().st_size, deps


STRIPPED: Final = ROOT / "build" / "owrt-strip"  # stripped copies of the stand-in's ELF files


def _stripped(path: Path) -> Path:
    """A ``strip --strip-unneeded`` copy of an ELF file (OpenWrt strips every binary)."""
    dest = STRIPPED / path.relative_to("/")
    if not dest.exists() or dest.stat().st_mtime < path.stat().st_mtime:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        subprocess.run(["strip", "--strip-unneeded", str(dest)], check=True)
    return dest


def _file_cost(path: Path, tag: str) -> tuple[int, int]:
    """(installed, gzip'd) of one file: a ``.py`` as its compiled ``.pyc``, ELF stripped."""
    if path.suffix == ".py":
        pyc = path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc"
        if pyc.exists():
            path = pyc
    elif path.suffix == ".so" or ".so." in path.name or path.parent.name == "bin":
        path = _stripped(path)
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, 6))


@functools.cache
def _modelled(rel: Release, pkg: str) -> tuple[int, int] | None:
    """Sizes of an OpenWrt python package from the stand-in CPython; None if not modelled."""
    owner = stdlib_owner(rel)
    prefix = pyroot(rel)
    lib = prefix / "lib" / f"python{rel.pyenv_minor}"
    if pkg in owner:
        files = [lib / f for f in owner[pkg]]
        if pkg == "python3-light":  # python3-base's files are merged in, and its interpreter
            files.append(prefix / "bin" / f"python{rel.pyenv_minor}")
    elif pkg in (rel.libpython, "libpython3"):
        files = [prefix / "lib" / f"libpython{rel.pyenv_minor}.so.1.0"]
    elif pkg == "python3-pluggy":
        base = unpacked_wheel("pluggy", rel.pluggy)
        files = sorted((base / "pluggy").rglob("*.py"))
    else:
        return None
    tag = f"cpython-{rel.pyenv_minor.replace('.', '')}"
    inst = comp = 0
    for f in files:
        a, b = _file_cost(f, tag)
        inst += a
        comp += b
    return inst, comp


def report(out_dir: Path, built: Mapping[str, Iterable[Path]]) -> dict[str, Any]:
    """The report as JSON-able data: release -> install set -> sizes and packages."""
    result: dict[str, Any] = {
        "note": (
            "bytes; compressed = gzip -6 per file (ours: the .ipk files); OpenWrt python3-* "
            "modelled from the pyenv CPython standing in (x86_64, stripped); native "
            "libraries and kmods listed in not_counted"
        ),
        "releases": {},
    }
    for branch, paths in built.items():
        rel = release(branch)
        ours: dict[str, tuple[int, int, list[str]]] = {}
        for path in paths:
            ours[path.name.split("_", 1)[0]] = _ipk_sizes(path)
        # libpython3-X.Y (the ABI our .pyc need) is OpenWrt's libpython3 package
        extra = {n: ["libpython3" if d == rel.libpython else d for d in deps]
                 for n, (_, _, deps) in ours.items()}  # fmt: skip
        sets: dict[str, Any] = {}
        for set_name, want in INSTALL_SETS.items():
            pkgs = closure(rel, want, extra)
            rows: dict[str, Any] = {}
            skipped = []
            for pkg in pkgs:
                if pkg in ours:
                    inst, comp, _ = ours[pkg]
                else:
                    sizes = _modelled(rel, pkg)
                    if sizes is None:
                        skipped.append(pkg)
                        continue
                    inst, comp = sizes
                rows[pkg] = {"installed": inst, "compressed": comp}
            sets[set_name] = {
                "installed": sum(r["installed"] for r in rows.values()),
                "compressed": sum(r["compressed"] for r in rows.values()),
                "packages": rows,
                "not_counted": sorted(p for p in skipped if p != "python3-base"),
            }
        result["releases"][branch] = {
            "python": rel.python,
            "interpreter_used": rel.pyenv_minor + (" (standing in)" if rel.stand_in else ""),
            "pluggy": rel.pluggy,
            "pyroute2": rel.pyroute2,
            "sets": sets,
        }
    return result


def table(rep: Mapping[str, Any]) -> str:
    """The report as a plain-text table (MB = 2^20 bytes)."""
    lines = [f"{'release':<15} {'install set':<50} {'installed':>10} {'compressed':>11}"]
    for branch, data in rep["releases"].items():
        for set_name, row in data["sets"].items():
            lines.append(
                f"{branch:<15} {set_name:<50} {row['installed'] / 2**20:>8.2f}MB "
                f"{row['compressed'] / 2**20:>9.2f}MB"
            )
    return "\n".join(lines)
