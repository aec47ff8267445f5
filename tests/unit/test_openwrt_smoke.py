"""openwrt/qemu-smoke.sh refuses what cannot be an OpenWrt image before booting anything.

The boot-and-hang case (a boot sector with no OS) is in tests/vm/test_openwrt_vm.py.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from openwrt.tools.qemu_smoke import SmokeError, _image_copy, _payload_disk
from tests.conftest import ROOT


def _smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "openwrt/qemu-smoke.sh"), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bogus_files_fail_loudly(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.img"
    bogus.write_bytes(b"this is no disk image\n" * 200)
    out = _smoke(str(bogus), str(tmp_path))
    assert out.returncode == 1
    assert "qemu-smoke: FAILED:" in out.stderr and "no boot sector" in out.stderr
    out = _smoke(str(tmp_path / "absent.img"))
    assert out.returncode == 1 and "missing or too small" in out.stderr


def test_gzip_images_are_unpacked_and_checked(tmp_path: Path) -> None:
    disk = bytearray(4096)
    disk[510:512] = b"\x55\xaa"
    packed = tmp_path / "openwrt.img.gz"
    packed.write_bytes(gzip.compress(bytes(disk)) + b"trailing signature block")
    work = tmp_path / "work"
    work.mkdir()
    assert _image_copy(packed, work).read_bytes() == bytes(disk)
    broken = tmp_path / "broken.img.gz"
    broken.write_bytes(gzip.compress(bytes(range(256)) * 16))
    with pytest.raises(SmokeError, match="no boot sector"):
        _image_copy(broken, work)


def test_payload_disk_needs_ipk_files(tmp_path: Path) -> None:
    with pytest.raises(SmokeError, match=r"no \.ipk files"):
        _payload_disk(tmp_path, tmp_path)
    (tmp_path / "a.ipk").write_bytes(b"x")
    disk = _payload_disk(tmp_path, tmp_path)
    assert disk.stat().st_size % (1 << 20) == 0
