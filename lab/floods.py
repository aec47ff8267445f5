"""Access-link floods from forged MACs, run inside a test namespace (raw AF_PACKET).

``python -m lab.floods IFNAME KINDS COUNT RATE_PER_S [FIRST]`` sends, for each of
COUNT distinct MACs (02:f1:00:00:00:00 + FIRST + i), one frame per kind in
KINDS (comma-separated: ``dhcp`` a broadcast DHCPDISCOVER whose chaddr and
Ethernet source are that MAC; ``rs`` a Router Solicitation from it with its
Source Link-Layer Address option), paced at RATE_PER_S MACs per second, then
prints ``sent N`` (frames) and exits. A forged MAC never repeats: what a
DHCP-starvation tool does, and what a per-MAC limit cannot stop.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

from mag_ap_dhcp4._packet import DhcpMessage, MessageType, encode, encode_udp_frame
from mag_ap_ra._packet import (
    ALL_ROUTERS,
    Frame,
    RouterSolicitation,
    SourceLinkLayerAddress,
    encode_frame,
    multicast_mac,
)

BASE_MAC = 0x02F100000000


def forged_mac(i: int) -> bytes:
    """The i-th forged MAC: locally administered, unicast, distinct for i < 2**32."""
    return (BASE_MAC + i).to_bytes(6, "big")


def discover(mac: bytes, xid: int) -> bytes:
    msg = DhcpMessage(
        message_type=MessageType.DHCPDISCOVER, xid=xid, chaddr=mac + bytes(10), flags=0x8000
    )
    return encode_udp_frame(
        src_mac=mac, dst_mac=b"\xff" * 6, src_ip=IPv4Address(0),
        dst_ip=IPv4Address("255.255.255.255"), src_port=68, dst_port=67, payload=encode(msg),
    )  # fmt: skip


def solicitation(mac: bytes) -> bytes:
    link_local = IPv6Address(0xFE80 << 112 | int.from_bytes(mac, "big"))
    rs = RouterSolicitation((SourceLinkLayerAddress(mac),))
    return encode_frame(Frame(multicast_mac(ALL_ROUTERS), mac, link_local, ALL_ROUTERS, rs))


def solicitation_of(mac: bytes, i: int) -> bytes:
    del i
    return solicitation(mac)


BUILDERS: dict[str, Callable[[bytes, int], bytes]] = {"dhcp": discover, "rs": solicitation_of}


def flood(ifname: str, kinds: list[str], count: int, rate_per_s: float, first: int = 0) -> int:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((ifname, 0))
    sent = 0
    started = time.monotonic()
    try:
        for i in range(count):
            mac = forged_mac(first + i)
            for kind in kinds:
                try:
                    sock.send(BUILDERS[kind](mac, first + i))
                    sent += 1
                except BlockingIOError:
                    pass  # the qdisc is full: that frame is lost, as on a real link
            delay = started + (i + 1) / rate_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        sock.close()
    return sent


def main() -> None:
    ifname, kinds, count, rate = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
    first = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    unknown = set(kinds) - set(BUILDERS)
    if unknown:
        raise SystemExit(f"unknown flood kinds: {sorted(unknown)}")
    print(f"sent {flood(ifname, kinds, int(count), float(rate), first)}", flush=True)


if __name__ == "__main__":
    main()
