"""A hostile LMA for tests: a raw protocol-135 responder that grants what it is told.

Run inside a namespace: ``python -m lab.hostile_lma LMA_ADDRESS GRANTS_JSON``.
GRANTS_JSON maps an MN-ID to the values its accepted PBA carries (``hnp``:
"prefix/len", ``hoa``: "address/len", ``router``: "address"); a de-registration is
acknowledged with lifetime 0. Every PBU is answered once, on the wire, with the
project's codec: nothing of the MAG is bypassed. One line per answer on stdout.
"""

from __future__ import annotations

import json
import socket
import sys
from ipaddress import IPv4Address, IPv6Address

from mag_ap.core.mn_id import mn_key
from mag_ap.mh import (
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4HomeAddressReply,
    MobileNodeIdentifier,
    MobilityOption,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    decode_message,
    encode_message,
)


def answer(pbu: ProxyBindingUpdate, grants: dict[str, dict[str, str]]) -> bytes:
    mn_option = pbu.find(MobileNodeIdentifier)
    assert mn_option is not None
    grant = grants.get(mn_key(mn_option), {})
    options: list[MobilityOption] = [mn_option]
    if pbu.lifetime_s and "hnp" in grant:
        prefix, plen = grant["hnp"].split("/")
        options.append(HomeNetworkPrefix(prefix=IPv6Address(prefix), prefix_length=int(plen)))
    if pbu.lifetime_s and "hoa" in grant:
        address, plen = grant["hoa"].split("/")
        options.append(IPv4HomeAddressReply(address=IPv4Address(address), prefix_length=int(plen)))
    if pbu.lifetime_s and "router" in grant:
        options.append(IPv4DefaultRouterAddress(address=IPv4Address(grant["router"])))
    pba = ProxyBindingAcknowledgement(
        status=0, sequence=pbu.sequence, lifetime_s=pbu.lifetime_s, p=True, options=tuple(options)
    )
    return encode_message(pba)


def main() -> None:
    own, grants = sys.argv[1], json.loads(sys.argv[2])
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135)
    sock.bind((own, 0))
    print("listening", flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            msg = decode_message(data)
        except ValueError:
            continue
        if isinstance(msg, ProxyBindingUpdate):
            sock.sendto(answer(msg, grants), peer)
            print(f"answered seq={msg.sequence} lifetime={msg.lifetime_s}", flush=True)


if __name__ == "__main__":
    main()
