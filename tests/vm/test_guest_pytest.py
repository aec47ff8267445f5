"""One guest boot running pytest inside on every tests/vm/guest/guest_test_*.py.

This is how end-to-end datapath tests on the real tunnel modules run: write
them like netns tests (mag_ap.lab.topology.Lab), name them guest_test_*.py so
the host never collects them, and this module runs them all in one guest. The
guest's JUnit report comes back through the share; every guest test must pass
(a skip counts as a failure here too).
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version

import pytest

from mag_ap.lab import vm
from tests.conftest import ROOT
from tests.vm.conftest import GUEST, boot


@pytest.fixture(scope="module")
def guest(vm_image: vm.VmImage, tmp_path_factory: pytest.TempPathFactory) -> vm.VmResult:
    share = tmp_path_factory.mktemp("vm-pytest")
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
        "-o", "python_files=guest_test_*.py", f"--junitxml={share / 'junit.xml'}",
        str(GUEST.relative_to(ROOT)),
    ]  # fmt: skip
    env = {
        "HOST_KERNEL": os.uname().release,
        "HOST_PYTHON": sys.executable,
        "HOST_PYROUTE2": version("pyroute2"),
    }
    return boot(vm_image, argv, share, timeout_s=420, env=env)


def test_guest_pytest_passes_every_guest_test(guest: vm.VmResult) -> None:
    assert guest.exit_code == 0, guest.stdout[-4000:] + guest.stderr[-2000:]
    suite = ET.parse(guest.results_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 2, guest.stdout
    assert (counts["failures"], counts["errors"], counts["skipped"]) == (0, 0, 0), guest.stdout


def test_every_guest_test_file_was_collected(guest: vm.VmResult) -> None:
    suite = ET.parse(guest.results_dir / "junit.xml").getroot()
    ran = {case.get("classname", "").rsplit(".", 1)[-1] for case in suite.iter("testcase")}
    assert ran == {p.stem for p in GUEST.glob("guest_test_*.py")}
