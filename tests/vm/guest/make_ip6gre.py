"""Runs inside the VM guest: ip6gre devices with GRE keys, created through pyroute2.

pyroute2 0.9.7 encodes ``ip6gre_iflags``/``ip6gre_oflags`` in host byte order
while the kernel reads them as big-endian, so the GRE Key flag (0x2000 on the
wire) must be passed as 0x0020 on x86. The third device passes 0x2000 to show
what happens otherwise: the kernel silently builds a tunnel without a key.
Usage: make_ip6gre.py MAG_NETNS LMA_NETNS
"""

from __future__ import annotations

import sys

from pyroute2 import IPRoute

GRE_KEY_FLAG_HOST_ORDER = 0x0020  # GRE_KEY (0x2000, network order) as pyroute2 wants it
GRE_KEY_FLAG_NETWORK_ORDER = 0x2000  # the wrong value: kernel sees 0x0020, no key
IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1  # "encaplimit none": no destination options header
MAG, LMA = "2001:db8:1::1", "2001:db8:1::2"
MAG_OKEY, LMA_OKEY = 0x1001, 0x2002  # uplink and downlink GRE keys


def add_ip6gre(
    netns: str, ifname: str, *, local: str, remote: str, ikey: int, okey: int, flags: int
) -> None:
    with IPRoute(netns=netns) as ipr:
        ipr.link(
            "add",
            ifname=ifname,
            kind="ip6gre",
            ip6gre_local=local,
            ip6gre_remote=remote,
            ip6gre_ikey=ikey,
            ip6gre_okey=okey,
            ip6gre_iflags=flags,
            ip6gre_oflags=flags,
            ip6gre_flags=IP6_TNL_F_IGN_ENCAP_LIMIT,
        )


def main(mag_netns: str, lma_netns: str) -> None:
    keyed = GRE_KEY_FLAG_HOST_ORDER
    add_ip6gre(mag_netns, "gre6", local=MAG, remote=LMA, ikey=LMA_OKEY, okey=MAG_OKEY, flags=keyed)
    add_ip6gre(lma_netns, "gre6", local=LMA, remote=MAG, ikey=MAG_OKEY, okey=LMA_OKEY, flags=keyed)
    # Another remote, so it does not collide with the keyed tunnel above.
    wrong = GRE_KEY_FLAG_NETWORK_ORDER
    add_ip6gre(
        mag_netns, "gre6net", local=MAG, remote="2001:db8:1::99", ikey=7, okey=7, flags=wrong
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
