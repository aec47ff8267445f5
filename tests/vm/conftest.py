"""VM tier plumbing: one prepared kernel per session, one guest boot per test module.

Preparing downloads the stock Debian kernel and busybox with apt and builds the
initramfs (cached across runs, see mag_ap/lab/vm.py). Missing qemu or an apt
failure FAILS the tests: the tier never passes by skipping.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from mag_ap.lab import vm
from tests.conftest import require_tool

GUEST = Path(__file__).parent / "guest"


@pytest.fixture(scope="session")
def vm_image() -> vm.VmImage:
    require_tool("qemu-system-x86_64")
    require_tool("depmod")
    try:
        return vm.prepare()
    except vm.VmError as exc:
        pytest.fail(f"cannot prepare the VM kernel: {exc}")


def boot(
    image: vm.VmImage,
    command: str | Sequence[str],
    share_dir: Path,
    timeout_s: float = 300.0,
    env: dict[str, str] | None = None,
) -> vm.VmResult:
    """Run ``command`` in a fresh guest; a guest that does not boot or finish fails the test."""
    try:
        result = vm.run_in_vm(command, timeout_s, share_dir, image=image, env=env)
    except vm.VmError as exc:
        pytest.fail(str(exc))
    sys.stderr.write(
        f"vm: boot {result.boot_s:.1f} s, command {result.command_s:.1f} s, "
        f"wall {result.wall_s:.1f} s\n"
    )
    return result


def key_values(stdout: str) -> dict[str, str]:
    """The ``name=value`` lines a guest script printed."""
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def link_details(ip_d_link_show: str) -> dict[str, str]:
    """``ip -d link show`` output split per device name (without the ``@peer`` part)."""
    devices: dict[str, str] = {}
    name = ""
    for line in ip_d_link_show.splitlines():
        if line[:1].isdigit():
            name = line.split(": ", 2)[1].split("@")[0]
            devices[name] = ""
        devices[name] += line + " \n"
    return devices
