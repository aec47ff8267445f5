"""``[plugin.ra]`` -> :class:`RaConfig` (pure; errors name ``plugin.ra.<key>``).

The fixed MAG link-local address defaults to ``fe80::200:5eff:fe00:5213``: the
interface identifier 0200:5EFF:FE00:5213 that RFC 6543 reserves for Proxy
Mobile IPv6, so every MAG of the domain answers from the same link-local
address and an MN keeps its default router across a handover
(FixedMAGLinkLocalAddressOnAllAccessLinks, RFC 5213 section 6.8). The same
RFC reserves the MAC 00:00:5e:00:52:13 for the matching link-layer address; set
``mac`` to it only when the access interface carries that MAC (or accepts it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any, Final

from mag_ap.config import Table, normalize_mac

SECTION: Final = "ra"
RFC6543_LINK_LOCAL: Final = IPv6Address("fe80::200:5eff:fe00:5213")
RFC6543_MAC: Final = "00:00:5e:00:52:13"
TUNNEL_OVERHEAD_IPV6: Final = 40  # IPv6-in-IPv6 header; the datapath will expose the real MTU
DEFAULT_MTU: Final = 1500 - TUNNEL_OVERHEAD_IPV6
MIN_IPV6_MTU: Final = 1280
IFNAMSIZ: Final = 15


@dataclass(frozen=True, kw_only=True)
class RaConfig:
    """The validated ``[plugin.ra]`` section; ``active`` says whether anything runs."""

    enabled: bool = True
    interface: str | None = None
    link_local_address: IPv6Address = RFC6543_LINK_LOCAL
    add_link_local: bool = True  # add it to the interface (nodad) and remove it at stop
    mac: str | None = None  # None: the interface's own MAC
    mtu: int = DEFAULT_MTU
    router_lifetime_s: int = 1800
    interval_s: float = 600.0
    rs_delay_max_s: float = 0.5
    rs_trigger: bool = True  # report RS from unknown MACs as attached stations
    rs_trigger_holdoff_s: float = 10.0
    rs_trigger_rate_per_s: float = 20.0  # unknown MACs reported per second (flood bound)
    rs_trigger_burst: int = 50

    @property
    def active(self) -> bool:
        return self.enabled and self.interface is not None


def parse_interface(t: Table, key: str) -> str | None:
    name = t.get_str(key, None, max_len=IFNAMSIZ)
    if name is not None and ("/" in name or name in (".", "..") or any(c.isspace() for c in name)):
        raise t.error(key, f"{name!r} is not an interface name")
    return name


def parse_ra_config(section: Mapping[str, Any]) -> RaConfig:
    """Validate ``[plugin.ra]``."""
    t = Table(section, f"plugin.{SECTION}")
    d = RaConfig()
    enabled = t.get_bool("enabled", d.enabled)
    interface = parse_interface(t, "interface")
    ll = t.get_address("link_local_address", d.link_local_address, family=6)
    assert isinstance(ll, IPv6Address)
    if not ll.is_link_local:
        raise t.error("link_local_address", f"{ll} is not a link-local (fe80::/10) address")
    add_ll = t.get_bool("add_link_local", d.add_link_local)
    raw_mac = t.get_any("mac", None)
    mac = normalize_mac(raw_mac, t.key_path("mac")) if raw_mac is not None else None
    if mac is not None and int(mac[:2], 16) & 1:
        raise t.error("mac", f"{mac} is a group address")
    mtu = t.get_int("mtu", d.mtu, min=MIN_IPV6_MTU, max=0xFFFF)
    router_lifetime_s = t.get_int("router_lifetime_s", d.router_lifetime_s, min=0, max=9000)
    interval_s = t.get_float("interval_s", d.interval_s, min=4, max=1800)  # MaxRtrAdvInterval
    rs_delay = t.get_float("rs_delay_max_s", d.rs_delay_max_s, min=0, max=0.5)
    rs_trigger = t.get_bool("rs_trigger", d.rs_trigger)
    holdoff = t.get_float("rs_trigger_holdoff_s", d.rs_trigger_holdoff_s, min=0)
    rate = t.get_float("rs_trigger_rate_per_s", d.rs_trigger_rate_per_s, above=0)
    burst = t.get_int("rs_trigger_burst", d.rs_trigger_burst, min=1)
    t.finish()
    if enabled and interface is None and section:
        raise t.error("interface", "is required when the section is enabled")
    return RaConfig(
        enabled=enabled,
        interface=interface,
        link_local_address=ll,
        add_link_local=add_ll,
        mac=mac,
        mtu=mtu,
        router_lifetime_s=router_lifetime_s,
        interval_s=interval_s,
        rs_delay_max_s=rs_delay,
        rs_trigger=rs_trigger,
        rs_trigger_holdoff_s=holdoff,
        rs_trigger_rate_per_s=rate,
        rs_trigger_burst=burst,
    )
