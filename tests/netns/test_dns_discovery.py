"""LMA discovery (RFC 6097) against a REAL DNS server: dnsmasq in a lab namespace.

dnsmasq (``--conf-file=/dev/null --no-resolv --no-hosts``, listening only on the
namespace's addresses) serves host records for the LMA's FQDN. Proven: the
provider resolves AAAA and A, keeps an answer for its TTL (one query, then a new
one when the TTL ran out, counted in dnsmasq's own query log), NXDOMAIN gives no
address, a dead first DNS server fails over to the second; and the MAG daemon
(in-process, IPv4 transport, with a real LMA daemon) registers with the FQDN's
second address when the first LMA does not answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from lab.domain import Daemon
from lab.radius_lab import run_in_netns
from lab.topology import Host, Lab, wait_for
from mag_ap_dns import parse_settings
from mag_ap_dns._resolver_io import DnsLmaDiscovery
from tests.conftest import require_tool

FQDN = "lma.example.net"
DNS6 = "2001:db8:dd::53"


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_tool("dnsmasq")
    with Lab() as lab:
        host = lab.add_host("mag")
        host.ip("addr", "add", f"{DNS6}/128", "dev", "lo", "nodad")
        yield lab


def _dnsmasq(host: Host, tmp_path: Path, *records: str, ttl_s: int = 30) -> Path:
    log = tmp_path / "dnsmasq.log"
    argv = [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={DNS6}",
        "--listen-address=127.0.0.53",
        "--port=53",
        "--local=/example.net/",  # authoritative here: unknown names get NXDOMAIN
        f"--local-ttl={ttl_s}",
        "--log-queries",
        "--log-facility=-",
        f"--pid-file={tmp_path}/dnsmasq.pid",
        "--user=root",
        *(f"--host-record={r}" for r in records),
    ]
    host.spawn(argv, log)
    wait_for(lambda: "started, version" in log.read_text(errors="replace"), 10, "dnsmasq")
    return log


def _queries(log: Path, qtype: str) -> int:
    return log.read_text(errors="replace").count(f"query[{qtype}] {FQDN}")


def test_resolves_respects_ttl_and_fails_over_between_dns_servers(lab: Lab, tmp_path: Path) -> None:
    host = lab.hosts["mag"]
    log = _dnsmasq(host, tmp_path, f"{FQDN},2001:db8:1::1,198.51.100.1", ttl_s=30)
    now = [0.0]
    settings = parse_settings({"servers": ["127.0.0.9", DNS6], "timeout_s": 0.5})
    provider = DnsLmaDiscovery(settings, clock=lambda: now[0])

    def resolve(name: str, transport: str) -> list[Any]:
        return run_in_netns(host.netns, provider.resolve(name, transport))

    assert resolve(FQDN, "ipv6") == [IPv6Address("2001:db8:1::1")]
    assert provider.counters["unreachable"] == 1  # 127.0.0.9: nobody listens, next server
    assert resolve(FQDN, "ipv4") == [IPv4Address("198.51.100.1")]
    assert (_queries(log, "AAAA"), _queries(log, "A")) == (1, 1)
    now[0] = 29.0  # within the 30 s TTL: from the cache
    assert resolve(FQDN.upper(), "ipv6") == [IPv6Address("2001:db8:1::1")]
    assert _queries(log, "AAAA") == 1 and provider.counters["cache_hits"] == 1
    now[0] = 30.5  # expired: asked again
    assert resolve(FQDN, "ipv6") == [IPv6Address("2001:db8:1::1")]
    assert _queries(log, "AAAA") == 2
    assert resolve("nothing.example.net", "ipv6") == []
    assert provider.counters["nxdomain"] == 1
    assert provider.counters["bad_answers"] == provider.counters["server_failures"] == 0


def _daemons(host: Host, tmp_path: Path) -> tuple[Daemon, Daemon]:
    """An LMA on 127.0.0.1 and a MAG that finds it through DNS, in one namespace."""
    texts = {
        "lma": """
[lma]
own_address = "127.0.0.1"
""",
        "mag": f"""
[mag]
own_address = "127.0.0.2"
initial_bindack_timeout_first_reg_s = 0.2
initial_bindack_timeout_s = 0.2
max_bindack_timeout_s = 0.4
[plugin.dns]
servers = ["127.0.0.53"]
[plugin.localpolicy.default]
lma_fqdn = "{FQDN}"
""",
    }
    daemons = []
    for role, body in texts.items():
        workdir = tmp_path / role
        workdir.mkdir()
        head = (
            f'[daemon]\nrole = "{role}"\ntransport = "ipv4"\n'
            f'control_socket = "{workdir / "control.sock"}"\nstate_dir = "{workdir / "state"}"\n'
        )
        daemons.append(Daemon(role, host, workdir, head + body))
    return daemons[0], daemons[1]


def test_the_mag_fails_over_to_the_next_address_of_the_lma(lab: Lab, tmp_path: Path) -> None:
    """Real ``mag-ap lma`` and ``mag-ap run`` processes in the namespace (control sockets)."""
    host = lab.hosts["mag"]
    # the first record names 127.0.0.7, where nothing listens; the second the real LMA
    _dnsmasq(host, tmp_path, f"{FQDN},127.0.0.7", f"{FQDN},127.0.0.1", ttl_s=0)
    order = run_in_netns(
        host.netns,
        DnsLmaDiscovery(parse_settings({"servers": ["127.0.0.53"]})).resolve(FQDN, "ipv4"),
    )
    assert set(order) == {IPv4Address("127.0.0.7"), IPv4Address("127.0.0.1")}
    lma, mag = _daemons(host, tmp_path)
    lma.start()
    mag.start()

    def binding(mac: str) -> dict[str, Any] | None:
        rows = mag.status()["bindings"]
        found = [r for r in rows if r["mac"] == mac and r["state"] == "bound"]
        return found[0] if found else None

    def is_bound(mac: str) -> bool:
        return binding(mac) is not None

    # TTL 0 and dnsmasq's rotation of the two records: within a few attaches the
    # dead address comes first; every station must end up bound to the live LMA.
    dead_first = 0
    for i in range(1, 7):
        mac = f"02:00:00:00:00:0{i}"
        ans = mag.request({"cmd": "attach", "mac": mac, "mn_id": f"mn{i}@example.net"})
        assert ans["ok"], ans
        wait_for(partial(is_bound, mac), 30, f"binding of {mac}")
        row = binding(mac)
        assert row is not None and row["lma"] == "127.0.0.1"
        if ans["lma"] == "127.0.0.7":
            dead_first += 1
            break
    assert dead_first == 1, "DNS never named the dead LMA first"
    status = mag.request({"cmd": "status"})
    assert status["runtime"]["mag"]["lma_failovers"] == 1
