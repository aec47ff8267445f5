"""Shared test plumbing: tier markers by directory, and tools that must exist.

A missing prerequisite (tshark, root, qemu) fails the test with the reason:
CI must never pass by skipping.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from lab import topology

# CI machines are small and busy (VM tier, namespaces): property tests judge
# behaviour, never speed, so no per-example deadline and no "too slow" check.
settings.register_profile("mag-ap", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mag-ap")

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.path)).relative_to(TESTS).parts[0]
        if tier in ("unit", "netns", "vm"):
            item.add_marker(getattr(pytest.mark, tier))


def require_tool(name: str) -> str:
    """Path of a required program; fails (never skips) when it is not installed."""
    try:
        return topology.require_tool(name)
    except topology.LabError as exc:
        pytest.fail(str(exc))
