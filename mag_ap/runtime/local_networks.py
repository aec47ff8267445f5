"""The AP's own networks, read once at start from /proc (no pyroute2 in the core).

They go into ``MagSettings.local_networks``: an LMA granting a prefix or an IPv4
home address that overlaps them would have the datapath route the AP's own
subnets to a station (mag_ap/core/pba_checks.py). Host addresses and host routes
(/128, /32) are left out: the datapath and the DHCP plugin add those per station
(the default router's /32, a station's /32 route), and a restart after a crash
must not read them back as the AP's own networks. Link-local and loopback are
refused by the checks anyway.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

IF_INET6 = Path("/proc/net/if_inet6")
ROUTE4 = Path("/proc/net/route")


def ipv6_networks(text: str) -> list[IPv6Network]:
    """Networks of ``/proc/net/if_inet6`` lines (address, index, plen, scope, flags, name)."""
    out: list[IPv6Network] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        try:
            address = IPv6Address(bytes.fromhex(fields[0]))
            plen = int(fields[2], 16)
        except ValueError:
            continue
        if plen >= 128 or address.is_link_local or address.is_loopback:
            continue
        net = IPv6Network((address, plen), strict=False)
        if net not in out:
            out.append(net)
    return out


def ipv4_networks(text: str) -> list[IPv4Network]:
    """On-link (gateway 0) non-default, non-host routes of ``/proc/net/route``."""
    out: list[IPv4Network] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dst, gateway, mask = (int(fields[i], 16) for i in (1, 2, 7))
        except ValueError:
            continue
        if gateway or not mask:
            continue
        # The kernel prints these words in host byte order.
        dst_a = IPv4Address(socket.ntohl(dst))
        plen = bin(mask).count("1")  # a netmask's bit count is byte-order free
        if plen >= 32:
            continue
        net = IPv4Network((dst_a, plen), strict=False)
        if net not in out:
            out.append(net)
    return out


def read_local_networks() -> tuple[IPv4Network | IPv6Network, ...]:
    """IPv6 networks of the interface addresses and IPv4 on-link routes, now."""
    found: list[IPv4Network | IPv6Network] = []
    for path, parse in ((IF_INET6, ipv6_networks), (ROUTE4, ipv4_networks)):
        try:
            text = path.read_text()
        except OSError:
            continue  # no IPv6 (or no /proc): nothing to add
        found.extend(parse(text))
    return tuple(found)


__all__ = ["ipv4_networks", "ipv6_networks", "read_local_networks"]
