"""Local policy profiles: parsing, refusals with key paths, and match precedence."""

from __future__ import annotations

import asyncio
import tomllib
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any

import pytest

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.core.types import MobileNodeProfile
from mag_ap.plugins import PluginHost
from mag_ap_localpolicy import LocalPolicy, parse_policy, realm_of

LMA = IPv6Address("2001:db8::1")
MAC = "02:00:00:00:00:01"


def section(text: str) -> dict[str, Any]:
    """The [plugin.localpolicy] table of a TOML snippet written without the prefix."""
    return tomllib.loads(text)


def lma_of(policy: LocalPolicy, mn_id: str) -> object:
    profile = policy.lookup(mn_id, MAC)
    assert profile is not None
    return profile.lma_address


EVERYTHING = section(
    f"""
    lma_address = "{LMA}"

    [default]
    service_selection = "default"

    [[profile]]
    mn_id = "alice@example.net"
    service_selection = "by-mn-id"

    [[profile]]
    mac = "{MAC}"
    service_selection = "by-mac"

    [[profile]]
    realm = "Example.NET"
    service_selection = "by-realm"
    """
)


def apn(profile: MobileNodeProfile | None) -> str | None:
    assert profile is not None
    return profile.service_selection


# --- precedence -------------------------------------------------------------------


def test_mn_id_beats_mac_beats_realm_beats_default() -> None:
    policy = parse_policy(EVERYTHING)
    assert apn(policy.lookup("alice@example.net", MAC)) == "by-mn-id"
    assert apn(policy.lookup("bob@example.net", MAC)) == "by-mac"
    assert apn(policy.lookup("bob@example.net", "02:00:00:00:00:02")) == "by-realm"
    assert apn(policy.lookup("bob@elsewhere.org", "02:00:00:00:00:02")) == "default"


def test_an_unknown_mn_is_refused_without_a_default() -> None:
    data = dict(EVERYTHING)
    del data["default"]
    policy = parse_policy(data)
    assert policy.lookup("bob@elsewhere.org", "02:00:00:00:00:02") is None
    assert apn(policy.lookup("bob@example.net", "02:00:00:00:00:02")) == "by-realm"


def test_an_empty_section_refuses_everyone() -> None:
    assert parse_policy({}).lookup("alice@example.net", MAC) is None


def test_the_profile_carries_the_asked_mn_id() -> None:
    policy = parse_policy(EVERYTHING)
    profile = policy.lookup("carol@example.net", MAC)
    assert profile is not None
    assert profile.mn_id == "carol@example.net"
    assert profile.lma_address == LMA


def test_mac_matches_in_any_spelling() -> None:
    policy = parse_policy(
        section(f'lma_address = "{LMA}"\n[[profile]]\nmac = "02-00-00-00-00-0A"\n')
    )
    assert policy.lookup("x@y", "02:00:00:00:00:0a") is not None
    assert policy.lookup("x@y", "0200.0000.000A") is not None
    assert policy.lookup("x@y", "garbage") is None


def test_realm_is_the_part_after_the_last_at_sign_and_ignores_case() -> None:
    assert realm_of("user@Example.Net") == "example.net"
    assert realm_of("odd@user@example.net") == "example.net"
    assert realm_of("no-realm") is None
    assert realm_of("trailing@") is None
    policy = parse_policy(EVERYTHING)
    assert apn(policy.lookup("bob@EXAMPLE.net", "02:00:00:00:00:02")) == "by-realm"
    assert apn(policy.lookup("example.net", "02:00:00:00:00:02")) == "default"
    assert apn(policy.lookup("bob@sub.example.net", "02:00:00:00:00:02")) == "default"


# --- fields -----------------------------------------------------------------------


def test_every_profile_field_is_read() -> None:
    policy = parse_policy(
        section(
            """
            [[profile]]
            mn_id = "alice@example.net"
            lma_address = "2001:db8::2"
            ipv6 = true
            ipv4 = true
            hnp = "2001:db8:100:a11c::/64"
            ipv4_address = "10.200.0.42"
            service_selection = "internet"
            gre_key = true
            lifetime_s = 600
            dns_servers = ["2001:db8::53", "10.200.0.53"]
            """
        )
    )
    assert policy.lookup("alice@example.net", MAC) == MobileNodeProfile(
        mn_id="alice@example.net",
        lma_address=IPv6Address("2001:db8::2"),
        ipv6=True,
        ipv4=True,
        hnp=IPv6Network("2001:db8:100:a11c::/64"),
        ipv4_address=IPv4Address("10.200.0.42"),
        service_selection="internet",
        gre_key=True,
        lifetime_s=600,
        dns_servers=(ip_address("2001:db8::53"), ip_address("10.200.0.53")),
    )


def test_unset_fields_take_the_profile_defaults() -> None:
    policy = parse_policy(section(f'[default]\nlma_address = "{LMA}"\n'))
    assert policy.lookup("a@b", MAC) == MobileNodeProfile(mn_id="a@b", lma_address=LMA)


def test_an_entry_lma_address_overrides_the_shared_one() -> None:
    policy = parse_policy(
        section(
            f'lma_address = "{LMA}"\n[[profile]]\nrealm = "r"\nlma_address = "2001:db8::9"\n'
            "[default]\n"
        )
    )
    assert lma_of(policy, "a@r") == IPv6Address("2001:db8::9")
    assert lma_of(policy, "a@s") == LMA


def test_ipv4_transport_wants_an_ipv4_lma() -> None:
    policy = parse_policy(section('[default]\nlma_address = "192.0.2.1"\n'), "ipv4")
    assert lma_of(policy, "a@b") == IPv4Address("192.0.2.1")
    with pytest.raises(ConfigError) as info:
        parse_policy(section(f'[default]\nlma_address = "{LMA}"\n'), "ipv4")
    assert info.value.key_path == "plugin.localpolicy.default.lma_address"


# --- refusals ---------------------------------------------------------------------

P = "plugin.localpolicy"
BROKEN: list[tuple[str, str]] = [
    ("lma = '2001:db8::1'\n", f"{P}.lma"),
    ("lma_address = 'nope'\n", f"{P}.lma_address"),
    ("default = 3\n", f"{P}.default"),
    ("profile = {}\n", f"{P}.profile"),
    ("[default]\nipv4 = true\n", f"{P}.default.lma_address"),
    ("[[profile]]\nmn_id = 'a@b'\n", f"{P}.profile[0].lma_address"),
    ("[[profile]]\nlma_address = '::1'\n", f"{P}.profile[0]"),
    ("[[profile]]\nmn_id = 'a@b'\nmac = '02:00:00:00:00:01'\n", f"{P}.profile[0]"),
    ("[[profile]]\nmn_id = ''\n", f"{P}.profile[0].mn_id"),
    ("[[profile]]\nmn_id = 7\n", f"{P}.profile[0].mn_id"),
    ("[[profile]]\nmac = '02:00:00:00:00'\n", f"{P}.profile[0].mac"),
    ("[[profile]]\nrealm = 'a@example.net'\n", f"{P}.profile[0].realm"),
    (
        "lma_address = '::1'\n[[profile]]\nrealm = 'x'\n[[profile]]\nrealm = 'X'\n",
        f"{P}.profile[1].realm",
    ),
    (
        "lma_address = '::1'\n[[profile]]\nmac = '02:00:00:00:00:01'\n"
        "[[profile]]\nmac = '02-00-00-00-00-01'\n",
        f"{P}.profile[1].mac",
    ),
    ("lma_address = '::1'\n[default]\nipv5 = true\n", f"{P}.default.ipv5"),
    ("lma_address = '::1'\n[default]\nipv6 = false\nipv4 = false\n", f"{P}.default.ipv6"),
    ("lma_address = '::1'\n[default]\nipv6 = 'yes'\n", f"{P}.default.ipv6"),
    ("lma_address = '::1'\n[default]\nipv6 = false\nhnp = '2001:db8::/64'\n", f"{P}.default.hnp"),
    ("lma_address = '::1'\n[default]\nhnp = '10.0.0.0/8'\n", f"{P}.default.hnp"),
    ("lma_address = '::1'\n[default]\nhnp = '2001:db8::1/64'\n", f"{P}.default.hnp"),
    (
        "lma_address = '::1'\n[default]\nipv4 = false\nipv4_address = '10.0.0.1'\n",
        f"{P}.default.ipv4_address",
    ),
    ("lma_address = '::1'\n[default]\nipv4_address = '::2'\n", f"{P}.default.ipv4_address"),
    ("lma_address = '::1'\n[default]\nlifetime_s = 601\n", f"{P}.default.lifetime_s"),
    ("lma_address = '::1'\n[default]\nlifetime_s = 0\n", f"{P}.default.lifetime_s"),
    ("lma_address = '::1'\n[default]\ngre_key = 1\n", f"{P}.default.gre_key"),
    ("lma_address = '::1'\n[default]\nservice_selection = ''\n", f"{P}.default.service_selection"),
    (
        "lma_address = '::1'\n[default]\nservice_selection = '" + "x" * 256 + "'\n",
        f"{P}.default.service_selection",
    ),
    ("lma_address = '::1'\n[default]\ndns_servers = '::53'\n", f"{P}.default.dns_servers"),
    (
        "lma_address = '::1'\n[default]\ndns_servers = ['::53', 'dns']\n",
        f"{P}.default.dns_servers[1]",
    ),
    (
        "lma_address = '::1'\n[[profile]]\nrealm = 'r'\nmn_id_typo = 1\n",
        f"{P}.profile[0].mn_id_typo",
    ),
]


@pytest.mark.parametrize(
    ("text", "key_path"), BROKEN, ids=[f"{i}:{kp}" for i, (_, kp) in enumerate(BROKEN)]
)
def test_a_broken_profile_is_refused_with_its_key_path(text: str, key_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(section(text))
    assert info.value.key_path == key_path


# --- through the plugin host --------------------------------------------------------


def test_the_plugin_serves_the_profiles_of_the_config_file() -> None:
    config = parse_config_text(
        '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'
        f'[plugin.localpolicy]\nlma_address = "{LMA}"\n'
        '[[plugin.localpolicy.profile]]\nmn_id = "alice@example.net"\ngre_key = true\n'
    )
    provider = PluginHost.from_config(config, entry_points=False).policy_provider()
    assert provider is not None
    alice = asyncio.run(provider.profile_for("alice@example.net", MAC))
    assert alice is not None and alice.gre_key is True
    assert asyncio.run(provider.profile_for("mallory@example.net", MAC)) is None


def test_the_plugin_refuses_a_broken_section_at_start() -> None:
    config = parse_config_text(
        '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'
        "[[plugin.localpolicy.profile]]\nrealm = 'r'\n"
    )
    with pytest.raises(ConfigError) as info:
        PluginHost.from_config(config, entry_points=False)
    assert info.value.key_path == "plugin.localpolicy.profile[0].lma_address"


def test_a_profile_may_name_its_lma_by_fqdn() -> None:
    policy = parse_policy(
        section(
            """
            [[profile]]
            realm = "guests.example.net"
            lma_fqdn = "LMA.Example.NET"
            """
        ),
        "ipv4",
    )
    profile = policy.lookup("bob@guests.example.net", MAC)
    assert profile is not None
    assert profile.lma_fqdn == "lma.example.net"
    assert profile.lma_address == IPv4Address("0.0.0.0")  # placeholder until resolved
    v6 = parse_policy(section('[default]\nlma_fqdn = "lma.example.net."\n')).lookup("a", MAC)
    assert v6 is not None and v6.lma_address == IPv6Address("::")


@pytest.mark.parametrize(
    "text",
    [
        '[default]\nlma_fqdn = "lma.example.net"\nlma_address = "2001:db8::1"\n',
        '[default]\nlma_fqdn = "lma..example.net"\n',
        '[default]\nlma_fqdn = "-lma.example.net"\n',
        '[default]\nlma_fqdn = "lma_1.example.net"\n',
    ],
)
def test_a_bad_lma_fqdn_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"plugin\.localpolicy\.default\.lma_fqdn"):
        parse_policy(section(text))
