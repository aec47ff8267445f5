"""Runs the RA service and the access triggers in a namespace, driven over stdin/stdout.

The netns tests start it with ``ip netns exec``: the sockets must live in the
MAG's namespace. stdin takes JSON lines ``{"op": "up", "mac", "hnp",
"lifetime_s"}``, ``{"op": "down", "mac"}``, ``{"op": "status"}``; stdout gets
JSON lines ``ready``, ``attached``, ``detached`` and ``status``. The sink is a
recorder standing in for the daemon (no LMA in this tier): the providers,
sockets and kernel are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import sys
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from mag_ap.core.types import BindingDown, BindingUp
from mag_ap_linkwatch import parse_linkwatch_config
from mag_ap_linkwatch._io import AccessWatch
from mag_ap_ra import parse_ra_config
from mag_ap_ra._io import RaService, RsTrigger

from .harness import PrintSink, emit

LMA = IPv6Address("2001:db8::1")


async def main(ra_section: dict[str, Any], triggers_section: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    services: list[RaService | AccessWatch] = []
    tasks = []
    sink = PrintSink()
    ra_cfg = parse_ra_config(ra_section)
    if ra_cfg.active:
        ra = RaService(ra_cfg)
        services.append(ra)
        tasks.append(asyncio.ensure_future(RsTrigger(ra).run(sink)))
    trig_cfg = parse_linkwatch_config(triggers_section)
    if trig_cfg.active:
        watch = AccessWatch(trig_cfg)
        services.append(watch)
        tasks.append(asyncio.ensure_future(watch.run(sink)))
    for service in services:
        await service.start()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit(event="ready")
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "status":
                emit(event="status", **{s.name: s.status() for s in services})
                continue
            mac = cmd["mac"]
            hnp = IPv6Network(cmd["hnp"]) if cmd.get("hnp") else None
            action: BindingUp | BindingDown
            if op == "up":
                action = BindingUp(
                    mn_id=f"{mac}@test", mac=mac, lma=LMA, hnp=hnp, ipv4_hoa=None,
                    ipv4_default_router=None, gre_key_to_lma=None, gre_key_from_lma=None,
                    lifetime_s=int(cmd.get("lifetime_s", 3600)),
                )  # fmt: skip
            else:
                action = BindingDown(
                    mn_id=f"{mac}@test", mac=mac, lma=LMA, hnp=hnp, ipv4_hoa=None, reason="test"
                )
            for service in services:
                await service.apply(action)
            emit(event="applied", op=op, mac=mac)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for service in services:
            await service.stop()
        emit(event="stopped")


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]), json.loads(sys.argv[2])))
