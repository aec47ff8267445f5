"""Build (or reuse) a Debian bookworm mipsel root for the emulated 32-bit bench (bench/mipsel.py).

``python -m bench.mipsel_root`` (root): installs the host tools (qemu-user-static,
debootstrap, binfmt-support; bench only, not ``make test``), mounts binfmt_misc
and enables qemu-mipsel, then ``debootstrap --variant=minbase --arch=mipsel``
with python3 into ``build/mipsel-root`` (git-ignored). bookworm's python3 is
3.11, as OpenWrt 24.10's. The daemon's own dependencies come from PyPI as
pure-Python wheels resolved on the host for CPython 3.11 and unpacked into
``/opt/mag-ap-deps`` in the root (pip inside the root would need the host's CA
bundle and runs ~10x slower). Idempotent: a root whose marker file names the
same dependency set is reused as it is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = ROOT / "build" / "mipsel-root"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
HOST_PACKAGES = ("qemu-user-static", "debootstrap", "binfmt-support")
#: In the root (minbase has no python). python3 pulls libpython3.11-stdlib.
ROOT_PACKAGES = ("python3",)
#: The daemon's run-time dependencies (pyproject's, at the versions the venv resolves).
PY_REQUIREMENTS = ("pluggy>=1.3,<2", "pyroute2>=0.9.7,<0.10", "dnslib>=0.9.24,<0.10")
DEPS_DIR = "opt/mag-ap-deps"  # inside the root
MARKER = ".mag-ap-root"
QEMU = "/usr/bin/qemu-mipsel-static"
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def _run(cmd: Sequence[str], **kw: object) -> None:
    print("[mipsel-root] " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(list(cmd), check=True, **kw)  # type: ignore[call-overload]


def marker_text() -> str:
    """What a usable root says about itself: the suite, packages and requirements it holds."""
    return "\n".join(
        [f"suite={SUITE}", f"packages={','.join(ROOT_PACKAGES)}", *PY_REQUIREMENTS, ""]
    )


def is_ready(root: Path) -> bool:
    """The root was built completely, for the same dependency set."""
    marker = root / MARKER
    return marker.is_file() and marker.read_text() == marker_text()


def host_tools() -> None:
    """The host's emulation tools (apt, bench only)."""
    if all(shutil.which(t) for t in ("qemu-mipsel-static", "debootstrap", "update-binfmts")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], env=env)
    _run(["apt-get", "install", "-y", "-q", *HOST_PACKAGES], env=env)


def binfmt() -> None:
    """Let the kernel run mipsel ELF files through qemu (binfmt_misc is not mounted here)."""
    if not (BINFMT / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    entry = BINFMT / "qemu-mipsel"
    if not entry.exists() or "enabled" not in entry.read_text():
        _run(["update-binfmts", "--enable", "qemu-mipsel"])
    if not entry.exists() or "enabled" not in entry.read_text():
        raise RuntimeError(f"{entry} not enabled: cannot run mipsel binaries")


def debootstrap(root: Path) -> None:
    """A minbase bookworm mipsel root with python3 (about 5 minutes, once)."""
    if (root / "usr/bin/python3").exists():
        return
    if root.exists():
        shutil.rmtree(root)  # a half-built root from an interrupted run
    root.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            "--arch=mipsel",
            f"--include={','.join(ROOT_PACKAGES)}",
            SUITE,
            str(root),
            MIRROR,
        ]
    )
    # With binfmt's fix-binary flag the host's static qemu serves the root; a copy in
    # the root also covers a kernel registering qemu without that flag.
    target = root / QEMU.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(QEMU, target)


def python_deps(root: Path) -> None:
    """Pure-Python wheels for CPython 3.11 unpacked into the root (resolved on the host)."""
    target = root / DEPS_DIR
    if target.exists():
        shutil.rmtree(target)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--only-binary=:all:",
            "--platform=any",
            "--python-version=3.11",
            "--implementation=py",
            f"--target={target}",
            *PY_REQUIREMENTS,
        ]
    )


def build(root: Path = DEFAULT_ROOT, force: bool = False) -> Path:
    """The root, built if missing or stale; returns its path."""
    host_tools()
    binfmt()
    if is_ready(root) and not force:
        return root
    if force and root.exists():
        shutil.rmtree(root)
    debootstrap(root)
    python_deps(root)
    (root / MARKER).write_text(marker_text())
    return root


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mipsel_root", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--force", action="store_true", help="rebuild from scratch")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("mipsel_root: needs root (apt, binfmt_misc, debootstrap)", file=sys.stderr)
        return 2
    print(build(args.root, args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
