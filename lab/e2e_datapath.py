"""Data-path scenarios shared by the host-kernel tier (seg6) and the VM tier (real tunnels).

Each function takes a :class:`lab.datapath_lab.DatapathLab` that is
built and started (``lab.build(); lab.start()``) and asserts on real traffic.
What they need: root, iproute2, ping; a kernel with the lab's encapsulation
(``seg6`` works on the host; ``ip6tnl``/``ip6gre``/``gre``/``ipip`` need the
QEMU guest, where the lab is created the same way with
``DatapathLab(workdir, encapsulation="ip6tnl")``). Nothing here is timed:
measurements are returned for the caller to print.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from .datapath_lab import CN4, CN6, DatapathLab, PingResult
from .topology import wait_for


def netlink_status(lab: DatapathLab, daemon: str) -> dict[str, Any]:
    """The ``plugin_status`` of the netlink datapath of one daemon."""
    d = lab.domain.lma if daemon == "lma" else lab.domain.mag[int(daemon[3:]) - 1]
    assert d is not None
    status: dict[str, Any] = d.request({"cmd": "status"})["runtime"]["plugin_status"]
    result: dict[str, Any] = status["mag_ap_datapath"]
    return result


def ping_both(lab: DatapathLab, count: int = 5) -> tuple[PingResult, PingResult]:
    """MN -> CN over IPv6 and IPv4 through MAG, tunnel and LMA; both must get through."""
    lab.wait_ping(lab.mn, CN6)
    lab.wait_ping(lab.mn, CN4)
    six = lab.ping(lab.mn, CN6, count=count)
    four = lab.ping(lab.mn, CN4, count=count)
    assert six.received == count, six.output
    assert four.received == count, four.output
    return six, four


def attach_and_ping(lab: DatapathLab, mag: int = 1) -> dict[str, Any]:
    binding = lab.attach(mag)
    ping_both(lab)
    status = netlink_status(lab, f"mag{mag}")
    assert status["mobile_nodes"] == 1, status
    lma = netlink_status(lab, "lma")
    assert lma["mobile_nodes"] == 1, lma
    return binding


def handover_keeps_pinging(lab: DatapathLab) -> dict[str, Any]:
    """MN at MAG1 moves to MAG2: same prefixes, LMA routes point at MAG2, MAG1 is clean."""
    first = lab.attach(1)
    ping_both(lab)
    second = lab.handover(2)
    assert (second["hnp"], second["ipv4_hoa"]) == (first["hnp"], first["ipv4_hoa"])
    ping_both(lab)
    lma = netlink_status(lab, "lma")
    peers = {t["peer"] for t in lma["tunnels"]}
    assert peers == {lab.domain.mag_address(2)}, lma
    wait_for(lambda: netlink_status(lab, "mag1")["mobile_nodes"] == 0, 10, "MAG1 to drop the MN")
    assert lab.mn_state("mag1") == [], lab.mn_state("mag1")
    return second


def handover_under_ping(
    lab: DatapathLab, to: int, interval_s: float = 0.01
) -> tuple[dict[str, Any], PingResult, PingResult]:
    """Move the MN to MAG ``to`` while it pings the CN every ``interval_s`` on both families.

    Returns the new binding and the two continuous pings' counts (lost = sent -
    received: the caller reports them and bounds them loosely, nothing is timed).
    Checks what must hold whatever the timing: same prefixes, the old MAG clean,
    the LMA tunnelling to the new MAG only.
    """
    previous, first = lab.mn_at, lab.binding
    assert previous is not None and previous != to and first is not None
    pingers = [lab.ping_start(lab.mn, dst, interval_s) for dst in (CN6, CN4)]
    try:
        ping_both(lab)  # the flow is established before the move...
        second = lab.handover(to)
        ping_both(lab)  # ...and again after it
    finally:
        six, four = (lab.ping_stop(p) for p in pingers)
    assert (second["hnp"], second["ipv4_hoa"]) == (first["hnp"], first["ipv4_hoa"])
    assert six.received > 0 and four.received > 0, (six.output, four.output)
    lma = netlink_status(lab, "lma")
    assert {t["peer"] for t in lma["tunnels"]} == {lab.domain.mag_address(to)}, lma
    wait_for(
        lambda: netlink_status(lab, f"mag{previous}")["mobile_nodes"] == 0,
        10,
        f"MAG{previous} to drop the MN",
    )
    assert lab.mn_state(f"mag{previous}") == [], lab.mn_state(f"mag{previous}")
    return second, six, four


def clean_stop_leaves_nothing(lab: DatapathLab) -> None:
    """Graceful stop of every daemon: no tagged route/rule/address/link in any namespace."""
    d = lab.domain
    assert d.lma is not None
    for daemon in [*d.mag, d.lma]:
        assert daemon.stop(lab.daemon_timeout_s) == 0, daemon.log_text()[-3000:]
    for name in lab.domain.lab.hosts:
        assert lab.tagged_state(name) == [], (name, lab.tagged_state(name))
        rules = lab.host(name).ip("-6", "rule", "show")
        assert "0:\tfrom all lookup local" in rules, rules


def kill_and_restart_reconciles(lab: DatapathLab, mag: int = 1) -> int:
    """kill -9 a MAG with a live MN: its objects stay; a new start removes them, re-attach works.

    Returns the number of stale objects the new run removed.
    """
    daemon = lab.domain.mag[mag - 1]
    lab.attach(mag)
    ping_both(lab)
    stale = lab.tagged_state(f"mag{mag}")
    assert stale, "a running MAG with an MN must have tagged objects"
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(timeout=10)
    assert lab.tagged_state(f"mag{mag}") == stale  # kill -9: nothing cleaned up
    lab.restart(mag)
    removed = int(netlink_status(lab, f"mag{mag}")["counters"]["stale_removed"])
    assert removed == len(stale), (removed, stale)
    # the MN's objects are gone; a seg6 endpoint is built again at start, before any MN
    assert lab.mn_state(f"mag{mag}") == [], lab.tagged_state(f"mag{mag}")
    lab.attach(mag)
    ping_both(lab)
    return removed


__all__ = [
    "attach_and_ping",
    "clean_stop_leaves_nothing",
    "handover_keeps_pinging",
    "handover_under_ping",
    "kill_and_restart_reconciles",
    "netlink_status",
    "ping_both",
]
