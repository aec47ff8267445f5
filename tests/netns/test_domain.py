"""A PMIPv6 domain of real daemons: one LMA and two MAGs in namespaces.

Handover, LMA crash and restart, 30% signalling loss, the IPv4 transport,
hostile packets, and tshark decoding a capture of the exchange. Every
namespace and process is removed by the Domain fixture, also on failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.domain import Domain, lma_binding_view
from lab.topology import wait_for
from tests.conftest import require_tool


def _domain(tmp_path: Path, **kw: Any) -> Iterator[Domain]:
    d = Domain(tmp_path / "domain", **kw)
    try:
        d.build()
        d.start()
        yield d
    except BaseException:
        for daemon in [d.lma, *d.mag]:
            if daemon is not None:
                sys.stderr.write(f"--- {daemon.host.name} log ---\n{daemon.log_text()[-4000:]}\n")
        raise
    finally:
        d.close()
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        assert d.lab.prefix not in left.stdout


@pytest.fixture
def domain(tmp_path: Path) -> Iterator[Domain]:
    yield from _domain(tmp_path)


def mac(i: int) -> str:
    return f"02:00:00:00:01:{i:02x}"


def settled(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["ok"] is True, answer
    assert answer["settled"] is True, answer
    binding: dict[str, Any] = answer["binding"]
    assert binding["state"] == "bound", answer
    return binding


def test_handover_keeps_prefix_and_ipv4_address(domain: Domain) -> None:
    assert domain.lma is not None
    first = settled(domain.attach(1, mac(1), "walker@example.org"))
    assert domain.lma.bindings()["walker@example.org"]["mag"] == domain.mag_address(1)
    # The station shows up at AP 2 (HI 3, MAG change); AP 1 notices its loss after.
    second = settled(
        domain.mag[1].request(
            {
                "cmd": "attach",
                "mac": mac(1),
                "mn_id": "walker@example.org",
                "handoff": "MAG_CHANGE",
                "wait_s": 5,
            },
            timeout_s=10,
        )
    )
    assert domain.detach(1, mac(1))["ok"] is True
    assert (second["hnp"], second["ipv4_hoa"]) == (first["hnp"], first["ipv4_hoa"])
    wait_for(lambda: not domain.mag[0].bindings(), 5, "MAG1 to let go")
    lma = domain.lma
    # MAG1 lets go by the protocol, whichever comes first: the LMA's handover BRI (its BRA
    # answers it), or the departure report's de-registration, acknowledged as late and ignored.
    assert lma.counters()["handover_bri_sent"] == 1
    wait_for(
        lambda: lma.counters()["bra_received"] + lma.counters()["late_deregistrations"] >= 1,
        5,
        "MAG1's BRA or its late de-registration at the LMA",
    )
    entry = lma.bindings()["walker@example.org"]
    assert entry["mag"] == domain.mag_address(2)
    assert entry["state"] == "registered"
    assert entry["handovers"] == 1
    assert lma_binding_view(entry) == lma_binding_view(second)


def test_capture_of_the_exchange_decodes_cleanly_in_tshark(domain: Domain) -> None:
    tshark = require_tool("tshark")
    pcap = domain.workdir / "mag1.pcap"
    cap = domain.capture("mag1", "uplink", pcap)
    try:
        binding = settled(domain.attach(1, mac(2), "cap@example.org"))
        assert domain.detach(1, mac(2))["ok"] is True
        wait_for(lambda: not domain.mag[0].bindings(), 5, "the de-registration")
        wait_for(
            lambda: _mh_types(tshark, pcap).count("6") >= 2,
            10,
            "both PBAs (registration and de-registration) in the capture file",
            interval_s=0.2,
        )
    finally:
        cap.terminate()
        cap.wait(timeout=10)
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-T", "json", "--no-duplicate-keys"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    frames = [f["_source"]["layers"] for f in json.loads(out.stdout)]
    assert "_ws.malformed" not in out.stdout and "_ws.expert" not in out.stdout
    mh = [_flatten(f["ipv6"]["mipv6"]) for f in frames if "mipv6" in f.get("ipv6", {})]
    types = [m["mip6.mhtype"][0] for m in mh]
    assert types.count("5") >= 2 and types.count("6") >= 2  # registration + de-registration
    pbu, pba = mh[types.index("5")], mh[types.index("6")]
    assert pbu["mip6.bu.p_flag"] == ["1"] and pbu["mip6.bu.a_flag"] == ["1"]
    assert pbu["mip6.mnid.identifier"] == ["cap@example.org"]
    assert pbu["mip6.mnlli.lli"][0].replace(":", "") == mac(2).replace(":", "")
    assert pba["mip6.ba.status"] == ["0"]
    assert pba["mip6.ba.seqnr"] == pbu["mip6.bu.seqnr"]
    hnp, plen = binding["hnp"].split("/")
    assert pba["mip6.nemo.mnp.mnp"] == [hnp] and pba["mip6.nemo.mnp.pfl"] == [plen]
    assert pba["mip6.ipv4ha.ha"] == [binding["ipv4_hoa"].split("/")[0]]
    assert pba["mip6.ipv4dra.dra"] == [binding["ipv4_default_router"]]
    lifetimes = [m["mip6.bu.lifetime"][0] for m in mh if m["mip6.mhtype"] == ["5"]]
    assert lifetimes[-1] == "0"  # the de-registration


def _mh_types(tshark: str, pcap: Path) -> list[str]:
    """MH types of the frames the capture file holds so far (it is still being written)."""
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-T", "fields", "-e", "mip6.mhtype"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [t for t in out.stdout.split() if t]


def _flatten(tree: Any, out: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    out = {} if out is None else out
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str):
                out.setdefault(key, []).append(value)
            else:
                _flatten(value, out)
    elif isinstance(tree, list):
        for item in tree:
            if isinstance(item, str):
                continue
            _flatten(item, out)
    return out


@pytest.fixture
def fast_domain(tmp_path: Path) -> Iterator[Domain]:
    """Heartbeats every 2 s and short retransmission caps, so failures heal quickly."""
    yield from _domain(
        tmp_path,
        mag_extra="heartbeat_interval_s = 2.0\nmax_bindack_timeout_s = 4.0\n",
        lma_extra="heartbeat_interval_s = 2.0\n",
    )


def test_lma_killed_for_20_s_then_restarted_every_binding_comes_back(
    fast_domain: Domain,
) -> None:
    d = fast_domain
    assert d.lma is not None
    for i in range(5):
        settled(d.attach(1 + i % 2, mac(i), f"mn{i}@example.org"))
    before = {mn: lma_binding_view(b) for mn, b in d.lma.bindings().items()}
    assert len(before) == 5
    wait_for(
        lambda: _lma_peers(d, "restart_counter") == [1, 1],
        10,
        "first heartbeats: both MAGs to learn the LMA's restart counter",
    )
    d.lma.kill()
    # The outage lasts 20 s (the scenario), and at least until both MAGs count the LMA lost.
    outage_ends = time.monotonic() + 20
    wait_for(
        lambda: _lma_peers(d, "lost") == [True, True] and time.monotonic() >= outage_ends,
        40,
        "a 20 s outage that both MAGs notice (heartbeats unanswered)",
        interval_s=0.2,
    )
    d.lma.start()
    # a new process: empty cache, restart counter bumped (RFC 5847)
    assert d.lma.request({"cmd": "status"})["runtime"]["restart_counter"] == 2

    def all_back() -> bool:
        assert d.lma is not None
        return {mn: lma_binding_view(b) for mn, b in d.lma.bindings().items()} == before

    wait_for(all_back, 20, "every binding to be re-registered at the restarted LMA")
    restarts = sum(m.counters()["peer_restarts"] for m in d.mag)
    assert restarts == 2  # each MAG saw the restart counter change once
    assert all(b["state"] == "bound" for m in d.mag for b in m.bindings().values())


def _lma_peers(d: Domain, key: str) -> list[Any]:
    """``key`` of the LMA peer in each MAG's status (heartbeat state, RFC 5847)."""
    values = []
    for m in d.mag:
        peers = [p for p in m.status()["peers"] if p["address"] == d.lma_service_address()]
        values.append(peers[0][key] if peers else None)
    return values


def test_thirty_percent_signalling_loss_still_binds_everyone(fast_domain: Domain) -> None:
    d = fast_domain
    lma = d.lab.hosts["lma"]
    rules = (
        "table inet lossy {\n"
        " chain in { type filter hook input priority 0; meta l4proto 135"
        " numgen random mod 100 < 30 counter drop; }\n"
        " chain out { type filter hook output priority 0; meta l4proto 135"
        " numgen random mod 100 < 30 counter drop; }\n"
        "}\n"
    )
    rules_file = d.workdir / "lossy.nft"
    rules_file.write_text(rules)
    lma.run("nft", "-f", str(rules_file))
    for i in range(20):
        answer = d.mag[i % 2].request({"cmd": "attach", "mac": mac(i), "mn_id": f"l{i}@x.org"})
        assert answer["ok"] is True

    def everyone_bound() -> bool:
        states = [b["state"] for m in d.mag for b in m.bindings().values()]
        return states == ["bound"] * 20

    wait_for(everyone_bound, 60, "all 20 bindings despite 30% loss")
    assert d.lma is not None and len(d.lma.bindings()) == 20
    dropped = lma.run("nft", "list", "table", "inet", "lossy")
    assert "packets 0 " not in dropped  # the loss really happened, both ways
    assert sum(m.counters()["retransmissions"] for m in d.mag) > 0


def test_ipv4_transport_registration_and_handover(tmp_path: Path) -> None:
    for d in _domain(tmp_path, transport="ipv4"):
        assert d.lma is not None
        first = settled(d.attach(1, mac(9), "v4@example.org"))
        second = settled(
            d.mag[1].request(
                {"cmd": "attach", "mac": mac(9), "mn_id": "v4@example.org", "wait_s": 5},
                timeout_s=10,
            )
        )
        assert (second["hnp"], second["ipv4_hoa"]) == (first["hnp"], first["ipv4_hoa"])
        assert d.lma.bindings()["v4@example.org"]["mag"] == d.mag_address(2)


def _send_garbage(d: Domain, host: str, dst: str, udp: bool) -> int:
    argv = [sys.executable, "-m", "lab.mhsend", dst, "--count", "300", "--seed", "5"]
    if udp:
        argv.append("--udp")
    return int(d.lab.hosts[host].run(*argv).strip())


@pytest.mark.parametrize("transport", ["ipv6", "ipv4"])
def test_hostile_packets_do_not_disturb_bindings(tmp_path: Path, transport: str) -> None:
    for d in _domain(tmp_path, transport=transport):
        assert d.lma is not None
        for i in range(3):
            settled(d.attach(1, mac(i), f"keep{i}@example.org"))
        lma_before = {mn: lma_binding_view(b) for mn, b in d.lma.bindings().items()}
        mag_before = {mn: lma_binding_view(b) for mn, b in d.mag[0].bindings().items()}
        udp = transport == "ipv4"
        assert _send_garbage(d, "mag1", d.lma_service_address(), udp) > 200
        assert _send_garbage(d, "lma", d.mag_address(1), udp) > 200
        # Still serving, and the sync point: this PBU queues behind the garbage at the
        # LMA's socket, and its PBA behind the garbage at the MAG's, so once it is bound
        # both daemons have read every hostile packet.
        settled(d.attach(1, mac(99), "after@example.org"))
        lma_after = {mn: lma_binding_view(b) for mn, b in d.lma.bindings().items()}
        assert lma_after.pop("after@example.org")
        assert lma_after == lma_before
        mag_after = {mn: lma_binding_view(b) for mn, b in d.mag[0].bindings().items()}
        assert mag_after.pop("after@example.org")
        assert mag_after == mag_before
        assert all(b["state"] == "bound" for b in d.mag[0].bindings().values())
        lma_c, mag_c = d.lma.counters(), d.mag[0].counters()
        assert lma_c["decode_errors"] > 0, lma_c
        assert mag_c["mh_decode_errors"] > 0, mag_c
