"""Burst attach, then SIGTERM: timestamp refusals (156) and what the LMA keeps.

Real daemons in namespaces (root). ``n`` stations attach at once over pipelined
control connections; once the LMA holds every binding the MAG gets SIGTERM and
de-registers them all in one burst. Reported: 156 refusals the LMA sent (attach
and stop), de-registrations accepted, the LMA's bindings left, and the time from
SIGTERM to the LMA's last binding gone. ``python -m bench.timestamp_burst --n 2000``
prints JSON (``--out`` writes it); nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from lab.topology import wait_for

from .common import BenchDomain, attach_request, parallel_pipelines

CONNECTIONS = 4


def _refused_156(counters: dict[str, Any]) -> int:
    rejected: dict[str, int] = counters.get("pba_sent_rejected", {})
    return rejected.get("TIMESTAMP_MISMATCH", 0)


def run(workdir: Path, n: int = 2000) -> dict[str, Any]:
    with BenchDomain(workdir, mags=1, lma_extra="min_delay_before_bce_delete_s = 0.0\n") as domain:
        domain.build()
        domain.start()
        mag, lma = domain.mag[0], domain.lma
        assert lma is not None
        batches = [
            [attach_request(i) for i in range(k, n, CONNECTIONS)] for k in range(CONNECTIONS)
        ]
        t0 = time.monotonic()
        parallel_pipelines(mag.socket, batches, timeout_s=300)
        wait_for(lambda: len(lma.status()["bindings"]) == n, 600, f"{n} bindings at the LMA")
        attach_s = time.monotonic() - t0
        at_attach = lma.counters()
        mag_counters = mag.counters()
        t1 = time.monotonic()
        code = mag.stop(timeout_s=600)
        stop_s = time.monotonic() - t1
        # Measured, not asserted: on a timeout the report says what the LMA kept.
        with contextlib.suppress(RuntimeError, TimeoutError, AssertionError):
            wait_for(lambda: not lma.status()["bindings"], 120, "LMA bindings to reach 0")
        zero_s = time.monotonic() - t1
        after = lma.counters()
        return {
            "bench": "timestamp_burst",
            "stations": n,
            "attach_all_bound_s": round(attach_s, 3),
            "lma_156_sent_during_attach": _refused_156(at_attach),
            "mag_timestamp_retries_during_attach": mag_counters.get("timestamp_retries"),
            "mag_clock_corrections": mag_counters.get("clock_corrections"),
            "mag_exit_code": code,
            "sigterm_to_mag_exit_s": round(stop_s, 3),
            "sigterm_to_lma_empty_s": round(zero_s, 3),
            "lma_156_sent_total": _refused_156(after),
            "lma_deregistrations": after.get("deregistrations"),
            "lma_bindings_left": len(lma.status()["bindings"]),
            "mag_156_log_lines": mag.log_text().count("TIMESTAMP_MISMATCH"),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mag-ap-tsburst-") as tmp:
        result = run(Path(tmp), args.n)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
