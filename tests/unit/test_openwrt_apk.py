"""apk v3 packages: the structure apk-v3(5)/apk-package(5) describe, read back independently."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import pytest

from openwrt.tools import apk
from openwrt.tools.feed import LICENSE, MAIN, feed_packages, package_version
from tests.conftest import ROOT

EPOCH = 1_700_000_000


class Adb:
    """A reader of the ADB payload written for this test from the format description."""

    def __init__(self, payload: bytes) -> None:
        self.p = payload
        assert payload[0] == 0 and payload[1] == 0  # compat version 0, version 0
        self.root = struct.unpack_from("<I", payload, 4)[0]

    def value(self, tag: int) -> Any:
        kind, off = tag & 0xF0000000, tag & 0x0FFFFFFF
        if tag == 0:
            return None
        if kind == 0x10000000:
            return off
        if kind == 0x20000000:
            assert off % 4 == 0
            return struct.unpack_from("<I", self.p, off)[0]
        if kind == 0x30000000:
            assert off % 4 == 0
            return struct.unpack_from("<Q", self.p, off)[0]
        if kind in (0x80000000, 0x90000000, 0xA0000000):
            width = {0x80000000: 1, 0x90000000: 2, 0xA0000000: 4}[kind]
            assert off % width == 0
            (n,) = struct.unpack_from({1: "<B", 2: "<H", 4: "<I"}[width], self.p, off)
            assert n > 0
            return self.p[off + width : off + width + n]
        if kind in (0xD0000000, 0xE0000000):
            assert off % 4 == 0
            (count,) = struct.unpack_from("<I", self.p, off)
            slots = struct.unpack_from(f"<{count - 1}I", self.p, off + 4)
            assert count > 1 and slots[-1] != 0  # trailing nulls are dropped
            if kind == 0xD0000000:
                return [self.value(s) for s in slots]
            return {i: self.value(s) for i, s in enumerate(slots, start=1) if s}
        raise AssertionError(f"unknown tag {tag:#x}")


def _blocks(blob: bytes) -> list[tuple[int, bytes]]:
    magic, schema = struct.unpack_from("<II", blob, 0)
    assert blob[:4] == b"ADB." and magic == 0x2E424441
    assert blob[4:8] == b"pckg" and schema == 0x676B6370
    out, pos = [], 8
    while pos < len(blob):
        assert pos % 8 == 0
        (word,) = struct.unpack_from("<I", blob, pos)
        kind, size = word >> 30, word & 0x3FFFFFFF
        out.append((kind, blob[pos + 4 : pos + size]))
        pos += size + (-size % 8)
        assert blob[pos - (-size % 8) : pos] == b"\0" * (-size % 8)
    assert pos == len(blob)
    return out


@pytest.fixture(scope="module")
def built() -> dict[str, bytes]:
    version = package_version(ROOT)
    return {pkg.name: apk.build_apk(pkg, version, EPOCH) for pkg in feed_packages(ROOT)}


def test_every_package_reads_back_with_its_metadata_files_and_scripts(
    built: dict[str, bytes],
) -> None:
    version = package_version(ROOT)
    for pkg in feed_packages(ROOT):
        blocks = _blocks(built[pkg.name])
        assert blocks[0][0] == 0 and all(kind == 2 for kind, _ in blocks[1:])  # ADB, then DATA
        payload = blocks[0][1]
        adb = Adb(payload)
        root = adb.value(adb.root)
        info, paths, scripts = root[1], root[2], root[3]
        assert info[1] == pkg.name.encode() and info[2] == version.encode()
        assert info[5] == b"noarch" and info[6] == LICENSE.encode() and info[7] == b"mag-ap"
        assert info[4] and info[9].startswith(b"https://")
        assert [d[1] for d in info.get(15, [])] == sorted(n.encode() for n in pkg.depends)
        # unique id: the first 20 bytes of the SHA-256 of the payload with zeros in it
        uid = info[3]
        at = payload.index(uid)
        zeroed = payload[:at] + bytes(len(uid)) + payload[at + len(uid) :]
        assert uid == hashlib.sha256(zeroed).digest()[:20]
        # directories: root first (no name), then in name order; files and modes
        names = [d.get(1, b"").decode() for d in paths]
        assert names[0] == "" and names == sorted(names)
        data = {struct.unpack_from("<II", p): p[8:] for _, p in blocks[1:]}
        files: dict[str, int] = {}
        total = 0
        for d_index, directory in enumerate(paths, start=1):
            assert directory[2] == {1: 0o755, 2: b"root", 3: b"root"}
            for f_index, entry in enumerate(directory.get(3, []), start=1):
                path = "/" + "/".join(x for x in (names[d_index - 1], entry[1].decode()) if x)
                files[path] = entry[2][1]
                assert (entry[2][2], entry[2][3]) == (b"root", b"root")
                assert entry[4] == EPOCH
                content = data.pop((d_index, f_index), b"")
                assert len(content) == entry.get(3, 0)
                assert entry[5] == hashlib.sha256(content).digest()
                total += len(content)
        assert not data  # every DATA block belongs to a file
        assert files == {f.dest: f.mode for f in pkg.files}  # the .ipk's payload
        assert info[12] == max(total, 1)
        assert b"default_postinst" in scripts[3] and b"default_prerm" in scripts[4]
        assert scripts[7] == scripts[3]  # post-upgrade runs the post-install work too


def test_main_package_ships_the_init_config_and_keeps_the_config_path(
    built: dict[str, bytes],
) -> None:
    adb = Adb(_blocks(built[MAIN])[0][1])
    paths = adb.value(adb.root)[2]
    by_dir = {d.get(1, b"").decode(): {f[1].decode(): f[2][1] for f in d.get(3, [])}
              for d in paths}  # fmt: skip
    assert by_dir["etc/config"]["mag-ap"] == 0o600  # under /etc: apk keeps an edited one
    assert by_dir["etc/init.d"]["mag-ap"] == 0o755
    assert "mag-ap" in by_dir["usr/libexec/rpcd"]


def test_byte_reproducible(tmp_path: Path) -> None:
    first = apk.build_all(tmp_path / "a", mtime=EPOCH)
    second = apk.build_all(tmp_path / "b", mtime=EPOCH)
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    assert first[0].name == f"{MAIN}-{package_version(ROOT)}.apk"
    other = apk.build_apk(feed_packages(ROOT)[0], package_version(ROOT), EPOCH + 1)
    assert other != first[0].read_bytes()


def test_values_use_the_smallest_encoding() -> None:
    w = apk.AdbWriter()
    assert w.integer(5) == 0x10000005
    assert w.integer(0x10000000) >> 28 == 0x2 and w.integer(1 << 40) >> 28 == 0x3
    assert w.blob(b"") == 0 and w.blob(b"x") >> 28 == 0x8
    assert w.blob(b"x" * 300) >> 28 == 0x9 and w.blob(b"x" * 70000) >> 28 == 0xA
    assert w.obj({}) == 0 and w.obj({3: 0}) == 0 and w.array([]) == 0
    tag = w.obj({2: w.integer(7)})
    assert Adb(bytes(w.buf)).value(tag) == {2: 7}
