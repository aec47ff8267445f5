"""Build the feed's apk v3 packages (OpenWrt 25.x and master) without apk-tools, reproducibly.

The format is apk-tools' "adb" (apk-v3(5), apk-package(5)); what ``apk mkpkg``
writes, written here from the format description:

- file header: magic ``ADB.`` (u32 LE 0x2e424441, uncompressed) and the schema
  ``pckg`` (0x676b6370);
- blocks: a u32 LE ``type << 30 | (4 + payload length)``, the payload, zero
  padding to 8 bytes. One ADB block (type 0) with the metadata, then one DATA
  block (type 2) per non-empty regular file: u32 path index, u32 file index
  (1-based, into the ``paths`` array and that directory's ``files``), the bytes.
  No SIG block: packages are unsigned, as from ``apk mkpkg`` without a key
  (the repository index carries the signature);
- the ADB payload: a header (compat version 0, version 0, reserved, the root
  value) followed by values. A value is a u32 LE tag, type in the high 4 bits:
  0x1 int (direct, < 2**28), 0x2 int32 / 0x3 int64 (at an offset, aligned 4),
  0x8/0x9/0xa blob with a 1/2/4-byte length (aligned 1/2/4), 0xd array and
  0xe object (u32 slots at an offset, aligned 4: slot 0 the slot count, then
  fields 1..n, trailing nulls dropped). An empty blob or object is null (0);
- the package object: 1 pkginfo, 2 paths, 3 scripts. pkginfo: 1 name,
  2 version, 3 hashes (the unique id: the first 20 bytes of the SHA-256 of the
  ADB payload written with zeros there), 4 description, 5 arch, 6 license,
  7 origin, 8 maintainer, 9 url, 12 installed size, 15 depends, 16 provides
  (arrays of dependency objects: 1 name). A directory: 1 name (relative, the
  root has none), 2 acl, 3 files; a file: 1 name, 2 acl, 3 size, 4 mtime,
  5 hashes (SHA-256 of the contents); an acl: 1 mode, 2 user, 3 group.
  Scripts: 3 post-install, 4 pre-deinstall, 7 post-upgrade.

Same sources, same bytes: fixed mtime (``SOURCE_DATE_EPOCH``, else the last
commit), owners root:root, directories and files in name order.
``python -m openwrt.tools.apk -o build/apk`` (``make apk``) writes
``<package>-<version>.apk`` for every package of :mod:`.feed`.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from .feed import ROOT, FeedPackage, feed_packages, package_version
from .ipk import source_date_epoch, write_release
from .releases import Release, release

MAGIC: Final = 0x2E424441  # "ADB."
SCHEMA_PACKAGE: Final = 0x676B6370  # "pckg"
BLOCK_ADB: Final = 0
BLOCK_DATA: Final = 2
BLOCK_ALIGNMENT: Final = 8

T_INT: Final = 0x10000000
T_INT32: Final = 0x20000000
T_INT64: Final = 0x30000000
T_BLOB8: Final = 0x80000000
T_BLOB16: Final = 0x90000000
T_BLOB32: Final = 0xA0000000
T_ARRAY: Final = 0xD0000000
T_OBJECT: Final = 0xE0000000
NULL: Final = 0

PKG_PKGINFO, PKG_PATHS, PKG_SCRIPTS = 1, 2, 3
PI_NAME, PI_VERSION, PI_HASHES, PI_DESCRIPTION, PI_ARCH = 1, 2, 3, 4, 5
PI_LICENSE, PI_ORIGIN, PI_MAINTAINER, PI_URL = 6, 7, 8, 9
PI_INSTALLED_SIZE, PI_DEPENDS, PI_PROVIDES = 12, 15, 16
DEP_NAME: Final = 1
DI_NAME, DI_ACL, DI_FILES = 1, 2, 3
FI_NAME, FI_ACL, FI_SIZE, FI_MTIME, FI_HASHES = 1, 2, 3, 4, 5
ACL_MODE, ACL_USER, ACL_GROUP = 1, 2, 3
SCRPT_POSTINST, SCRPT_PREDEINST, SCRPT_POSTUPGRADE = 3, 4, 7
UID_LEN: Final = 20  # the unique id has a SHA-1's length, filled from a SHA-256

ARCH: Final = "noarch"  # OpenWrt's apk name for PKGARCH:=all
ORIGIN: Final = "mag-ap"
MAINTAINER: Final = "mag-ap developers"
URL: Final = "https://example.invalid/mag-ap"

# What OpenWrt's apk packages run: default_postinst after install and upgrade
# (uci-defaults, enable the init script), default_prerm before removal.
POST_INSTALL: Final = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
export root="${IPKG_INSTROOT}"
export pkgname="%s"
default_postinst
"""
PRE_DEINSTALL: Final = """#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
export root="${IPKG_INSTROOT}"
export pkgname="%s"
default_prerm
"""


@dataclass
class AdbWriter:
    """The ADB payload under construction: values appended, offsets from its start."""

    buf: bytearray = field(default_factory=lambda: bytearray(8))  # header: root at 4

    def _raw(self, data: bytes, align: int) -> int:
        self.buf += b"\0" * (-len(self.buf) % align)
        offset = len(self.buf)
        self.buf += data
        return offset

    def integer(self, value: int) -> int:
        if value < 0:
            raise ValueError("adb integers are unsigned")
        if value < 0x10000000:
            return T_INT | value
        if value < 1 << 32:
            return T_INT32 | self._raw(struct.pack("<I", value), 4)
        return T_INT64 | self._raw(struct.pack("<Q", value), 4)

    def blob(self, data: bytes) -> int:
        if not data:
            return NULL
        if len(data) <= 0xFF:
            return T_BLOB8 | self._raw(struct.pack("<B", len(data)) + data, 1)
        if len(data) <= 0xFFFF:
            return T_BLOB16 | self._raw(struct.pack("<H", len(data)) + data, 2)
        return T_BLOB32 | self._raw(struct.pack("<I", len(data)) + data, 4)

    def text(self, value: str) -> int:
        return self.blob(value.encode())

    def _slots(self, kind: int, values: list[int]) -> int:
        while values and values[-1] == NULL:
            values = values[:-1]
        if not values:
            return NULL
        data = struct.pack(f"<{len(values) + 1}I", len(values) + 1, *values)
        return kind | self._raw(data, 4)

    def obj(self, fields: dict[int, int]) -> int:
        """An object from field number -> value (missing fields are null)."""
        top = max(fields, default=0)
        return self._slots(T_OBJECT, [fields.get(i, NULL) for i in range(1, top + 1)])

    def array(self, items: list[int]) -> int:
        return self._slots(T_ARRAY, [v for v in items if v != NULL])

    def set_root(self, value: int) -> None:
        struct.pack_into("<I", self.buf, 4, value)


def block(kind: int, payload: bytes) -> bytes:
    """One block: header word, payload, zero padding to 8 bytes."""
    size = 4 + len(payload)
    if size > 0x3FFFFFFF:
        raise ValueError("payload too large for a short block header")
    raw = struct.pack("<I", (kind << 30) | size) + payload
    return raw + b"\0" * (-len(raw) % BLOCK_ALIGNMENT)


@dataclass(frozen=True)
class Tree:
    """The package's directories (relative, root "") and their files (name, bytes, mode)."""

    dirs: dict[str, list[tuple[str, bytes, int]]]


def package_tree(pkg: FeedPackage, compiled: Mapping[str, bytes] | None = None) -> Tree:
    """``compiled``: a ``.py``'s destination -> its ``.pyc``, shipped in its place."""
    dirs: dict[str, list[tuple[str, bytes, int]]] = {"": []}
    for item in pkg.files:
        pyc = compiled.get(item.dest) if compiled is not None else None
        dest = item.dest[: -len(".py")] + ".pyc" if pyc is not None else item.dest
        path = PurePosixPath(dest.lstrip("/"))
        for parent in reversed(path.parents[:-1]):
            dirs.setdefault(str(parent), [])
        dirs.setdefault(str(path.parent) if str(path.parent) != "." else "", []).append(
            (path.name, pyc if pyc is not None else item.source.read_bytes(), item.mode)
        )
    ordered = {name: sorted(dirs[name]) for name in sorted(dirs)}
    return Tree(ordered)


def _acl(w: AdbWriter, mode: int) -> int:
    return w.obj({ACL_MODE: w.integer(mode), ACL_USER: w.text("root"), ACL_GROUP: w.text("root")})


def _deps(w: AdbWriter, names: tuple[str, ...] | list[str]) -> int:
    return w.array([w.obj({DEP_NAME: w.text(n)}) for n in sorted(set(names))])


def build_apk(
    pkg: FeedPackage, version: str, mtime: int, compiled: Mapping[str, bytes] | None = None
) -> bytes:
    """The ``.apk`` bytes of one package (``.pyc`` in place of ``.py`` per ``compiled``)."""
    tree = package_tree(pkg, compiled)
    w = AdbWriter()
    paths = []
    data_blocks = []
    installed = 0
    for d_index, (dirname, files) in enumerate(tree.dirs.items(), start=1):
        entries = []
        for f_index, (name, data, mode) in enumerate(files, start=1):
            installed += len(data)
            entries.append(
                w.obj(
                    {
                        FI_NAME: w.text(name),
                        FI_ACL: _acl(w, mode),
                        FI_SIZE: w.integer(len(data)),
                        FI_MTIME: w.integer(mtime),
                        FI_HASHES: w.blob(hashlib.sha256(data).digest()),
                    }
                )
            )
            if data:
                data_blocks.append(block(BLOCK_DATA, struct.pack("<II", d_index, f_index) + data))
        paths.append(
            w.obj({DI_NAME: w.text(dirname), DI_ACL: _acl(w, 0o755), DI_FILES: w.array(entries)})
        )
    description = " ".join(pkg.description.split()) or pkg.title
    uid = w._raw(bytes([UID_LEN]) + bytes(UID_LEN), 1)  # a blob8 of zeros, filled in below
    info = w.obj({
        PI_NAME: w.text(pkg.name),
        PI_VERSION: w.text(version),
        PI_HASHES: T_BLOB8 | uid,
        PI_DESCRIPTION: w.text(description),
        PI_ARCH: w.text(ARCH),
        PI_LICENSE: w.text(pkg.license),
        PI_ORIGIN: w.text(ORIGIN),
        PI_MAINTAINER: w.text(MAINTAINER),
        PI_URL: w.text(URL),
        PI_INSTALLED_SIZE: w.integer(max(installed, 1)),
        PI_DEPENDS: _deps(w, pkg.depends),
        PI_PROVIDES: NULL,
    })  # fmt: skip
    scripts = w.obj({
        SCRPT_POSTINST: w.text(POST_INSTALL % pkg.name),
        SCRPT_PREDEINST: w.text(PRE_DEINSTALL % pkg.name),
        SCRPT_POSTUPGRADE: w.text(POST_INSTALL % pkg.name),
    })  # fmt: skip
    w.set_root(w.obj({PKG_PKGINFO: info, PKG_PATHS: w.array(paths), PKG_SCRIPTS: scripts}))
    digest = hashlib.sha256(bytes(w.buf)).digest()
    w.buf[uid + 1 : uid + 1 + UID_LEN] = digest[:UID_LEN]
    header = struct.pack("<II", MAGIC, SCHEMA_PACKAGE)
    return header + block(BLOCK_ADB, bytes(w.buf)) + b"".join(data_blocks)


def apk_name(pkg: FeedPackage, version: str) -> str:
    return f"{pkg.name}-{version}.apk"


def build_all(out_dir: Path, root: Path = ROOT, mtime: int | None = None) -> list[Path]:
    """Every package of the feed, sources only, into ``out_dir`` (see build_release)."""
    when = source_date_epoch(root) if mtime is None else mtime
    version = package_version(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pkg in feed_packages(root):
        path = out_dir / apk_name(pkg, version)
        path.write_bytes(build_apk(pkg, version, when))
        written.append(path)
    return written


def build_release(rel: Release, out_dir: Path, root: Path = ROOT, mtime: int = 0) -> list[Path]:
    """``out_dir/<release>/*.apk``: the release's packages with ``.pyc`` for its Python."""
    return write_release(rel, out_dir, ".apk", apk_name, build_apk, root=root, mtime=mtime)


APK_RELEASES: Final = ("openwrt-25.12", "master")  # the releases whose opkg is apk v3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openwrt.tools.apk", description="build the feed's apk v3 packages"
    )
    parser.add_argument("-o", "--out", default="build/apk", help="output directory")
    parser.add_argument("--release", action="append", help="only this release (repeatable)")
    args = parser.parse_args(argv)
    when = source_date_epoch(ROOT)
    for branch in args.release or APK_RELEASES:
        for path in build_release(release(branch), Path(args.out), ROOT, when):
            print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
