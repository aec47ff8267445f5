"""`make ipk`: per-release .ipk files unpack to exactly the expected files (.pyc for the
release's Python, no .py), parse, and are reproducible. Built for openwrt-24.10 here (pyenv
CPython 3.11); tests/netns/test_openwrt_matrix.py installs and runs every release's."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from openwrt.tools import feed, ipk
from openwrt.tools.feed import MAIN, package_version
from openwrt.tools.releases import interpreter, release
from tests.conftest import ROOT

EPOCH = 1_700_000_000
RELEASE = release("openwrt-24.10")


def _packages() -> list[feed.FeedPackage]:
    return ipk.release_packages(RELEASE, ROOT)


def _version(pkg: feed.FeedPackage) -> str:
    return pkg.version or package_version(ROOT)


def _members(blob: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    out: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info) if info.isfile() else None
            out[info.name] = (info, f.read() if f else None)
    return out


def _control_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith(" "):
            fields[key] += "\n" + line[1:]
        else:
            key, _, value = line.partition(": ")
            fields[key] = value
    return fields


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """`python -m openwrt.tools.ipk --release openwrt-24.10` (what `make ipk` runs per release)."""
    out = tmp_path_factory.mktemp("ipk")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    proc = subprocess.run(
        [sys.executable, "-m", "openwrt.tools.ipk", "-o", str(out), "--release", RELEASE.branch],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert "full MAG" in proc.stdout  # the footprint table is printed
    report = json.loads((out / "footprint.json").read_text())
    assert set(report["releases"]) == {RELEASE.branch}
    return {p.name: p.read_bytes() for p in sorted((out / RELEASE.branch).glob("*.ipk"))}


def test_one_ipk_per_package(built: dict[str, bytes]) -> None:
    assert package_version(ROOT).endswith("-r1")
    assert set(built) == {ipk.ipk_name(p, _version(p)) for p in _packages()}
    names = {p.name for p in _packages()}
    assert {"mag-ap-pyroute2", "python3-dnslib"} <= names
    for name, blob in sorted(built.items()):
        print(f"{name}: {len(blob)} bytes")  # reported package sizes (pytest -s)


def test_outer_archive_layout(built: dict[str, bytes]) -> None:
    for blob in built.values():
        assert blob[:2] == b"\x1f\x8b"
        assert blob[4:8] == b"\0\0\0\0"  # gzip mtime 0
        assert not blob[3] & 0x08  # no file name in the gzip header
        outer = _members(blob)
        assert list(outer) == ["./control.tar.gz", "./data.tar.gz", "./debian-binary"]
        assert outer["./debian-binary"][1] == b"2.0\n"
        for info, _ in outer.values():
            assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
            assert info.mtime == EPOCH


def _shipped(dest: str) -> str:
    """Where a payload file lands: modules as sourceless .pyc, scripts as they are."""
    if dest.endswith(".py") and not dest.startswith("/usr/bin/"):
        return f".{dest}c"
    return f".{dest}"


def test_data_unpacks_to_exactly_the_expected_files(built: dict[str, bytes]) -> None:
    magic = subprocess.run(
        [str(interpreter(RELEASE)), "-c",
         "import importlib.util,sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    for pkg in _packages():
        data = _members(
            _members(built[ipk.ipk_name(pkg, _version(pkg))])["./data.tar.gz"][1] or b""
        )
        files = {name for name, (info, _) in data.items() if info.isfile()}
        assert files == {_shipped(p.dest) for p in pkg.files}
        names = list(data)
        assert names == sorted(names)
        for name, (info, content) in data.items():
            assert info.mtime == EPOCH and info.uid == 0 and info.gid == 0
            if info.isfile():
                assert not name.endswith((".py", ".pyo")) or name.startswith("./usr/bin/")
                assert "__pycache__" not in name
                assert name.startswith(("./usr/lib/mag-ap/", "./usr/", "./etc/", "./lib/upgrade/"))
                assert content is not None
                if name.endswith(".pyc"):  # the release's Python, unchecked-hash (PEP 552)
                    assert content[:4] == magic and content[4:8] == b"\x01\0\0\0", name
        for module in pkg.modules:
            top = Path(module).name
            assert any(f.startswith(f"./usr/lib/mag-ap/{top}/") for f in files), top
    version = package_version(ROOT)
    main = _members(_members(built[f"{MAIN}_{version}_all.ipk"])["./data.tar.gz"][1] or b"")
    expected_fixed = {
        "./usr/bin/mag-ap": 0o755,
        "./etc/init.d/mag-ap": 0o755,
        "./etc/config/mag-ap": 0o600,
        "./etc/uci-defaults/90-mag-ap": 0o755,
        "./usr/libexec/mag-ap-setup": 0o755,
        "./usr/libexec/rpcd/mag-ap": 0o755,
        "./usr/share/rpcd/acl.d/mag-ap.json": 0o644,
        "./lib/upgrade/keep.d/mag-ap": 0o644,
    }
    for name, mode in expected_fixed.items():
        assert main[name][0].mode == mode, name
    left_out = ("./usr/lib/mag-ap/lab", "./usr/lib/mag-ap/openwrt/tools")
    assert not any(n.startswith(left_out) for n in main)
    assert "./usr/lib/mag-ap/mag_ap_localpolicy/_policy.pyc" in main


def test_control_data_parses(built: dict[str, bytes]) -> None:
    for pkg in _packages():
        outer = _members(built[ipk.ipk_name(pkg, _version(pkg))])
        control = _members(outer["./control.tar.gz"][1] or b"")
        fields = _control_fields((control["./control"][1] or b"").decode())
        assert list(fields) == [
            "Package", "Version", "Depends", "Source", "License", "Section",
            "Architecture", "Installed-Size", "Description",
        ]  # fmt: skip
        assert fields["Package"] == pkg.name
        assert fields["Version"] == _version(pkg)
        assert fields["Depends"].split(", ") == list(pkg.depends)
        assert fields["Architecture"] == "all"
        assert fields["License"] == pkg.license
        assert fields["Section"] == "net"
        data = _members(outer["./data.tar.gz"][1] or b"")
        assert int(fields["Installed-Size"]) == sum(
            len(c) for i, c in data.values() if c is not None and i.isfile()
        )
        if not pkg.name.startswith(MAIN) or pkg.name == "mag-ap-pyroute2":
            # third-party: compiled for this release's Python only
            assert RELEASE.libpython in pkg.depends
            continue
        for script in ("./postinst", "./prerm"):
            info, body = control[script]
            assert info.mode == 0o755
            assert b'. "${IPKG_INSTROOT}/lib/functions.sh"' in (body or b"")
        assert b"default_postinst" in (control["./postinst"][1] or b"")
        assert b"default_prerm" in (control["./prerm"][1] or b"")
        if pkg.name == MAIN:
            assert control["./conffiles"][1] == b"/etc/config/mag-ap\n"
            # .pyc for 3.11: not installable where libpython3 has another ABI
            assert RELEASE.libpython == "libpython3-3.11"
            for dep in ("python3-pluggy", RELEASE.libpython):
                assert dep in fields["Depends"].split(", ")
            # importlib.metadata (email) only for entry points: mag_ap/_pluggy.py; 3.11's
            # pathlib loads urllib.parse only for as_uri: mag_ap/__init__.py
            for dep in ("python3-email", "python3-urllib"):
                assert dep not in fields["Depends"].split(", ")
        else:
            assert "./conffiles" not in control
            assert fields["Depends"].startswith(MAIN)


def test_postinst_scripts_are_valid_shell() -> None:
    for text in (ipk.POSTINST, ipk.PRERM):
        subprocess.run(["sh", "-n"], input=text.encode(), check=True)


def test_build_is_byte_reproducible(tmp_path: Path, built: dict[str, bytes]) -> None:
    again = ipk.build_release(RELEASE, tmp_path / "a", ROOT, mtime=EPOCH)
    assert {p.name: p.read_bytes() for p in again} == built
    other = ipk.build_release(RELEASE, tmp_path / "b", ROOT, mtime=EPOCH + 1)
    # the mtime is really in the archive: the equality above means something
    assert {p.name: p.read_bytes() for p in other} != built


def test_gzip_ignores_wall_clock() -> None:
    raw = b"x" * 1000
    assert ipk._gzip(raw) == ipk._gzip(raw)
    assert gzip.decompress(ipk._gzip(raw)) == raw


def test_source_date_epoch_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234")
    assert ipk.source_date_epoch(ROOT) == 1234
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert ipk.source_date_epoch(ROOT) > 1_600_000_000  # the last commit
