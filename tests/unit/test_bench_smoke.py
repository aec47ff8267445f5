"""The benchmark harness imports and its pure in-process LMA loop runs (no timing asserted).

``make bench`` itself is never part of ``make test``; this only proves that the
package, its result records and the in-process LMA benchmark still work.
"""

from __future__ import annotations

import json

import bench
from bench import lma_loadgen, lma_rate, shutdown_grace, timer_schedules
from bench.common import check, percentile, summary


def test_in_process_lma_rate_runs_with_a_tiny_n() -> None:
    out = lma_rate.run_in_process(n=20, budget_s=10.0)
    assert out["mobile_nodes"] == 20
    for phase in ("register", "refresh"):
        assert out[phase]["pbus"] == 20
        assert out[phase]["accepted"] == 20
        assert out[phase]["rejected"] == 0
    assert out["bindings_in_cache"] == 20


def test_load_generator_templates_match_the_codec() -> None:
    templates = lma_loadgen.PbuTemplates()
    for i in (0, 7, 9, 10, 99, 100, 12_345, 65_536, 99_999, 1_000_000):
        for sequence in (None, 0, 65_535):
            unix_s = 1_700_000_000.0 + i / 7
            assert templates.pbu(i, unix_s, sequence=sequence) == lma_loadgen.pbu_bytes(
                i, unix_s, sequence=sequence
            )


def test_result_records_targets_and_serialises() -> None:
    result = bench.BenchResult("x", "a test")
    result.target("latency_ms", 3.0, 2.0, "<=", "ms")
    result.target("rate", 6000.0, 5000.0, ">=", "/s")
    record = json.loads(json.dumps(result.to_json()))
    assert record["verdict"] == "miss"
    assert record["targets"]["latency_ms"]["verdict"] == "miss"
    assert record["targets"]["latency_ms"]["ratio"] == 1.5
    assert record["targets"]["latency_ms"]["miss_by_pct"] == 50.0
    assert record["targets"]["rate"]["verdict"] == "pass"
    assert check(None, 1.0, "<=")["verdict"] == "miss"


def test_statistics() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert summary(values)["max"] == 100.0
    assert summary([]) == {"count": 0}


def test_shutdown_grace_bench_runs_both_predicates_with_a_tiny_n() -> None:
    out = shutdown_grace.run(n=20)
    for name in shutdown_grace.PREDICATES:
        assert out[name]["pbas"] == out[name]["predicate_checks"] == 20


def test_timer_schedules_bench_fires_every_deadline_twice_with_a_tiny_n() -> None:
    result = timer_schedules.run(sizes=(300,))
    curves = result.metrics["curves"]
    assert [row["schedule"] for row in curves] == ["wheel", "heap"]
    assert all(row["fired"] == 600 and row["bytes_per_slot"] > 0 for row in curves)
