"""Last resort of the identity chain: a MAC-based NAI for stations no one else named.

``02:00:00:00:00:01`` becomes ``020000000001@mag-ap.invalid`` (``format = "hex"``)
or ``02:00:00:00:00:01@mag-ap.invalid`` (``format = "colon"``), or, with
``format = "eui48"``, the MN-ID ``5:020000000001``: the MAC itself as an EUI-48
identifier (RFC 4283 subtype 5, spelled like the LMA's binding-cache key
``<subtype>:<hex>``; the MAG core must encode such an MN-ID as subtype 5, see
:func:`eui48_of`). Configured by::

    [plugin.macnai]
    realm = "mag-ap.invalid"   # the NAI realm (RFC 7542); .invalid never resolves
    format = "hex"             # "hex", "colon" or "eui48"

Its priority is ``IDENTITY_PRIORITY["macnai"]`` (:mod:`mag_ap.providers`), the highest:
every other identity provider (hostapd 802.1X, RADIUS accounting, a third-party one)
is asked first, and this one answers when all of them declined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from mag_ap.config import Config, Table, normalize_mac
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import section_hooks
from mag_ap.providers import IDENTITY_PRIORITY

__all__ = [
    "SECTION",
    "MacNaiIdentity",
    "MacNaiSettings",
    "eui48_of",
    "mac_nai",
    "parse_settings",
]

SECTION: Final = "macnai"
# RFC 7542 realm: dot-separated labels of letters, digits and hyphens
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_REALM = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")

NaiFormat = Literal["hex", "colon", "eui48"]
EUI48_PREFIX: Final = "5:"  # MNIdentifierSubtype.EUI_48, as in mag_ap.lma.protocol.mn_key


@dataclass(frozen=True, kw_only=True)
class MacNaiSettings:
    """How the NAI is spelled."""

    realm: str = "mag-ap.invalid"
    format: NaiFormat = "hex"


def parse_settings(section: Mapping[str, Any]) -> MacNaiSettings:
    """Validate ``[plugin.macnai]``; errors name ``plugin.macnai.<key>``."""
    t = Table(section, f"plugin.{SECTION}")
    defaults = MacNaiSettings()
    realm = t.get_str("realm", defaults.realm, max_len=253)
    if not _REALM.match(realm):
        raise t.error("realm", f"{realm!r} is not a realm (labels of letters, digits, '-')")
    fmt = cast(NaiFormat, t.get_str("format", defaults.format, choices=("hex", "colon", "eui48")))
    t.finish()
    return MacNaiSettings(realm=realm, format=fmt)


def mac_nai(mac: str, settings: MacNaiSettings = MacNaiSettings()) -> str:
    """The NAI of a MAC address; raises ValueError when ``mac`` is not one."""
    normal = normalize_mac(mac, "mac")
    if settings.format == "eui48":
        return EUI48_PREFIX + normal.replace(":", "")
    user = normal.replace(":", "") if settings.format == "hex" else normal
    return f"{user}@{settings.realm}"


def eui48_of(mn_id: str) -> bytes | None:
    """The 6 octets of an EUI-48 MN-ID (``5:020000000001``), None for any other MN-ID."""
    if not mn_id.startswith(EUI48_PREFIX):
        return None
    digits = mn_id[len(EUI48_PREFIX) :]
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return bytes.fromhex(digits)


class MacNaiIdentity:
    """IdentityProvider answering every well-formed MAC with its MAC-based NAI."""

    name = "macnai"
    priority = IDENTITY_PRIORITY["macnai"]  # answers every MAC: the last resort

    def __init__(self, settings: MacNaiSettings) -> None:
        self.settings = settings

    async def identity_for(self, mac: str) -> str | None:
        try:
            return mac_nai(mac, self.settings)
        except ValueError:
            return None


mag_config_sections, mag_validate_config = section_hooks(
    SECTION, lambda c: parse_settings(c.plugin_section(SECTION))
)


@hookimpl(trylast=True)
def mag_identity_provider(config: Config) -> MacNaiIdentity:
    return MacNaiIdentity(parse_settings(config.plugin_section(SECTION)))
