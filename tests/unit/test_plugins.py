"""The plugin host: which plugins load, who wins a firstresult hook, and config checks."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from ipaddress import IPv6Network
from pathlib import Path
from typing import Any

import pytest

from mag_ap import hookspecs
from mag_ap.address_service import AddressServiceProvider
from mag_ap.config import Config, ConfigError, PluginsConfig, parse_config_text
from mag_ap.core.types import Action, BindingDown
from mag_ap.hookspecs import hookimpl
from mag_ap.plugins import DEFAULT_PLUGINS, PluginError, PluginHost
from mag_ap.providers import (
    IDENTITY_PRIORITY,
    DatapathProvider,
    IdentityProvider,
    PolicyProvider,
    TriggerProvider,
    TriggerSink,
)
from tests.conftest import ROOT
from tests.unit.plugin_fixtures import LMA_ADDR, FixedPolicy

MAG = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'


def config_of(tail: str = "") -> Config:
    return parse_config_text(MAG + tail)


def host_for(tail: str = "", **kwargs: Any) -> PluginHost:
    return PluginHost.from_config(config_of(tail), entry_points=False, **kwargs)


# --- a third-party plugin and its providers ------------------------------------------


class FixedIdentity:
    name = "fixed"

    async def identity_for(self, mac: str) -> str | None:
        return "fixed@example.net"


class RecordingDatapath:
    name = "recording"

    async def start(self) -> None: ...

    async def apply(self, action: Action) -> None: ...

    async def stop(self) -> None: ...


class Trigger:
    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, sink: TriggerSink) -> None: ...


class AddressService:
    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self) -> None: ...

    async def apply(self, action: Action) -> None: ...

    async def stop(self) -> None: ...


class ThirdParty:
    """Overrides every firstresult default and adds a trigger and an address service."""

    @hookimpl
    def mag_policy_provider(self) -> PolicyProvider:
        return FixedPolicy()

    @hookimpl
    def mag_identity_provider(self) -> IdentityProvider:
        return FixedIdentity()

    @hookimpl
    def mag_datapath_provider(self) -> DatapathProvider:
        return RecordingDatapath()

    @hookimpl
    def mag_trigger_providers(self) -> Sequence[TriggerProvider]:
        return [Trigger("t1"), Trigger("t2")]

    @hookimpl
    def mag_address_services(self) -> Sequence[AddressServiceProvider]:
        return [AddressService("dhcp")]

    @hookimpl
    def mag_status_extra(self, config: Config) -> Mapping[str, Any]:
        return {"role": config.role}


class Passing:
    """Has an opinion on nothing: the defaults must still answer."""

    @hookimpl
    def mag_policy_provider(self) -> None:
        return None

    @hookimpl
    def mag_identity_provider(self) -> None:
        return None


# --- loading ------------------------------------------------------------------------


def test_default_plugins_load_and_provide_the_defaults() -> None:
    host = host_for()
    assert host.names() == list(DEFAULT_PLUGINS)
    assert isinstance(host.policy_provider(), PolicyProvider)
    assert isinstance(host.identity_provider(), IdentityProvider)
    assert isinstance(host.datapath_provider(), DatapathProvider)
    assert host.trigger_providers() == []
    assert host.address_services() == []
    assert host.status_extra() == {}


@pytest.mark.parametrize("name", ["mag.toml", "lma.toml"])
def test_examples_are_accepted_by_the_plugins_too(name: str) -> None:
    from mag_ap.config import load_config

    host = PluginHost.from_config(load_config(ROOT / "examples" / name), entry_points=False)
    assert host.names() == list(DEFAULT_PLUGINS)


def test_a_disabled_plugin_is_neither_imported_nor_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spy_plugin.py").write_text(
        textwrap.dedent(
            """
            from mag_ap.hookspecs import hookimpl

            @hookimpl
            def mag_identity_provider(config):
                raise AssertionError("a disabled plugin was called")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = config_of('[plugins]\ndisabled = ["spy_plugin", "mag_ap_macnai"]\n')
    host = PluginHost.from_config(
        config, defaults=(*DEFAULT_PLUGINS, "spy_plugin"), entry_points=False
    )
    assert "spy_plugin" not in sys.modules
    assert host.names() == [p for p in DEFAULT_PLUGINS if p != "mag_ap_macnai"]
    assert host.disabled() == ("spy_plugin", "mag_ap_macnai")
    # the identity plugins left (802.1X, accounting) are not configured: none answers
    assert host.identity_provider() is None


def test_a_disabled_plugin_stays_out_when_registered_at_run_time() -> None:
    host = host_for('[plugins]\ndisabled = ["mag_ap_macnai"]\n')
    import mag_ap_macnai

    host.register(mag_ap_macnai, "mag_ap_macnai")
    assert "mag_ap_macnai" not in host.names()
    assert host.identity_provider() is None


def test_disabling_an_unknown_plugin_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        host_for('[plugins]\ndisabled = ["mag_ap_localpolicy", "mag_ap_localpolcy"]\n')
    assert info.value.key_path == "plugins.disabled[1]"
    assert "mag_ap_localpolicy" in info.value.reason  # lists the known names


def test_an_extra_plugin_is_imported_and_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_policy.py").write_text(
        textwrap.dedent(
            """
            from tests.unit.plugin_fixtures import FixedPolicy
            from mag_ap.hookspecs import hookimpl

            @hookimpl
            def mag_policy_provider():
                return FixedPolicy()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    host = host_for('[plugins]\nenabled_extra = ["acme_policy"]\n')
    assert host.names() == [*DEFAULT_PLUGINS, "acme_policy"]
    assert isinstance(host.policy_provider(), FixedPolicy)


def test_an_extra_plugin_that_cannot_be_imported_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        host_for('[plugins]\nenabled_extra = ["no_such_mag_plugin"]\n')
    assert info.value.key_path == "plugins.enabled_extra[0]"


def test_an_extra_plugin_naming_a_default_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        host_for('[plugins]\nenabled_extra = ["mag_ap_macnai"]\n')
    assert info.value.key_path == "plugins.enabled_extra[0]"


def test_a_default_plugin_not_installed_is_fine_until_its_section_names_the_package() -> None:
    host = PluginHost.load(PluginsConfig(), defaults=("mag_ap_missing",), entry_points=False)
    base = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::2"\n'
    host.validate(parse_config_text(base))
    with pytest.raises(ConfigError, match="install the OpenWrt package mag-ap-missing") as err:
        host.validate(parse_config_text(base + "[plugin.missing]\nx = 1\n"))
    assert err.value.key_path == "plugin.missing"


def test_a_default_plugin_whose_dependency_is_missing_names_that_package(tmp_path: Path) -> None:
    (tmp_path / "mag_ap_needy.py").write_text("import pyroute2_not_here_xyz\n")
    (tmp_path / "mag_ap_broken.py").write_text("raise RuntimeError('boom')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(PluginError, match=r"mag_ap_needy.*pyroute2_not_here_xyz"):
            PluginHost.load(PluginsConfig(), defaults=("mag_ap_needy",), entry_points=False)
        with pytest.raises(PluginError, match=r"mag_ap_broken.*boom"):
            PluginHost.load(PluginsConfig(), defaults=("mag_ap_broken",), entry_points=False)
    finally:
        sys.path.remove(str(tmp_path))


# --- who wins ---------------------------------------------------------------------


def test_a_plugin_registered_at_run_time_overrides_the_trylast_defaults() -> None:
    host = host_for()
    host.register(ThirdParty(), "third_party")
    assert isinstance(host.policy_provider(), FixedPolicy)
    assert isinstance(host.identity_providers()[0], FixedIdentity)  # asked first, macnai last
    assert [p.name for p in host.identity_providers()][-1] == "macnai"
    assert isinstance(host.datapath_provider(), RecordingDatapath)
    assert [t.name for t in host.trigger_providers()] == ["t1", "t2"]
    assert [s.name for s in host.address_services()] == ["dhcp"]
    assert host.status_extra() == {"third_party": {"role": "mag"}}


def test_a_plugin_returning_none_leaves_the_default_in_charge() -> None:
    host = host_for()
    host.register(Passing(), "passing")
    assert host.policy_provider() is not None
    assert not isinstance(host.policy_provider(), FixedPolicy)
    identity = host.identity_provider()
    assert identity is not None
    assert asyncio.run(identity.identity_for("02:00:00:00:00:01")) == (
        "020000000001@mag-ap.invalid"
    )


class _Named:
    """An identity provider that knows one MAC and declines every other one."""

    def __init__(self, name: str, knows: str, priority: int | None = None) -> None:
        self.name = name
        self.knows = knows
        self.asked: list[str] = []
        if priority is not None:
            self.priority = priority

    async def identity_for(self, mac: str) -> str | None:
        self.asked.append(mac)
        return f"{self.name}@example.net" if mac == self.knows else None


def test_identity_chain_asks_in_priority_order_and_falls_through_on_none() -> None:
    config = config_of(
        '[plugin.hostapd]\ncontrol_sockets = ["/run/hostapd/wlan0"]\n'
        '[plugin.radacct]\naddress = "192.0.2.1"\nsecret = "s"\nidentity_wait_s = 0\n'
    )
    host = PluginHost.from_config(config, entry_points=False)
    late = _Named("late", knows="02:00:00:00:00:02", priority=IDENTITY_PRIORITY["radacct"] + 1)
    first = _Named("first", knows="02:00:00:00:00:01")  # no priority: the third-party default

    class Extra:
        @hookimpl
        def mag_identity_provider(self) -> IdentityProvider:
            return late

    class Other:
        @hookimpl
        def mag_identity_provider(self) -> IdentityProvider:
            return first

    host.register(Extra(), "extra")
    host.register(Other(), "other")
    names = [p.name for p in host.identity_providers()]
    assert names == ["first", "hostapd", "radacct", "late", "macnai"]
    chain = host.identity_provider()
    assert chain is not None
    assert asyncio.run(chain.identity_for("02:00:00:00:00:01")) == "first@example.net"
    assert late.asked == []  # an answer ends the chain
    # hostapd knows no 802.1X name and radacct (identity_wait_s = 0) no accounting record
    assert asyncio.run(chain.identity_for("02:00:00:00:00:02")) == "late@example.net"
    assert asyncio.run(chain.identity_for("02:00:00:00:00:03")) == "020000000003@mag-ap.invalid"
    assert late.asked == ["02:00:00:00:00:02", "02:00:00:00:00:03"]


def test_identity_priorities_are_documented_in_the_order_they_run() -> None:
    assert list(IDENTITY_PRIORITY) == ["default", "hostapd", "radacct", "macnai"]
    assert sorted(IDENTITY_PRIORITY.values()) == list(IDENTITY_PRIORITY.values())
    assert max(IDENTITY_PRIORITY.values()) == IDENTITY_PRIORITY["macnai"]  # the last resort


def test_a_provider_of_the_wrong_kind_is_a_plugin_error() -> None:
    class Broken:
        @hookimpl
        def mag_policy_provider(self) -> object:
            return "not a provider"

        @hookimpl
        def mag_trigger_providers(self) -> list[object]:
            return [42]

    host = host_for()
    host.register(Broken(), "broken")
    with pytest.raises(PluginError, match="mag_policy_provider"):
        host.policy_provider()
    with pytest.raises(PluginError, match="mag_trigger_providers"):
        host.trigger_providers()


def test_providers_need_a_validated_config() -> None:
    host = PluginHost.load(entry_points=False)
    with pytest.raises(RuntimeError, match="validate"):
        host.policy_provider()


def test_a_hookimpl_with_an_unknown_hook_name_is_refused() -> None:
    class Typo:
        @hookimpl
        def mag_policy_provder(self) -> None: ...

    host = host_for()
    with pytest.raises(PluginError):
        host.register(Typo(), "typo")


# --- configuration checks through the plugins ----------------------------------------


def test_a_section_no_plugin_uses_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        host_for("[plugin.localpolcy]\nx = 1\n")
    assert info.value.key_path == "plugin.localpolcy"
    assert "localpolicy" in info.value.reason  # lists the sections in use


def test_the_section_of_a_disabled_plugin_is_kept_unchecked() -> None:
    host = host_for('[plugins]\ndisabled = ["mag_ap_macnai"]\n[plugin.macnai]\nwhatever = 1\n')
    assert "mag_ap_macnai" not in host.names()


@pytest.mark.parametrize(
    ("tail", "key_path"),
    [
        ('[plugin.macnai]\nrealm = "a@b"\n', "plugin.macnai.realm"),
        ('[plugin.macnai]\nrealm = ""\n', "plugin.macnai.realm"),
        ('[plugin.macnai]\nformat = "dash"\n', "plugin.macnai.format"),
        ('[plugin.macnai]\nrelam = "x"\n', "plugin.macnai.relam"),
        ('[plugin.localpolicy]\nlma_address = "x"\n', "plugin.localpolicy.lma_address"),
    ],
)
def test_a_plugin_section_error_names_its_key_path(tail: str, key_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        host_for(tail)
    assert info.value.key_path == key_path
    assert info.value.source == "<string>"


def test_a_plugin_registered_after_validation_checks_its_section() -> None:
    class Strict:
        @hookimpl
        def mag_config_sections(self) -> Sequence[str]:
            return ["strict"]

        @hookimpl
        def mag_validate_config(self, config: Config) -> None:
            if "level" not in config.plugin_section("strict"):
                raise ConfigError("plugin.strict.level", "is required")

    host = host_for()
    with pytest.raises(ConfigError) as info:
        host.register(Strict(), "strict")
    assert info.value.key_path == "plugin.strict.level"
    assert "strict" not in host.names()
    assert host.policy_provider() is not None  # the host stays usable


def test_a_third_party_section_is_accepted_when_its_plugin_claims_it() -> None:
    class Claims:
        @hookimpl
        def mag_config_sections(self) -> Sequence[str]:
            return ["acme"]

    host = PluginHost.load(entry_points=False)
    host.register(Claims(), "claims")
    host.validate(config_of("[plugin.acme]\nlevel = 3\n"))
    assert host.config.plugin_section("acme")["level"] == 3


# --- built-in providers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "nai"),
    [
        ("", "02000000ab01@mag-ap.invalid"),
        ('[plugin.macnai]\nrealm = "wifi.example.net"\n', "02000000ab01@wifi.example.net"),
        ('[plugin.macnai]\nformat = "colon"\n', "02:00:00:00:ab:01@mag-ap.invalid"),
    ],
)
def test_macnai_spells_the_nai_as_configured(section: str, nai: str) -> None:
    identity = host_for(section).identity_provider()
    assert identity is not None
    assert asyncio.run(identity.identity_for("02:00:00:00:AB:01")) == nai
    assert asyncio.run(identity.identity_for("not-a-mac")) is None


def test_null_datapath_records_actions_and_installs_nothing() -> None:
    datapath = host_for().datapath_provider()
    assert datapath is not None
    action = BindingDown(
        mn_id="a@b",
        mac="02:00:00:00:00:01",
        lma=LMA_ADDR,
        hnp=IPv6Network("2001:db8:100:1::/64"),
        ipv4_hoa=None,
        reason="detach",
    )

    async def run() -> None:
        await datapath.start()
        await datapath.apply(action)
        await datapath.stop()

    asyncio.run(run())
    assert datapath.name == "null"
    assert list(getattr(datapath, "actions")) == [action]  # noqa: B009 - not in the Protocol


# --- the hook specifications ----------------------------------------------------------


def test_every_hookspec_is_named_mag_and_documented() -> None:
    specs = [
        (name, fn)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "mag_ap_spec")
    ]
    names = {name for name, _ in specs}
    assert {
        "mag_config_sections",
        "mag_validate_config",
        "mag_trigger_providers",
        "mag_identity_provider",
        "mag_policy_provider",
        "mag_datapath_provider",
        "mag_address_services",
        "mag_status_extra",
    } <= names
    for name, fn in specs:
        assert name.startswith("mag_")
        assert fn.__doc__ and len(fn.__doc__.split()) > 10, name


def test_importing_the_plugin_host_loads_no_heavy_dependency() -> None:
    code = (
        "import sys\nfrom mag_ap.plugins import PluginHost\n"
        "PluginHost.load(entry_points=False)\n"
        "print(sorted(m for m in ('pyroute2', 'dnslib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
