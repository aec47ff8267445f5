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
import os
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from .feed import LICENSE, ROOT, SECTION, FeedPackage, feed_packages, package_version

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


def data_entries(pkg: FeedPackage) -> list[Entry]:
    """Files of the package plus every parent directory (``./`` included)."""
    entries: dict[str, Entry] = {"./": Entry("./", None, 0o755)}
    for item in pkg.files:
        path = PurePosixPath(item.dest)
        for parent in list(path.parents)[:-1]:
            name = f".{parent}/"
            entries.setdefault(name, Entry(name, None, 0o755))
        entries[f".{path}"] = Entry(f".{path}", item.source.read_bytes(), item.mode)
    return list(entries.values())


def control_text(pkg: FeedPackage, version: str, installed_size: int) -> str:
    """The ``control`` file (opkg reads RFC 822 style fields)."""
    lines = [
        f"Package: {pkg.name}",
        f"Version: {version}",
        f"Depends: {', '.join(pkg.depends)}",
        f"Source: {SOURCE}",
        f"License: {LICENSE}",
        f"Section: {SECTION}",
        "Architecture: all",
        f"Installed-Size: {installed_size}",
    ]
    first, *rest = pkg.description.splitlines() or [pkg.title]
    lines.append(f"Description: {first}")
    lines += [f" {line}" if line else " ." for line in rest]
    return "\n".join(lines) + "\n"


def build_ipk(pkg: FeedPackage, version: str, mtime: int) -> bytes:
    """The ``.ipk`` bytes of one package."""
    data = data_entries(pkg)
    installed_size = sum(len(e.data) for e in data if e.data is not None)
    control = [
        Entry("./", None, 0o755),
        Entry("./control", control_text(pkg, version, installed_size).encode(), 0o644),
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


def build_all(out_dir: Path, root: Path = ROOT, mtime: int | None = None) -> list[Path]:
    """Write every package of the feed to ``out_dir``; returns the paths."""
    when = source_date_epoch(root) if mtime is None else mtime
    version = package_version(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pkg in feed_packages(root):
        path = out_dir / ipk_name(pkg, version)
        path.write_bytes(build_ipk(pkg, version, when))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openwrt.tools.ipk", description="build the feed's .ipk files"
    )
    parser.add_argument("-o", "--out", default="build/ipk", help="output directory")
    args = parser.parse_args(argv)
    for path in build_all(Path(args.out)):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
