"""hostapd plugin, pure parts: event parser, STA replies, station table, settings, hooks.

Event texts are the ones real hostapd 2.10 printed in tests/netns/test_hostapd.py.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.plugins import PluginHost
from mag_ap.stations import StationTable
from mag_ap_hostapd import parse_settings, watcher_for
from mag_ap_hostapd._events import (
    EapFailure,
    EapSuccess,
    StaConnected,
    StaDisconnected,
    Terminating,
    Unknown,
    parse_event,
    parse_sta,
)

MAC = "a2:f3:49:7a:14:29"
MAG = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (f"<3>AP-STA-CONNECTED {MAC}", StaConnected(MAC)),
        (f"<3>AP-STA-CONNECTED {MAC.upper()} keyid=x", StaConnected(MAC)),
        (f"<3>AP-STA-DISCONNECTED {MAC}", StaDisconnected(MAC)),
        (f"<3>CTRL-EVENT-EAP-SUCCESS {MAC}", EapSuccess(MAC)),
        (f"<3>CTRL-EVENT-EAP-SUCCESS2 {MAC}", EapSuccess(MAC)),
        (f"<3>CTRL-EVENT-EAP-FAILURE {MAC}", EapFailure(MAC)),
        (f"IFNAME=wlan0 <3>AP-STA-CONNECTED {MAC}", StaConnected(MAC)),
        ("<3>CTRL-EVENT-TERMINATING ", Terminating("CTRL-EVENT-TERMINATING")),
        ("<3>AP-DISABLED ", Terminating("AP-DISABLED")),
    ],
)
def test_known_events(line: str, event: object) -> None:
    assert parse_event(line.encode()) == event


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (f"<3>CTRL-EVENT-EAP-STARTED {MAC}".encode(), "unused event"),
        (b"<3>CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=4", "unused event"),
        (b"<3>AP-STA-CONNECTED", "AP-STA-CONNECTED without a MAC address"),
        (b"<3>AP-STA-CONNECTED 02:00:00:00:00", "AP-STA-CONNECTED without a MAC address"),
        (b"AP-STA-CONNECTED 02:00:00:00:00:01", "no <level> prefix"),
        (b"<3>   ", "empty event"),
        (b"\xff\xfe", "not UTF-8"),
        (b"<3>" + b"x" * 5000, "too long"),
        (b"OK\n", "no <level> prefix"),
    ],
)
def test_everything_else_is_unknown_with_a_reason(data: bytes, reason: str) -> None:
    event = parse_event(data)
    assert isinstance(event, Unknown)
    assert event.reason == reason


@given(st.binary(max_size=300))
def test_parse_event_never_raises(data: bytes) -> None:
    parse_event(data)
    parse_sta(data)


STA_REPLY = (
    f"{MAC}\nflags=[AUTHORIZED]\naid=0\ncapability=0x0\ndot1xAuthPaeState=5\n"
    "dot1xAuthSessionUserName=alice@example.net\nlast_eap_type_sta=4 (MD5)\n"
)


def test_sta_reply() -> None:
    info = parse_sta(STA_REPLY.encode())
    assert info is not None
    assert (info.mac, info.authorized, info.user_name) == (MAC, True, "alice@example.net")
    assert info.fields["last_eap_type_sta"] == "4 (MD5)"


def test_sta_reply_unauthorized_and_without_mib() -> None:
    info = parse_sta(f"{MAC}\nflags=\naid=0\n".encode())  # OpenWrt: no CONFIG_CTRL_IFACE_MIB
    assert info is not None
    assert not info.authorized
    assert info.user_name is None
    assert parse_sta(f"{MAC}\nflags=[AUTH][ASSOC][AUTHORIZED]\n").authorized  # type: ignore[union-attr]


@pytest.mark.parametrize("data", [b"", b"FAIL\n", b"UNKNOWN COMMAND\n", b"\xff"])
def test_end_of_list_and_failures_are_none(data: bytes) -> None:
    assert parse_sta(data) is None


def test_station_table_attaches_once_across_interfaces_and_detaches_last() -> None:
    t = StationTable()
    assert t.connected("wlan0", MAC)
    assert not t.connected("wlan1", MAC)  # roamed to the second radio: no second attach
    assert not t.disconnected("wlan0", MAC)  # late disconnect from the old radio
    assert t.disconnected("wlan1", MAC)
    assert not t.disconnected("wlan1", MAC)  # never twice
    assert not t.disconnected("wlan0", "02:00:00:00:00:01")  # never attached


def test_station_table_resync() -> None:
    t = StationTable()
    t.connected("wlan0", "02:00:00:00:00:01")
    t.connected("wlan0", "02:00:00:00:00:02")
    t.connected("wlan1", "02:00:00:00:00:03")
    t.note_identity("02:00:00:00:00:01", "gone@example.net")
    result = t.resync("wlan0", ["02:00:00:00:00:02", "02:00:00:00:00:04", "02:00:00:00:00:03"])
    assert result.attached == ("02:00:00:00:00:04",)  # :03 is attached via wlan1 already
    assert result.detached == ("02:00:00:00:00:01",)
    assert t.identity("02:00:00:00:00:01") is None
    assert t.attached() == ["02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:04"]
    assert t.resync("wlan0", t.on("wlan0")).attached == ()


def test_failure_forgets_an_identity_of_an_unattached_station_only() -> None:
    t = StationTable()
    t.note_identity(MAC, "alice@example.net")
    t.forget_identity(MAC)
    assert t.identity(MAC) is None
    t.connected("wlan0", MAC)
    t.note_identity(MAC, "alice@example.net")
    t.forget_identity(MAC)  # a failed re-authentication of another session keeps the binding's
    assert t.identity(MAC) == "alice@example.net"


def test_settings() -> None:
    assert not parse_settings({}).enabled
    s = parse_settings({"control_sockets": ["/var/run/hostapd/wlan0"], "identity": False})
    assert s.enabled and not s.identity
    assert not parse_settings({"enabled": False}).enabled
    with pytest.raises(ConfigError, match=r"plugin\.hostapd\.control_sockets"):
        parse_settings({"enabled": True})
    with pytest.raises(ConfigError, match=r"control_sockets\[0\]"):
        parse_settings({"control_sockets": ["wlan0"]})
    with pytest.raises(ConfigError, match="did you mean 'control_sockets'"):
        parse_settings({"control_socket": ["/x"]})


def test_hooks_inert_without_section_and_share_one_watcher() -> None:
    host = PluginHost.from_config(parse_config_text(MAG), entry_points=False)
    assert [t.name for t in host.trigger_providers()] == []
    assert [p.name for p in host.identity_providers()] == ["macnai"]

    config = parse_config_text(
        MAG + '[plugin.hostapd]\ncontrol_sockets = ["/run/hostapd/wlan0"]\n'
        '[plugin.macnai]\nrealm = "ap.example.net"\n'
    )
    host = PluginHost.from_config(config, entry_points=False)
    watcher = watcher_for(config)
    assert host.trigger_providers() == [watcher]
    assert host.identity_providers()[0] is watcher
    assert [p.name for p in host.identity_providers()] == ["hostapd", "macnai"]
    chain = host.identity_provider()
    assert chain is not None  # no 802.1X name known: the MAC-based NAI answers
    assert asyncio.run(chain.identity_for("02:00:00:00:00:01")) == "020000000001@ap.example.net"
    assert host.status_extra()["mag_ap_hostapd"]["stations"] == 0

    no_identity = parse_config_text(
        MAG + '[plugin.hostapd]\ncontrol_sockets = ["/run/hostapd/wlan0"]\nidentity = false\n'
    )
    host = PluginHost.from_config(no_identity, entry_points=False)
    assert len(host.trigger_providers()) == 1
    assert [p.name for p in host.identity_providers()] == ["macnai"]
