"""``[plugin.datapath]``: parsed and checked at start-up (pure, no IO).

::

    [plugin.datapath]
    enabled = true                 # false: the null datapath takes over
    access_interface = "wlan0"     # MAG: where the mobile nodes are (required on a MAG)
    transport_interface = "wan"    # optional: else the route to each peer decides
    encapsulation = "auto"         # auto | ip6tnl | ip6gre | gre | ipip | seg6
    mtu = 1460                     # optional: else link MTU minus the encapsulation overhead
    table_base = 2600              # tables table_base .. table_base + 1 + max_tunnels
    max_tunnels = 64
    rule_priority = 1000           # rule priorities rule_priority .. rule_priority + 2
    route_protocol = 181           # tags our routes, rules and addresses (0xb5)
    link_prefix = "pm6-"           # tunnel device names: prefix + 8 hex digits
    tunnel_source = "2001:db8::2"  # optional: else the daemon's own_address

Without a ``[plugin.datapath]`` section the plugin stays passive and the null
datapath runs, so a config never gets kernel changes it did not ask for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from mag_ap.config import Config, ConfigError, Table
from mag_ap.core.types import Address

Role = Literal["mag", "lma"]

ENCAPSULATIONS: Final = ("auto", "ip6tnl", "ip6gre", "gre", "ipip", "seg6")
MIN_MTU: Final = 1280  # IPv6 minimum link MTU (RFC 8200): the HNP traffic needs it
PRIORITY_SPAN: Final = 3  # decap rules, moved local rule, per-MN rules

SECTION: Final = "datapath"
IFNAMSIZ: Final = 15  # bytes of an interface name, without the NUL
LINK_SUFFIX_LEN: Final = 8  # hex digits link_name() appends
_RESERVED_TABLES: Final = frozenset({0, 253, 254, 255})
_V6_ONLY: Final = frozenset({"ip6tnl", "ip6gre", "seg6"})
_V4_ONLY: Final = frozenset({"gre", "ipip"})


@dataclass(frozen=True)
class PlanSettings:
    """What the planner needs of ``[plugin.datapath]`` and the daemon's role."""

    role: Role
    local: Address  # our tunnel endpoint (the MAG's Proxy-CoA / the LMA's LMAA)
    access_interface: str | None = None  # MAG only
    transport_interface: str | None = None  # None: the IO side looks the peer up
    encapsulation: str = "auto"
    mtu: int | None = None  # None: transport link MTU minus the encapsulation overhead
    table_base: int = 2600
    max_tunnels: int = 64
    rule_priority: int = 1000
    route_protocol: int = 0xB5
    link_prefix: str = "pm6-"

    @property
    def decap_tables(self) -> tuple[int, int]:
        return self.table_base, self.table_base + 1

    def tunnel_table(self, slot: int) -> int:
        return self.table_base + 2 + slot

    @property
    def table_range(self) -> range:
        return range(self.table_base, self.table_base + 2 + self.max_tunnels)

    @property
    def priority_range(self) -> range:
        return range(self.rule_priority, self.rule_priority + PRIORITY_SPAN)

    @property
    def decap_priority(self) -> int:
        return self.rule_priority

    @property
    def local_priority(self) -> int:
        return self.rule_priority + 1

    @property
    def mn_priority(self) -> int:
        return self.rule_priority + 2


def is_enabled(raw: Mapping[str, Any]) -> bool:
    """A section is present and does not say ``enabled = false``."""
    return bool(raw) and raw.get("enabled", True) is not False


def parse_settings(config: Config) -> PlanSettings | None:
    """The planner settings, or None when the plugin is not enabled.

    :raises ConfigError: with the key path, e.g. ``plugin.datapath.encapsulation``.
    """
    raw = config.plugin_section(SECTION)
    t = Table(raw, f"plugin.{SECTION}")
    enabled = t.get_bool("enabled", True)
    role = config.role
    access = t.get_str("access_interface", None, max_len=IFNAMSIZ)
    transport_if = t.get_str("transport_interface", None, max_len=IFNAMSIZ)
    encapsulation = t.get_str("encapsulation", "auto", choices=ENCAPSULATIONS)
    mtu = t.get_int("mtu", None, min=MIN_MTU, max=65535)
    max_tunnels = t.get_int("max_tunnels", 64, min=1, max=4096)
    table_base = t.get_int("table_base", 2600, min=1, max=(1 << 31) - 4096 - 2)
    rule_priority = t.get_int("rule_priority", 1000, min=1, max=32765 - PRIORITY_SPAN)
    proto = t.get_int("route_protocol", 0xB5, min=5, max=255)
    prefix = t.get_str("link_prefix", "pm6-", max_len=IFNAMSIZ - LINK_SUFFIX_LEN)
    source = t.get_address("tunnel_source", None)
    t.finish()
    if not raw or not enabled:
        return None
    if role == "mag" and access is None:
        raise t.error("access_interface", "is required on a MAG (where the mobile nodes are)")
    if role == "lma" and access is not None:
        raise t.error("access_interface", "is for a MAG; an LMA has no access link")
    tables = set(range(table_base, table_base + 2 + max_tunnels))
    if tables & _RESERVED_TABLES:
        raise t.error(
            "table_base",
            f"tables {table_base}..{table_base + 1 + max_tunnels} overlap the kernel's "
            "tables 253-255 (default, main, local)",
        )
    family = 6 if config.transport == "ipv6" else 4
    if (encapsulation in _V6_ONLY and family != 6) or (encapsulation in _V4_ONLY and family != 4):
        raise t.error(
            "encapsulation",
            f"{encapsulation!r} does not fit daemon.transport = {config.transport!r}",
        )
    local = source if source is not None else config.own_address
    if local.version != family:
        raise t.error("tunnel_source", f"must be an IPv{family} address for this transport")
    return PlanSettings(
        role=role,
        local=local,
        access_interface=access,
        transport_interface=transport_if,
        encapsulation=encapsulation,
        mtu=mtu,
        table_base=table_base,
        max_tunnels=max_tunnels,
        rule_priority=rule_priority,
        route_protocol=proto,
        link_prefix=prefix,
    )


def validate(config: Config) -> None:
    """Raise :class:`ConfigError` for a wrong section (also a disabled one)."""
    parse_settings(config)


__all__ = [
    "ENCAPSULATIONS",
    "MIN_MTU",
    "PRIORITY_SPAN",
    "SECTION",
    "ConfigError",
    "PlanSettings",
    "Role",
    "is_enabled",
    "parse_settings",
    "validate",
]
