"""One guest boot running pytest inside on every tests/vm/guest/guest_test_*.py.

This is how end-to-end datapath tests on the real tunnel modules run: write
them like netns tests (lab.topology.Lab), name them guest_test_*.py so
the host never collects them, and the session fixture ``guest_pytest``
(tests/vm/conftest.py) runs them all in one guest. The guest's JUnit report
comes back through the share; every guest test must pass (a skip counts as a
failure here too), and a failure shows the guest's own assertion text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lab import vm
from tests.vm.conftest import GUEST, guest_failures


def test_guest_pytest_passes_every_guest_test(guest_pytest: vm.VmResult) -> None:
    assert guest_pytest.exit_code == 0, guest_failures(guest_pytest)
    suite = ET.parse(guest_pytest.results_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 2, guest_pytest.stdout
    assert (counts["failures"], counts["errors"], counts["skipped"]) == (0, 0, 0), guest_failures(
        guest_pytest
    )


def test_every_guest_test_file_was_collected(guest_pytest: vm.VmResult) -> None:
    suite = ET.parse(guest_pytest.results_dir / "junit.xml").getroot()
    ran = {case.get("classname", "").rsplit(".", 1)[-1] for case in suite.iter("testcase")}
    assert ran == {p.stem for p in GUEST.glob("guest_test_*.py")}, guest_failures(guest_pytest)
