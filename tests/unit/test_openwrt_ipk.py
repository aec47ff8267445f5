"""`make ipk`: the .ipk files unpack to exactly the expected files, parse, and are reproducible."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from openwrt.tools import feed, ipk
from openwrt.tools.feed import MAIN, feed_packages, package_version
from tests.conftest import ROOT

EPOCH = 1_700_000_000


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
    """`make ipk` into a temporary directory, with a fixed SOURCE_DATE_EPOCH."""
    out = tmp_path_factory.mktemp("ipk")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    subprocess.run(
        ["make", "-s", "ipk", f"IPK_DIR={out}"], cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.ipk"))}


def test_one_ipk_per_package(built: dict[str, bytes]) -> None:
    version = package_version(ROOT)
    assert version.endswith("-r1")
    assert set(built) == {f"{p.name}_{version}_all.ipk" for p in feed_packages(ROOT)}
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


def test_data_unpacks_to_exactly_the_expected_files(built: dict[str, bytes]) -> None:
    version = package_version(ROOT)
    for pkg in feed_packages(ROOT):
        data = _members(_members(built[ipk.ipk_name(pkg, version)])["./data.tar.gz"][1] or b"")
        files = {name for name, (info, _) in data.items() if info.isfile()}
        assert files == {f".{p.dest}" for p in pkg.files}
        names = list(data)
        assert names == sorted(names)
        for name, (info, content) in data.items():
            assert info.mtime == EPOCH and info.uid == 0 and info.gid == 0
            if info.isfile():
                assert not name.endswith((".pyc", ".pyo")) and "__pycache__" not in name
                assert name.startswith(("./usr/lib/mag-ap/", "./usr/", "./etc/", "./lib/upgrade/"))
                assert content is not None
        for module in pkg.modules:
            top = Path(module).name
            assert any(f.startswith(f"./usr/lib/mag-ap/{top}/") for f in files), top
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
    assert "./usr/lib/mag-ap/mag_ap_localpolicy/_policy.py" in main


def test_control_data_parses(built: dict[str, bytes]) -> None:
    version = package_version(ROOT)
    for pkg in feed_packages(ROOT):
        outer = _members(built[ipk.ipk_name(pkg, version)])
        control = _members(outer["./control.tar.gz"][1] or b"")
        fields = _control_fields((control["./control"][1] or b"").decode())
        assert list(fields) == [
            "Package", "Version", "Depends", "Source", "License", "Section",
            "Architecture", "Installed-Size", "Description",
        ]  # fmt: skip
        assert fields["Package"] == pkg.name
        assert fields["Version"] == version
        assert fields["Depends"].split(", ") == list(pkg.depends)
        assert fields["Architecture"] == "all"
        assert fields["License"] == feed.LICENSE
        assert fields["Section"] == "net"
        data = _members(outer["./data.tar.gz"][1] or b"")
        assert int(fields["Installed-Size"]) == sum(
            len(c) for i, c in data.values() if c is not None and i.isfile()
        )
        for script in ("./postinst", "./prerm"):
            info, body = control[script]
            assert info.mode == 0o755
            assert b'. "${IPKG_INSTROOT}/lib/functions.sh"' in (body or b"")
        assert b"default_postinst" in (control["./postinst"][1] or b"")
        assert b"default_prerm" in (control["./prerm"][1] or b"")
        if pkg.name == MAIN:
            assert control["./conffiles"][1] == b"/etc/config/mag-ap\n"
            assert "python3-pluggy" in fields["Depends"]
        else:
            assert "./conffiles" not in control
            assert fields["Depends"].startswith(MAIN)


def test_postinst_scripts_are_valid_shell() -> None:
    for text in (ipk.POSTINST, ipk.PRERM):
        subprocess.run(["sh", "-n"], input=text.encode(), check=True)


def test_build_is_byte_reproducible(tmp_path: Path, built: dict[str, bytes]) -> None:
    again = ipk.build_all(tmp_path / "a", ROOT, mtime=EPOCH)
    assert {p.name: p.read_bytes() for p in again} == built
    other = {p.name: p.read_bytes() for p in ipk.build_all(tmp_path / "b", ROOT, mtime=EPOCH + 1)}
    assert other != built  # the mtime is really in the archive: the equality above means something


def test_gzip_ignores_wall_clock() -> None:
    raw = b"x" * 1000
    assert ipk._gzip(raw) == ipk._gzip(raw)
    assert gzip.decompress(ipk._gzip(raw)) == raw


def test_source_date_epoch_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234")
    assert ipk.source_date_epoch(ROOT) == 1234
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert ipk.source_date_epoch(ROOT) > 1_600_000_000  # the last commit
