"""Build the feed's ``.ipk`` files without the OpenWrt SDK, byte for byte reproducibly.

An ``.ipk`` (opkg, OpenWrt up to 24.10) is a gzip tar of ``./debian-binary``
(``2.0``), ``./control.tar.gz`` and ``./data.tar.gz``. Every tar here is GNU
format with sorted names, numeric owner 0/0, no user names, one fixed mtime
(``SOURCE_DATE_EPOCH``, else the last commit time) and gzip headers without
name or time, so the same sources give the same bytes.

``python -m openwrt.tools.ipk -o build/ipk`` (``make ipk``) writes
``<package>_<version>_all.ipk`` for every package of :mod:`.feed`.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from . import footprint
from .feed import (
    MAIN,
    ROOT,
    SECTION,
    FeedPackage,
    feed_packages,
    package_version,
    vendored_packages,
)
from .releases import Release, interpreter, releases

SOURCE: Final = "feeds/magap/net/mag-ap"  # where the SDK would have found the Makefile

# Scripts opkg runs: OpenWrt's default_postinst runs the package's uci-defaults and
# enables its init script; default_prerm stops and disables it.
POSTINST: Final = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
"""
PRERM: Final = """#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
"""


@dataclass(frozen=True)
class Entry:
    """One tar member: a directory when ``data`` is None."""

    name: str  # "./usr/bin/mag-ap"
    data: bytes | None
    mode: int


def _gzip(raw: bytes) -> bytes:
    """gzip with no file name and mtime 0 (``gzip -n``): the output depends on ``raw`` only."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def tar_gz(entries: Iterable[Entry], mtime: int) -> bytes:
    """A gzip'd GNU tar of ``entries`` in name order, owners 0/0, every mtime ``mtime``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.name):
            info = tarfile.TarInfo(entry.name)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = entry.mode
            if entry.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return _gzip(buf.getvalue())


def data_entries(pkg: FeedPackage, compiled: Mapping[str, bytes] | None = None) -> list[Entry]:
    """Files of the package plus every parent directory (``./`` included).

    ``compiled``: destination of a ``.py`` -> its ``.pyc`` bytes; such a file is
    shipped as ``.pyc`` in its place (sourceless, as OpenWrt's python3 packages).
    """
    entries: dict[str, Entry] = {"./": Entry("./", None, 0o755)}
    for item in pkg.files:
        dest = item.dest
        data = compiled.get(dest) if compiled is not None else None
        if data is not None:
            dest = dest[: -len(".py")] + ".pyc"
        path = PurePosixPath(dest)
        for parent in list(path.parents)[:-1]:
            name = f".{parent}/"
            entries.setdefault(name, Entry(name, None, 0o755))
        blob = data if data is not None else item.source.read_bytes()
        entries[f".{path}"] = Entry(f".{path}", blob, item.mode)
    return list(entries.values())


# Run by the release's interpreter: compiles each .py to an unchecked-hash .pyc (PEP 552)
# without docstrings. Docstrings are dropped from the AST (module, class, function
# bodies), not with optimize=2: that would also drop asserts and set __debug__, and
# OpenWrt's python runs without -O. Nothing shipped reads a docstring at run time
# (argparse texts are literals; pluggy reads none; pyroute2 only for its own CLI help).
# Decorated classes keep their name as docstring (dataclasses would compute one).
_COMPILE = """\
import ast, importlib._bootstrap_external as be, importlib.util, pathlib, sys

def strip(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \\
                    and isinstance(body[0].value.value, str):
                if isinstance(node, ast.ClassDef) and node.decorator_list:
                    # a @dataclass without __doc__ builds one with inspect.signature at
                    # import: a 1 ms start-up cost per class; the class name is enough
                    body[0].value.value = node.name
                    continue
                node.body = body[1:] or [ast.Pass(lineno=body[0].lineno, col_offset=0)]
    return tree

base = pathlib.Path(sys.argv[1])
for src in sorted(base.rglob('*.py')):
    dest = '/' + src.relative_to(base).as_posix()
    source = src.read_bytes()
    code = compile(strip(ast.parse(source, dest)), dest, 'exec', dont_inherit=True)
    pyc = be._code_to_hash_pyc(code, importlib.util.source_hash(source), False)
    pathlib.Path(str(src) + 'c').write_bytes(pyc)
"""


def compile_payload(packages: Iterable[FeedPackage], python: Path) -> dict[str, bytes]:
    """``.pyc`` of every shipped module (not /usr/bin scripts), compiled by ``python``.

    Unchecked-hash pycs (PEP 552): reproducible and never rechecked or rewritten on the
    AP; the code objects name the installed path, so tracebacks read as on the device.
    Docstrings are left out (``_COMPILE``: 14 % of the compressed size), and so are
    the column tables of PEP 657 (-X no_debug_ranges: another 20 %).
    """
    items = [f for pkg in packages for f in pkg.files
             if f.dest.endswith(".py") and not f.dest.startswith("/usr/bin/")]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mag-ap-pyc-") as tmp:
        base = Path(tmp)
        for item in items:
            target = base / item.dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.source.read_bytes())
        # no_debug_ranges: no column tables in the code objects (PEP 657), a quarter of
        # a .pyc; tracebacks then show lines without the ^^^ markers
        subprocess.run(
            [str(python), "-I", "-X", "no_debug_ranges", "-c", _COMPILE, str(base)], check=True
        )
        return {item.dest: (base / (item.dest.lstrip("/") + "c")).read_bytes() for item in items}


def control_text(pkg: FeedPackage, version: str, installed_size: int) -> str:
    """The ``control`` file (opkg reads RFC 822 style fields)."""
    lines = [
        f"Package: {pkg.name}",
        f"Version: {version}",
        f"Depends: {', '.join(pkg.depends)}",
        f"Source: {SOURCE}",
        f"License: {pkg.license}",
        f"Section: {SECTION}",
        "Architecture: all",
        f"Installed-Size: {installed_size}",
    ]
    first, *rest = pkg.description.splitlines() or [pkg.title]
    lines.append(f"Description: {first}")
    lines += [f" {line}" if line else " ." for line in rest]
    return "\n".join(lines) + "\n"


def build_ipk(
    pkg: FeedPackage, version: str, mtime: int, compiled: Mapping[str, bytes] | None = None
) -> bytes:
    """The ``.ipk`` bytes of one package (``.pyc`` in place of ``.py`` per ``compiled``)."""
    data = data_entries(pkg, compiled)
    installed_size = sum(len(e.data) for e in data if e.data is not None)
    control = [
        Entry("./", None, 0o755),
        Entry("./control", control_text(pkg, version, installed_size).encode(), 0o644),
    ]
    if pkg.name.startswith(MAIN):
        control += [
            Entry("./postinst", POSTINST.encode(), 0o755),
            Entry("./prerm", PRERM.encode(), 0o755),
        ]
    if pkg.conffiles:
        text = "".join(f"{path}\n" for path in pkg.conffiles)
        control.append(Entry("./conffiles", text.encode(), 0o644))
    outer = [
        Entry("./debian-binary", b"2.0\n", 0o644),
        Entry("./control.tar.gz", tar_gz(control, mtime), 0o644),
        Entry("./data.tar.gz", tar_gz(data, mtime), 0o644),
    ]
    return tar_gz(outer, mtime)


def ipk_name(pkg: FeedPackage, version: str) -> str:
    return f"{pkg.name}_{version}_all.ipk"


def source_date_epoch(root: Path = ROOT) -> int:
    """``SOURCE_DATE_EPOCH`` if set, else the last commit's time, else 0."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return int(env)
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%ct"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 0


def release_packages(rel: Release, root: Path = ROOT) -> list[FeedPackage]:
    """Everything the feed builds for one release: ours, then the third-party ones."""
    return [*feed_packages(root, rel), *vendored_packages(rel)]


def write_release(
    rel: Release,
    out_dir: Path,
    suffix: str,
    name: Callable[[FeedPackage, str], str],
    build: Callable[[FeedPackage, str, int, Mapping[str, bytes]], bytes],
    *,
    root: Path = ROOT,
    mtime: int = 0,
) -> list[Path]:
    """``out_dir/<release>/*<suffix>``: one release's packages, ``.pyc`` for its Python.

    Shared by the .ipk and .apk builders: only the file name and the archive differ.
    """
    version = package_version(root)
    pkgs = release_packages(rel, root)
    compiled = compile_payload(pkgs, interpreter(rel))
    dest = out_dir / rel.branch
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob(f"*{suffix}"):
        old.unlink()
    written = []
    for pkg in pkgs:
        path = dest / name(pkg, pkg.version or version)
        path.write_bytes(build(pkg, pkg.version or version, mtime, compiled))
        written.append(path)
    return written


def build_release(rel: Release, out_dir: Path, root: Path = ROOT, mtime: int = 0) -> list[Path]:
    """``out_dir/<release>/*.ipk``: the release's packages with ``.pyc`` for its Python."""
    return write_release(rel, out_dir, ".ipk", ipk_name, build_ipk, root=root, mtime=mtime)


def build_all(
    out_dir: Path, root: Path = ROOT, mtime: int | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, list[Path]]:  # fmt: skip
    """Build every release (or ``only`` those); returns release -> paths."""
    when = source_date_epoch(root) if mtime is None else mtime
    wanted = set(only) if only is not None else None
    return {
        rel.branch: build_release(rel, out_dir, root, when)
        for rel in releases()
        if wanted is None or rel.branch in wanted
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openwrt.tools.ipk",
        description="build the feed's .ipk files per OpenWrt release, and the footprint report",
    )
    parser.add_argument("-o", "--out", default="build/ipk", help="output directory")
    parser.add_argument("--release", action="append", help="only this release (repeatable)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    built = build_all(out, only=args.release)
    for paths in built.values():
        for path in paths:
            print(f"{path}  {path.stat().st_size} bytes")
    report = footprint.report(out, built)
    (out / "footprint.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(footprint.table(report))
    print(f"wrote {out / 'footprint.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
