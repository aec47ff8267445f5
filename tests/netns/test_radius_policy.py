"""The RADIUS policy plugin (RFC 6572) against a REAL FreeRADIUS in a lab namespace.

``mag`` and ``aaa`` namespaces joined by a veth; freeradius (own config tree, its
stock RFC 6572 dictionary, ``require_message_authenticator = yes`` for our
client) answers from a ``users`` file; the plugin's provider runs in a thread
inside ``mag``. Proven: an Access-Accept becomes the profile (LMA, HNP, IPv4 HoA,
APN, lifetime) over IPv6 and IPv4; an Access-Reject and a wrong User-Password
give None; the request freeradius decoded carries our Calling-Station-Id,
NAS-IPv6-Address, NAS-Identifier and Service-Type; a refused, a silent and a
live server in that order fail over to the live one, which is asked first
afterwards; a wrong shared secret gets no binding; radclient independently sees
the same PMIPv6 attributes that the plugin mapped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Any

import pytest

from lab.radius_lab import FreeRadius, radclient, run_in_netns
from lab.topology import Lab, wait_for
from mag_ap.core.types import MobileNodeProfile
from mag_ap_radius import RadiusServer, RadiusSettings
from mag_ap_radius._client_io import RadiusPolicy
from tests.conftest import require_tool

SECRET = "lab-s3cret"
MAC = "02:00:5e:00:00:01"
USERS = """\
"mn1@example.net"	Auth-Type := Accept
	PMIP6-Home-LMA-IPv6-Address = 2001:db8:1::1,
	PMIP6-Home-LMA-IPv4-Address = 198.51.100.1,
	PMIP6-Home-HN-Prefix = 2001:db8:100:1::/64,
	PMIP6-Home-IPv4-HoA = 10.200.0.5/32,
	PMIP6-Home-DHCP6-Server-Address = 2001:db8:1::53,
	Service-Selection = "internet",
	Framed-MTU = 1400,
	Session-Timeout = 3600

"pw@example.net"	Cleartext-Password := "mac-auth"
	Framed-IP-Address = 10.200.0.9,
	Framed-IPv6-Prefix = 2001:db8:100:9::/64

"bad@example.net"	Auth-Type := Reject
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_tool("freeradius")
    require_tool("radclient")
    with Lab() as lab:
        mag = lab.add_host("mag")
        aaa = lab.add_host("aaa")
        lab.link(mag, "mag0", aaa, "aaa0")
        mag.ip("addr", "add", "2001:db8:aa::1/64", "dev", "mag0", "nodad")
        aaa.ip("addr", "add", "2001:db8:aa::2/64", "dev", "aaa0", "nodad")
        mag.ip("addr", "add", "192.0.2.1/24", "dev", "mag0")
        aaa.ip("addr", "add", "192.0.2.2/24", "dev", "aaa0")
        yield lab


def _radiusd(lab: Lab, tmp_path: Path, port: int = 1812) -> FreeRadius:
    server = FreeRadius(
        lab.hosts["aaa"],
        tmp_path,
        listen=["2001:db8:aa::2", "192.0.2.2"],
        clients=["2001:db8:aa::/64", "192.0.2.0/24"],
        secret=SECRET,
        users=USERS,
        port=port,
    )
    server.start()
    return server


def _settings(*servers: tuple[str, int, str], **kw: Any) -> RadiusSettings:
    return RadiusSettings(
        enabled=True,
        servers=tuple(RadiusServer(ip_address(a), s.encode(), p) for a, p, s in servers),
        **kw,
    )


def _ask(lab: Lab, policy: RadiusPolicy, mn_id: str) -> MobileNodeProfile | None:
    return run_in_netns(lab.hosts["mag"].netns, policy.profile_for(mn_id, MAC))


def test_accept_maps_the_pmipv6_attributes_and_reject_refuses(lab: Lab, tmp_path: Path) -> None:
    server = _radiusd(lab, tmp_path)
    policy = RadiusPolicy(_settings(("2001:db8:aa::2", 1812, SECRET), nas_identifier="ap-17"))
    profile = _ask(lab, policy, "mn1@example.net")
    assert profile is not None
    assert profile.lma_address == IPv6Address("2001:db8:1::1")
    assert profile.hnp == IPv6Network("2001:db8:100:1::/64")
    assert profile.ipv4_address == IPv4Address("10.200.0.5")
    assert profile.service_selection == "internet"
    assert profile.lifetime_s == 3600
    auth = policy.last["mn1@example.net"]
    assert auth.dhcp6_server == IPv6Address("2001:db8:1::53")
    assert (auth.framed_mtu, auth.problems) == (1400, ())

    assert _ask(lab, policy, "bad@example.net") is None
    assert (policy.counters["accepts"], policy.counters["rejects"]) == (1, 1)
    assert policy.counters["bad_authenticator"] == 0

    # freeradius decoded our request (and checked our Message-Authenticator: it requires one)
    log = server.log_text()
    assert 'Calling-Station-Id = "02-00-5E-00-00-01"' in log
    assert "NAS-IPv6-Address = 2001:db8:aa::1" in log
    assert 'NAS-Identifier = "ap-17"' in log
    assert "Service-Type = Framed-User" in log
    assert "Insecure packet" not in log


def test_user_password_and_ipv4_transport(lab: Lab, tmp_path: Path) -> None:
    server = _radiusd(lab, tmp_path)
    good = RadiusPolicy(
        _settings(
            ("192.0.2.2", 1812, SECRET),
            password=b"mac-auth",
            transport="ipv4",
            lma_address=IPv4Address("198.51.100.7"),
        )
    )
    profile = _ask(lab, good, "pw@example.net")
    assert profile is not None
    assert profile.lma_address == IPv4Address("198.51.100.7")  # default
    assert profile.ipv4_address == IPv4Address("10.200.0.9")
    assert profile.hnp == IPv6Network("2001:db8:100:9::/64")
    # IPv4 transport: the Accept's IPv4 LMA wins over the default
    named = _ask(lab, good, "mn1@example.net")
    assert named is not None
    assert named.lma_address == IPv4Address("198.51.100.1")
    assert "NAS-IP-Address = 192.0.2.1" in server.log_text()

    wrong = RadiusPolicy(_settings(("192.0.2.2", 1812, SECRET), password=b"guess"))
    assert _ask(lab, wrong, "pw@example.net") is None
    assert wrong.counters["rejects"] == 1


def test_failover_past_a_refusing_and_a_silent_server(lab: Lab, tmp_path: Path) -> None:
    _radiusd(lab, tmp_path)
    aaa = lab.hosts["aaa"]
    # a server that reads every request and never answers (a hung AAA)
    sink = (
        "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
        "s.bind(('2001:db8:aa::2', 1814))\nwhile True: s.recv(4096)"
    )
    aaa.spawn([sys.executable, "-c", sink], tmp_path / "sink.log")
    wait_for(lambda: ":1814 " in aaa.run("ss", "-Hunl", "sport = :1814"), 10, "silent server")
    policy = RadiusPolicy(
        _settings(
            ("2001:db8:aa::2", 1899, SECRET),  # nothing listens: ICMP port unreachable
            ("2001:db8:aa::2", 1814, SECRET),  # silent
            ("2001:db8:aa::2", 1812, SECRET),  # freeradius
            timeout_s=0.5,
            tries=2,
        )
    )
    profile = _ask(lab, policy, "mn1@example.net")
    assert profile is not None
    assert profile.lma_address == IPv6Address("2001:db8:1::1")
    c = policy.counters
    assert (c["unreachable"], c["timeouts"], c["retransmits"], c["failovers"]) == (1, 2, 1, 2)
    # the server that answered is asked first next time: no new failover
    assert _ask(lab, policy, "mn1@example.net") is not None
    assert c["failovers"] == 2
    assert policy.status()["preferred"] == "[2001:db8:aa::2]:1812"


def test_wrong_shared_secret_gets_no_binding(lab: Lab, tmp_path: Path) -> None:
    server = _radiusd(lab, tmp_path)
    policy = RadiusPolicy(_settings(("2001:db8:aa::2", 1812, "not-the-secret"), timeout_s=0.3))
    assert _ask(lab, policy, "mn1@example.net") is None
    assert policy.counters["no_answer"] == 1
    assert policy.counters["accepts"] == 0
    # freeradius refused our Message-Authenticator, computed with the wrong secret
    wait_for(lambda: "Message-Authenticator" in server.log_text(), 5, "freeradius complaint")


def test_radclient_sees_what_the_plugin_mapped(lab: Lab, tmp_path: Path) -> None:
    _radiusd(lab, tmp_path)
    out = radclient(
        lab.hosts["mag"],
        "[2001:db8:aa::2]:1812",
        SECRET,
        'User-Name = "mn1@example.net", Message-Authenticator = 0x00',
    )
    assert "Received Access-Accept" in out, out
    policy = RadiusPolicy(_settings(("2001:db8:aa::2", 1812, SECRET)))
    profile = _ask(lab, policy, "mn1@example.net")
    assert profile is not None
    assert f"PMIP6-Home-LMA-IPv6-Address = {profile.lma_address}" in out
    assert f"PMIP6-Home-HN-Prefix = {profile.hnp}" in out
    assert f"PMIP6-Home-IPv4-HoA = {profile.ipv4_address}/32" in out
    assert f'Service-Selection = "{profile.service_selection}"' in out
    assert f"Session-Timeout = {profile.lifetime_s}" in out
