"""UCI (/etc/config/mag-ap) -> TOML: every option, the syntax, and errors that name the option."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mag_ap.config import load_config, parse_config
from mag_ap.openwrt.uci import (
    OPENWRT_DEFAULTS,
    OPENWRT_ONLY,
    PLUGIN_SCHEMAS,
    SCHEMAS,
    UciError,
    parse_export,
    parse_ubus,
    to_toml,
    translate,
    uci_to_config,
)
from tests.conftest import ROOT

FULL_MAG = """
# every option of a MAG
config daemon 'daemon'
	option enabled '1'
	option role 'mag'
	option access_interface 'pmip'
	option uplink_interface 'wan'
	option firewall_zone 'wan'
	option control_socket '/var/run/mag-ap.sock'
	option log_level 'debug'
	option log_format 'json'
	option state_dir '/var/lib/mag-ap'
	option transport 'ipv6'

config mag 'main'
	option own_address '2001:db8:ffff::10'
	option use_timestamps 'no'
	option lifetime_s '600'
	option refresh_before_s '30.5'
	option initial_bindack_timeout_first_reg_s '1.5'
	option initial_bindack_timeout_s '1'
	option max_bindack_timeout_s '32'
	option heartbeat_interval_s '0'
	option missing_heartbeats_allowed '5'

config plugins 'plugins'
	list disabled 'mag_ap_macnai'
	list enabled_extra 'json'

config plugin 'localpolicy'
	option lma_address '2001:db8:ffff::1'

config profile 'default'
	option ipv4 'off'

config profile 'alice'
	option mn_id 'alice@example.net'
	option lma_address '2001:db8:ffff::2'
	option ipv6 '1'
	option ipv4 'true'
	option hnp '2001:db8:100:a11c::/64'
	option ipv4_address '10.200.0.42'
	option service_selection 'internet'
	option gre_key '1'
	option lifetime_s '1200'
	list dns_servers '2001:db8::53'
	list dns_servers '10.200.0.53'

config profile
	option mac '02-00-00-00-00-01'

config profile
	option realm 'guests.example.net'

config plugin 'macnai'
	option realm 'mag-ap.invalid'
	option format 'colon'

config plugin 'acme'
	option retries '3'
	option ratio '0.5'
	option verbose 'true'
	option name 'it'\\''s "x"'
	list peers '1'
	list peers 'b'

config plugin_table
	option plugin 'acme'
	option table 'pool'
	option start '10.0.0.10'

config plugin_table
	option plugin 'acme'
	option table 'limits'
	option array '0'
	option max '7'

config static_attach
	option mac '02:00:00:00:00:99'
	option mn_id 'printer@example.net'

config static_attach
	option mac '020000000098'
"""

FULL_LMA = """
config daemon
	option role 'lma'
	option transport 'ipv4'

config lma 'lma'
	option own_address '192.0.2.1'
	option hnp_pool 'false'
	option hnp_length '64'
	option ipv4_pool '10.200.0.1/16'
	list authorized_mags '192.0.2.0/24'
	option max_lifetime_s '3600'
	option min_delay_before_bce_delete_s '10'
	option max_delay_before_new_bce_assign_s '1.5'
	option timestamp_validity_window_s '0.3'
	option use_timestamps '1'
	option gre_keys '0'
	option heartbeat_interval_s '60'
	option missing_heartbeats_allowed '3'
"""


def _error(text: str) -> str:
    with pytest.raises(UciError) as info:
        uci_to_config(parse_export(text))
    return str(info.value)


def test_every_mag_option_translates_and_validates() -> None:
    tr, config = uci_to_config(parse_export(FULL_MAG))
    assert tr.openwrt == {
        "enabled": True,
        "access_interface": "pmip",
        "uplink_interface": "wan",
        "firewall_zone": "wan",
    }
    assert "enabled" not in tr.data["daemon"]
    assert config.role == "mag" and config.log_format == "json" and config.log_level == "debug"
    assert config.mag is not None
    assert config.mag.own_address == ip_address("2001:db8:ffff::10")
    assert config.mag.use_timestamps is False
    assert config.mag.lifetime_s == 600
    assert config.mag.refresh_before_s == 30.5
    assert config.mag.missing_heartbeats_allowed == 5
    assert config.plugins.disabled == ("mag_ap_macnai",)
    assert config.plugins.enabled_extra == ("json",)
    policy = config.plugin_section("localpolicy")
    assert policy["default"] == {"ipv4": False}
    alice, mac, realm = policy["profile"]
    assert alice["dns_servers"] == ("2001:db8::53", "10.200.0.53")
    assert alice["gre_key"] is True and alice["lifetime_s"] == 1200
    assert mac == {"mac": "02-00-00-00-00-01"}
    assert realm == {"realm": "guests.example.net"}
    assert config.plugin_section("macnai") == {"realm": "mag-ap.invalid", "format": "colon"}
    acme = config.plugin_section("acme")
    assert acme["retries"] == 3 and acme["ratio"] == 0.5 and acme["verbose"] is True
    assert acme["name"] == 'it\'s "x"'
    assert acme["peers"] == (1, "b")
    assert acme["pool"] == ({"start": "10.0.0.10"},)
    assert acme["limits"] == {"max": 7}
    assert [s.mac for s in config.static_attach] == ["02:00:00:00:00:99", "02:00:00:00:00:98"]


def test_every_lma_option_translates_and_validates() -> None:
    _, config = uci_to_config(parse_export(FULL_LMA))
    assert config.lma is not None
    assert config.lma.hnp_pool is None
    assert str(config.lma.ipv4_pool) == "10.200.0.1/16"
    assert config.lma.authorized_mags == (ip_network("192.0.2.0/24"),)
    assert config.lma.gre_keys is False
    assert config.lma.timestamp_validity_window_s == 0.3


def test_toml_output_reads_back_to_the_same_config(tmp_path: Path) -> None:
    for text in (FULL_MAG, FULL_LMA):
        tr, config = uci_to_config(parse_export(text))
        toml = to_toml(tr.data, header="generated")
        assert tomllib.loads(toml) == tr.data
        path = tmp_path / "x.toml"
        path.write_text(toml)
        again = load_config(path)
        assert (again.mag, again.lma, again.plugins, again.static_attach) == (
            config.mag, config.lma, config.plugins, config.static_attach,
        )  # fmt: skip
        assert dict(again.plugin_sections) == dict(config.plugin_sections)


def test_shipped_default_config_translates() -> None:
    text = (ROOT / "openwrt/net/mag-ap/files/mag-ap.config").read_text()
    tr, config = uci_to_config(parse_export(text))
    assert tr.openwrt["enabled"] is False  # not started before the operator configures it
    assert config.role == "mag"
    # OpenWrt's defaults: the restart counter on flash, logs through logd at their levels
    assert config.state_dir == "/etc/mag-ap" and config.log_target == "syslog"
    assert config.status_port == 5439
    assert OPENWRT_DEFAULTS == {
        "state_dir": "/etc/mag-ap", "log_target": "syslog", "status_port": 5439}  # fmt: skip


def test_explicit_options_win_over_the_openwrt_defaults() -> None:
    text = FULL_MAG.replace("option log_level 'debug'", "option log_target 'stderr'")
    _, config = uci_to_config(parse_export(text))
    assert config.state_dir == "/var/lib/mag-ap" and config.log_target == "stderr"


def test_uci_export_output() -> None:
    """What `uci export mag-ap` prints: package line, blank lines, tabs, quoted values."""
    text = (
        "package mag-ap\n\nconfig daemon 'daemon'\n\toption role 'mag'\n\n"
        "config mag 'main'\n\toption own_address '2001:db8::1'\n\toption lifetime_s '40'\n"
    )
    doc = parse_export(text, package="ignored")
    assert doc.package == "mag-ap"
    assert doc.sections[1].values == {"own_address": "2001:db8::1", "lifetime_s": "40"}
    assert [s.line for s in doc.sections] == [3, 6]


# Files uci accepts and what `uci export` prints for them (uci's rules, as observed with
# the real uci: see shared/openwrt/README.md). The translation reads only the right column.
TRICKY = [
    # '#' inside an unquoted word starts a comment: option realm foo#bar -> 'foo'
    ("hash in a word", "config plugin 'macnai'\n\toption realm 'foo'\n",
     {"realm": "foo"}),
    # an option with an empty or no value is absent
    ("empty value", "config plugin 'macnai'\n\toption realm 'x'\n", {"realm": "x"}),
    # ';' separates statements: option realm a; option format colon
    ("semicolon", "config plugin 'macnai'\n\toption realm 'a'\n\toption format 'colon'\n",
     {"realm": "a", "format": "colon"}),
    # backslash escapes in double quotes: "a\nb" -> 'anb'
    ("backslash", "config plugin 'macnai'\n\toption realm 'anb'\n", {"realm": "anb"}),
    # a quote inside a value, and a value over two lines
    ("quote", "config plugin 'macnai'\n\toption realm 'it'\\''s\nx'\n",
     {"realm": "it's\nx"}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "export", "values"), TRICKY, ids=[t[0] for t in TRICKY])
def test_tricky_cases_arrive_as_uci_resolved_them(
    case: str, export: str, values: dict[str, str]
) -> None:
    doc = parse_export("package mag-ap\n\n" + export)
    assert doc.sections[0].values == values, case


def test_anonymous_daemon_section() -> None:
    """`config daemon ''` is anonymous: uci export prints `config daemon`, uci show @daemon[0]."""
    text = "package mag-ap\n\nconfig daemon\n\toption role 'mag'\n\toption log_level 'x'\n"
    doc = parse_export(text + "\nconfig mag 'main'\n\toption own_address '2001:db8::1'\n")
    assert doc.sections[0].name is None
    with pytest.raises(UciError, match=r"^mag-ap\.@daemon\[0\]\.log_level: must be one of"):
        uci_to_config(doc)


def test_list_and_option_of_the_same_name() -> None:
    """uci merges `option x a` + `list x b` into a list and prints it as list lines."""
    tr, _ = uci_to_config(parse_export(FULL_MAG))  # alice: two `list dns_servers` lines
    assert tr.data["plugin"]["localpolicy"]["profile"][0]["dns_servers"] == [
        "2001:db8::53", "10.200.0.53"]  # fmt: skip
    # one value for a list option (uci show cannot tell it from an option; export can)
    one = FULL_MAG.replace("\tlist dns_servers '10.200.0.53'\n", "")
    one = one.replace("list dns_servers", "option dns_servers")
    tr, _ = uci_to_config(parse_export(one))
    assert tr.data["plugin"]["localpolicy"]["profile"][0]["dns_servers"] == ["2001:db8::53"]
    # a list where the schema wants one value names the option
    two = FULL_MAG.replace(
        "option log_level 'debug'", "list log_level 'debug'\n\tlist log_level 'x'"
    )
    assert "mag-ap.daemon.log_level: must be an 'option', not a 'list'" in _error(two)


def test_ubus_uci_get_answer_translates_like_export() -> None:
    answer = {"values": {
        "cfg0a1b2c": {".anonymous": True, ".type": "daemon", ".name": "cfg0a1b2c", ".index": 0,
                      "role": "mag", "enabled": "1"},
        "main": {".anonymous": False, ".type": "mag", ".name": "main", ".index": 1,
                 "own_address": "2001:db8::1", "lifetime_s": "400"},
        "localpolicy": {".anonymous": False, ".type": "plugin", ".name": "localpolicy",
                        ".index": 2, "lma_address": "2001:db8::2"},
        "plugins": {".anonymous": False, ".type": "plugins", ".name": "plugins", ".index": 3,
                    "disabled": ["mag_ap_macnai"]},
    }}  # fmt: skip
    via_ubus, config = uci_to_config(parse_ubus(answer))
    export = (
        "package mag-ap\n\nconfig daemon\n\toption role 'mag'\n\toption enabled '1'\n\n"
        "config mag 'main'\n\toption own_address '2001:db8::1'\n\toption lifetime_s '400'\n\n"
        "config plugin 'localpolicy'\n\toption lma_address '2001:db8::2'\n\n"
        "config plugins 'plugins'\n\tlist disabled 'mag_ap_macnai'\n"
    )
    via_export, _ = uci_to_config(parse_export(export))
    assert via_ubus.data == via_export.data and via_ubus.openwrt == via_export.openwrt
    assert config.mag is not None and config.mag.lifetime_s == 400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config daemon\n\toption role mag lma\n", "uci export mag-ap:2: 'option' outside"),
        ("config daemon\n\toption role 'mag\n", "uci export mag-ap:2: not uci export output"),
        ("config daemon\nfrobnicate\n", "uci export mag-ap:2: not uci export output"),
        ("option x 'y'\n", "uci export mag-ap:1: 'option' outside a section"),
    ],
)  # fmt: skip
def test_what_uci_never_prints_is_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(UciError) as info:
        parse_export(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (FULL_MAG.replace("'600'", "'601'"), "mag-ap.main.lifetime_s: must be a multiple of 4"),
        (FULL_MAG.replace("'600'", "'10m'"),
         "mag-ap.main.lifetime_s: must be an integer, not '10m'"),
        (FULL_MAG.replace("use_timestamps 'no'", "use_timestamps 'maybe'"),
         "mag-ap.main.use_timestamps: must be a boolean"),
        (FULL_MAG.replace("'30.5'", "'soon'"), "mag-ap.main.refresh_before_s: must be a number"),
        (FULL_MAG.replace("option own_address '2001:db8:ffff::10'", ""),
         "mag-ap.main.own_address: is required"),
        (FULL_MAG.replace("'2001:db8:ffff::10'", "'192.0.2.1'"),
         "mag-ap.main.own_address: must be an IPv6 address"),
        (FULL_MAG.replace("option lifetime_s '600'", "option lifetim_s '600'"),
         "mag-ap.main.lifetim_s: unknown key (did you mean 'lifetime_s'?)"),
        (FULL_MAG.replace("option log_level 'debug'", "list log_level 'debug'"),
         "mag-ap.daemon.log_level: must be an 'option', not a 'list'"),
        (FULL_MAG.replace("option log_level 'debug'", "option log_level 'loud'"),
         "mag-ap.daemon.log_level: must be one of"),
        (FULL_MAG.replace("option max_bindack_timeout_s '32'", "option max_bindack_timeout_s '1'"),
         "mag-ap.main.max_bindack_timeout_s: must be at least the initial timeouts"),
        (FULL_MAG.replace("'020000000098'", "'zz'"),
         "mag-ap.@static_attach[1].mac: 'zz' is not a MAC address"),
        (FULL_MAG + "\nconfig mag 'again'\n", "mag-ap.again: only one 'config mag' section"),
        (FULL_MAG + "\nconfig lma\n", "mag-ap.@lma[0]: 'config lma' is only allowed when"),
        (FULL_MAG + "\nconfig bogus\n", "mag-ap.@bogus[0]: unknown section type 'bogus'"),
        (FULL_MAG + "\nconfig plugin\n", "mag-ap.@plugin[3]: a 'config plugin' section needs"),
        (FULL_MAG + "\nconfig plugin_table\n\toption plugin 'acme'\n",
         "mag-ap.@plugin_table[2].table: is required"),
        ("config mag 'main'\n", "mag-ap: needs a 'config daemon' section"),
        ("config daemon\n\toption role 'lma'\n", "mag-ap: needs a 'config lma' section"),
        (FULL_LMA.replace("'192.0.2.0/24'", "'192.0.2.1/24'"),
         "mag-ap.lma.authorized_mags[0]: "),
    ],
)  # fmt: skip
def test_broken_files_name_the_uci_option(text: str, message: str) -> None:
    assert message in _error(text)


def test_cli_uci_to_toml(tmp_path: Path) -> None:
    src = tmp_path / "mag-ap"
    src.write_text(FULL_MAG.replace("list enabled_extra 'json'", ""))
    out = subprocess.run(
        [sys.executable, "-m", "mag_ap", "uci-to-toml", "--export", str(src)],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    # the 'acme' section belongs to no plugin: the loaded plugins say so, in UCI terms
    assert out.returncode == 1
    assert "mag-ap.acme: no loaded plugin uses this section" in out.stderr
    text = re.sub(r"config plugin 'acme'.*?(?=\nconfig static_attach)", "", FULL_MAG, flags=re.S)
    src.write_text(text.replace("list enabled_extra 'json'", ""))
    out = subprocess.run(
        [sys.executable, "-m", "mag_ap", "uci-to-toml", "--export", str(src)],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# generated from")
    parsed = parse_config(tomllib.loads(out.stdout))
    assert parsed.mag is not None and parsed.mag.lifetime_s == 600
    src.write_text(text.replace("list disabled 'mag_ap_macnai'", "").replace(
        "option realm 'mag-ap.invalid'", "option realm 'bad realm!'"))  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "mag_ap", "uci-to-toml", "--export", str(src)],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 1
    assert "mag-ap: mag-ap.macnai.realm: 'bad realm!' is not a realm" in out.stderr


def test_plugin_errors_name_the_uci_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mag_ap.openwrt.uci_cli import uci_to_toml

    text = re.sub(r"config plugin 'acme'.*?(?=\nconfig static_attach)", "", FULL_MAG, flags=re.S)
    text = text.replace("list enabled_extra 'json'", "")
    src = tmp_path / "mag-ap"
    src.write_text(text.replace("'2001:db8:100:a11c::/64'", "'2001:db8:100:a11c::1/64'"))
    assert uci_to_toml(export=str(src)) == 1
    assert "mag-ap: mag-ap.alice.hnp: '2001:db8:100:a11c::1/64' is not a valid prefix" in (
        capsys.readouterr().err
    )
    src.write_text(text.replace("option mac '02-00-00-00-00-01'", "option realm 'x@y'"))
    assert uci_to_toml(export=str(src)) == 1
    assert "mag-ap.@profile[2].realm: is the part after '@'" in capsys.readouterr().err
    src.write_text(text.replace("option ipv4 'off'", "option ipv4 'off'\n\toption ipv6 '0'"))
    assert uci_to_toml(export=str(src)) == 1
    assert "mag-ap.default.ipv6: ipv6 and ipv4 are both false" in capsys.readouterr().err
    src.write_text(text.replace("'02-00-00-00-00-01'", "'nope'"))
    assert uci_to_toml(export=str(src)) == 1
    assert "mag-ap.@profile[2].mac: 'nope' is not a MAC address" in capsys.readouterr().err
    src.write_text(text.replace("list dns_servers '10.200.0.53'", "list dns_servers 'x'"))
    assert uci_to_toml(export=str(src)) == 1
    assert "mag-ap.alice.dns_servers[1]: 'x' is not an IPv4 or IPv6" in capsys.readouterr().err
    assert uci_to_toml(export=str(tmp_path / "absent")) == 1
    assert "cannot read" in capsys.readouterr().err


def test_missing_default_plugins_are_disabled() -> None:
    from mag_ap.openwrt.uci_cli import disable_missing

    tr = translate(parse_export(FULL_MAG))
    disable_missing(tr, ["mag_ap_datapath", "mag_ap_macnai"])
    assert tr.data["plugins"]["disabled"] == ["mag_ap_macnai", "mag_ap_datapath"]
    parse_config(tr.data)


def _toml_keys(path: Path) -> dict[str, set[str]]:
    """Keys of every [section] of an example file, commented-out ones included."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        head = re.match(r"^\s*\[+([\w.]+)\]+", line)
        if head:
            section = head.group(1)
            continue
        key = re.match(r"^#?\s?(\w+)\s*=", line)
        if key:
            keys.setdefault(section, set()).add(key.group(1))
    return keys


def test_schema_covers_every_documented_toml_key() -> None:
    examples = {**_toml_keys(ROOT / "examples/mag.toml")}
    for section, keys in _toml_keys(ROOT / "examples/lma.toml").items():
        examples.setdefault(section, set()).update(keys)
    for section in ("daemon", "mag", "lma", "plugins", "static_attach"):
        assert examples[section] <= set(SCHEMAS[section]), section
    assert examples["plugin.macnai"] <= set(PLUGIN_SCHEMAS["macnai"])
    assert examples["plugin.localpolicy.profile"] <= set(SCHEMAS["profile"])
    assert examples["ipsec"] <= set(SCHEMAS["ipsec"]) | set(SCHEMAS["ipsec_peer"])


def test_readme_documents_every_uci_option() -> None:
    readme = (ROOT / "openwrt/README.md").read_text()
    for section, keys in SCHEMAS.items():
        assert f"config {section}" in readme, section
        for key in keys:
            assert re.search(rf"\b{key}\b", readme), f"{section}.{key} undocumented"
    for key in OPENWRT_ONLY:
        assert key in readme
    for name, keys in PLUGIN_SCHEMAS.items():
        assert f"config plugin '{name}'" in readme
        for key in keys:
            assert key in readme
    assert "config plugin_table" in readme


_values = st.recursive(
    st.one_of(
        st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
_tables: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(st.text(min_size=1, max_size=8), _values, max_size=4),
    lambda inner: st.dictionaries(
        st.text(min_size=1, max_size=8), st.one_of(inner, st.lists(inner, min_size=1, max_size=2)),
        max_size=3,
    ),
    max_leaves=8,
)  # fmt: skip


@given(_tables)
def test_toml_writer_round_trips(data: dict[str, Any]) -> None:
    assert tomllib.loads(to_toml(data)) == data
