"""Faults against real daemons in namespaces.

A PBU flood from an unauthorized MAG: the numbers (1,000 PBUs/s, attach latency
under it) are in bench/unauth_flood.py; here the behaviour at a lower rate:
nothing from the intruder is accepted, each refusal is counted, and the
legitimate MAG still registers its stations. The MAG killed with SIGKILL in the
middle of a handover: its restart removes what the dead process left in the
kernel, and the station registers there again with its prefix and address.
(The LMA down then back is tests/netns/test_domain.py; the numbers for 1,000
bindings and a 60 s outage are bench/lma_outage.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.unauth_flood import AUTHORIZED, NOT_AUTHORIZED, flood_argv
from lab import e2e_datapath as e2e
from lab.datapath_lab import MN_MAC, datapath_lab
from lab.domain import Domain
from lab.topology import wait_for

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


def test_mag_killed_mid_handover_reconciles_kernel_state_and_reregisters(
    tmp_path: Path,
) -> None:
    with datapath_lab(tmp_path / "dp") as lab:
        first = e2e.attach_and_ping(lab, 1)
        target = lab.domain.mag[1]
        assert target.proc is not None
        # The MN moves to MAG2, which dies once it has registered it and installed its
        # routes, before the move completes (MAG1 still holds it, the MN is still there).
        answer = target.request(
            {"cmd": "attach", "mac": MN_MAC, "mn_id": lab.mn_id, "handoff": "MAG_CHANGE"}
        )
        assert answer["ok"] is True, answer
        lma = lab.domain.lma
        assert lma is not None
        wait_for(
            lambda: lma.bindings()[lab.mn_id]["mag"] == lab.domain.mag_address(2),
            10,
            "the LMA to move the binding to MAG2",
        )
        # MAG2 has installed the MN's routes; MAG1 still holds it, the MN has not moved.
        lab.wait_datapath("mag2", present=True)
        os.kill(target.proc.pid, signal.SIGKILL)
        target.proc.wait(timeout=10)
        stale = lab.tagged_state("mag2")
        assert stale, "MAG2 died with the MN installed: its objects must be left behind"
        lab.restart(2)
        assert target.starts == 2
        removed = int(e2e.netlink_status(lab, "mag2")["counters"]["stale_removed"])
        assert removed == len(stale), (removed, stale)
        # the MN's objects are gone; the seg6 endpoint is built again at start
        assert lab.mn_state("mag2") == [], lab.tagged_state("mag2")
        assert target.bindings() == {}  # nothing remembered but the restart counter
        # The station registers again at the restarted MAG2 (as its access layer
        # reports it anew): same prefix and address, traffic flows, MAG1 lets go.
        second = lab.handover(2)
        assert (second["hnp"], second["ipv4_hoa"]) == (first["hnp"], first["ipv4_hoa"])
        e2e.ping_both(lab)
        tunnels = e2e.netlink_status(lab, "lma")["tunnels"]
        assert {t["peer"] for t in tunnels} == {lab.domain.mag_address(2)}, tunnels
        wait_for(lambda: e2e.netlink_status(lab, "mag1")["mobile_nodes"] == 0, 10, "MAG1 to let go")
        assert lab.mn_state("mag1") == [], lab.mn_state("mag1")
        assert list(lma.bindings()) == [lab.mn_id]
        assert lma.bindings()[lab.mn_id]["mag"] == lab.domain.mag_address(2)
