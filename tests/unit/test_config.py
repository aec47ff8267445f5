"""The TOML configuration: defaults, values, and every refusal naming its key path."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Interface, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path

import pytest

from mag_ap.config import (
    MAX_LIFETIME_S,
    Config,
    ConfigError,
    StaticAttachment,
    load_config,
    parse_config,
    parse_config_text,
)
from tests.conftest import ROOT

MAG_HEAD = '[daemon]\nrole = "mag"\n\n[mag]\nown_address = "2001:db8::10"\n'
LMA_HEAD = '[daemon]\nrole = "lma"\n\n[lma]\nown_address = "2001:db8::1"\n'


def mag(extra: str = "", tail: str = "") -> str:
    """A minimal MAG config with ``extra`` keys in [mag] and ``tail`` tables after it."""
    return MAG_HEAD + extra + "\n" + tail


def lma(extra: str = "", tail: str = "") -> str:
    return LMA_HEAD + extra + "\n" + tail


# --- valid configurations ---------------------------------------------------------


def test_minimal_mag_takes_the_documented_defaults() -> None:
    config = parse_config_text(mag())
    assert config.role == "mag"
    assert config.lma is None
    assert config.mag is not None
    assert config.mag.own_address == IPv6Address("2001:db8::10")
    assert config.mag.lifetime_s == 3600
    assert config.mag.use_timestamps is True
    assert config.mag.heartbeat_interval_s == 60.0
    assert config.control_socket == "/var/run/mag-ap.sock"
    assert config.log_level == "info"
    assert config.log_format == "text"
    assert config.state_dir == "/var/lib/mag-ap"
    assert config.transport == "ipv6"
    assert config.plugins.disabled == ()
    assert config.plugins.enabled_extra == ()
    assert dict(config.plugin_sections) == {}
    assert config.static_attach == ()
    assert config.own_address == IPv6Address("2001:db8::10")


def test_minimal_lma_takes_the_documented_defaults() -> None:
    config = parse_config_text(lma())
    assert config.role == "lma"
    assert config.mag is None
    assert config.lma is not None
    assert config.control_socket == "/var/run/mag-ap-lma.sock"
    assert config.lma.hnp_pool == IPv6Network("2001:db8:100::/48")
    assert config.lma.hnp_length == 64
    assert config.lma.ipv4_pool == IPv4Interface("10.200.0.1/16")
    assert config.lma.authorized_mags == ()
    assert config.lma.min_delay_before_bce_delete_s == 10.0


def test_every_mag_key_is_read() -> None:
    config = parse_config_text(
        mag(
            "use_timestamps = false\n"
            "lifetime_s = 600\n"
            "refresh_before_s = 60\n"
            "initial_bindack_timeout_first_reg_s = 2\n"
            "initial_bindack_timeout_s = 0.5\n"
            "max_bindack_timeout_s = 16.0\n"
            "heartbeat_interval_s = 0\n"
            "missing_heartbeats_allowed = 5\n"
        )
    )
    assert config.mag is not None
    m = config.mag
    assert (m.use_timestamps, m.lifetime_s, m.refresh_before_s) == (False, 600, 60.0)
    assert m.initial_bindack_timeout_first_reg_s == 2.0
    assert m.initial_bindack_timeout_s == 0.5
    assert m.max_bindack_timeout_s == 16.0
    assert m.heartbeat_interval_s == 0.0
    assert m.missing_heartbeats_allowed == 5


def test_every_lma_key_is_read() -> None:
    config = parse_config_text(
        lma(
            'hnp_pool = "2001:db8:200::/40"\n'
            "hnp_length = 56\n"
            'ipv4_pool = "192.168.100.254/24"\n'
            'authorized_mags = ["2001:db8:ffff::/64", "2001:db8::7"]\n'
            "max_lifetime_s = 7200\n"
            "min_delay_before_bce_delete_s = 0\n"
            "max_delay_before_new_bce_assign_s = 2\n"
            "timestamp_validity_window_s = 0.5\n"
            "use_timestamps = false\n"
            "gre_keys = false\n"
            "heartbeat_interval_s = 30\n"
            "missing_heartbeats_allowed = 2\n"
        )
    )
    assert config.lma is not None
    a = config.lma
    assert a.hnp_pool == IPv6Network("2001:db8:200::/40")
    assert a.hnp_length == 56
    assert a.ipv4_pool == IPv4Interface("192.168.100.254/24")
    assert a.authorized_mags == (ip_network("2001:db8:ffff::/64"), ip_network("2001:db8::7/128"))
    assert (a.max_lifetime_s, a.min_delay_before_bce_delete_s) == (7200, 0.0)
    assert a.max_delay_before_new_bce_assign_s == 2.0
    assert a.timestamp_validity_window_s == 0.5
    assert (a.use_timestamps, a.gre_keys) == (False, False)
    assert (a.heartbeat_interval_s, a.missing_heartbeats_allowed) == (30.0, 2)


def test_pools_can_be_disabled_one_at_a_time() -> None:
    v4_only = parse_config_text(lma("hnp_pool = false\n"))
    v6_only = parse_config_text(lma("ipv4_pool = false\n"))
    assert v4_only.lma is not None and v4_only.lma.hnp_pool is None
    assert v6_only.lma is not None and v6_only.lma.ipv4_pool is None


def test_daemon_keys_are_read() -> None:
    config = parse_config_text(
        '[daemon]\nrole = "mag"\ncontrol_socket = "/tmp/m.sock"\nlog_level = "debug"\n'
        'log_format = "json"\nstate_dir = "/tmp/state"\ntransport = "ipv4"\n'
        '[mag]\nown_address = "192.0.2.10"\n'
    )
    assert config.control_socket == "/tmp/m.sock"
    assert (config.log_level, config.log_format) == ("debug", "json")
    assert config.state_dir == "/tmp/state"
    assert config.transport == "ipv4"
    assert config.own_address == ip_address("192.0.2.10")


def test_static_attach_normalises_macs_and_mn_id_is_optional() -> None:
    config = parse_config_text(
        mag(
            tail='[[static_attach]]\nmac = "02-00-00-00-00-0A"\nmn_id = "printer@example.net"\n'
            '[[static_attach]]\nmac = "0200.0000.000b"\n'
        )
    )
    assert config.static_attach == (
        StaticAttachment(mac="02:00:00:00:00:0a", mn_id="printer@example.net"),
        StaticAttachment(mac="02:00:00:00:00:0b", mn_id=None),
    )


def test_plugins_and_plugin_sections_are_kept_read_only() -> None:
    config = parse_config_text(
        mag(
            tail='[plugins]\ndisabled = ["mag_ap_macnai"]\nenabled_extra = ["acme.mag_plugin"]\n'
            '[plugin.acme]\nservers = ["a", "b"]\n[plugin.acme.nested]\nx = 1\n'
        )
    )
    assert config.plugins.disabled == ("mag_ap_macnai",)
    assert config.plugins.enabled_extra == ("acme.mag_plugin",)
    section = config.plugin_section("acme")
    assert section["servers"] == ("a", "b")
    assert section["nested"]["x"] == 1
    assert dict(config.plugin_section("absent")) == {}
    with pytest.raises(TypeError):
        section["servers"] = ()  # type: ignore[index]


def test_parse_config_takes_a_dict() -> None:
    config = parse_config(
        {"daemon": {"role": "mag"}, "mag": {"own_address": "2001:db8::10"}}, "test"
    )
    assert isinstance(config, Config)
    assert config.source == "test"


def test_config_is_frozen() -> None:
    config = parse_config_text(mag())
    with pytest.raises(AttributeError):
        config.role = "lma"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["mag.toml", "lma.toml"])
def test_examples_load(name: str) -> None:
    config = load_config(ROOT / "examples" / name)
    assert config.role == name.removesuffix(".toml")
    assert config.source.endswith(name)


def test_mag_example_documents_every_mag_key() -> None:
    text = (ROOT / "examples" / "mag.toml").read_text()
    config = load_config(ROOT / "examples" / "mag.toml")
    assert config.mag is not None
    for key in config.mag.__dataclass_fields__:
        if key != "restart_counter":  # persisted by the runtime, not configured
            assert f"{key} =" in text, key


def test_lma_example_documents_every_lma_key() -> None:
    text = (ROOT / "examples" / "lma.toml").read_text()
    config = load_config(ROOT / "examples" / "lma.toml")
    assert config.lma is not None
    for key in config.lma.__dataclass_fields__:
        if key != "restart_counter":
            assert f"{key} =" in text, key


# --- refusals ---------------------------------------------------------------------

BROKEN: list[tuple[str, str, str]] = [
    # (config text, key path, part of the reason)
    ("[mag]\nown_address = '2001:db8::1'\n", "daemon", "required"),
    ('[daemon]\nrole = "ha"\n', "daemon.role", "one of"),
    ("[daemon]\nrole = 1\n", "daemon.role", "must be a string"),
    ("[daemon]\n", "daemon.role", "is required"),
    ('[daemon]\nrole = "mag"\n', "mag", "required"),
    ('[daemon]\nrole = "mag"\nrol = 1\n[mag]\nown_address = "::2"\n', "daemon.rol", "unknown"),
    (MAG_HEAD.replace("[daemon]\n", '[daemon]\nlog_level = "loud"\n'), "daemon.log_level", ""),
    (MAG_HEAD.replace("[daemon]\n", '[daemon]\nlog_format = "xml"\n'), "daemon.log_format", ""),
    (MAG_HEAD.replace("[daemon]\n", '[daemon]\ntransport = "ip"\n'), "daemon.transport", ""),
    (
        MAG_HEAD.replace("[daemon]\n", '[daemon]\ncontrol_socket = "mag.sock"\n'),
        "daemon.control_socket",
        "absolute",
    ),
    (MAG_HEAD.replace("[daemon]\n", '[daemon]\nstate_dir = ""\n'), "daemon.state_dir", "empty"),
    (mag(tail='[lma]\nown_address = "::1"\n'), "lma", 'daemon.role = "lma"'),
    (lma(tail='[mag]\nown_address = "::1"\n'), "mag", 'daemon.role = "mag"'),
    ('[daemon]\nrole = "mag"\n[mag]\n', "mag.own_address", "is required"),
    ('[daemon]\nrole = "mag"\n[mag]\nown_address = "banana"\n', "mag.own_address", "not an"),
    ('[daemon]\nrole = "mag"\n[mag]\nown_address = "::"\n', "mag.own_address", "unicast"),
    ('[daemon]\nrole = "mag"\n[mag]\nown_address = "ff02::1"\n', "mag.own_address", "unicast"),
    ('[daemon]\nrole = "mag"\n[mag]\nown_address = 10\n', "mag.own_address", "string"),
    ('[daemon]\nrole = "mag"\n[mag]\nown_address = "192.0.2.1"\n', "mag.own_address", "IPv6"),
    (
        '[daemon]\nrole = "mag"\ntransport = "ipv4"\n[mag]\nown_address = "2001:db8::1"\n',
        "mag.own_address",
        "IPv4",
    ),
    (mag("lifetime_s = 3601\n"), "mag.lifetime_s", "multiple of 4"),
    (mag("lifetime_s = 0\n"), "mag.lifetime_s", "between 4 and"),
    (mag(f"lifetime_s = {MAX_LIFETIME_S + 4}\n"), "mag.lifetime_s", "between 4 and"),
    (mag('lifetime_s = "3600"\n'), "mag.lifetime_s", "integer"),
    (mag("lifetime_s = 3600.0\n"), "mag.lifetime_s", "integer"),
    (mag("lifetime_s = true\n"), "mag.lifetime_s", "integer"),
    (mag("use_timestamps = 1\n"), "mag.use_timestamps", "true or false"),
    (mag("refresh_before_s = 0\n"), "mag.refresh_before_s", "greater than 0"),
    (mag("refresh_before_s = 3600\n"), "mag.refresh_before_s", "less than mag.lifetime_s"),
    (mag("initial_bindack_timeout_s = 0\n"), "mag.initial_bindack_timeout_s", "greater"),
    (mag("initial_bindack_timeout_s = -1\n"), "mag.initial_bindack_timeout_s", "greater"),
    (mag("initial_bindack_timeout_s = nan\n"), "mag.initial_bindack_timeout_s", "finite"),
    (
        mag("initial_bindack_timeout_first_reg_s = 0.0\n"),
        "mag.initial_bindack_timeout_first_reg_s",
        "greater",
    ),
    (mag("max_bindack_timeout_s = 0\n"), "mag.max_bindack_timeout_s", "greater"),
    (mag("max_bindack_timeout_s = inf\n"), "mag.max_bindack_timeout_s", "finite"),
    (mag("max_bindack_timeout_s = 1.2\n"), "mag.max_bindack_timeout_s", "initial timeouts"),
    (mag("heartbeat_interval_s = -1\n"), "mag.heartbeat_interval_s", "at least 0"),
    (mag('heartbeat_interval_s = "60"\n'), "mag.heartbeat_interval_s", "number"),
    (mag("missing_heartbeats_allowed = 0\n"), "mag.missing_heartbeats_allowed", "at least 1"),
    (mag("restart_counter = 3\n"), "mag.restart_counter", "unknown"),
    (mag("lifetime = 3600\n"), "mag.lifetime", "did you mean 'lifetime_s'"),
    (lma('hnp_pool = "2001:db8:100::1/48"\n'), "lma.hnp_pool", "host bits"),
    (lma('hnp_pool = "10.0.0.0/8"\n'), "lma.hnp_pool", "IPv6"),
    (lma('hnp_pool = "2000::/4"\n'), "lma.hnp_pool", "between 8 and 128"),
    (lma("hnp_pool = true\n"), "lma.hnp_pool", "string"),
    (lma('hnp_pool = "2001:db8:100::/48"\nhnp_length = 40\n'), "lma.hnp_length", "at least"),
    (lma("hnp_length = 129\n"), "lma.hnp_length", "at most 128"),
    (lma('ipv4_pool = "10.200.0.1"\n'), "lma.ipv4_pool", "prefix length"),
    (lma('ipv4_pool = "10.200.0.1/31"\n'), "lma.ipv4_pool", "between 8 and 30"),
    (lma('ipv4_pool = "10.200.0.0/16"\n'), "lma.ipv4_pool", "host of the pool"),
    (lma('ipv4_pool = "10.200.255.255/16"\n'), "lma.ipv4_pool", "host of the pool"),
    (lma('ipv4_pool = "2001:db8::1/64"\n'), "lma.ipv4_pool", "not an IPv4"),
    (lma("hnp_pool = false\nipv4_pool = false\n"), "lma.hnp_pool", "both disabled"),
    (lma('authorized_mags = "2001:db8::/64"\n'), "lma.authorized_mags", "array"),
    (lma('authorized_mags = ["2001:db8::/64", "x"]\n'), "lma.authorized_mags[1]", "prefix"),
    (lma('authorized_mags = ["192.0.2.0/24"]\n'), "lma.authorized_mags[0]", "IPv6 prefix"),
    (lma("max_lifetime_s = 10\n"), "lma.max_lifetime_s", "multiple of 4"),
    (lma("min_delay_before_bce_delete_s = -1\n"), "lma.min_delay_before_bce_delete_s", ""),
    (lma("max_delay_before_new_bce_assign_s = -1\n"), "lma.max_delay_before_new_bce_assign_s", ""),
    (lma("timestamp_validity_window_s = 0\n"), "lma.timestamp_validity_window_s", "greater"),
    (lma("gre_keys = 'yes'\n"), "lma.gre_keys", "true or false"),
    (lma("missing_heartbeats_allowed = -3\n"), "lma.missing_heartbeats_allowed", "at least 1"),
    (mag(tail="[plugins]\ndisabled = 'mag_ap_macnai'\n"), "plugins.disabled", "array"),
    (mag(tail="[plugins]\ndisabled = ['a', 'a']\n"), "plugins.disabled[1]", "twice"),
    (mag(tail="[plugins]\ndisabled = ['a', 2]\n"), "plugins.disabled[1]", "string"),
    (mag(tail="[plugins]\nenabled_extra = ['not a module']\n"), "plugins.enabled_extra[0]", ""),
    (
        mag(tail="[plugins]\ndisabled = ['x']\nenabled_extra = ['x']\n"),
        "plugins.disabled[0]",
        "also in enabled_extra",
    ),
    (mag(tail="[plugins]\ndisable = ['x']\n"), "plugins.disable", "did you mean 'disabled'"),
    (mag(tail="[plugin]\nfoo = 1\n"), "plugin.foo", "must be a table"),
    (mag(tail="[[static_attach]]\nmn_id = 'a@b'\n"), "static_attach[0].mac", "required"),
    (mag(tail="[[static_attach]]\nmac = 'zz:00:00:00:00:00'\n"), "static_attach[0].mac", "MAC"),
    (
        mag(tail="[[static_attach]]\nmac = '02:00:00:00:00:01'\ncolour = 1\n"),
        "static_attach[0].colour",
        "unknown",
    ),
    (
        mag(
            tail="[[static_attach]]\nmac = '02:00:00:00:00:01'\n"
            "[[static_attach]]\nmac = '02-00-00-00-00-01'\n"
        ),
        "static_attach[1].mac",
        "twice",
    ),
    (
        mag(tail="[[static_attach]]\nmac = '02:00:00:00:00:01'\nmn_id = ''\n"),
        "static_attach[0].mn_id",
        "empty",
    ),
    (
        lma(tail="[[static_attach]]\nmac = '02:00:00:00:00:01'\n"),
        "static_attach",
        'daemon.role = "mag"',
    ),
    (mag(tail="[mags]\nx = 1\n"), "mags", "did you mean 'mag'"),
]


@pytest.mark.parametrize(
    ("text", "key_path", "reason"),
    BROKEN,
    ids=[f"{i}:{kp or 'toml'}" for i, (_, kp, _) in enumerate(BROKEN)],
)
def test_a_broken_config_is_refused_with_its_key_path(
    text: str, key_path: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "broken.toml")
    if key_path:
        assert info.value.key_path == key_path
        assert str(info.value).startswith(f"config error at {key_path}: ")
    assert reason in info.value.reason
    assert info.value.source == "broken.toml"


def test_the_message_reads_key_path_then_reason() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(mag("lifetime_s = 3602\n"))
    assert str(info.value) == "config error at mag.lifetime_s: must be a multiple of 4"
    assert isinstance(info.value, ValueError)


def test_toml_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config_text("[daemon\nrole = 'mag'\n")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mag.toml"
    path.write_text(mag("lifetime_s = 1200\n"))
    config = load_config(path)
    assert config.mag is not None and config.mag.lifetime_s == 1200
    assert config.source == str(path)


def test_importing_config_loads_no_pluggy_and_no_heavy_dependency() -> None:
    code = (
        "import sys\nimport mag_ap.config\n"
        "print(sorted(m for m in ('pluggy', 'pyroute2', 'dnslib', 'asyncio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_entry_points_are_opt_in() -> None:
    assert parse_config_text(mag()).plugins.entry_points is False
    on = parse_config_text(mag(tail="[plugins]\nentry_points = true\n"))
    assert on.plugins.entry_points is True
    with pytest.raises(ConfigError) as err:
        parse_config_text(mag(tail='[plugins]\nentry_points = "yes"\n'))
    assert err.value.key_path == "plugins.entry_points"


def test_entry_points_without_importlib_metadata_name_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On OpenWrt, importlib.metadata needs email (python3-email, not a Depends of mag-ap)."""
    import importlib

    from mag_ap.plugins import PluginHost

    monkeypatch.delattr(importlib, "metadata", raising=False)
    monkeypatch.delitem(sys.modules, "importlib.metadata", raising=False)
    for name in [m for m in sys.modules if m == "email" or m.startswith("email.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "email", None)
    on = parse_config_text(mag(tail="[plugins]\nentry_points = true\n"))
    with pytest.raises(ConfigError) as err:
        PluginHost.from_config(on, entry_points=on.plugins.entry_points)
    assert err.value.key_path == "plugins.entry_points"
    assert "install the OpenWrt package python3-email" in str(err.value)
    PluginHost.from_config(parse_config_text(mag()), entry_points=False)  # off: not needed
