"""``[plugin.dns]`` -> :class:`DnsSettings` (pure; errors name the key path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mag_ap.config import ConfigError, Table, parse_address
from mag_ap.core.types import Address

SECTION: Final = "dns"
RESOLV_CONF: Final = "/etc/resolv.conf"
POLICY_BUDGET_S: Final = 5.0  # the MAG daemon's provider timeout (PROVIDER_TIMEOUT_S)
# What the provider counts (its status), known before the resolver is loaded.
COUNTERS = (
    "lookups",
    "cache_hits",
    "queries",
    "answers",
    "nxdomain",
    "empty",  # NOERROR without records of the type
    "timeouts",
    "unreachable",
    "bad_answers",  # undecodable or not ours
    "server_failures",  # SERVFAIL, REFUSED, truncated: the next server is asked
    "failed",  # no server gave an answer
)


@dataclass(frozen=True, kw_only=True)
class DnsSettings:
    """Which DNS servers resolve LMA names, how patiently, and how long answers hold."""

    servers: tuple[Address, ...] = ()  # empty: the nameservers of resolv_conf
    port: int = 53
    resolv_conf: str = RESOLV_CONF
    timeout_s: float = 1.0  # per try
    tries: int = 2  # per server
    min_ttl_s: float = 0.0  # hold answers at least this long (0: as the TTL says)
    max_ttl_s: float = 3600.0
    negative_ttl_s: float = 30.0  # NXDOMAIN / no records


def parse_settings(section: Mapping[str, Any]) -> DnsSettings:
    """Validate ``[plugin.dns]`` (all optional: the defaults use resolv.conf)."""
    t = Table(section, f"plugin.{SECTION}")
    d = DnsSettings()
    servers = tuple(
        parse_address(item, t.item_path("servers", i))
        for i, item in enumerate(t.get_list("servers", ()))
    )
    port = t.get_int("port", d.port, min=1, max=65535)
    resolv_conf = t.get_str("resolv_conf", d.resolv_conf)
    timeout_s = t.get_float("timeout_s", d.timeout_s, above=0, max=POLICY_BUDGET_S)
    tries = t.get_int("tries", d.tries, min=1, max=10)
    min_ttl_s = t.get_float("min_ttl_s", d.min_ttl_s, min=0, max=86400)
    max_ttl_s = t.get_float("max_ttl_s", d.max_ttl_s, min=0, max=86400)
    negative_ttl_s = t.get_float("negative_ttl_s", d.negative_ttl_s, min=0, max=86400)
    t.finish()
    if min_ttl_s > max_ttl_s:
        raise ConfigError(t.key_path("min_ttl_s"), "must not exceed max_ttl_s")
    if servers and timeout_s * tries * len(servers) > POLICY_BUDGET_S:
        raise t.error(
            "timeout_s",
            f"timeout_s x tries x servers exceeds the {POLICY_BUDGET_S:g} s the MAG waits",
        )
    return DnsSettings(
        servers=servers,
        port=port,
        resolv_conf=resolv_conf,
        timeout_s=timeout_s,
        tries=tries,
        min_ttl_s=min_ttl_s,
        max_ttl_s=max_ttl_s,
        negative_ttl_s=negative_ttl_s,
    )


def nameservers_of(text: str) -> tuple[Address, ...]:
    """The ``nameserver`` lines of a resolv.conf (scoped and bad ones skipped)."""
    out: list[Address] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and "%" not in parts[1]:
            try:
                out.append(parse_address(parts[1], "nameserver"))
            except ConfigError:
                continue
    return tuple(out)
