"""Helpers run inside a test namespace: the DHCPv4 plugin's IO, and a DISCOVER flood.

``python -m lab.dhcp4_lab serve CONFIG_JSON`` runs the plugin's real
:class:`Dhcp4Service` (sockets on the access interface). It stands in for the
MAG daemon only in how bindings arrive: the test writes JSON lines on stdin
(``{"op": "up", "mac", "hoa", "router", "lifetime_s"}``, ``{"op": "down", "mac"}``,
``{"op": "status"}``) and reads events as JSON lines on stdout (``ready``,
``attached``, ``detached``, ``status``).

``python -m lab.dhcp4_lab flood IFNAME COUNT RATE_PER_S`` sends COUNT
DHCPDISCOVERs from random MACs, paced, as Ethernet broadcasts, then exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from ipaddress import IPv4Address, IPv4Interface, IPv6Address

from mag_ap.core.types import BindingDown, BindingUp
from mag_ap_dhcp4._io import Dhcp4Service
from mag_ap_dhcp4._packet import DhcpMessage, MessageType, encode, encode_udp_frame
from mag_ap_dhcp4._settings import parse_dhcp4

from .harness import PrintSink, emit

LMA = IPv6Address("2001:db8::1")


async def _serve(config_json: str) -> None:
    service = Dhcp4Service(parse_dhcp4(json.loads(config_json)))
    await service.start()
    runner = asyncio.ensure_future(service.run(PrintSink()))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit(event="ready", pid=os.getpid())
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            if cmd["op"] == "up":
                await service.apply(
                    BindingUp(
                        mn_id=f"{cmd['mac']}@example.org",
                        mac=cmd["mac"],
                        lma=LMA,
                        hnp=None,
                        ipv4_hoa=IPv4Interface(cmd["hoa"]),
                        ipv4_default_router=IPv4Address(cmd["router"]),
                        gre_key_to_lma=None,
                        gre_key_from_lma=None,
                        lifetime_s=int(cmd.get("lifetime_s", 3600)),
                    )
                )
                emit(event="applied", mac=cmd["mac"])
            elif cmd["op"] == "down":
                await service.apply(
                    BindingDown(
                        mn_id=f"{cmd['mac']}@example.org",
                        mac=cmd["mac"],
                        lma=LMA,
                        hnp=None,
                        ipv4_hoa=None,
                        reason="test",
                    )
                )
                emit(event="applied", mac=cmd["mac"])
            elif cmd["op"] == "status":
                emit(event="status", status=service.status())
    finally:
        runner.cancel()
        await service.stop()
        emit(event="stopped")


def _flood(ifname: str, count: int, rate_per_s: float) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((ifname, 0))
    started = time.monotonic()
    for i in range(count):
        mac = bytes([0x02]) + os.urandom(5)
        msg = DhcpMessage(
            message_type=MessageType.DHCPDISCOVER, xid=i, chaddr=mac + bytes(10), flags=0x8000
        )
        frame = encode_udp_frame(
            src_mac=mac, dst_mac=b"\xff" * 6, src_ip=IPv4Address(0),
            dst_ip=IPv4Address("255.255.255.255"), src_port=68, dst_port=67, payload=encode(msg),
        )  # fmt: skip
        sock.send(frame)
        delay = started + (i + 1) / rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sock.close()
    print(f"sent {count}")


def main() -> None:
    if sys.argv[1] == "serve":
        asyncio.run(_serve(sys.argv[2]))
    elif sys.argv[1] == "flood":
        _flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}")


if __name__ == "__main__":
    main()
