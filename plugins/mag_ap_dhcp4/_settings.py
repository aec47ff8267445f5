"""The ``[plugin.dhcp4]`` table -> :class:`Dhcp4Config` (pure, refuses typos with key paths).

::

    [plugin.dhcp4]
    interface = "br-lan"              # the access link (required unless enabled = false)
    # enabled = true                  # false (or no section at all): the plugin stays inert
    # server_address = "10.200.0.1"   # default: each binding's IPv4 default router (PBA)
    # lease_time_s = 3600             # offered: min(this, binding lifetime), at least 60
    # dns_servers = ["192.0.2.53"]
    # interface_mtu = 1400            # option 26, to clients that ask for it
    # trigger = true                  # DISCOVER from an unknown MAC attaches it; RELEASE detaches
    # detach_on_lease_expiry = true
    # assign_router_address = true    # put each default router /32 on the interface (ARP, unicast)
    # fixed_link_layer_address = "02:00:5e:10:00:01"   # same MAC on every MAG (RFC 5213 6.8)
    # per_mac_rate_per_s = 4.0        # token bucket per client MAC
    # per_mac_burst = 10
    # global_rate_per_s = 20.0        # token bucket for MACs with no binding yet
    # global_burst = 50
    # max_stations = 1024             # pending stations and buckets remembered
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Final

from mag_ap.config import ConfigError, Table, normalize_mac, parse_address

SECTION: Final = "dhcp4"
IFNAMSIZ: Final = 15  # Linux interface names are at most 15 octets


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """Knobs of the server; the plugin config builds it (``[plugin.dhcp4]``)."""

    lease_time_s: int = 3600  # the offer is min(this, binding lifetime)
    dns_servers: tuple[IPv4Address, ...] = ()
    server_address: IPv4Address | None = None  # None: the binding's default router
    interface_mtu: int | None = None  # sent when the client asks for option 26
    offer_hold_s: float = 60.0  # an OFFER not followed by a REQUEST is forgotten
    pending_timeout_s: float = 30.0  # a station waiting for its binding
    retrigger_after_s: float = 5.0  # repeat the attach trigger for a pending station
    detach_on_lease_expiry: bool = True
    per_mac_rate_per_s: float = 4.0
    per_mac_burst: int = 10
    global_rate_per_s: float = 20.0  # packets from MACs without a binding
    global_burst: int = 50
    max_stations: int = 1024  # pending stations and per-MAC buckets kept


@dataclass(frozen=True, kw_only=True)
class Dhcp4Config:
    """The plugin's settings; ``enabled`` False means no socket is ever opened."""

    enabled: bool = False
    interface: str = ""
    trigger: bool = True
    assign_router_address: bool = True
    fixed_link_layer_address: str | None = None
    server: ServerSettings = ServerSettings()


def parse_dhcp4(section: Mapping[str, Any]) -> Dhcp4Config:
    """Validate the section; an empty (absent) section gives a disabled config."""
    if not section:
        return Dhcp4Config()
    t = Table(section, f"plugin.{SECTION}")
    enabled = t.get_bool("enabled", True)
    interface = t.get_str("interface", "" if not enabled else None)
    if enabled and interface is None:
        raise t.error("interface", "is required: the access interface the server listens on")
    if interface and (len(interface.encode()) > IFNAMSIZ or "/" in interface or " " in interface):
        raise t.error("interface", f"{interface!r} is not a Linux interface name")
    server_address = t.get_address("server_address", None, family=4)
    dns: list[IPv4Address] = []
    for i, raw in enumerate(t.get_list("dns_servers", ())):
        addr = parse_address(raw, t.item_path("dns_servers", i), family=4)
        assert isinstance(addr, IPv4Address)
        dns.append(addr)
    mac = t.get_any("fixed_link_layer_address", None)
    fixed = normalize_mac(mac, t.key_path("fixed_link_layer_address")) if mac else None
    if fixed is not None and (int(fixed[:2], 16) & 1 or fixed == "00:00:00:00:00:00"):
        raise t.error("fixed_link_layer_address", f"{fixed} is not a unicast MAC address")
    defaults = ServerSettings()
    server = ServerSettings(
        lease_time_s=t.get_int("lease_time_s", defaults.lease_time_s, min=60, max=0xFFFFFFFE),
        dns_servers=tuple(dns),
        server_address=server_address if isinstance(server_address, IPv4Address) else None,
        interface_mtu=t.get_int("interface_mtu", None, min=68, max=65535),
        detach_on_lease_expiry=t.get_bool("detach_on_lease_expiry", True),
        per_mac_rate_per_s=t.get_float("per_mac_rate_per_s", defaults.per_mac_rate_per_s, above=0),
        per_mac_burst=t.get_int("per_mac_burst", defaults.per_mac_burst, min=1),
        global_rate_per_s=t.get_float("global_rate_per_s", defaults.global_rate_per_s, above=0),
        global_burst=t.get_int("global_burst", defaults.global_burst, min=1),
        max_stations=t.get_int("max_stations", defaults.max_stations, min=1, max=1_000_000),
    )
    config = Dhcp4Config(
        enabled=enabled,
        interface=interface or "",
        trigger=t.get_bool("trigger", True),
        assign_router_address=t.get_bool("assign_router_address", True),
        fixed_link_layer_address=fixed,
        server=server,
    )
    t.finish()
    return config


__all__ = ["SECTION", "ConfigError", "Dhcp4Config", "parse_dhcp4"]
