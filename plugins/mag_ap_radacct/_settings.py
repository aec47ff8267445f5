"""``[plugin.radacct]`` -> :class:`RadAcctSettings` (pure; errors name the key path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mag_ap.config import Table
from mag_ap.core.types import Address

SECTION: Final = "radacct"


@dataclass(frozen=True, kw_only=True)
class RadAcctSettings:
    """Where the accounting listener binds and how it uses what it hears."""

    enabled: bool = False
    address: Address | None = None  # bind address (the MAG's address towards hostapd)
    port: int = 1813
    secret: bytes = b""  # hostapd's acct_server_shared_secret
    detach_on_stop: bool = False  # Accounting-Stop detaches the station
    identity_wait_s: float = 2.0  # how long identity_for waits for a late Accounting-Start


def parse_settings(section: Mapping[str, Any]) -> RadAcctSettings:
    """Validate ``[plugin.radacct]``; an absent section or ``enabled = false`` is inert."""
    t = Table(section, f"plugin.{SECTION}")
    d = RadAcctSettings()
    enabled = t.get_bool("enabled", bool(section))
    address = t.get_address("address", None)
    port = t.get_int("port", d.port, min=1, max=65535)
    secret = t.get_str("secret", "")
    detach = t.get_bool("detach_on_stop", d.detach_on_stop)
    wait = t.get_float("identity_wait_s", d.identity_wait_s, min=0, max=4)
    t.finish()
    if enabled:
        if address is None:
            raise t.error("address", "is required: the address hostapd's acct_server_addr names")
        if not secret:
            raise t.error("secret", "is required: hostapd's acct_server_shared_secret")
    return RadAcctSettings(
        enabled=enabled,
        address=address,
        port=port,
        secret=secret.encode(),
        detach_on_stop=detach,
        identity_wait_s=wait,
    )
