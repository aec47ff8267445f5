"""Fault benchmark: an unauthorized MAG floods the LMA with PBUs; the legitimate MAG attaches.

The LMA accepts only ``2001:db8:f1::/64`` (mag1, a real ``mag-ap run``
daemon). mag2 runs the paced flooder (``python -m bench.unauth_flood --dst
LMA --rate R --duration-s D``): initial-registration PBUs for distinct MNs at
R per second on a raw protocol-135 socket, counting the PBAs it gets back.
Meanwhile mag1 attaches stations one after another; the MAG's own
``elapsed_ms`` (request in -> binding bound) is the latency under flood.
Targets: 0 PBUs accepted from the flooder, legitimate attach p99 <= 10 ms.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.domain import Daemon
from mag_ap.mh.constants import IPPROTO_MH

from .common import ROOT, BenchDomain, BenchResult, attach_request, cpu_seconds, summary
from .lma_loadgen import MH_CHECKSUM_OFFSET, MH_TYPE_PBA, PbuTemplates

TITLE = "legitimate attach while an unauthorized MAG floods the LMA with PBUs"
TARGET_P99_MS = 10.0
FLOOD_RATE = 1000
FLOOD_FIRST_MN = 1_000_000  # the flooder's MN numbers, far from the legitimate ones
AUTHORIZED = "2001:db8:f1::/64"  # mag1 only; mag2 (2001:db8:f2::2) is the intruder
NOT_AUTHORIZED = "MAG_NOT_AUTHORIZED_FOR_PROXY_REG"


def flood(
    dst: str, rate: float, duration_s: float, *, start: int = FLOOD_FIRST_MN
) -> dict[str, Any]:
    """Send PBUs at ``rate``/s for ``duration_s``, read the PBAs; the tallies."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    templates = PbuTemplates()
    sent = accepted = rejected = other = send_errors = 0
    statuses: dict[int, int] = {}
    t0 = time.monotonic()
    end = t0 + duration_s
    linger_until = end + 1.0  # late PBAs still count
    with sock:
        while True:
            now = time.monotonic()
            if now >= linger_until:
                break
            due = min(int((min(now, end) - t0) * rate), int(duration_s * rate))
            while sent < due:
                try:
                    sock.sendto(templates.pbu(start + sent, time.time()), (dst, 0))
                except OSError:
                    send_errors += 1
                sent += 1
            timeout = max(0.0, min(1.0 / rate, linger_until - now))
            readable, _, _ = select.select([sock], [], [], timeout)
            if not readable:
                continue
            for _ in range(256):
                try:
                    data = sock.recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                if len(data) < 12 or data[2] != MH_TYPE_PBA:
                    other += 1
                    continue
                statuses[data[6]] = statuses.get(data[6], 0) + 1
                if data[6] < 128:
                    accepted += 1
                else:
                    rejected += 1
    wall_s = time.monotonic() - t0
    return {
        "rate": rate,
        "duration_s": duration_s,
        "sent": sent,
        "send_errors": send_errors,
        "accepted": accepted,
        "rejected": rejected,
        "unanswered": sent - accepted - rejected,
        "pba_status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "other_messages": other,
        "sent_per_s": round(sent / duration_s, 1) if duration_s else None,
        "wall_s": round(wall_s, 3),
    }


def flood_argv(dst: str, rate: float, duration_s: float) -> list[str]:
    """The flooder's command line (to run inside the intruder's namespace)."""
    return [
        sys.executable,
        "-m",
        "bench.unauth_flood",
        "--dst",
        dst,
        "--rate",
        str(rate),
        "--duration-s",
        str(duration_s),
    ]


def _attach_loop(
    mag: Daemon, first: int, seconds: float, limit: int
) -> tuple[list[float], list[dict[str, Any]]]:
    """Attach stations ``first``.. one by one for ``seconds``; latencies and failed answers."""
    elapsed_ms: list[float] = []
    failed: list[dict[str, Any]] = []
    stop_at = time.monotonic() + seconds
    i = first
    while time.monotonic() < stop_at and len(elapsed_ms) + len(failed) < limit:
        answer = mag.request(attach_request(i, wait_s=5.0), timeout_s=10.0)
        i += 1
        binding = answer.get("binding") or {}
        if answer.get("ok") and answer.get("settled") and binding.get("state") == "bound":
            elapsed_ms.append(float(answer["elapsed_ms"]))
        else:
            failed.append(answer)
        time.sleep(0.01)  # ~one attach per 10 ms: a busy AP, not a second flood
    return elapsed_ms, failed


def run(
    workdir: Path,
    attaches: int = 500,
    rate: float = FLOOD_RATE,
    baseline_s: float = 5.0,
    budget_s: float = 120.0,
) -> BenchResult:
    result = BenchResult("unauth_flood", TITLE)
    lma_extra = f'authorized_mags = ["{AUTHORIZED}"]\n'
    with BenchDomain(workdir, mags=2, lma_extra=lma_extra) as domain:
        domain.build()
        assert domain.lma is not None
        domain.lma.start()
        mag = domain.mag[0]
        mag.start()  # mag2 runs no daemon: the flooder speaks for it
        lma_proc = domain.lma.proc
        assert lma_proc is not None
        _attach_loop(mag, 0, 60.0, 10)  # warm-up, not counted
        # The same loop without a flood: what this machine gives right now.
        base_ms, base_failed = _attach_loop(mag, 100_000, baseline_s, attaches)
        duration_s = min(budget_s - 20 - baseline_s, max(10.0, attaches / 50))
        argv = domain.lab.hosts["mag2"].exec_argv(
            flood_argv(domain.lma_service_address(), rate, duration_s)
        )
        lma_cpu0 = cpu_seconds(lma_proc.pid)
        flooder = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            time.sleep(1.0)  # measure only once the flood runs at its rate
            elapsed_ms, failed = _attach_loop(mag, 10, duration_s - 2.0, attaches)
            out, err = flooder.communicate(timeout=duration_s + 30)
        finally:
            if flooder.poll() is None:
                flooder.kill()
                flooder.wait()
        if flooder.returncode != 0:
            raise RuntimeError(f"flooder failed ({flooder.returncode}): {err}")
        gen: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        lma_cpu_s = cpu_seconds(lma_proc.pid) - lma_cpu0
        counters = domain.lma.counters()
        lma_bindings = domain.lma.bindings()
    rejected_unauth = int(counters.get("pba_sent_rejected", {}).get(NOT_AUTHORIZED, 0))
    intruder = domain.mag_address(2)
    from_intruder = [b for b in lma_bindings.values() if b.get("mag") == intruder]
    stats = summary(elapsed_ms)
    result.metrics = {
        "flooder": gen,
        "lma_rejected_not_authorized": rejected_unauth,
        "lma_rejected_by_status": counters.get("pba_sent_rejected", {}),
        "lma_bindings_from_intruder": len(from_intruder),
        "lma_bindings": len(lma_bindings),
        "lma_cpu_s_during_flood": round(lma_cpu_s, 3),
        "legit_attaches": len(elapsed_ms),
        "legit_failed": len(failed),
        "legit_failed_answers": failed[:5],
        "legit_elapsed_ms": stats,
        "no_flood_baseline": {
            "attaches": len(base_ms),
            "failed": len(base_failed),
            "failed_answers": base_failed[:5],
            "elapsed_ms": summary(base_ms),
        },
    }
    result.target("intruder_pbus_accepted", gen["accepted"], 0, "<=", "PBUs")
    result.target("intruder_bindings_at_lma", len(from_intruder), 0, "<=", "bindings")
    result.target("legit_failed", len(failed), 0, "<=", "attaches")
    result.target("legit_attach_p99_ms", stats.get("p99"), TARGET_P99_MS, "<=", "ms")
    result.notes.append(
        f"flood: {gen['sent']} PBUs at {rate:g}/s from a MAG outside authorized_mags; "
        f"the LMA counted {rejected_unauth} {NOT_AUTHORIZED}; one legitimate attach "
        "every ~10 ms on mag1, latency = the MAG's elapsed_ms. no_flood_baseline: the "
        f"same loop for {baseline_s:g} s just before the flood, to tell the flood's cost "
        "from the machine's"
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unauth_flood", description=__doc__)
    parser.add_argument("--dst", required=True)
    parser.add_argument("--rate", type=float, default=FLOOD_RATE)
    parser.add_argument("--duration-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 20_000 or not 0 < args.duration_s <= 600:
        parser.error("rate in (0, 20000], duration in (0, 600]")
    print(json.dumps(flood(args.dst, args.rate, args.duration_s)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
