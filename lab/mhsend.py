"""Send hostile Mobility Header traffic at a daemon (lab and test tool).

``python -m lab.mhsend DST --count N [--seed S] [--udp]`` sends a mix of
random bytes, truncations and bit-flipped copies of valid PBU/PBA/heartbeat
messages. Over IPv6 the kernel fills the MH checksum (raw protocol-135
socket), so the garbage reaches the daemon's parser instead of being dropped
by the kernel; with ``--udp`` it goes to UDP port 5436 (IPv4 transport).
``--valid`` sends well-formed PBUs instead (one MN-ID each: a forged MAG, for the
IPsec tests). Only for namespaces a test created: it sends to exactly the address
given.
"""

from __future__ import annotations

import argparse
import random
import socket
from collections.abc import Sequence
from ipaddress import IPv6Address, ip_address

from mag_ap.mh import (
    Heartbeat,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    encode_message,
)
from mag_ap.mh.constants import IPPROTO_MH, PMIP6_UDP_CONTROL_PORT


def _seeds() -> list[bytes]:
    """Valid messages that hostile packets are mutated from."""
    mn = MobileNodeIdentifier.nai("victim@example.org")
    return [
        encode_message(
            ProxyBindingUpdate(sequence=1, lifetime_s=40, options=(mn, HomeNetworkPrefix()))
        ),
        encode_message(ProxyBindingAcknowledgement(sequence=1, lifetime_s=40, options=(mn,))),
        encode_message(Heartbeat(sequence=7)),
    ]


def hostile_packets(count: int, seed: int) -> list[bytes]:
    """A reproducible list of malformed or mutated Mobility Headers."""
    rng = random.Random(seed)
    seeds = _seeds()
    out: list[bytes] = []
    for i in range(count):
        base = bytearray(rng.choice(seeds))
        kind = i % 4
        if kind == 0:
            out.append(rng.randbytes(rng.randint(8, 64)))
            continue
        if kind == 1:
            del base[rng.randint(6, len(base) - 1) :]
        else:
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(6, len(base))  # keep the checksum field for the kernel
                base[at] ^= 1 << rng.randrange(8)
        base[0] = 59
        out.append(bytes(base))
    return out


def valid_pbus(count: int, seed: int) -> list[bytes]:
    """Well-formed registrations an unprotected LMA would accept from anyone authorized."""
    return [
        encode_message(
            ProxyBindingUpdate(
                sequence=(seed + i) & 0xFFFF,
                lifetime_s=40,
                options=(MobileNodeIdentifier.nai(f"forged{i}@example.org"), HomeNetworkPrefix()),
            )
        )
        for i in range(count)
    ]


def send(dst: str, packets: Sequence[bytes], udp: bool) -> int:
    """Send each packet once; the number the kernel accepted."""
    addr = ip_address(dst)
    if udp:
        family = socket.AF_INET6 if isinstance(addr, IPv6Address) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        target: tuple[str, int] = (dst, PMIP6_UDP_CONTROL_PORT)
    else:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        target = (dst, 0)
    sent = 0
    with sock:
        for pkt in packets:
            try:
                sock.sendto(pkt, target)
                sent += 1
            except OSError:
                pass  # e.g. too short for the kernel to place a checksum
    return sent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.mhsend", description=__doc__)
    parser.add_argument("dst")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--udp", action="store_true", help="UDP 5436 (IPv4 transport)")
    parser.add_argument("--valid", action="store_true", help="well-formed PBUs, not garbage")
    args = parser.parse_args(argv)
    make = valid_pbus if args.valid else hostile_packets
    print(send(args.dst, make(args.count, args.seed), args.udp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
