"""Real DHCP clients (busybox udhcpc, ISC dhclient, dhcpcd) against the plugin's real IO.

Topology: a MAG namespace with a bridge ``br0`` (the access interface, as
``br-lan`` on OpenWrt) and one veth port per station namespace. The plugin's
:class:`Dhcp4Service` runs there (``lab/dhcp4_lab.py serve``); the only
stand-in is the MAG daemon itself: the test answers each ``attached`` event
with the ``BindingUp`` the LMA would have produced, and adds the per-MN host
route the datapath plugin would install (needed only for the ping). Every
client runs with our own hook script (never the stock ones, which rewrite the
host's resolv.conf). Addresses: 10.200.0.0/16 inside the namespaces only.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.harness import HarnessProcess
from lab.topology import Host, Lab, wait_for
from tests.conftest import require_tool

ROUTER = "10.200.0.1"
FIXED_MAC = "02:00:5e:10:00:01"
HOA = {
    "02:00:00:00:0a:01": "10.200.0.11/16",
    "02:00:00:00:0a:02": "10.200.0.12/16",
}
MAC1, MAC2 = HOA

HOOK = """#!/bin/sh
# Test hook for {client}: configure the lease in this namespace, record it; nothing else.
env | sort > "{out}.$1${{reason:-}}"
case "$1${{reason:-}}" in
  bound|renew|BOUND|REBOOT|RENEW|REBIND)
    ip="${{ip:-$new_ip_address}}"; mask="${{subnet:-$new_subnet_mask}}"
    router="${{router:-$new_routers}}"; dev="${{interface}}"
    ip -4 addr flush dev "$dev"
    ip -4 addr add "$ip/$mask" dev "$dev"
    ip -4 route replace default via "${{router%% *}}" dev "$dev"
    ;;
  PREINIT) ip link set dev "$interface" up ;;
esac
exit 0
"""


class Server(HarnessProcess):
    """The plugin's IO in the MAG namespace, bindings answered by the test."""

    def __init__(self, lab: Lab, mag: Host, config: dict[str, Any], stderr_log: Path) -> None:
        self.auto_bind: dict[str, str] = {}  # MACs bound as soon as they attach
        super().__init__(
            lab,
            mag,
            "lab.dhcp4_lab",
            ["serve", json.dumps(config)],
            stderr_log=stderr_log,
            on_event=self._bind_on_attach,
        )

    def _bind_on_attach(self, event: dict[str, Any]) -> None:
        if event["event"] == "attached" and event["mac"] in self.auto_bind:
            self.bind(event["mac"])

    def bind(self, mac: str) -> None:
        self.send(op="up", mac=mac, hoa=HOA[mac], router=ROUTER, lifetime_s=3600)

    def wait_event(self, kind: str, mac: str | None = None, timeout_s: float = 15) -> None:
        fields = {} if mac is None else {"mac": mac}
        wait_for(lambda: bool(self.events(kind, **fields)), timeout_s, f"{kind} event for {mac}")

    def status(self) -> dict[str, Any]:
        self.send(op="status")
        status: dict[str, Any] = self.expect("status", timeout_s=10)["status"]
        return status


@dataclass
class Access:
    lab: Lab
    mag: Host
    stations: dict[str, Host]
    server: Server
    tmp: Path

    def hook(self, client: str) -> Path:
        out = self.tmp / f"{client}.env"
        path = self.tmp / f"{client}-hook.sh"
        path.write_text(HOOK.format(client=client, out=out))
        path.chmod(0o755)
        return path

    def addr(self, station: str) -> str:
        return self.stations[station].ip("-4", "-o", "addr", "show", "dev", "eth0")

    def default_route(self, station: str) -> str:
        return self.stations[station].ip("-4", "route", "show", "default")


def _start(lab: Lab, tmp: Path, extra: dict[str, Any] | None = None) -> Access:
    for tool in ("ip", "busybox", "dhclient", "dhcpcd"):
        require_tool(tool)
    mag = lab.add_host("mag")
    mag.ip("link", "add", "br0", "type", "bridge")
    mag.ip("link", "set", "br0", "up")
    stations: dict[str, Host] = {}
    for i, (name, mac) in enumerate((("mn1", MAC1), ("mn2", MAC2), ("flood", None)), start=1):
        host = lab.add_host(name)
        lab.link(mag, f"p{i}", host, "eth0")
        mag.ip("link", "set", f"p{i}", "master", "br0")
        if mac is not None:
            host.ip("link", "set", "eth0", "address", mac)
        stations[name] = host
    config = {"interface": "br0", "lease_time_s": 600, "fixed_link_layer_address": FIXED_MAC,
              "dns_servers": ["192.0.2.53"], **(extra or {})}  # fmt: skip
    server = Server(lab, mag, config, tmp / "server.log")
    return Access(lab, mag, stations, server, tmp)


@pytest.fixture
def access(tmp_path: Path) -> Iterator[Access]:
    with Lab() as lab:
        acc = _start(lab, tmp_path)
        try:
            yield acc
        finally:
            with contextlib.suppress(Exception):
                acc.server.close_stdin()
            print((tmp_path / "server.log").read_text()[-3000:])


def _udhcpc(acc: Access, station: str) -> None:
    hook = acc.hook(f"udhcpc-{station}")
    acc.stations[station].run(
        "busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0", "-s",
        str(hook), timeout_s=30,
    )  # fmt: skip


def _check_lease(acc: Access, station: str, mac: str) -> None:
    assert f"inet {HOA[mac]} " in acc.addr(station)
    assert f"default via {ROUTER} dev eth0" in acc.default_route(station)


def test_udhcpc_gets_the_lma_address_mask_and_router_and_reaches_the_router(
    access: Access,
) -> None:
    access.server.auto_bind[MAC1] = HOA[MAC1]
    _udhcpc(access, "mn1")
    _check_lease(access, "mn1", MAC1)
    env = (access.tmp / "udhcpc-mn1.env.bound").read_text()
    assert "dns=192.0.2.53" in env and f"serverid={ROUTER}" in env and "lease=600" in env
    # the attach trigger came first, then the answer (nothing before the binding)
    assert [e["event"] for e in access.server.log[:3]] == ["ready", "attached", "applied"]
    # default router on the access link: ARP answered with the fixed MAC (datapath stand-in:
    # the per-MN host route the netlink plugin installs)
    access.mag.ip("route", "add", HOA[MAC1].split("/")[0] + "/32", "dev", "br0")
    access.stations["mn1"].run("ping", "-c", "1", "-W", "2", ROUTER)
    neigh = access.stations["mn1"].ip("neigh", "show", ROUTER)
    assert FIXED_MAC in neigh
    status = access.server.status()
    assert status["counters"]["offers"] >= 1 and status["counters"]["acks"] == 1
    assert status["router_addresses"] == [ROUTER]


def test_dhclient_lease_then_release_triggers_detach(access: Access) -> None:
    access.server.auto_bind[MAC1] = HOA[MAC1]
    tmp, host = access.tmp, access.stations["mn1"]
    conf = tmp / "dhclient.conf"
    conf.write_text("request subnet-mask, routers, domain-name-servers;\ntimeout 20;\n")
    args = ["-cf", str(conf), "-sf", str(access.hook("dhclient")), "-lf", str(tmp / "leases"),
            "-pf", str(tmp / "dhclient.pid")]  # fmt: skip
    host.run("dhclient", "-1", "-4", *args, "eth0", timeout_s=40)
    _check_lease(access, "mn1", MAC1)
    host.run("dhclient", "-r", "-4", *args, "eth0", timeout_s=20)
    access.server.wait_event("detached", MAC1)
    detached = [e for e in access.server.log if e["event"] == "detached"]
    assert detached == [{"event": "detached", "mac": MAC1, "reason": "dhcp release"}]
    assert access.server.status()["counters"]["release"] == 1


def test_dhcpcd_gets_the_lease(access: Access) -> None:
    access.server.auto_bind[MAC1] = HOA[MAC1]
    tmp = access.tmp
    conf = tmp / "dhcpcd.conf"
    conf.write_text("noipv4ll\nnoarp\nipv4only\noption subnet_mask, routers\n")
    script = (
        "mount -t tmpfs none /var/lib/dhcpcd && mount -t tmpfs none /run && "
        f"dhcpcd -f {conf} -c {access.hook('dhcpcd')} --oneshot --nobackground "
        "-t 20 eth0"
    )
    access.stations["mn1"].run("sh", "-c", script, timeout_s=40)
    _check_lease(access, "mn1", MAC1)


def test_second_client_on_the_link_gets_its_own_binding(access: Access) -> None:
    access.server.auto_bind.update(HOA)
    _udhcpc(access, "mn1")
    _udhcpc(access, "mn2")
    _check_lease(access, "mn1", MAC1)
    _check_lease(access, "mn2", MAC2)
    attached = {e["mac"] for e in access.server.log if e["event"] == "attached"}
    assert attached == {MAC1, MAC2}
    assert len(access.server.status()["leases"]) == 2


def test_flood_of_random_macs_is_rate_limited_and_the_real_client_gets_its_lease(
    access: Access,
) -> None:
    # The real station is already attached (e.g. by the 802.1X trigger): random MACs
    # cannot be told from a new station, but they must not starve a known one.
    access.server.bind(MAC1)
    access.server.wait_event("applied", MAC1)
    flood = access.stations["flood"]
    proc = flood.spawn(
        [sys.executable, "-m", "lab.dhcp4_lab", "flood", "eth0", "4000", "1000"],
        access.tmp / "flood.log",
    )
    wait_for(lambda: access.server.status()["counters"]["rate_limited_global"] > 100, 20,
             "the flood to be rate-limited")  # fmt: skip
    assert proc.poll() is None, "the flood ended before the client ran"
    _udhcpc(access, "mn1")
    _check_lease(access, "mn1", MAC1)
    proc.wait(timeout=30)
    status = access.server.status()
    c = status["counters"]
    attached = [e for e in access.server.log if e["event"] == "attached"]
    # global bucket: burst 50 + 20/s over the flood's ~4 s (plus slack for its pacing)
    assert len(attached) <= 50 + 20 * 8
    assert c["rate_limited_global"] + len(attached) >= 3000  # the kernel may drop a few
    assert status["pending"] <= 1024
    assert c["acks"] >= 1
    assert access.server.proc.poll() is None
    print("flood status:", json.dumps(c))


def test_stop_removes_the_router_address_and_restores_the_mac(access: Access) -> None:
    access.server.bind(MAC1)
    access.server.wait_event("applied", MAC1)
    assert f"inet {ROUTER}/32" in access.mag.ip("-4", "-o", "addr", "show", "dev", "br0")
    assert FIXED_MAC in access.mag.ip("link", "show", "br0")
    access.server.close_stdin()  # end of commands: the service stops
    access.server.wait_event("stopped")
    assert ROUTER not in access.mag.ip("-4", "-o", "addr", "show", "dev", "br0")
    assert FIXED_MAC not in access.mag.ip("link", "show", "br0")
