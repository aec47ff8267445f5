"""Runs inside the VM guest: the netlink datapath end to end on real tunnel modules.

CN - LMA - MAGs - MN in namespaces with real ``mag-ap`` daemons
(:class:`lab.datapath_lab.DatapathLab`), two domains:

* IPv6 transport: MAG1 and MAG2 use ``ip6tnl`` (mode any, encaplimit none),
  MAG3's profile asks for GRE keys (RFC 5845), so its MN gets a keyed ``ip6gre``
  tunnel; the MN pings the CN over IPv6 and IPv4, moves MAG1 -> MAG2 under a
  10 ms ping, and MAG1 is killed with ``SIGKILL`` and restarted;
* IPv4 transport (RFC 5844 section 4, MH in UDP 5436): MAG1 ``ipip`` (a sit
  device in mode any), MAG2 keyed ``gre``.

Each domain is started once and shared by the tests below, which run in file
order; each test puts the MN where it needs it. dumpcap writes the MAG-LMA link
to ``$GUEST_OUT/datapath/*.pcapng`` and the tests write what the host needs to
check the capture (addresses, negotiated keys, ping counts) to
``facts.json``; tests/vm/test_guest_datapath.py decodes with the host's tshark
(tshark would take minutes to start in the guest). Daemon logs go there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import e2e_datapath as e2e
from lab.datapath_lab import CN4, CN6, MN_MAC, DatapathLab
from lab.topology import wait_for

OUT = Path(os.environ.get("GUEST_OUT", "/tmp")) / "datapath"
FACTS = OUT / "facts.json"
# Python starts 35-45x slower in the guest; four daemons start at once on two vCPUs.
DAEMON_TIMEOUT_S = 240.0
TUNNEL_MODULES = ("ip6_tunnel", "ip6_gre", "ip_gre", "ipip", "sit")
# The LMA keeps a de-registered binding MinDelayBeforeBCEDelete (10 s by default) for
# a MAG that may still register it: 1 s lets each test start from a detached MN sooner.
LMA_KEYS: dict[str, object] = {"min_delay_before_bce_delete_s": 1.0}
HANDOVER_LOSS_BOUND = 50  # packets of a 10 ms ping, per family: a sane bound, not a timing


def record(section: str, values: dict[str, Any]) -> None:
    """Add ``values`` under ``section`` in facts.json (read by the host-side checks)."""
    facts = json.loads(FACTS.read_text()) if FACTS.exists() else {}
    facts[section] = values
    FACTS.write_text(json.dumps(facts, indent=2, sort_keys=True))


@contextlib.contextmanager
def started(name: str, workdir: Path, **kw: Any) -> Iterator[DatapathLab]:
    """A built and started lab; daemon logs are saved to the share whatever happens."""
    OUT.mkdir(parents=True, exist_ok=True)
    # As an access point loads its kmod packages at boot; the probe would load them too.
    subprocess.run(["modprobe", "-a", *TUNNEL_MODULES], check=True)
    lab = DatapathLab(workdir, daemon_timeout_s=DAEMON_TIMEOUT_S, lma_keys=LMA_KEYS, **kw)
    try:
        lab.build()
        lab.start()
        yield lab
    finally:
        d = lab.domain
        for daemon in [d.lma, *d.mag]:
            if daemon is not None:
                log = daemon.log_text()
                (OUT / f"{name}-{daemon.host.name}.log").write_text(log)
                sys.stderr.write(f"--- {name} {daemon.host.name} log ---\n{log[-3000:]}\n")
        lab.close()
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        assert d.lab.prefix not in left.stdout


@pytest.fixture(scope="module")
def v6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatapathLab]:
    workdir = tmp_path_factory.mktemp("v6")
    with started("v6", workdir, encapsulation="ip6tnl", mags=3, keyed_mags=(3,)) as lab:
        yield lab


@pytest.fixture(scope="module")
def v4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatapathLab]:
    workdir = tmp_path_factory.mktemp("v4")
    with started(
        "v4", workdir, encapsulation="ipip", transport="ipv4", mags=2, keyed_mags=(2,)
    ) as lab:
        yield lab


def fresh(lab: DatapathLab) -> None:
    """Detach the MN wherever it is and wait until the LMA has removed its routes."""
    if lab.mn_at is not None:
        lab.detach(lab.mn_at)
        lab.wait_datapath("lma", present=False, timeout_s=20)


def keyed_reattach(lab: DatapathLab, mag: int) -> None:
    """Attach at a keyed MAG and leave again, so that the next attach gets distinct keys.

    Both ends start handing out GRE keys at 1; the MAG's next key moves on while
    the LMA reuses its lowest free one: with uplink and downlink keys different,
    a swapped pair would show in the capture.
    """
    fresh(lab)
    lab.attach(mag)
    fresh(lab)


@contextlib.contextmanager
def capturing(lab: DatapathLab, mag: int, name: str) -> Iterator[Path]:
    pcap = OUT / f"{name}.pcapng"
    proc = lab.capture(f"mag{mag}", "uplink", pcap)
    try:
        yield pcap
    finally:
        lab.capture_stop(proc)


def endpoints(lab: DatapathLab, mag: int, binding: dict[str, Any]) -> dict[str, Any]:
    """What the host needs to pick the frames: outer and inner addresses."""
    return {
        "mag": lab.domain.mag_address(mag),
        "lma": lab.domain.lma_service_address(),
        "mn6": lab.hnp_address(binding).split("/")[0],
        "mn4": binding["ipv4_hoa"].split("/")[0],
        "cn6": CN6,
        "cn4": CN4,
    }


def only_tunnel(lab: DatapathLab, name: str) -> dict[str, Any]:
    tunnels = e2e.netlink_status(lab, name)["tunnels"]
    assert len(tunnels) == 1, tunnels
    found: dict[str, Any] = tunnels[0]
    return found


def assert_mtu_holds(lab: DatapathLab, mtu: int) -> None:
    """The largest IPv4 packet the tunnel MTU allows passes with DF set, one byte more does not."""
    fits = lab.ping(lab.mn, CN4, count=2, size=mtu - 28, dont_fragment=True)
    assert fits.received == 2, fits.output
    too_big = lab.ping(lab.mn, CN4, count=2, size=mtu - 27, dont_fragment=True)
    assert too_big.received == 0, too_big.output


def link_details(lab: DatapathLab, name: str, link: str) -> str:
    return lab.host(name).ip("-d", "link", "show", "dev", link)


# --- IPv6 transport -------------------------------------------------------------------


def test_ip6tnl_carries_both_families_through_mag_and_lma(v6: DatapathLab) -> None:
    with capturing(v6, 1, "ip6tnl") as pcap:
        binding = e2e.attach_and_ping(v6, 1)
    mag, lma = only_tunnel(v6, "mag1"), only_tunnel(v6, "lma")
    assert (mag["encapsulation"], lma["encapsulation"]) == ("ip6tnl", "ip6tnl")
    assert mag["peer"] == v6.domain.lma_service_address()
    assert lma["peer"] == v6.domain.mag_address(1)
    assert mag["mtu"] == lma["mtu"] == 1500 - 40
    details = link_details(v6, "mag1", mag["link"])
    assert "ip6tnl any remote 2001:db8:ff::1 local 2001:db8:f1::2 " in details, details
    assert " encaplimit none " in details, details
    assert_mtu_holds(v6, 1500 - 40)
    record("ip6tnl", {**endpoints(v6, 1, binding), "pcap": pcap.name})


def test_handover_under_a_10ms_ping_moves_the_lma_routes_to_mag2(v6: DatapathLab) -> None:
    if v6.mn_at != 1:
        fresh(v6)
        v6.attach(1)
    binding, six, four = e2e.handover_under_ping(v6, 2, interval_s=0.01)
    lost = {"ipv6": six.sent - six.received, "ipv4": four.sent - four.received}
    record("handover", {"sent": {"ipv6": six.sent, "ipv4": four.sent}, "lost": lost})
    sys.stderr.write(f"\nhandover MAG1 -> MAG2 under a 10 ms ping: lost {lost}\n")
    assert lost["ipv6"] <= HANDOVER_LOSS_BOUND, six.output
    assert lost["ipv4"] <= HANDOVER_LOSS_BOUND, four.output
    # The LMA's routes for the MN's prefixes go into its tunnel to MAG2 (and nowhere else).
    lma_link = only_tunnel(v6, "lma")["link"]
    assert "remote 2001:db8:f2::2 " in link_details(v6, "lma", lma_link)
    routes6 = v6.host("lma").ip("-6", "route", "show", "proto", "181")
    routes4 = v6.host("lma").ip("-4", "route", "show", "proto", "181")
    assert routes6.startswith(f"{binding['hnp']} dev {lma_link} "), routes6
    assert routes4.startswith(f"{binding['ipv4_hoa'].split('/')[0]} dev {lma_link} "), routes4
    assert len(routes6.splitlines()) == len(routes4.splitlines()) == 1


def test_gre_keys_negotiated_in_pbu_and_pba_key_the_ip6gre_tunnel(v6: DatapathLab) -> None:
    keyed_reattach(v6, 3)
    with capturing(v6, 3, "ip6gre") as pcap:
        binding = v6.attach(3)
        e2e.ping_both(v6)
    to_lma, from_lma = binding["gre_key_to_lma"], binding["gre_key_from_lma"]
    assert isinstance(to_lma, int) and isinstance(from_lma, int), binding
    assert to_lma != from_lma, binding
    mag, lma = only_tunnel(v6, "mag3"), only_tunnel(v6, "lma")
    assert mag["encapsulation"] == lma["encapsulation"] == "ip6gre"
    assert (mag["okey"], mag["ikey"]) == (to_lma, from_lma), mag
    assert (lma["okey"], lma["ikey"]) == (from_lma, to_lma), lma
    details = link_details(v6, "mag3", mag["link"])
    dotted = (".".join(str(b) for b in k.to_bytes(4, "big")) for k in (from_lma, to_lma))
    assert "ikey {} okey {} ".format(*dotted) in details, details
    assert " encaplimit none " in details, details
    record("ip6gre", {**endpoints(v6, 3, binding), "pcap": pcap.name,
                      "uplink_key": to_lma, "downlink_key": from_lma})  # fmt: skip


def test_kill_9_and_restart_removes_stale_objects_and_works_again(v6: DatapathLab) -> None:
    fresh(v6)
    removed = e2e.kill_and_restart_reconciles(v6, 1)
    record("kill", {"stale_removed": removed})
    assert removed >= 8  # link, router address, 4 routes, 2 rules


def test_clean_stop_leaves_nothing_in_any_namespace(v6: DatapathLab) -> None:
    assert v6.mn_at == 1  # still attached: the stop has work to do
    e2e.clean_stop_leaves_nothing(v6)


# --- IPv4 transport (RFC 5844 section 4) -----------------------------------------------


def test_ipv4_transport_ipip_carries_both_families(v4: DatapathLab) -> None:
    with capturing(v4, 1, "ipip") as pcap:
        binding = e2e.attach_and_ping(v4, 1)
    mag, lma = only_tunnel(v4, "mag1"), only_tunnel(v4, "lma")
    assert mag["encapsulation"] == lma["encapsulation"] == "ipip"
    assert mag["mtu"] == 1500 - 20
    details = link_details(v4, "mag1", mag["link"])
    assert "sit any remote 192.0.2.250 local 192.0.2.6 " in details, details
    record("ipip", {**endpoints(v4, 1, binding), "pcap": pcap.name})


def test_ipv4_transport_gre_with_negotiated_keys(v4: DatapathLab) -> None:
    keyed_reattach(v4, 2)
    with capturing(v4, 2, "gre") as pcap:
        binding = v4.attach(2)
        e2e.ping_both(v4)
    to_lma, from_lma = binding["gre_key_to_lma"], binding["gre_key_from_lma"]
    assert isinstance(to_lma, int) and isinstance(from_lma, int) and to_lma != from_lma, binding
    mag, lma = only_tunnel(v4, "mag2"), only_tunnel(v4, "lma")
    assert mag["encapsulation"] == lma["encapsulation"] == "gre"
    assert (mag["okey"], mag["ikey"]) == (to_lma, from_lma), mag
    assert (lma["okey"], lma["ikey"]) == (from_lma, to_lma), lma
    assert mag["mtu"] == lma["mtu"] == 1500 - 28  # IPv4 20 + GRE 4 + key 4
    assert_mtu_holds(v4, 1500 - 28)
    record("gre", {**endpoints(v4, 2, binding), "pcap": pcap.name,
                   "uplink_key": to_lma, "downlink_key": from_lma})  # fmt: skip


def test_a_foreign_tunnel_on_our_endpoints_fails_that_binding_only(v4: DatapathLab) -> None:
    """The kernel allows one sit tunnel per endpoint pair: a clear error, the MAG lives on."""
    fresh(v4)
    # The datapath keeps an idle sit device of its own until stop (keep_idle_links): a clean
    # stop removes it, so the foreign tunnel below is the only one on these endpoints.
    daemon = v4.domain.mag[0]
    assert daemon.stop(v4.daemon_timeout_s) == 0, daemon.log_text()[-3000:]
    v4.restart(1)
    mag1 = v4.host("mag1")
    mag1.ip("link", "add", "foreign0", "type", "sit", "mode", "any",
            "local", "192.0.2.6", "remote", "192.0.2.250")  # fmt: skip
    answer = v4.domain.attach(1, MN_MAC, v4.mn_id)
    assert answer["binding"]["state"] == "bound", answer
    wait_for(
        lambda: e2e.netlink_status(v4, "mag1")["counters"]["apply_failures"] == 1,
        10,
        "the failed apply",
    )
    status = e2e.netlink_status(v4, "mag1")
    error = status["recent_failures"][-1]["error"]
    assert "another sit tunnel from 192.0.2.6 to 192.0.2.250 exists" in error, error
    assert status["mobile_nodes"] == 0, status
    assert v4.tagged_state("mag1") == []
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert "foreign0" in mag1.ip("-o", "link", "show")  # left alone
    mag1.ip("link", "del", "foreign0")


def test_ipv4_transport_clean_stop_leaves_nothing(v4: DatapathLab) -> None:
    e2e.clean_stop_leaves_nothing(v4)
