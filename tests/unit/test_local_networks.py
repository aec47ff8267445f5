"""The AP's own networks from /proc text: interface prefixes and on-link IPv4 routes only."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from mag_ap.runtime.local_networks import ipv4_networks, ipv6_networks, read_local_networks

IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
20010db8aaaa00000000000000000002 02 40 00 80    uplink
fe800000000000000000000000000001 02 40 20 80    uplink
20010db8010000010000000000000001 03 80 00 80    access
20010db8aaaa00000000000000000003 04 40 00 80    second
garbage
"""

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
br0\t0500C80A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0
lan\t0000A8C0\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_ipv6_interface_prefixes_without_host_link_local_or_loopback() -> None:
    assert ipv6_networks(IF_INET6) == [IPv6Network("2001:db8:aaaa::/64")]


def test_ipv4_on_link_routes_without_default_or_host_routes() -> None:
    assert ipv4_networks(ROUTE) == [IPv4Network("192.0.2.0/24"), IPv4Network("192.168.0.0/16")]


def test_reading_this_machine_gives_networks_and_no_default() -> None:
    for net in read_local_networks():
        assert net.prefixlen > 0
