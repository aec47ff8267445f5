"""Runs inside the VM guest, under pytest started by tests/vm/test_guest_pytest.py.

Files named ``guest_test_*.py`` here are not collected on the host (they need
the guest's tunnel modules); the host boots one guest and runs them all. They
use the project's own lab helpers, exactly as the netns tier does.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.topology import Host, Lab
from tests.conftest import ROOT


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


def test_guest_runs_the_hosts_code_and_venv_on_its_own_kernel() -> None:
    # The host passes its own view; the same files must be seen under a different kernel.
    assert os.uname().release == os.environ["MAGVM_KVER"]
    assert os.uname().release != os.environ["HOST_KERNEL"]
    assert sys.executable == os.environ["HOST_PYTHON"]
    mag_ap = importlib.import_module("mag_ap")
    assert Path(mag_ap.__file__ or "").is_relative_to(ROOT)
    pyroute2 = importlib.import_module("pyroute2")
    assert pyroute2.__version__ == os.environ["HOST_PYROUTE2"]


def _gre_pair(lab: Lab) -> tuple[Host, Host]:
    """MAG and LMA over IPv4 transport (RFC 5844) with a keyed GRE tunnel each way."""
    mag, lma = lab.add_host("mag"), lab.add_host("lma")
    lab.link(mag, "wan0", lma, "wan0")
    mag.ip("addr", "add", "192.0.2.1/30", "dev", "wan0")
    lma.ip("addr", "add", "192.0.2.2/30", "dev", "wan0")
    for host, local, remote, ikey, okey, inner6, inner4 in (
        (mag, "192.0.2.1", "192.0.2.2", "8194", "4097", "2001:db8:30::1/64", "198.51.100.9/30"),
        (lma, "192.0.2.2", "192.0.2.1", "4097", "8194", "2001:db8:30::2/64", "198.51.100.10/30"),
    ):
        host.ip("link", "add", "gre4", "type", "gre", "local", local, "remote", remote,
                "ikey", ikey, "okey", okey, "ttl", "64")  # fmt: skip
        host.ip("addr", "add", inner6, "dev", "gre4")
        host.ip("addr", "add", inner4, "dev", "gre4")
        host.ip("link", "set", "gre4", "up")
    return mag, lma


def test_keyed_gre_over_ipv4_transport_carries_ipv4_and_ipv6(lab: Lab) -> None:
    mag, _ = _gre_pair(lab)
    # iproute2 prints keys as dotted quads: 8194 = 0.0.32.2, 4097 = 0.0.16.1.
    assert "ikey 0.0.32.2 okey 0.0.16.1" in mag.ip("-d", "link", "show", "gre4")
    mag.run("ping", "-q", "-c", "1", "-W", "5", "198.51.100.10")
    mag.run("ping", "-q", "-c", "1", "-W", "5", "2001:db8:30::2")
