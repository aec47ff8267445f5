"""Open access points: the demo network with DHCPv4/RS triggers instead of 802.1X.

Built on :class:`lab.demo_lab.DemoLab` (CN, LMA, two ``mag-ap run`` MAGs
with the kernel datapath, the ``radio`` namespace with one bridge per AP). What
changes is how a station gets in: no hostapd; the first DHCP DISCOVER or Router
Solicitation of an unknown MAC attaches it (``[plugin.dhcp4] trigger`` and
``[plugin.ra] rs_trigger``), its MN-ID is the MAC-based NAI (``mag_ap_macnai``),
its profile comes from ``[[plugin.localpolicy.profile]]`` entries per MAC, and
``[plugin.linkwatch]`` detaches it on access link down or neighbour inactivity.

Any number of stations, each its own namespace with one interface ``wlan0``
whose peer is a port in the radio: :meth:`OpenAccessLab.add_station`. Walking
(:meth:`OpenAccessLab.roam`) is what a Wi-Fi reassociation looks like to the
station: its carrier drops, the port moves to the other AP's bridge, the
carrier returns. The kernel then only repeats its MLD reports (it solicits no
router on an interface it has already configured): the station's network
manager does (systemd-networkd and NetworkManager run their own RS on carrier
up), here ``rdisc6`` (:meth:`OpenAccessLab.solicit`); DHCP clients renew.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .demo_lab import AP_MAC, MN_IF, MN_MAC, DemoLab
from .topology import Host, wait_for

__all__ = ["OpenAccessLab", "Station", "mac_nai"]


def mac_nai(mac: str) -> str:
    """The MN-ID ``mag_ap_macnai`` gives a MAC with its default settings."""
    return mac.replace(":", "").lower() + "@mag-ap.invalid"


@dataclass
class Station:
    """One mobile node: a namespace whose ``wlan0`` peers with ``port`` in the radio."""

    name: str
    mac: str
    host: Host
    port: str
    workdir: Path
    ap: int = 0  # the bridge its port is in (0: none yet)

    @property
    def mn_id(self) -> str:
        return mac_nai(self.mac)

    def addresses(self) -> dict[str, list[str]]:
        """Global IPv4 and IPv6 addresses on ``wlan0`` (``a.b.c.d/len``)."""
        info = json.loads(self.host.ip("-j", "addr", "show", "dev", MN_IF))
        found: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
        for iface in info:
            for a in iface.get("addr_info", []):
                if a.get("scope") == "global":
                    fam = "ipv4" if a["family"] == "inet" else "ipv6"
                    found[fam].append(f"{a['local']}/{a['prefixlen']}")
        return found

    def default_routes(self, family: str) -> list[dict[str, Any]]:
        flag = "-4" if family == "ipv4" else "-6"
        routes: list[dict[str, Any]] = json.loads(
            self.host.ip("-j", flag, "route", "show", "default")
        )
        return routes

    def ipv6_mtu(self) -> int:
        return int(self.host.run("cat", f"/proc/sys/net/ipv6/conf/{MN_IF}/mtu").strip())


@dataclass
class OpenAccessLab(DemoLab):
    """DemoLab with open access: DHCP/RS attach triggers, per-MAC profiles, station watch."""

    TOOLS: ClassVar[tuple[str, ...]] = ("busybox", "dhclient", "dhcpcd", "ping", "rdisc6")
    profiles: dict[str, dict[str, bool]] = field(default_factory=dict)  # MAC -> ipv4/ipv6
    lease_time_s: int = 600
    inactivity_timeout_s: float = 3.0
    poll_interval_s: float = 0.5
    min_delay_before_bce_delete_s: float = 2.0
    stations: dict[str, Station] = field(default_factory=dict)

    def build(self) -> None:
        """The demo network; then open access sections, short LMA delays, station "mn"."""
        super().build()
        lma = self.lma
        lma.config_text = lma.config_text.replace(
            "[lma]\n",
            f"[lma]\nmin_delay_before_bce_delete_s = {self.min_delay_before_bce_delete_s}\n",
            1,
        )
        for i in (1, 2):
            mag = self.host(f"mag{i}")
            # An AP tuned to notice a departed station within seconds: short
            # reachable time and first-probe delay, so NUD ends FAILED soon after it left.
            for fam in ("ipv4", "ipv6"):
                mag.sysctl(f"net.{fam}.neigh.access.delay_first_probe_time", "1")
                mag.sysctl(f"net.{fam}.neigh.access.base_reachable_time_ms", "2000")
        # The demo's own MN joins as an ordinary station, silent until brought up.
        self.mn.ip("link", "set", MN_IF, "down")
        self.stations["mn"] = Station(
            "mn", MN_MAC, self.mn, "sta", self.workdir / "mn", ap=self.mn_at
        )

    def _access_sections(self, i: int) -> str:
        """Open access: DHCPv4 and RS triggers, link/inactivity watch, profiles per MAC."""
        text = (
            "\n[plugin.dhcp4]\n"
            'interface = "access"\n'
            "trigger = true\n"
            f"lease_time_s = {self.lease_time_s}\n"
            f'fixed_link_layer_address = "{AP_MAC}"\n'
            "assign_router_address = false\n"
            "\n[plugin.ra]\n"
            'interface = "access"\n'
            "rs_trigger = true\n"
            "rs_trigger_holdoff_s = 2.0\n"
            "rs_delay_max_s = 0.0\n"
            "add_link_local = false\n"
            "\n[plugin.linkwatch]\n"
            'interface = "access"\n'
            "link_down_detach = true\n"
            f"inactivity_timeout_s = {self.inactivity_timeout_s}\n"
            f"poll_interval_s = {self.poll_interval_s}\n"
        )
        for mac, families in sorted(self.profiles.items()):
            text += f'\n[[plugin.localpolicy.profile]]\nmac = "{mac}"\n'
            for key, value in sorted(families.items()):
                text += f"{key} = {'true' if value else 'false'}\n"
        return text

    def start(self) -> None:
        """The LMA and MAG daemons (no hostapd: nothing to authenticate)."""
        self.dp.start()

    # --- stations ---------------------------------------------------------------------

    def add_station(self, name: str, mac: str, ap: int) -> Station:
        """A new MN namespace with ``wlan0`` (MAC ``mac``) in AP ``ap``'s bridge, link down."""
        lab = self.dp.domain.lab
        host = lab.add_host(name)
        port = f"p-{name}"
        lab.link(host, MN_IF, self.host("radio"), port)
        host.ip("link", "set", MN_IF, "down")
        host.ip("link", "set", MN_IF, "address", mac)
        for key, value in (("forwarding", "0"), ("accept_ra", "1"), ("autoconf", "1")):
            host.sysctl(f"net.ipv6.conf.{MN_IF}.{key}", value)
        host.sysctl(f"net.ipv6.conf.{MN_IF}.accept_dad", "0")
        self.host("radio").ip("link", "set", port, "master", f"br{ap}")
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        station = Station(name, mac, host, port, directory, ap)
        self.stations[name] = station
        return station

    def link_up(self, station: Station) -> None:
        """The station's radio comes on: ``wlan0`` up (the kernel solicits a router)."""
        station.host.ip("link", "set", MN_IF, "up")

    def roam(self, station: Station, to: int) -> float:
        """Reassociation with AP ``to``: carrier off, port to ``br<to>``, carrier on.

        Returns the wall time the carrier came back.
        """
        radio = self.host("radio")
        radio.ip("link", "set", station.port, "down")
        radio.ip("link", "set", station.port, "master", f"br{to}")
        radio.ip("link", "set", station.port, "up")
        station.ap = to
        return time.time()

    def solicit(self, station: Station) -> None:
        """The station's network manager sends Router Solicitations (``rdisc6``, 3 tries)."""
        station.host.run(
            "rdisc6", "-1", "-q", "-r", "3", "-w", "1000", MN_IF, check=False, timeout_s=15
        )

    def leave(self, station: Station) -> None:
        """The station walks out of range: its radio port goes away (no goodbye)."""
        self.host("radio").ip("link", "set", station.port, "down")
        self.host("radio").ip("link", "set", station.port, "nomaster")
        station.ap = 0

    def ap_link(self, ap: int, up: bool) -> None:
        """Carrier of AP ``ap``'s access link (its radio side)."""
        self.host("radio").ip("link", "set", f"ap{ap}", "up" if up else "down")

    # --- daemon views -------------------------------------------------------------------

    def mag_binding(self, ap: int, mac: str) -> dict[str, Any] | None:
        for binding in self.mag(ap).status()["bindings"]:
            if binding.get("mac") == mac:
                found: dict[str, Any] = binding
                return found
        return None

    def wait_bound(self, ap: int, mac: str, timeout_s: float = 15.0) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def bound() -> bool:
            b = self.mag_binding(ap, mac)
            if b is not None and b.get("state") == "bound":
                found[:] = [b]
                return True
            return False

        wait_for(bound, timeout_s, f"a bound binding of {mac} at mag{ap}", interval_s=0.05)
        return found[0]

    def lma_binding(self, mn_id: str) -> dict[str, Any] | None:
        for binding in self.lma.status().get("bindings", []):
            if binding.get("mn_id") == mn_id:
                found: dict[str, Any] = binding
                return found
        return None

    def datapath_ids(self, name: str) -> list[str]:
        """MN-IDs the kernel datapath of ``name`` (``lma``, ``mag1``...) has installed."""
        ids: list[str] = self.dp.datapath_status(name).get("mobile_node_ids", [])
        return ids

    def plugin_status(self, ap: int, plugin: str) -> dict[str, Any]:
        """``mag_status_extra`` of one plugin (``mag_ap_dhcp4``...) on MAG ``ap``."""
        runtime = self.mag(ap).request({"cmd": "status"})["runtime"]
        found: dict[str, Any] = runtime.get("plugin_status", {}).get(plugin, {})
        return found

    def kernel_objects_for(self, name: str, *prefixes: str | None) -> list[str]:
        """Our tagged kernel objects in ``name`` that name one of ``prefixes`` (HNP, HoA)."""
        patterns = [
            re.compile(rf"(?<![\w.:]){re.escape(p.split('/')[0])}(?![\w.])") for p in prefixes if p
        ]
        return [o for o in self.dp.tagged_state(name) if any(p.search(o) for p in patterns)]

    def close(self) -> None:
        self.stations.clear()
        super().close()
