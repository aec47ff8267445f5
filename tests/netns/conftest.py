"""The netns tier: root and iproute2 are prerequisites (missing, the test fails, never skips)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.topology import Lab
from tests.conftest import require_tool


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("netns tests need root (ip netns, raw sockets): run make test as root")
    require_tool("ip")


@pytest.fixture
def lab() -> Iterator[Lab]:
    """An empty namespace lab with a unique prefix, removed after the test (also on failure)."""
    with Lab() as built:
        yield built
