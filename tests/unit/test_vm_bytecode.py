"""The VM guest gets the project's bytecode from the host (lab.vm.compile_sources).

Why it matters: the guest's root is read-only, so a module without an
up-to-date ``__pycache__`` entry on the host is compiled again by every guest
process; four daemons doing that at once under TCG took the first datapath
domain's LMA past its 240 s start budget. This checks what the guest's import
system would find, with the guest's own rule (the pyc header's source mtime and
size), on a copy of the tree so the checkout is left alone.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
from pathlib import Path

import pytest

from lab import vm


def _stale_or_missing(root: Path, packages: tuple[str, ...]) -> list[str]:
    """Sources whose pyc is absent or would be rejected (mtime/size differ)."""
    bad = []
    for name in packages:
        for source in sorted((root / name).rglob("*.py")):
            cached = Path(importlib.util.cache_from_source(str(source)))
            if not cached.is_file():
                bad.append(str(source.relative_to(root)))
                continue
            header = cached.read_bytes()[:16]
            flags, mtime, size = struct.unpack("<III", header[4:16])
            stat = source.stat()
            if flags != 0 or mtime != int(stat.st_mtime) & 0xFFFFFFFF or size != stat.st_size:
                bad.append(str(source.relative_to(root)))
    return bad


def test_every_guest_source_has_fresh_bytecode_after_compile_sources(tmp_path: Path) -> None:
    for name in vm.GUEST_SOURCES:
        shutil.copytree(
            vm.REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    before = _stale_or_missing(tmp_path, vm.GUEST_SOURCES)
    assert len(before) > 100, before  # the copy really starts without bytecode
    vm.compile_sources(tmp_path)
    assert _stale_or_missing(tmp_path, vm.GUEST_SOURCES) == []
    assert any("daemon.py" in s for s in before)  # the daemons' modules are among them


def test_a_source_that_does_not_compile_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text("def broken(:\n")
    with pytest.raises(vm.VmError, match="byte-compile"):
        vm.compile_sources(tmp_path, ("pkg",))


def test_the_guest_sources_are_what_the_guest_runs() -> None:
    """The daemons (mag_ap, plugins), the labs and the guest tests all live in GUEST_SOURCES."""
    for name in ("mag_ap", "plugins", "lab", "tests"):
        assert name in vm.GUEST_SOURCES
        assert (vm.REPO_ROOT / name).is_dir()
