"""Pure local policy: the ``[plugin.localpolicy]`` table -> profiles, and the lookup.

No asyncio here, so parsing and precedence are tested directly. A lookup picks
the first match in the order ``mn_id`` > ``mac`` > ``realm`` > ``default``; an
unknown MN with no ``default`` gets None (access refused, RFC 5213 section 6.9.1.1
leaves admission to the MAG's policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from types import MappingProxyType
from typing import Any, Final

from mag_ap.config import (
    ConfigError,
    Table,
    Transport,
    normalize_mac,
    parse_address,
    parse_network,
)
from mag_ap.core.types import Address, MobileNodeProfile

SECTION: Final = "localpolicy"
MATCH_KEYS: Final = ("mn_id", "mac", "realm")


def realm_of(mn_id: str) -> str | None:
    """The realm of an NAI (after the last ``@``), lower-cased: realms are DNS names."""
    _, at, realm = mn_id.rpartition("@")
    return realm.lower() if at and realm else None


@dataclass(frozen=True)
class LocalPolicy:
    """Profiles by MN-ID, by MAC, by realm, and the default; ``mn_id`` is filled per lookup."""

    by_mn_id: Mapping[str, MobileNodeProfile] = field(default_factory=dict)
    by_mac: Mapping[str, MobileNodeProfile] = field(default_factory=dict)
    by_realm: Mapping[str, MobileNodeProfile] = field(default_factory=dict)
    default: MobileNodeProfile | None = None

    def lookup(self, mn_id: str, mac: str) -> MobileNodeProfile | None:
        """The profile for this MN, or None when it is not admitted."""
        template = self.by_mn_id.get(mn_id)
        if template is None:
            try:
                template = self.by_mac.get(normalize_mac(mac, "mac"))
            except ValueError:
                template = None
        if template is None:
            realm = realm_of(mn_id)
            template = self.by_realm.get(realm) if realm is not None else None
        if template is None:
            template = self.default
        return replace(template, mn_id=mn_id) if template is not None else None


def _family(transport: Transport) -> int:
    return 4 if transport == "ipv4" else 6


def _parse_profile(
    t: Table, shared_lma: Address | None, transport: Transport, shared_path: str
) -> MobileNodeProfile:
    """The fields of one profile table (the caller has read its match key)."""
    family = _family(transport)
    lma = t.get_address("lma_address", None, family=family)
    lma_fqdn = t.get_str("lma_fqdn", None, max_len=253)
    if lma_fqdn is not None:
        if lma is not None:
            raise t.error("lma_fqdn", "and lma_address exclude each other: name the LMA once")
        lma_fqdn = _check_fqdn(lma_fqdn, t.key_path("lma_fqdn"))
        # a placeholder: the MAG resolves the name (RFC 6097) and fills in the address
        lma = IPv4Address(0) if family == 4 else IPv6Address(0)
    if lma is None:
        if shared_lma is None:
            raise t.error(
                "lma_address",
                f"is required (or lma_fqdn) here or in {shared_path}.lma_address",
            )
        lma = shared_lma
    ipv6 = t.get_bool("ipv6", True)
    ipv4 = t.get_bool("ipv4", True)
    raw_hnp = t.get_any("hnp", None)
    hnp = None
    if raw_hnp is not None:
        net = parse_network(raw_hnp, t.key_path("hnp"), family=6)
        assert isinstance(net, IPv6Network)
        hnp = net
    ipv4_address = t.get_address("ipv4_address", None, family=4)
    assert ipv4_address is None or isinstance(ipv4_address, IPv4Address)
    service = t.get_str("service_selection", None, max_len=255)  # RFC 5149: 1..255 octets
    gre_key = t.get_bool("gre_key", False)
    lifetime = t.get_lifetime("lifetime_s", None)
    dns = tuple(
        parse_address(item, t.item_path("dns_servers", i))
        for i, item in enumerate(t.get_list("dns_servers", ()))
    )
    t.finish()
    if not ipv6 and not ipv4:
        raise t.error("ipv6", "ipv6 and ipv4 are both false: nothing to request")
    if hnp is not None and not ipv6:
        raise t.error("hnp", "is set but ipv6 = false")
    if ipv4_address is not None and not ipv4:
        raise t.error("ipv4_address", "is set but ipv4 = false")
    return MobileNodeProfile(
        mn_id="",
        lma_address=lma,
        ipv6=ipv6,
        ipv4=ipv4,
        hnp=hnp,
        ipv4_address=ipv4_address,
        service_selection=service,
        gre_key=gre_key,
        lifetime_s=lifetime,
        dns_servers=dns,
        lma_fqdn=lma_fqdn,
    )


def _check_fqdn(name: str, key_path: str) -> str:
    """A DNS name of letters, digits, hyphens and dots (RFC 1123 labels of 1..63)."""
    labels = name.rstrip(".").split(".")
    for label in labels:
        if not 0 < len(label) <= 63 or label.startswith("-") or label.endswith("-"):
            raise ConfigError(key_path, f"{name!r} is not a DNS name")
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
            raise ConfigError(key_path, f"{name!r} is not a DNS name")
    return name.lower()


def parse_policy(section: Mapping[str, Any], transport: Transport = "ipv6") -> LocalPolicy:
    """Validate ``[plugin.localpolicy]``; every error names its key path.

    Layout: optional ``lma_address`` shared by entries that name none,
    ``[plugin.localpolicy.default]`` for MNs nothing else matches, and
    ``[[plugin.localpolicy.profile]]`` entries each with exactly one of
    ``mn_id``, ``mac`` or ``realm``. LMA addresses must be of the transport family.
    """
    path = f"plugin.{SECTION}"
    root = Table(section, path)
    shared_lma = root.get_address("lma_address", None, family=_family(transport))
    default_table = root.get_table("default")
    entries = root.get_tables("profile")
    root.finish()

    default = None
    if default_table is not None:
        default = _parse_profile(default_table, shared_lma, transport, path)
    tables: dict[str, dict[str, MobileNodeProfile]] = {key: {} for key in MATCH_KEYS}
    for entry in entries:
        present = [key for key in MATCH_KEYS if entry.has(key)]
        if len(present) != 1:
            raise ConfigError(entry.path, "needs exactly one of mn_id, mac or realm")
        key = present[0]
        if key == "mac":
            match = normalize_mac(entry.get_any("mac"), entry.key_path("mac"))
        else:
            match = entry.get_str(key, max_len=253 if key == "realm" else None)
            if key == "realm":
                match = match.lower()
                if "@" in match:
                    raise entry.error("realm", "is the part after '@': leave the '@' out")
        if match in tables[key]:
            raise entry.error(key, f"{match!r} has a profile already")
        tables[key][match] = _parse_profile(entry, shared_lma, transport, path)
    return LocalPolicy(
        by_mn_id=MappingProxyType(tables["mn_id"]),
        by_mac=MappingProxyType(tables["mac"]),
        by_realm=MappingProxyType(tables["realm"]),
        default=default,
    )
