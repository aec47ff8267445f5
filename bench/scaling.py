"""Scaling curves, in process (no root): how cost per binding grows with the binding count.

At 1,000, 10,000 and 40,000 bindings (and 100,000 for the LMA):

* LMA rate: registrations then refreshes through a bare ``LmaProtocol`` (as
  ``lma_rate`` does), CPU microseconds per PBU.
* LMA memory: tracemalloc bytes per binding after ``n`` registrations and one
  refresh each (PBUs shaped like the MAG's, from the load generator's templates).
* MAG: a ``MagProtocol`` served back to back by an ``LmaProtocol``: the MAG's
  own CPU for one refresh cycle of every binding, the engine's attach-to-PBA
  latency with ``n`` bindings held (no sockets: the daemon adds its IO), and
  bytes per binding (tracemalloc of the pair minus the LMA alone at the same ``n``).

The daemon-level numbers (RSS, sockets, kernel) are the other benchmarks' job.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Sequence
from ipaddress import IPv4Interface, IPv6Address, IPv6Network
from typing import Any

from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import BindingUp, LmaSettings, MagSettings, MobileNodeProfile
from mag_ap.lma.protocol import LmaProtocol

from .common import BenchResult, mac_of, mn_id_of, summary
from .lma_loadgen import PbuTemplates

TITLE = "scaling curves in process: LMA rate, memory per binding, MAG refresh CPU, attach"
SIZES = (1000, 10_000, 40_000)
LMA_SIZES = (*SIZES, 100_000)
LMA_ADDRESS = IPv6Address("2001:db8:ff::1")
MAG_ADDRESS = IPv6Address("2001:db8:f1::2")
UNIX_EPOCH_AT_ZERO = 1_700_000_000.0
LIFETIME_S = 120  # as the capacity benchmark: a refresh cycle every 60 s
REFRESH_BEFORE_S = 60.0
ATTACH_SAMPLES = 200
TARGET_MAG_B = 600.0
TARGET_LMA_B = 500.0
TARGET_LMA_US = 40.0  # 0.04 CPU s per 1,000 registrations
TARGET_REFRESH_PCT = 5.0
TARGET_ATTACH_P50_MS = 2.0
TARGET_ATTACH_P99_MS = 10.0


def _lma(n: int) -> LmaProtocol:
    """An LMA whose pools hold ``n`` MNs (the defaults stop at 65,534)."""
    return LmaProtocol(
        LmaSettings(
            own_address=LMA_ADDRESS,
            hnp_pool=IPv6Network("2001:db8:100::/40"),
            ipv4_pool=IPv4Interface("10.0.0.1/8"),
            max_lifetime_s=max(3600, LIFETIME_S),
        ),
        wall_clock_offset_s=UNIX_EPOCH_AT_ZERO,
    )


def _register_all(lma: LmaProtocol, n: int, now: float, sequence_base: int) -> tuple[float, int]:
    """Every MN sends one PBU; (CPU seconds, accepted). PBUs are made before timing."""
    templates = PbuTemplates()
    unix_s = now + UNIX_EPOCH_AT_ZERO
    accepted = 0
    cpu_s = 0.0
    chunk = 5000
    for start in range(0, n, chunk):
        packets = [
            templates.pbu(i, unix_s, sequence=sequence_base + i)
            for i in range(start, min(n, start + chunk))
        ]
        t0 = time.process_time()
        for data in packets:
            lma.receive_datagram(data, MAG_ADDRESS, now)
            for dgram in lma.datagrams_to_send(now):
                accepted += dgram.data[2] == 6 and dgram.data[6] < 128
            while lma.next_action() is not None:
                pass
        cpu_s += time.process_time() - t0
    return cpu_s, accepted


def lma_curve(n: int) -> dict[str, Any]:
    """LMA CPU per registration and per refresh, and bytes per binding, at ``n`` MNs."""
    lma = _lma(n)
    now = 1000.0
    lma.receive_datagram(PbuTemplates().pbu(n + 1, now + UNIX_EPOCH_AT_ZERO), MAG_ADDRESS, now)
    lma.datagrams_to_send(now)  # the MAG is known: the first PBU of a MAG goes the long way
    gc.collect()
    reg_cpu, reg_ok = _register_all(lma, n, now, 0)
    now += 1.0
    ref_cpu, ref_ok = _register_all(lma, n, now, 1)
    out: dict[str, Any] = {
        "bindings": n,
        "register_us_per_pbu": round(1e6 * reg_cpu / n, 2),
        "refresh_us_per_pbu": round(1e6 * ref_cpu / n, 2),
        "registrations_per_cpu_s": round(n / reg_cpu) if reg_cpu > 0 else None,
        "accepted": reg_ok + ref_ok,
    }
    del lma
    # Memory in a separate run: tracing slows the code it measures.
    gc.collect()
    tracemalloc.start(1)
    try:
        lma = _lma(n)
        lma.receive_datagram(
            PbuTemplates().pbu(n + 1, 1000 + UNIX_EPOCH_AT_ZERO), MAG_ADDRESS, 1000
        )
        lma.datagrams_to_send(1000.0)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        _register_all(lma, n, 1000.0, 0)
        _register_all(lma, n, 1001.0, 1)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    out["lma_bytes_per_binding"] = round(used / n, 1)
    return out


class _Pair:
    """A MAG and an LMA wired back to back; the MAG's own CPU time is kept apart."""

    def __init__(self, n: int) -> None:
        self.lma = _lma(n)
        self.mag = MagProtocol(
            MagSettings(
                own_address=MAG_ADDRESS, lifetime_s=LIFETIME_S, refresh_before_s=REFRESH_BEFORE_S
            ),
            wall_clock_offset_s=UNIX_EPOCH_AT_ZERO,
        )
        self.mag_cpu_s = 0.0
        self.up: set[str] = set()

    def pump(self, now: float) -> None:
        mag, lma = self.mag, self.lma
        for _ in range(1_000_000):
            t0 = time.process_time()
            out = mag.datagrams_to_send(now)
            self.mag_cpu_s += time.process_time() - t0
            back = lma.datagrams_to_send(now)
            if not out and not back:
                return
            for d in out:
                lma.receive_datagram(d.data, MAG_ADDRESS, now)
            while lma.next_action() is not None:
                pass
            t0 = time.process_time()
            for d in back:
                mag.receive_datagram(d.data, LMA_ADDRESS, now)
            while (action := mag.next_action()) is not None:
                if isinstance(action, BindingUp):
                    self.up.add(action.mac)
            self.mag_cpu_s += time.process_time() - t0

    def attach_all(self, n: int, now: float) -> None:
        for i in range(n):
            profile = MobileNodeProfile(mn_id=mn_id_of(i), lma_address=LMA_ADDRESS)
            t0 = time.process_time()
            self.mag.attach(mac_of(i), profile, now)
            self.mag_cpu_s += time.process_time() - t0
            if i % 256 == 255:
                self.pump(now)
        self.pump(now)

    def run_timers(self, until: float) -> float:
        now = until
        while (at := self.mag.get_timer()) is not None and at <= until:
            now = at
            t0 = time.process_time()
            self.mag.handle_timer(at)
            self.mag_cpu_s += time.process_time() - t0
            self.lma.handle_timer(at)
            self.pump(at)
        return now


def mag_curve(n: int, lma_bytes_per_binding: float | None) -> dict[str, Any]:
    """MAG refresh CPU, engine attach latency and bytes per binding with ``n`` bindings."""
    pair = _Pair(n)
    now = 1000.0
    pair.attach_all(n, now)
    bound = len(pair.up)
    # Attach latency with n held: attach, PBU to the LMA, PBA back, BindingUp.
    # Wall clock, and CPU time (the machine is shared: other work inflates the wall clock).
    latencies: list[float] = []
    cpu_latencies: list[float] = []
    for k in range(ATTACH_SAMPLES):
        i = n + 10 + k
        profile = MobileNodeProfile(mn_id=mn_id_of(i), lma_address=LMA_ADDRESS)
        t0, c0 = time.perf_counter(), time.process_time()
        pair.mag.attach(mac_of(i), profile, now)
        pair.pump(now)
        cpu_latencies.append((time.process_time() - c0) * 1000.0)
        latencies.append((time.perf_counter() - t0) * 1000.0)
    for k in range(ATTACH_SAMPLES):
        pair.mag.detach(mac_of(n + 10 + k), now)
    pair.pump(now)
    # One refresh cycle: every binding refreshes once between these two instants.
    start = now + LIFETIME_S - REFRESH_BEFORE_S - 1.0
    pair.run_timers(start)
    cpu0 = pair.mag_cpu_s
    refreshes0 = pair.lma.counters["refreshes"]
    cycle_s = LIFETIME_S - REFRESH_BEFORE_S
    pair.run_timers(start + cycle_s)
    refresh_cpu = pair.mag_cpu_s - cpu0
    refreshed = pair.lma.counters["refreshes"] - refreshes0
    out: dict[str, Any] = {
        "bindings": n,
        "bound": bound,
        "attach_ms": summary(latencies),
        "attach_cpu_ms": summary(cpu_latencies),
        "refresh_cycle_s": cycle_s,
        "refreshes_in_cycle": refreshed,
        "mag_cpu_s_per_refresh_cycle": round(refresh_cpu, 3),
        "mag_refresh_pct_of_core": round(100.0 * refresh_cpu / cycle_s, 2),
    }
    del pair
    if lma_bytes_per_binding is not None:
        gc.collect()
        tracemalloc.start(1)
        try:
            pair = _Pair(n)
            gc.collect()
            base = tracemalloc.get_traced_memory()[0]
            pair.attach_all(n, 1000.0)
            pair.run_timers(1000.0 + LIFETIME_S - REFRESH_BEFORE_S + 1.0)
            pair.up.clear()
            gc.collect()
            used = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        out["pair_bytes_per_binding"] = round(used / n, 1)
        out["mag_bytes_per_binding"] = round(used / n - lma_bytes_per_binding, 1)
    return out


def run(
    sizes: Sequence[int] = SIZES,
    lma_sizes: Sequence[int] = LMA_SIZES,
    mag_memory_max: int = 40_000,
) -> BenchResult:
    result = BenchResult("scaling", TITLE)
    lma_rows = [lma_curve(n) for n in lma_sizes]
    lma_by_n = {row["bindings"]: row for row in lma_rows}
    mag_rows = []
    for n in sizes:
        lma_b = lma_by_n.get(n, {}).get("lma_bytes_per_binding") if n <= mag_memory_max else None
        mag_rows.append(mag_curve(n, lma_b))
    result.metrics["lma"] = lma_rows
    result.metrics["mag"] = mag_rows
    result.metrics["table"] = table(lma_rows, mag_rows)
    top_lma = lma_rows[-1]
    result.target(
        f"lma_register_us_per_pbu_at_{top_lma['bindings']}",
        top_lma["register_us_per_pbu"],
        TARGET_LMA_US,
        "<=",
        "us",
    )
    result.target(
        f"lma_bytes_per_binding_at_{top_lma['bindings']}",
        top_lma["lma_bytes_per_binding"],
        TARGET_LMA_B,
        "<=",
        "B",
    )
    top = mag_rows[-1]
    if "mag_bytes_per_binding" in top:
        result.target(
            f"mag_bytes_per_binding_at_{top['bindings']}",
            top["mag_bytes_per_binding"],
            TARGET_MAG_B,
            "<=",
            "B",
        )
    result.target(
        f"mag_refresh_pct_of_core_at_{top['bindings']}",
        top["mag_refresh_pct_of_core"],
        TARGET_REFRESH_PCT,
        "<=",
        "%",
    )
    result.target(
        f"engine_attach_p50_ms_at_{top['bindings']}",
        top["attach_ms"].get("median"),
        TARGET_ATTACH_P50_MS,
        "<=",
        "ms",
    )
    result.target(
        f"engine_attach_p99_ms_at_{top['bindings']}",
        top["attach_ms"].get("p99"),
        TARGET_ATTACH_P99_MS,
        "<=",
        "ms",
    )
    result.notes.append(
        "in process, one core, no sockets: the engines' share of each cost. LMA memory: "
        "tracemalloc after registration and one refresh; MAG memory: pair minus LMA alone"
    )
    return result


def table(lma_rows: Sequence[dict[str, Any]], mag_rows: Sequence[dict[str, Any]]) -> list[str]:
    """The curves as printable rows (also stored in results.json)."""
    lines = [
        "bindings  LMA us/reg  LMA us/refresh  LMA B/binding  MAG B/binding  "
        "MAG refresh CPU s/cycle (% core)  engine attach p50/p99 ms"
    ]
    mag_by_n = {row["bindings"]: row for row in mag_rows}
    for row in lma_rows:
        mag = mag_by_n.get(row["bindings"], {})
        attach = mag.get("attach_ms", {})
        refresh = (
            f"{mag['mag_cpu_s_per_refresh_cycle']:.3f} ({mag['mag_refresh_pct_of_core']:.2f}%)"
            if mag
            else "-"
        )
        lines.append(
            f"{row['bindings']:>8}  {row['register_us_per_pbu']:>10.2f}  "
            f"{row['refresh_us_per_pbu']:>14.2f}  {row['lma_bytes_per_binding']:>13.1f}  "
            f"{mag.get('mag_bytes_per_binding', '-')!s:>13}  {refresh:>32}  "
            f"{attach.get('median', '-')!s}/{attach.get('p99', '-')!s}"
        )
    return lines
