"""``[plugin.radius]`` -> :class:`RadiusSettings` (pure; errors name the key path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mag_ap.config import Table, Transport
from mag_ap.core.types import Address

SECTION: Final = "radius"
# The MAG daemon gives a policy provider this long (mag_ap.runtime.daemon.PROVIDER_TIMEOUT_S);
# every try on every server must fit in it, or the daemon gives up before the failover.
POLICY_BUDGET_S: Final = 5.0
SERVICE_TYPE_FRAMED: Final = 2  # RFC 2865 section 5.6: Framed-User
SERVICE_TYPE_CALL_CHECK: Final = 10  # MAC-based look-ups on some AAA servers


@dataclass(frozen=True)
class RadiusServer:
    """One AAA server (RFC 2865: authentication on UDP port 1812)."""

    address: Address
    secret: bytes
    port: int = 1812


@dataclass(frozen=True, kw_only=True)
class RadiusSettings:
    """Which AAA servers to ask, how patiently, and what to send them."""

    enabled: bool = False
    servers: tuple[RadiusServer, ...] = ()
    timeout_s: float = 1.0  # per try
    tries: int = 2  # per server (the first send and its retransmissions)
    nas_identifier: str | None = None
    nas_address: Address | None = None  # NAS-IP(v6)-Address; else the socket's own address
    password: bytes | None = None  # User-Password, for servers that need one for MAC look-ups
    service_type: int = SERVICE_TYPE_FRAMED
    # BlastRADIUS (CVE-2024-3596) hardening: refuse replies without a Message-Authenticator.
    # Off by default: FreeRADIUS 3.2.1 (Debian 12) sends none; one present is always checked.
    require_message_authenticator: bool = False
    lma_address: Address | None = None  # when the Access-Accept names no LMA
    gre_key: bool = False  # ask for GRE keys (no RFC 6572 attribute says so)
    cache_ttl_s: float = 0.0  # keep an Access-Accept's profile this long; 0: ask every time
    transport: Transport = "ipv6"  # the PMIPv6 transport: which LMA attribute counts


def parse_settings(section: Mapping[str, Any], transport: Transport = "ipv6") -> RadiusSettings:
    """Validate ``[plugin.radius]``; an absent section or ``enabled = false`` is inert."""
    path = f"plugin.{SECTION}"
    t = Table(section, path)
    d = RadiusSettings()
    enabled = t.get_bool("enabled", bool(section))
    servers = []
    for entry in t.get_tables("servers"):
        address = entry.get_address("address")
        port = entry.get_int("port", 1812, min=1, max=65535)
        secret = entry.get_str("secret")
        entry.finish()
        servers.append(RadiusServer(address, secret.encode(), port))
    timeout_s = t.get_float("timeout_s", d.timeout_s, above=0, max=POLICY_BUDGET_S)
    tries = t.get_int("tries", d.tries, min=1, max=10)
    nas_identifier = t.get_str("nas_identifier", None, max_len=253)
    nas_address = t.get_address("nas_address", None)
    password = t.get_str("password", None, max_len=128)  # RFC 2865 section 5.2
    service_type = t.get_int("service_type", d.service_type, min=1, max=0xFFFFFFFF)
    require_ma = t.get_bool("require_message_authenticator", d.require_message_authenticator)
    lma = t.get_address("lma_address", None, family=4 if transport == "ipv4" else 6)
    gre_key = t.get_bool("gre_key", d.gre_key)
    cache_ttl_s = t.get_float("cache_ttl_s", d.cache_ttl_s, min=0, max=86400)
    t.finish()
    if enabled:
        if not servers:
            raise t.error("servers", "is required: at least one {address, secret} table")
        total_s = timeout_s * tries * len(servers)
        if total_s > POLICY_BUDGET_S:
            raise t.error(
                "timeout_s",
                f"timeout_s x tries x servers = {total_s:g} s exceeds the "
                f"{POLICY_BUDGET_S:g} s the MAG waits for a policy answer",
            )
    return RadiusSettings(
        enabled=enabled,
        servers=tuple(servers),
        timeout_s=timeout_s,
        tries=tries,
        nas_identifier=nas_identifier,
        nas_address=nas_address,
        password=password.encode() if password is not None else None,
        service_type=service_type,
        require_message_authenticator=require_ma,
        lma_address=lma,
        gre_key=gre_key,
        cache_ttl_s=cache_ttl_s,
        transport=transport,
    )
