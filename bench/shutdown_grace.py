"""The MAG's shutdown grace period: what each de-registration PBA costs the daemon.

During a clean stop the daemon de-registers every binding and waits until the
list is empty. The driver re-checks that wait's predicate after every event, so
the predicate runs once per PBA. Until the runtime issue (12) it was "the status
has no binding rows", a rebuild of every remaining binding's status (O(n) per
PBA, O(n^2) for the whole stop); now it is ``MagProtocol.binding_count``.

In process, no root: ``n`` bindings are registered against a bare ``LmaProtocol``,
the MAG shuts down, and the LMA's PBAs are fed back one at a time with the
predicate evaluated after each, once per way of asking. Both ways must see the
list empty after exactly the last PBA. ``python -m bench.shutdown_grace`` prints
JSON (and writes it with ``--out``); nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

from mag_ap.core.mag import MagProtocol
from mag_ap.core.types import Datagram, LmaSettings, MagSettings, MobileNodeProfile
from mag_ap.lma.protocol import LmaProtocol
from mag_ap.runtime.status_view import bindings_of

LMA_ADDRESS = IPv6Address("2001:db8:ff::1")
MAG_ADDRESS = IPv6Address("2001:db8:f1::2")
UNIX_EPOCH_AT_ZERO = 1_700_000_000.0  # simulated clock: unix time = now + this

Predicate = Callable[[MagProtocol, float], bool]

#: The grace period's "every binding is gone", before and after the change.
PREDICATES: dict[str, Predicate] = {
    "status_rebuild": lambda mag, now: not bindings_of(mag.status(now)),
    "binding_count": lambda mag, now: mag.binding_count == 0,
}


def _drain(mag: MagProtocol, now: float) -> list[Datagram]:
    while mag.next_action() is not None:
        pass
    return mag.datagrams_to_send(now)


def _answers(lma: LmaProtocol, pbus: Sequence[Datagram], now: float) -> list[bytes]:
    out: list[bytes] = []
    for pbu in pbus:
        lma.receive_datagram(pbu.data, MAG_ADDRESS, now)
        out.extend(d.data for d in lma.datagrams_to_send(now))
        while lma.next_action() is not None:
            pass
    return out


def _bound_mag(n: int) -> tuple[MagProtocol, list[bytes], float]:
    """A MAG with ``n`` bindings, shut down; the LMA's de-registration PBAs, not yet fed."""
    mag = MagProtocol(
        MagSettings(own_address=MAG_ADDRESS, heartbeat_interval_s=0.0),
        wall_clock_offset_s=UNIX_EPOCH_AT_ZERO,
    )
    lma = LmaProtocol(
        LmaSettings(own_address=LMA_ADDRESS, min_delay_before_bce_delete_s=0.0),
        wall_clock_offset_s=UNIX_EPOCH_AT_ZERO,
    )
    now = 1000.0
    for i in range(n):
        mac = f"02:00:00:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"
        profile = MobileNodeProfile(mn_id=f"mn{i}@bench.example", lma_address=LMA_ADDRESS)
        mag.attach(mac, profile, now)
    for pba in _answers(lma, _drain(mag, now), now):
        mag.receive_datagram(pba, LMA_ADDRESS, now)
    _drain(mag, now)
    if mag.binding_count != n or not all(mag.attach_settled(r["mac"]) for r in _rows(mag, now)):
        raise RuntimeError("not every binding came up")
    now += 1.0
    mag.shutdown(now)
    return mag, _answers(lma, _drain(mag, now), now), now


def _rows(mag: MagProtocol, now: float) -> list[dict[str, Any]]:
    return [dict(r) for r in bindings_of(mag.status(now))]


def measure(n: int, predicate: Predicate) -> dict[str, Any]:
    """Feed the ``n`` de-registration PBAs, evaluating ``predicate`` after each, as the driver."""
    mag, pbas, now = _bound_mag(n)
    if len(pbas) != n:
        raise RuntimeError(f"{len(pbas)} PBAs for {n} de-registrations")
    checks = 0
    done_after: int | None = None
    predicate_s = 0.0
    wall0 = time.perf_counter()
    for count, pba in enumerate(pbas, start=1):
        mag.receive_datagram(pba, LMA_ADDRESS, now)
        _drain(mag, now)
        t0 = time.perf_counter()
        done = predicate(mag, now)
        predicate_s += time.perf_counter() - t0
        checks += 1
        if done and done_after is None:
            done_after = count
    wall_s = time.perf_counter() - wall0
    if done_after != n:
        raise RuntimeError(f"the list looked empty after {done_after} of {n} PBAs")
    return {
        "pbas": n,
        "predicate_checks": checks,
        "predicate_total_ms": round(predicate_s * 1000, 3),
        "predicate_us_per_pba": round(predicate_s * 1e6 / checks, 3),
        "grace_total_ms": round(wall_s * 1000, 3),
    }


def run(n: int = 2000) -> dict[str, Any]:
    """Both predicates at ``n`` bindings, and how much the count saves."""
    out: dict[str, Any] = {"bindings": n}
    for name, predicate in PREDICATES.items():
        out[name] = measure(n, predicate)
    before = out["status_rebuild"]["predicate_total_ms"]
    after = out["binding_count"]["predicate_total_ms"]
    out["speedup"] = round(before / after, 1) if after > 0 else None
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shutdown_grace", description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="bindings to de-register")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    text = json.dumps(run(args.n), indent=2) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
