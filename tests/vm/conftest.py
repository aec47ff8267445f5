"""VM tier plumbing: one prepared kernel per session, one guest boot per test module.

Preparing downloads the stock Debian kernel and busybox with apt and builds the
initramfs (cached across runs, see lab/vm.py). Missing qemu or an apt
failure FAILS the tests: the tier never passes by skipping.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import pytest

from lab import vm
from tests.conftest import ROOT, require_tool

GUEST = Path(__file__).parent / "guest"
# The one boot that runs every guest_test_*.py: the datapath scenarios take ~4 min
# of it under TCG on 2 cores, more on a loaded machine.
GUEST_PYTEST_TIMEOUT_S = 900.0


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


@pytest.fixture(scope="session")
def guest_pytest(vm_image: vm.VmImage, tmp_path_factory: pytest.TempPathFactory) -> vm.VmResult:
    """One guest boot running pytest on every tests/vm/guest/guest_test_*.py.

    The guest writes its JUnit report, captures and facts into the share
    (``$GUEST_OUT`` inside); host-side modules check them.
    """
    share = tmp_path_factory.mktemp("vm-pytest")
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
        "-o", "python_files=guest_test_*.py", f"--junitxml={share / 'junit.xml'}",
        "--durations=5", str(GUEST.relative_to(ROOT)),
    ]  # fmt: skip
    env = {
        "HOST_KERNEL": os.uname().release,
        "HOST_PYTHON": sys.executable,
        "HOST_PYROUTE2": version("pyroute2"),
        "GUEST_OUT": str(share),
    }
    return boot(vm_image, argv, share, timeout_s=GUEST_PYTEST_TIMEOUT_S, env=env)


def guest_failures(result: vm.VmResult, limit: int = 6000) -> str:
    """Every failed, erroring or skipped guest test with its message and traceback.

    For the host's assertion messages: a guest failure must read as itself on
    the host, not as "exit code 1". Falls back to pytest's output when the
    JUnit report is missing (the guest pytest did not get that far).
    """
    report = result.results_dir / "junit.xml"
    if not report.is_file():
        return f"no JUnit report; guest stdout:\n{result.stdout[-limit:]}\n{result.stderr[-2000:]}"
    parts = []
    for case in ET.parse(report).getroot().iter("testcase"):
        for bad in case:
            if bad.tag in ("failure", "error", "skipped"):
                name = f"{case.get('classname')}::{case.get('name')}"
                text = (bad.text or "").strip()[-2500:]
                parts.append(f"--- guest {bad.tag}: {name}\n{bad.get('message', '')}\n{text}")
    if not parts:
        return f"the JUnit report lists no failure; guest stdout:\n{result.stdout[-limit:]}"
    return "\n".join(parts)[-limit:]
