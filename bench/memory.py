"""Memory per binding of the MAG and of the LMA (tracemalloc, in process, no root).

A MAG and an LMA protocol object are wired back to back (each datagram handed
over at once, one shared simulated clock) and ``n`` stations attach. The
Python heap each engine holds is what tracemalloc attributes to it: a block
belongs to the LMA when ``mag_ap/lma/`` is on the stack that allocated it,
to the MAG when ``mag_ap/core/`` is (and the LMA is not). The bindings are
then refreshed once, so what a refresh leaves behind counts too.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from ipaddress import IPv6Address
from typing import Any

from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import LmaSettings, MagSettings, MobileNodeProfile
from mag_ap.lma.protocol import LmaProtocol

from .common import mac_of, mn_id_of

LMA_ADDRESS = IPv6Address("2001:db8:ff::1")
MAG_ADDRESS = IPv6Address("2001:db8:f1::2")
UNIX_EPOCH_AT_ZERO = 1_700_000_000.0
TARGET_MAG_B = 600.0
TARGET_LMA_B = 500.0
_FRAMES = 12  # deep enough to reach mag_ap/ from inside ipaddress, dataclasses, heapq


def _pump(mag: MagProtocol, lma: LmaProtocol, now: float) -> int:
    """Deliver datagrams both ways until both are quiet; how many went MAG -> LMA."""
    sent = 0
    for _ in range(1_000_000):
        out = mag.datagrams_to_send(now)
        back = lma.datagrams_to_send(now)
        if not out and not back:
            break
        for d in out:
            lma.receive_datagram(d.data, MAG_ADDRESS, now)
            sent += 1
        for d in back:
            mag.receive_datagram(d.data, LMA_ADDRESS, now)
        while mag.next_action() is not None:
            pass
        while lma.next_action() is not None:
            pass
    return sent


def _owned(snapshot: tracemalloc.Snapshot) -> tuple[int, int]:
    """(MAG bytes, LMA bytes) of a snapshot, attributed by the allocating stack."""
    mag_b = lma_b = 0
    for stat in snapshot.statistics("traceback"):
        files = [frame.filename for frame in stat.traceback]
        if any("/mag_ap/lma/" in f for f in files):
            lma_b += stat.size
        elif any("/mag_ap/core/" in f for f in files):
            mag_b += stat.size
    return mag_b, lma_b


def run_pair(n: int, *, lifetime_s: int = 400, refresh_before_s: float = 100.0) -> dict[str, Any]:
    """Attach ``n`` stations to a MAG served by an LMA; bytes per binding in each."""
    gc.collect()
    tracemalloc.start(_FRAMES)
    try:
        now = 1000.0
        lma = LmaProtocol(
            LmaSettings(own_address=LMA_ADDRESS), wall_clock_offset_s=UNIX_EPOCH_AT_ZERO
        )
        mag = MagProtocol(
            MagSettings(
                own_address=MAG_ADDRESS, lifetime_s=lifetime_s, refresh_before_s=refresh_before_s
            ),
            wall_clock_offset_s=UNIX_EPOCH_AT_ZERO,
        )
        _pump(mag, lma, now)
        gc.collect()
        base_mag, base_lma = _owned(tracemalloc.take_snapshot())
        t0 = time.perf_counter()
        for i in range(n):
            profile = MobileNodeProfile(mn_id=mn_id_of(i), lma_address=LMA_ADDRESS)
            mag.attach(mac_of(i), profile, now)
            if i % 256 == 255:
                _pump(mag, lma, now)
        _pump(mag, lma, now)
        attach_s = time.perf_counter() - t0
        bound = sum(1 for b in mag.status(now)["bindings"] if b.get("state") == "bound")
        # One refresh of every binding, the timers as the driver would run them.
        refresh_at = now + lifetime_s - refresh_before_s + 1.0
        while (at := mag.get_timer()) is not None and at <= refresh_at:
            mag.handle_timer(at)
            lma.handle_timer(at)
            _pump(mag, lma, at)
        now = refresh_at
        gc.collect()
        mag_b, lma_b = _owned(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    return {
        "bindings": n,
        "bound": bound,
        "lma_counters_refreshes": lma.counters["refreshes"],
        "mag_bytes_per_binding": round((mag_b - base_mag) / n, 1),
        "lma_bytes_per_binding": round((lma_b - base_lma) / n, 1),
        "attach_wall_s_traced": round(attach_s, 3),
    }


__all__ = ["TARGET_LMA_B", "TARGET_MAG_B", "run_pair"]
