"""IPsec ESP on the signalling (RFC 5213 section 4), in the guest: the host kernel has no ESP.

Runs inside its own VM guest, booted by tests/vm/test_ipsec.py (not by the shared
``guest_pytest`` boot: these scenarios start seven daemons, minutes under TCG); the
host kernel here has XFRM but neither esp4/esp6 nor rfc4106(gcm(aes)). Real
``mag-ap`` daemons in a ``lab.domain.Domain`` (LMA + 2 MAGs, IPv6 transport) with
``[ipsec] mode = "static"`` and random keys, plus a third namespace that forges
PBUs; then a wrong-key pair and an IPv4-transport pair. dumpcap writes the LMA's
links to ``$GUEST_OUT/ipsec/*.pcapng`` and the facts to ``facts.json``;
tests/vm/test_ipsec.py decodes the captures on the host with tshark (only ESP with
the configured SPIs, no cleartext MH or UDP 5436).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lab.datapath_lab import pcapng_packets
from lab.domain import Daemon, Domain, domain_of_one
from lab.topology import Host, hold, wait_for

OUT = Path(os.environ.get("GUEST_OUT", "/tmp")) / "ipsec"
FACTS = OUT / "facts.json"
MN = "walker@example.org"
# Python starts 35-45x slower in the TCG guest than on the host, more on a busy machine.
DAEMON_TIMEOUT_S = 90.0


def start_all(domain: Domain) -> None:
    """LMA, then the MAGs together (each install their SAs before their first packet)."""
    assert domain.lma is not None
    domain.lma.start(DAEMON_TIMEOUT_S)
    with ThreadPoolExecutor(len(domain.mag)) as pool:
        for future in [pool.submit(m.start, DAEMON_TIMEOUT_S) for m in domain.mag]:
            future.result()


def stop(daemon: Daemon | None) -> int:
    assert daemon is not None
    return daemon.stop(DAEMON_TIMEOUT_S)


def _fact(section: str, values: dict[str, Any]) -> None:
    facts = json.loads(FACTS.read_text()) if FACTS.exists() else {}
    facts[section] = values
    FACTS.write_text(json.dumps(facts, indent=2, sort_keys=True))


def _peer(address: str, spi_in: int, spi_out: int, key_in: str, key_out: str) -> str:
    return (
        f'[[ipsec.peer]]\naddress = "{address}"\nspi_in = {spi_in}\nspi_out = {spi_out}\n'
        f'key_in = "{key_in}"\nkey_out = "{key_out}"\n'
    )


def protect(domain: Domain, *, wrong_key_mag: int | None = None) -> dict[str, Any]:
    """Give every daemon of ``domain`` an [ipsec] section; MAG ``i`` uses SPIs 0x1000+2i(+1)."""
    assert domain.lma is not None
    head = '\n[ipsec]\nmode = "static"\nalgorithm = "aes-gcm-128"\n'
    lma_peers = ""
    spis: dict[str, Any] = {}
    for i, mag in enumerate(domain.mag, start=1):
        up, down = secrets.token_hex(20), secrets.token_hex(20)  # MAG->LMA, LMA->MAG
        spi_up, spi_down = 0x1000 + 2 * i, 0x1001 + 2 * i
        lma_peers += _peer(domain.mag_address(i), spi_up, spi_down, up, down)
        mag_up = secrets.token_hex(20) if i == wrong_key_mag else up
        mag.config_text += head + _peer(
            domain.lma_service_address(), spi_down, spi_up, down, mag_up
        )
        spis[f"mag{i}"] = {"up": spi_up, "down": spi_down}
    domain.lma.config_text += head + lma_peers
    return spis


def xfrm(host: Host, what: str) -> str:
    return host.ip("xfrm", what)


def xfrm_stat(host: Host) -> dict[str, int]:
    """/proc/net/xfrm_stat of the host's namespace (the kernel's IPsec drop counters)."""
    text = host.run("cat", "/proc/net/xfrm_stat")
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}


@contextlib.contextmanager
def capture(host: Host, ifname: str, path: Path) -> Iterator[None]:
    """dumpcap on ``ifname`` (every frame) until the file holds what crossed the link."""
    log = path.with_suffix(".log")
    log.unlink(missing_ok=True)  # spawn appends: an old "File:" line must not pass the wait
    proc = host.spawn(["dumpcap", "-q", "-i", ifname, "-w", str(path)], log)

    def crossed() -> int:
        stats = json.loads(host.ip("-j", "-s", "link", "show", "dev", ifname))[0]["stats64"]
        return int(stats["rx"]["packets"]) + int(stats["tx"]["packets"])

    wait_for(
        lambda: proc.poll() is None and "File: " in log.read_text(errors="replace"),
        30,
        "dumpcap to open the link",
    )
    before = crossed()
    try:
        yield
    finally:
        want = crossed() - before
        try:
            wait_for(
                lambda: proc.poll() is not None or pcapng_packets(path) >= want,
                30,
                f"dumpcap to write the {want} frames that crossed",
                interval_s=0.1,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def settled(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("ok") is True, answer
    binding: dict[str, Any] = answer["binding"]
    assert binding["state"] == "bound", binding
    return binding


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Domain]:
    OUT.mkdir(parents=True, exist_ok=True)
    d = Domain(
        tmp_path_factory.mktemp("ipsec"),
        mags=2,
        lma_extra="min_delay_before_bce_delete_s = 1\n",
    )
    try:
        d.build()
        lma = d.lab.hosts["lma"]
        evil = d.lab.add_host("evil")
        d.lab.link(lma, "to-evil", evil, "uplink")
        lma.ip("addr", "add", "2001:db8:fe::1/64", "dev", "to-evil")
        evil.ip("addr", "add", "2001:db8:fe::2/64", "dev", "uplink")
        evil.ip("-6", "route", "add", f"{d.lma_service_address()}/128", "via", "2001:db8:fe::1")
        _fact("spis", protect(d))
        start_all(d)
        yield d
    finally:
        for daemon in [d.lma, *d.mag]:
            if daemon is not None:
                with contextlib.suppress(FileNotFoundError):
                    (OUT / f"{daemon.host.name}.log").write_text(daemon.log_text())
        d.close()


def test_each_daemon_installed_its_plan(domain: Domain) -> None:
    lma = domain.lab.hosts["lma"]
    assert xfrm(lma, "state").count("proto esp") == 4  # in + out per MAG
    policy = xfrm(lma, "policy")
    assert policy.count("dir out") == 2 and policy.count("dir in") == 1
    assert "src ::/0 dst 2001:db8:ff::1/128 proto mobility-header" in policy
    assert "aead rfc4106(gcm(aes))" in xfrm(lma, "state")
    for i in (1, 2):
        mag = domain.lab.hosts[f"mag{i}"]
        assert xfrm(mag, "state").count("proto esp") == 2
    runtime = domain.mag[0].request({"cmd": "status"})["runtime"]
    assert runtime["ipsec"] == {"mode": "static", "states": 2, "policies": 2, "auth_failures": 0}


def test_registration_and_handover_under_esp(domain: Domain) -> None:
    assert domain.lma is not None
    lma_host = domain.lab.hosts["lma"]
    with capture(lma_host, "to-mag1", OUT / "mag1-lma.pcapng"):
        first = settled(domain.attach(1, "02:00:00:00:0a:01", MN))
        second = settled(
            domain.mag[1].request(
                {
                    "cmd": "attach",
                    "mac": "02:00:00:00:0a:01",
                    "mn_id": MN,
                    "handoff": "MAG_CHANGE",
                    "wait_s": 5,
                },
                timeout_s=10,
            )
        )
        assert domain.detach(1, "02:00:00:00:0a:01")["ok"] is True
        wait_for(lambda: not domain.mag[0].bindings(), 10, "MAG1 to let go")
        lma = domain.lma
        wait_for(
            lambda: lma.counters()["bra_received"] + lma.counters()["late_deregistrations"] >= 1,
            10,
            "MAG1's BRA or its late de-registration at the LMA",
        )
    assert (second["hnp"], second["ipv4_hoa"]) == (first["hnp"], first["ipv4_hoa"])
    entry = lma.bindings()[MN]
    assert entry["mag"] == domain.mag_address(2)
    assert entry["handovers"] == 1
    # every signalling packet went through the SAs: the kernel's per-SA packet counters
    states = lma_host.ip("-s", "xfrm", "state")
    sa_up = states[states.index("spi 0x00001002") :]
    packets = re.search(r"lifetime current:\s+\d+\(bytes\), (\d+)\(packets\)", sa_up)
    assert packets is not None and int(packets.group(1)) >= 2, states  # PBU + de-registration
    _fact("handover", {"hnp": first["hnp"], "mn": MN})


def test_forged_pbu_from_a_third_namespace_is_dropped_by_the_kernel(domain: Domain) -> None:
    assert domain.lma is not None
    lma_host, evil = domain.lab.hosts["lma"], domain.lab.hosts["evil"]
    received = domain.lma.counters()["pbu_received"]
    bindings = set(domain.lma.bindings())
    stat_before = xfrm_stat(lma_host)
    with capture(lma_host, "to-evil", OUT / "evil-lma.pcapng"):
        argv = [sys.executable, "-m", "lab.mhsend", domain.lma_service_address()]
        sent = int(evil.run(*argv, "--valid", "--count", "20", timeout_s=DAEMON_TIMEOUT_S))
        assert sent == 20
        # the kernel counts each unprotected packet a policy requires ESP for
        wait_for(
            lambda: (
                xfrm_stat(lma_host)["XfrmInTmplMismatch"] >= stat_before["XfrmInTmplMismatch"] + 20
            ),
            10,
            "the LMA's kernel to refuse the 20 forged PBUs",
        )
    hold(
        lambda: domain.lma is not None and domain.lma.counters()["pbu_received"] == received,
        1.0,
        "the LMA daemon never sees a forged PBU",
    )
    assert set(domain.lma.bindings()) == bindings
    _fact("forged", {"sent": sent, "source": "2001:db8:fe::2"})


def test_sigkill_leftovers_are_reconciled_at_restart(domain: Domain) -> None:
    mag1, host = domain.mag[0], domain.lab.hosts["mag1"]
    mag1.kill()
    assert xfrm(host, "state").count("proto esp") == 2  # left behind by SIGKILL
    mag1.start(DAEMON_TIMEOUT_S)
    assert xfrm(host, "state").count("proto esp") == 2  # replaced, not doubled
    assert xfrm(host, "policy").count("dir ") == 2
    assert "removed 4 leftover SAs and policies" in mag1.log_text()
    settled(domain.attach(1, "02:00:00:00:0a:02", "again@example.org"))


def test_clean_stop_removes_exactly_what_was_installed(domain: Domain) -> None:
    # a foreign SA and policy of the administrator's stay untouched
    lma_host = domain.lab.hosts["lma"]
    lma_host.ip(
        "xfrm", "state", "add", "src", "2001:db8:fe::2", "dst", "2001:db8:fe::1", "proto", "esp",
        "spi", "0x4242", "mode", "transport", "aead", "rfc4106(gcm(aes))",
        "0x" + "11" * 20, "128",
    )  # fmt: skip
    for daemon in [*domain.mag, domain.lma]:
        assert stop(daemon) == 0
    for name in ("mag1", "mag2"):
        host = domain.lab.hosts[name]
        assert (xfrm(host, "state").strip(), xfrm(host, "policy").strip()) == ("", "")
    assert xfrm(lma_host, "policy").strip() == ""
    assert xfrm(lma_host, "state").count("spi 0x00004242") == 1
    assert xfrm(lma_host, "state").count("proto esp") == 1


def test_a_wrong_key_means_no_registration_and_a_clear_log(tmp_path: Path) -> None:
    with domain_of_one(tmp_path) as d:
        assert d.lma is not None
        protect(d, wrong_key_mag=1)
        start_all(d)
        lma, mag = d.lma, d.mag[0]
        answer = d.attach(1, "02:00:00:00:0a:03", "wrongkey@example.org", wait_s=3)
        assert not (answer.get("ok") and answer.get("binding", {}).get("state") == "bound")
        wait_for(
            lambda: "failed authentication" in lma.log_text(), 10, "the LMA to log the bad key"
        )
        line = next(x for x in lma.log_text().splitlines() if "failed authentication" in x)
        assert d.mag_address(1) in line and "0x1002" in line, line
        assert lma.request({"cmd": "status"})["runtime"]["ipsec"]["auth_failures"] >= 1
        assert lma.counters()["pbu_received"] == 0
        assert not lma.bindings()
        for daemon in (mag, lma):
            assert stop(daemon) == 0


def test_ipv4_transport_protects_udp_5436(tmp_path: Path) -> None:
    with domain_of_one(tmp_path, "ipv4") as d:
        assert d.lma is not None
        protect(d)
        start_all(d)
        lma, mag = d.lma, d.mag[0]
        policy = xfrm(d.lab.hosts["lma"], "policy")
        assert "src 0.0.0.0/0 dst 192.0.2.250/32 proto udp dport 5436" in policy, policy
        with capture(d.lab.hosts["lma"], "to-mag1", OUT / "ipv4-mag1-lma.pcapng"):
            settled(d.attach(1, "02:00:00:00:0a:04", "v4@example.org"))
            assert d.detach(1, "02:00:00:00:0a:04")["ok"] is True
            wait_for(lambda: not mag.bindings(), 10, "the de-registration")
        for daemon in (mag, lma):
            assert stop(daemon) == 0
        for host in d.lab.hosts.values():
            assert xfrm(host, "state").strip() == ""
