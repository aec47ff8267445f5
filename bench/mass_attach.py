"""Benchmark 2: 1,000 mobile nodes attach at once; all bound within 1 s.

The attach requests (no ``wait_s``) go out as fast as the control socket takes
them: ``connections`` connections, each pipelining its share of request lines.
Meanwhile the MAG's log is read (from outside: a ``status`` of every binding
would load the daemon being measured) until every MN has a "binding up".
Reported: time from the first request to the n-th binding up,
time until every request was answered, and the PBU->PBA delays.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from .common import (
    LOG_HAS_BINDINGS,
    BenchDomain,
    BenchResult,
    BindingLog,
    attach_request,
    binding_states,
    cpu_seconds,
    parallel_pipelines,
    raw6_drops,
    settled_count,
    summary,
)

TITLE = "1,000 MNs attached at once -> all bound"
TARGET_ALL_BOUND_S = 1.0
LOG_POLL_S = 0.02
STATUS_POLL_S = 0.1


def run(workdir: Path, n: int = 1000, connections: int = 4, budget_s: float = 30.0) -> BenchResult:
    result = BenchResult("mass_attach", TITLE)
    with BenchDomain(workdir, mags=1) as domain:
        domain.build()
        domain.start()
        mag = domain.mag[0]
        batches: list[list[dict[str, Any]]] = [[] for _ in range(connections)]
        for i in range(n):
            batches[i % connections].append(attach_request(i))
        answered_at: list[float] = []
        failure: list[BaseException] = []

        def fire() -> None:
            try:
                answers = parallel_pipelines(mag.socket, batches, timeout_s=budget_s / 2)
                refused = [a for a in answers if not a.get("ok")]
                if refused:
                    raise RuntimeError(f"{len(refused)} attaches refused, e.g. {refused[0]}")
                answered_at.append(time.monotonic())
            except BaseException as exc:
                failure.append(exc)

        sender = threading.Thread(target=fire, name="bench-mass-attach", daemon=True)
        assert mag.proc is not None and domain.lma is not None and domain.lma.proc is not None
        pids = (mag.proc.pid, domain.lma.proc.pid)
        cpu0 = (cpu_seconds(pids[0]), cpu_seconds(pids[1]))
        start_unix, start = time.time(), time.monotonic()
        sender.start()
        all_bound_s: float | None = None
        polls = 0
        last_states: dict[str, int] = {}
        poll_ms: list[float] = []
        log = BindingLog(mag.log)
        end = start + budget_s
        while time.monotonic() < end and not failure:
            polls += 1
            if LOG_HAS_BINDINGS:
                # The log's own timestamp of the n-th "binding up": exact, and free for the MAG.
                if log.read() >= n and log.last_up_unix_s is not None:
                    all_bound_s = log.last_up_unix_s - start_unix
                    break
                time.sleep(LOG_POLL_S)
                continue
            t = time.monotonic()
            last_states = binding_states(mag.status())
            poll_ms.append((time.monotonic() - t) * 1000.0)
            if settled_count(last_states) >= n:
                all_bound_s = time.monotonic() - start
                break
            time.sleep(STATUS_POLL_S)
        sender.join(timeout=max(0.1, end - time.monotonic()))
        cpu = (cpu_seconds(pids[0]) - cpu0[0], cpu_seconds(pids[1]) - cpu0[1])
        if failure:
            raise failure[0]
        final = mag.status()
        assert domain.lma is not None
        drops = {"mag": raw6_drops(mag.host), "lma": raw6_drops(domain.lma.host)}
    delays = [
        float(b["last_registration_delay_ms"])
        for b in final.get("bindings", [])
        if isinstance(b.get("last_registration_delay_ms"), int | float)
    ]
    counters = final.get("counters", {})
    result.metrics = {
        "mobile_nodes": n,
        "connections": connections,
        "all_bound_s": None if all_bound_s is None else round(all_bound_s, 4),
        "all_requests_answered_s": round(answered_at[0] - start, 4) if answered_at else None,
        "bound": settled_count(binding_states(final)),
        "states_at_end": binding_states(final),
        "bound_by": "log" if LOG_HAS_BINDINGS else "status",
        "bound_in_log_when_polling_stopped": len(log.up),
        "polls": polls,
        "status_poll_ms": summary(poll_ms),
        "pbu_to_pba_ms": summary(delays),
        "pbu_sent": counters.get("pbu_sent"),
        "retransmissions": counters.get("retransmissions"),
        "raw_socket_drops": drops,
        "mag_cpu_s_until_all_bound": round(cpu[0], 3),
        "lma_cpu_s_until_all_bound": round(cpu[1], 3),
    }
    result.target("all_bound_s", all_bound_s, TARGET_ALL_BOUND_S, "<=", "s")
    result.notes.append(
        "all_bound_s: from the first request to the log timestamp of the n-th 'binding up' "
        "(ms resolution; the log is read from outside). Without info logs: status polls "
        f"every {STATUS_POLL_S * 1000:g} ms, late by up to one poll"
    )
    result.notes.append(
        "mag_cpu_s_until_all_bound includes the daemon's work for the status polls; the "
        "single-threaded MAG cannot bind all faster than its CPU time on an idle machine"
    )
    if all_bound_s is None:
        result.notes.append(f"not all bound within the {budget_s:g} s budget")
    return result
