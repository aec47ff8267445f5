"""Signalling benchmarks of mag-ap: real MAG and LMA daemons in network namespaces.

``make bench`` runs ``python -m bench`` (see :mod:`bench.__main__`): attach
latency, 1,000 simultaneous attaches, 40,000 bindings refreshed by one MAG,
the reference LMA's registration rate, and the MAG daemon's footprint. Each
module has ``run(...) -> BenchResult`` with measured numbers and targets;
results go to ``bench/results.json``. Never part of ``make test``.
"""

from __future__ import annotations

from .common import BenchResult, check

__all__ = ["BenchResult", "check"]
