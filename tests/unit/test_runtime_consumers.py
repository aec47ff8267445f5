"""The order in which the datapath and the address services apply actions (one table).

The table itself, then the daemon applying real action objects to recording
providers through ``MagDaemon._apply_action``, as its action worker does.
"""

from __future__ import annotations

import asyncio
import typing
from ipaddress import IPv4Interface, IPv6Address, IPv6Network
from pathlib import Path

from mag_ap.config import parse_config_text
from mag_ap.core.types import (
    Action,
    BindingDown,
    BindingRejected,
    BindingUp,
    LogEvent,
    MobileRouteDown,
    MobileRouteUp,
    PeerRestarted,
)
from mag_ap.runtime.consumers import ORDER, Order, consumers
from mag_ap.runtime.daemon import MagDaemon

LMA = IPv6Address("2001:db8:ff::1")
HNP = IPv6Network("2001:db8:100:1::/64")
HOA = IPv4Interface("10.200.0.5/16")
MAC = "02:00:00:00:00:01"

UP = BindingUp(
    mn_id="mn1@example.net", mac=MAC, lma=LMA, hnp=HNP, ipv4_hoa=HOA,
    ipv4_default_router=None, gre_key_to_lma=None, gre_key_from_lma=None, lifetime_s=3600,
)  # fmt: skip
DOWN = BindingDown(
    mn_id="mn1@example.net", mac=MAC, lma=LMA, hnp=HNP, ipv4_hoa=HOA, reason="detach"
)
REJECTED = BindingRejected(
    mn_id="mn1@example.net", mac=MAC, lma=LMA, status=None, reason="no answer"
)
ROUTE_UP = MobileRouteUp(
    mn_id="mn1@example.net", mag=LMA, hnp=HNP, ipv4_hoa=HOA, gre_key_to_mag=None,
    gre_key_from_mag=None,
)  # fmt: skip
ROUTE_DOWN = MobileRouteDown(mn_id="mn1@example.net", mag=LMA, hnp=HNP, ipv4_hoa=HOA, reason="x")
RESTARTED = PeerRestarted(peer=LMA, reason="heartbeat lost")
LOG = LogEvent(level="info", message="hello")


def test_every_action_type_has_an_order() -> None:
    assert set(ORDER) == set(typing.get_args(Action))


def test_bind_datapath_first_teardown_services_in_reverse_then_datapath() -> None:
    services = ["dhcp4", "ra", "linkwatch"]
    action: Action
    for action in (UP, ROUTE_UP):
        assert consumers(action, "datapath", services) == ["datapath", "dhcp4", "ra", "linkwatch"]
    for action in (DOWN, ROUTE_DOWN):
        assert consumers(action, "datapath", services) == ["linkwatch", "ra", "dhcp4", "datapath"]
    for action in (REJECTED, RESTARTED):
        assert consumers(action, "datapath", services) == ["datapath", "dhcp4", "ra", "linkwatch"]
    assert consumers(LOG, "datapath", services) == []
    assert consumers(UP, None, services) == services
    assert consumers(DOWN, None, services) == services[::-1]
    assert ORDER[BindingUp] is Order.BIND and ORDER[BindingDown] is Order.TEARDOWN


class _Recorder:
    def __init__(self, name: str, journal: list[tuple[str, str]], fail: bool = False) -> None:
        self.name = name
        self._journal = journal
        self._fail = fail

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def apply(self, action: Action) -> None:
        self._journal.append((self.name, type(action).__name__))
        if self._fail:
            raise OSError("no route for you")


def _daemon(tmp_path: Path) -> MagDaemon:
    config = parse_config_text(
        f"""
[daemon]
role = "mag"
transport = "ipv4"
control_socket = "{tmp_path}/mag.sock"
state_dir = "{tmp_path}/state"
[mag]
own_address = "127.0.0.2"
"""
    )
    return MagDaemon(config)


def test_the_daemon_applies_bind_handover_and_teardown_in_table_order(tmp_path: Path) -> None:
    journal: list[tuple[str, str]] = []
    daemon = _daemon(tmp_path)
    daemon.datapath = _Recorder("datapath", journal)
    daemon.address_services = [_Recorder("dhcp4", journal), _Recorder("ra", journal)]

    async def run() -> None:
        # bind, then a handover to another LMA inside this MAG (down old, up new), then detach
        for action in (UP, DOWN, UP, DOWN, LOG):
            await daemon._apply_action(action)

    asyncio.run(run())
    up = [("datapath", "BindingUp"), ("dhcp4", "BindingUp"), ("ra", "BindingUp")]
    down = [("ra", "BindingDown"), ("dhcp4", "BindingDown"), ("datapath", "BindingDown")]
    assert journal == up + down + up + down


def test_a_failing_datapath_still_reaches_the_services_and_removes_the_binding(
    tmp_path: Path,
) -> None:
    """Today's contract: each consumer applies independently; the daemon then detaches."""
    journal: list[tuple[str, str]] = []
    daemon = _daemon(tmp_path)
    daemon.datapath = _Recorder("datapath", journal, fail=True)
    daemon.address_services = [_Recorder("dhcp4", journal)]
    detached: list[tuple[str, str]] = []
    daemon.detach = lambda mac, reason: detached.append((mac, reason))  # type: ignore[method-assign]
    asyncio.run(daemon._apply_action(UP))
    assert journal == [("datapath", "BindingUp"), ("dhcp4", "BindingUp")]
    assert detached == [(MAC, "datapath could not install the binding")]
    assert daemon.counters["bindings_removed_unapplied"] == 1
