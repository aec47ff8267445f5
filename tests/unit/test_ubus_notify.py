"""ubus trigger: notification parsing on recorded JSON (OpenWrt's documented format).

ubusd cannot run here: the JSON below is written from OpenWrt's hostapd ubus
notifications (``ubus subscribe hostapd.wlan0`` output) and ``get_clients``
replies. The subprocess side runs against a stand-in ``ubus`` shell script, a
mock named as such, that prints the same recorded lines.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.hostapd_lab import RecordingSink
from lab.topology import until
from mag_ap.config import ConfigError, parse_config_text
from mag_ap.plugins import PluginHost
from mag_ap_ubus import parse_settings, trigger_for
from mag_ap_ubus._notify import (
    Notification,
    NotificationStream,
    Unknown,
    authorized_clients,
    parse_object,
)
from mag_ap_ubus._subscribe_io import UbusTrigger

MAG = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'
MAC = "02:00:00:00:00:01"

RECORDED = [
    '{ "assoc": {"address":"02:00:00:00:00:01","target":"02:00:00:00:aa:01","signal":-42,'
    '"freq":2437,"ht_capabilities":{"ht_capabilities_info":6639}} }',
    '{ "sta-authorized": {"address":"02:00:00:00:00:01","ifname":"wlan0","auth-alg":"open",'
    '"vlan_id":0} }',
    '{ "disassoc": {"address":"02:00:00:00:00:01"} }',
    '{ "deauth": {"address":"02:00:00:00:00:02"} }',
    '{ "probe": {"address":"02:00:00:00:00:03","target":"ff:ff:ff:ff:ff:ff","signal":-70} }',
]
GET_CLIENTS = json.dumps(
    {
        "freq": 2437,
        "clients": {
            "02:00:00:00:00:01": {"auth": True, "assoc": True, "authorized": True, "aid": 1},
            "02:00:00:00:00:04": {"auth": True, "assoc": True, "authorized": False, "aid": 2},
        },
    }
)


def _all(lines: list[str]) -> list[Notification | Unknown]:
    stream = NotificationStream()
    return [item for line in lines for item in stream.feed(line)]


def test_recorded_notifications_and_actions() -> None:
    items = _all(RECORDED)
    assert all(isinstance(i, Notification) for i in items)
    notes = [i for i in items if isinstance(i, Notification)]
    assert [(n.method, n.mac) for n in notes][:3] == [
        ("assoc", MAC), ("sta-authorized", MAC), ("disassoc", MAC),
    ]  # fmt: skip
    assert [n.action() for n in notes] == ["ignore", "attach", "detach", "detach", "ignore"]
    assert [n.action("assoc") for n in notes][:2] == ["attach", "ignore"]
    assert notes[1].fields["auth-alg"] == "open"


def test_indented_output_split_across_lines() -> None:
    lines = json.dumps({"sta-authorized": {"address": MAC.upper()}}, indent=2).splitlines()
    assert _all(lines) == [Notification("sta-authorized", MAC)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Command failed: Not found", "not JSON"),
        ('{ "assoc": {"address": "nope"} }', "assoc: no station address"),
        ('{ "assoc": 5 }', "assoc: body is not an object"),
        ('{"a": {}, "b": {}}', "not a single-method object"),
        ('{ "assoc": {"address": } }', "bad JSON"),
    ],
)
def test_garbage_is_unknown(line: str, reason: str) -> None:
    items = _all([line, RECORDED[1]])  # and the stream goes on afterwards
    assert isinstance(items[0], Unknown) and items[0].reason == reason
    assert items[-1] == Notification("sta-authorized", MAC)


@given(st.lists(st.text(max_size=60), max_size=8))
def test_stream_never_raises(lines: list[str]) -> None:
    _all(lines)
    parse_object(lines)
    authorized_clients("".join(lines))


def test_get_clients() -> None:
    assert authorized_clients(GET_CLIENTS) == {MAC}
    assert authorized_clients("Command failed: Not found") is None
    assert authorized_clients('{"clients": 3}') is None


def test_settings_and_hooks() -> None:
    assert not parse_settings({}).enabled
    with pytest.raises(ConfigError, match=r"plugin\.ubus\.objects\[0\]"):
        parse_settings({"objects": ["wlan0"]})
    with pytest.raises(ConfigError, match=r"plugin\.ubus\.attach_on"):
        parse_settings({"objects": ["hostapd.wlan0"], "attach_on": "auth"})
    config = parse_config_text(MAG + '[plugin.ubus]\nobjects = ["hostapd.wlan0"]\n')
    host = PluginHost.from_config(config, entry_points=False)
    assert host.trigger_providers() == [trigger_for(config)]
    assert [p.name for p in host.identity_providers()] == ["macnai"]


def test_trigger_against_a_mock_ubus_cli(tmp_path: Path) -> None:
    """MOCK: a shell script standing in for the ubus CLI (no ubusd here)."""
    notes = tmp_path / "notes"
    notes.write_text("\n".join([*RECORDED[1:3], "garbage", RECORDED[1]]) + "\n")
    clients = tmp_path / "clients.json"
    clients.write_text(GET_CLIENTS.replace("02:00:00:00:00:01", "02:00:00:00:00:05"))
    mock = tmp_path / "ubus"
    mock.write_text(
        "#!/bin/sh\n"
        f'case "$1" in call) cat {clients};; subscribe) cat {notes}; exec sleep 30;; esac\n'
    )
    mock.chmod(0o755)
    trigger = UbusTrigger(parse_settings({"objects": ["hostapd.wlan0"], "ubus": str(mock)}))
    sink = RecordingSink()

    async def scenario() -> None:
        task = asyncio.create_task(trigger.run(sink))
        await until(
            lambda: trigger.counters["unknown"] >= 1 and len(sink.calls) >= 4,
            10,
            "four station events and one unknown notification",
        )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert sink.calls == [
        ("attach", "02:00:00:00:00:05", None),  # the re-sync: authorized client only
        ("attach", MAC, None),
        ("detach", MAC, "ubus-disassoc"),
        ("attach", MAC, None),
    ]
    assert trigger.counters["unknown"] == 1
