"""A burst of registrations, then SIGTERM: real daemons, no timestamp refusal (RFC 5213 5.5).

Measured before the fix with 2,000 bindings: every de-registration at SIGTERM got
156 (timestamp mismatch) twice and the LMA kept every binding until its lifetime
ran out. The LMA judged each PBU's timestamp after it had waited behind the burst
in the receive buffer, and the MAG took the 156 PBAs' waiting time for clock skew.
Here 500 stations attach at once (pipelined control requests), the MAG is stopped
with SIGTERM, and every de-registration must be accepted: the LMA's bindings reach
0 and no 156 is sent or received. The 2,000-binding figure is a measurement
(``python -m bench.timestamp_burst``), not a timed test.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.common import attach_request, parallel_pipelines
from lab.domain import domain_of_one
from lab.topology import wait_for

N = 500
CONNECTIONS = 4


def test_burst_attach_and_sigterm_deregister_every_binding_without_156(tmp_path: Path) -> None:
    with domain_of_one(tmp_path / "domain") as d:
        try:
            d.start()
            mag, lma = d.mag[0], d.lma
            assert lma is not None
            batches = [
                [attach_request(i) for i in range(k, N, CONNECTIONS)] for k in range(CONNECTIONS)
            ]
            answers = parallel_pipelines(mag.socket, batches, timeout_s=120)
            assert [a for a in answers if not a.get("ok")] == []
            wait_for(lambda: len(lma.status()["bindings"]) == N, 180, f"{N} bindings at the LMA")
            mag_counters = mag.counters()
            assert mag_counters["timestamp_retries"] == 0, mag_counters

            assert mag.stop(timeout_s=180) == 0
            wait_for(lambda: not lma.status()["bindings"], 60, "the LMA's bindings to reach 0")
            counters = lma.counters()
            assert counters["pba_sent_rejected"] == {}, counters  # no 156 (nor anything) sent
            assert counters["deregistrations"] == N
            assert counters["registrations"] == N
            mag_log = mag.log_text()
            assert "TIMESTAMP_MISMATCH" not in mag_log  # no 156 received either
            assert "de-registration done: accepted" in mag_log
        except BaseException:
            for daemon in [d.lma, *d.mag]:
                if daemon is not None:
                    sys.stderr.write(
                        f"--- {daemon.host.name} log ---\n{daemon.log_text()[-4000:]}\n"
                    )
            raise
