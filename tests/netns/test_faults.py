"""Faults against real daemons in namespaces: a PBU flood from an unauthorized MAG.

The numbers (1,000 PBUs/s, attach latency under it) are in bench/unauth_flood.py;
here the behaviour at a lower rate: nothing from the intruder is accepted, each
refusal is counted, and the legitimate MAG still registers its stations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.unauth_flood import AUTHORIZED, NOT_AUTHORIZED, flood_argv
from lab.domain import Domain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Domain]:
    """LMA accepting mag1 only; mag1 runs its daemon, mag2 runs none (the intruder)."""
    d = Domain(tmp_path / "domain", mags=2, lma_extra=f'authorized_mags = ["{AUTHORIZED}"]\n')
    try:
        d.build()
        assert d.lma is not None
        d.lma.start()
        d.mag[0].start()
        yield d
    except BaseException:
        for daemon in (d.lma, d.mag[0]):
            if daemon is not None:
                sys.stderr.write(f"--- {daemon.host.name} log ---\n{daemon.log_text()[-4000:]}\n")
        raise
    finally:
        d.close()
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        assert d.lab.prefix not in left.stdout


def test_unauthorized_flood_refused_and_legitimate_mag_still_registers(guarded: Domain) -> None:
    assert guarded.lma is not None
    argv = guarded.lab.hosts["mag2"].exec_argv(
        flood_argv(guarded.lma_service_address(), rate=200, duration_s=3.0)
    )
    flooder = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        bound = []
        for i in range(3):
            answer = guarded.attach(1, f"02:00:00:00:0f:{i:02x}", f"legit{i}@example.net")
            assert answer["ok"] is True and answer["settled"] is True, answer
            assert answer["binding"]["state"] == "bound", answer
            bound.append(f"legit{i}@example.net")
        out, err = flooder.communicate(timeout=30)
    finally:
        if flooder.poll() is None:
            flooder.kill()
            flooder.wait()
    assert flooder.returncode == 0, err
    gen = json.loads(out.strip().splitlines()[-1])
    assert gen["sent"] >= 500, gen
    assert gen["accepted"] == 0, gen
    assert gen["rejected"] > 0, gen
    counters = guarded.lma.counters()
    assert counters["pba_sent_rejected"].get(NOT_AUTHORIZED, 0) >= gen["rejected"], counters
    assert counters["registrations"] == len(bound), counters
    lma_bindings = guarded.lma.bindings()
    assert sorted(lma_bindings) == sorted(bound), lma_bindings
    assert all(b["mag"] == guarded.mag_address(1) for b in lma_bindings.values()), lma_bindings
    assert guarded.lma.proc is not None and guarded.lma.proc.poll() is None
