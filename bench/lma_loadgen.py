"""PBU load generator for the LMA-rate benchmark (runs inside a lab MAG namespace).

``python -m bench.lma_loadgen --dst LMA --count N --window W`` sends initial-
registration PBUs for N distinct mobile nodes on a raw protocol-135 socket,
keeping at most W unanswered, and reads the PBAs. A PBU without an answer after
``--timeout-s`` counts as lost (its slot is reused). Prints one JSON object:
sent, accepted, rejected, lost, wall time, rate and the PBU->PBA round trips.
Only for namespaces a benchmark created: it sends to exactly the address given.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Network
from typing import Any

from mag_ap.mh.constants import IPPROTO_MH, AccessTechnologyType, HandoffIndicator
from mag_ap.mh.messages import ProxyBindingUpdate, encode_message
from mag_ap.mh.options import (
    AccessTechnologyTypeOption,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4HomeAddressRequest,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    Timestamp,
)

from .common import mn_id_of, summary

MH_TYPE_PBA = 6
MH_CHECKSUM_OFFSET = 4
ALL_ZERO_HNP = IPv6Network("::/0")


def pbu_bytes(
    i: int, unix_time_s: float, *, sequence: int | None = None, lifetime_s: int = 3600
) -> bytes:
    """A PBU of MN ``i`` as a MAG sends it (sequence i mod 2**16 unless given)."""
    msg = ProxyBindingUpdate(
        sequence=(i if sequence is None else sequence) & 0xFFFF,
        lifetime_s=lifetime_s,
        options=(
            MobileNodeIdentifier.nai(mn_id_of(i)),
            HandoffIndicatorOption(indicator=HandoffIndicator.NEW_INTERFACE),
            AccessTechnologyTypeOption(access_technology=AccessTechnologyType.IEEE_802_11),
            MNLinkLayerIdentifier(link_layer_identifier=i.to_bytes(6, "big")),
            HomeNetworkPrefix.of(ALL_ZERO_HNP),
            Timestamp.at_unix_time(unix_time_s),
            IPv4HomeAddressRequest(address=IPv4Address(0)),
        ),
    )
    return encode_message(msg)


class PbuTemplates:
    """``pbu_bytes`` at a fraction of the cost: one encoded PBU per MN-ID length, patched.

    The generator must outrun the LMA on a shared 2-core machine; encoding every
    PBU with the general codec cost it ~50 us each. Sequence, MN-ID, link-layer
    identifier and timestamp sit at fixed offsets for a given MN-ID length.
    """

    def __init__(self) -> None:
        self._by_length: dict[int, tuple[bytes, int, int, int]] = {}

    def _template(self, length: int) -> tuple[bytes, int, int, int]:
        found = self._by_length.get(length)
        if found is None:
            i = next(k for k in range(10**length) if len(mn_id_of(k)) == length)
            ident = mn_id_of(i).encode()
            base = pbu_bytes(i, 0.0, sequence=0)
            lli = i.to_bytes(6, "big")
            mn_at = base.index(ident)
            lli_at = base.index(b"\x19\x08\x00\x00" + lli) + 4  # type 25, length 8
            ts_at = base.index(b"\x1b\x08") + 2  # Timestamp: type 27, length 8
            found = self._by_length[length] = (base, mn_at, lli_at, ts_at)
        return found

    def pbu(self, i: int, unix_time_s: float, *, sequence: int | None = None) -> bytes:
        ident = mn_id_of(i).encode()
        base, mn_at, lli_at, ts_at = self._template(len(ident))
        out = bytearray(base)
        out[6:8] = ((i if sequence is None else sequence) & 0xFFFF).to_bytes(2, "big")
        out[mn_at : mn_at + len(ident)] = ident
        out[lli_at : lli_at + 6] = i.to_bytes(6, "big")
        out[ts_at : ts_at + 8] = round(unix_time_s * 65536).to_bytes(8, "big")
        return bytes(out)


def generate(
    dst: str,
    count: int,
    window: int,
    *,
    start: int = 0,
    timeout_s: float = 1.0,
    budget_s: float = 60.0,
) -> dict[str, Any]:
    """Send ``count`` PBUs with ``window`` in flight; the tallies (see the module doc)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    target = (dst, 0)
    outstanding: dict[int, float] = {}  # sequence -> sent at
    rtt_ms: list[float] = []
    sent = accepted = rejected = lost = other = send_errors = 0
    next_i = start
    end_i = start + count
    cpu0 = time.process_time()
    t0 = time.monotonic()
    stop_at = t0 + budget_s
    last_sweep = t0
    templates = PbuTemplates()
    with sock:
        while (next_i < end_i or outstanding) and time.monotonic() < stop_at:
            while len(outstanding) < window and next_i < end_i:
                seq = next_i & 0xFFFF
                if seq in outstanding:  # window wrapped onto a lost one: give it up
                    break
                try:
                    sock.sendto(templates.pbu(next_i, time.time()), target)
                except BlockingIOError:
                    break
                except OSError:
                    send_errors += 1
                    next_i += 1
                    continue
                outstanding[seq] = time.monotonic()
                sent += 1
                next_i += 1
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                for _ in range(window + 64):
                    try:
                        data = sock.recv(2048)
                    except (BlockingIOError, InterruptedError):
                        break
                    if len(data) < 12 or data[2] != MH_TYPE_PBA:
                        other += 1
                        continue
                    seq = int.from_bytes(data[8:10], "big")
                    sent_at = outstanding.pop(seq, None)
                    if sent_at is None:
                        other += 1
                        continue
                    rtt_ms.append((time.monotonic() - sent_at) * 1000.0)
                    if data[6] < 128:
                        accepted += 1
                    else:
                        rejected += 1
            now = time.monotonic()
            if now - last_sweep > 0.1:
                last_sweep = now
                for seq, at in list(outstanding.items()):
                    if now - at > timeout_s:
                        del outstanding[seq]
                        lost += 1
    wall_s = time.monotonic() - t0
    answered = accepted + rejected
    return {
        "count": count,
        "window": window,
        "sent": sent,
        "accepted": accepted,
        "rejected": rejected,
        "lost": lost + len(outstanding),
        "other_messages": other,
        "send_errors": send_errors,
        "wall_s": round(wall_s, 4),
        "answered_per_s": round(answered / wall_s, 1) if wall_s else None,
        "accepted_per_s": round(accepted / wall_s, 1) if wall_s else None,
        "pbu_to_pba_ms": summary(rtt_ms),
        "generator_cpu_s": round(time.process_time() - cpu0, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lma_loadgen", description=__doc__)
    parser.add_argument("--dst", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--timeout-s", type=float, default=1.0)
    parser.add_argument("--budget-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    window = max(1, min(args.window, 30_000))
    out = generate(
        args.dst,
        args.count,
        window,
        start=args.start,
        timeout_s=args.timeout_s,
        budget_s=args.budget_s,
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
