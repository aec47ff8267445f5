"""Access-side triggers (pure parts): netlink codec, station watch, both plugins' config.

Netlink messages are built here field by field from linux/rtnetlink.h,
linux/if_link.h and linux/neighbour.h; the watch is driven with
handle_timer(get_timer()).
"""

from __future__ import annotations

import ast
import struct
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.plugins import DEFAULT_PLUGINS, PluginHost
from mag_ap.wire import DecodeError
from mag_ap_linkwatch import parse_linkwatch_config
from mag_ap_linkwatch._io import AccessWatch
from mag_ap_linkwatch._netlink import (
    NUD_FAILED,
    NUD_REACHABLE,
    NUD_STALE,
    Done,
    LinkMessage,
    NeighbourMessage,
    NetlinkError,
    decode_messages,
    neighbour_dump_request,
    neighbour_probe_request,
)
from mag_ap_linkwatch._watch import StationWatch, WatchSettings
from mag_ap_ra import parse_ra_config
from mag_ap_ra._io import RaService, RsTrigger
from mag_ap_ra._settings import RFC6543_LINK_LOCAL
from tests.conftest import ROOT

MN = "02:00:00:00:00:01"
MN2 = "02:00:00:00:00:02"


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + bytes(-len(raw) % 4)


def _nlmsg(kind: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 1, 0) + body


def link_msg(ifindex: int, name: str, operstate: int, kind: int = 16) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, ifindex, 0, 0)
    body += _attr(3, name.encode() + b"\x00") + _attr(16, bytes((operstate,)))
    return _nlmsg(kind, body)


def neigh_msg(ifindex: int, state: int, dst: bytes, lladdr: bytes | None) -> bytes:
    body = struct.pack("=BxxxiHBB", 10 if len(dst) == 16 else 2, ifindex, state, 0, 1)
    body += _attr(1, dst) + (_attr(2, lladdr) if lladdr else b"")
    return _nlmsg(28, body)


# --- netlink codec ------------------------------------------------------------------


def test_dump_request_layout() -> None:
    req = neighbour_dump_request(7)
    assert struct.unpack_from("=IHHII", req) == (28, 30, 0x301, 7, 0)
    assert req[16:] == bytes(12)


def test_link_and_neighbour_messages_decode() -> None:
    data = (
        link_msg(5, "mapA-mag", 2)
        + neigh_msg(5, NUD_REACHABLE, IPv6Address("fe80::1").packed, bytes.fromhex("020000000001"))
        + neigh_msg(5, NUD_FAILED, IPv4Address("10.0.0.2").packed, None)
        + _nlmsg(2, struct.pack("=i", -22) + bytes(16))
        + _nlmsg(3, struct.pack("=i", 0))
    )
    assert decode_messages(data) == [
        LinkMessage(5, "mapA-mag", 2),
        NeighbourMessage(5, NUD_REACHABLE, IPv6Address("fe80::1"), MN),
        NeighbourMessage(5, NUD_FAILED, IPv4Address("10.0.0.2"), None),
        NetlinkError(22),
        Done(),
    ]
    assert LinkMessage(5, None, 6).up and LinkMessage(5, None, 0).up
    assert not LinkMessage(5, None, 2).up and not LinkMessage(5, None, 6, deleted=True).up
    assert NeighbourMessage(5, NUD_STALE, None, MN).alive
    assert not NeighbourMessage(5, NUD_FAILED, None, MN).alive


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (struct.pack("=IHHII", 200, 16, 0, 0, 0), 0),  # message overruns
        (_nlmsg(16, b"\x00" * 4), 16),  # short ifinfomsg
        (_nlmsg(16, struct.pack("=BxHiII", 0, 1, 5, 0, 0) + struct.pack("=HH", 40, 3)), 32),
    ],
)
def test_bad_netlink_messages_raise_with_offsets(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_messages(data)
    assert info.value.offset == offset


# --- station watch ------------------------------------------------------------------


def alive(mac: str, state: int = NUD_REACHABLE) -> NeighbourMessage:
    return NeighbourMessage(5, state, IPv6Address("2001:db8::1"), mac)


def drain(w: StationWatch) -> list[tuple[str, str]]:
    out = []
    while (item := w.next_detach()) is not None:
        out.append(item)
    return out


def test_link_down_detaches_every_bound_station_once() -> None:
    w = StationWatch(WatchSettings(link_down_detach=True))
    w.link(True, 0.0)
    w.binding_up(MN, 0.0)
    w.binding_up(MN2, 0.0)
    w.link(False, 1.0)
    w.link(False, 2.0)
    assert drain(w) == [(MN, "link-down"), (MN2, "link-down")]
    w.link(True, 3.0)
    w.link(False, 4.0)
    assert drain(w) == []  # already reported; the BindingDown will follow
    w.binding_down(MN)
    assert w.bound() == [MN2]


def test_link_down_detach_can_be_off() -> None:
    w = StationWatch(WatchSettings(link_down_detach=False))
    w.binding_up(MN, 0.0)
    w.link(True, 0.0)
    w.link(False, 1.0)
    assert drain(w) == []
    assert w.counters["link_changes"] == 2


def test_a_link_first_seen_down_detaches_the_bound_stations() -> None:
    w = StationWatch(WatchSettings())
    w.binding_up(MN, 0.0)
    w.link(False, 0.0)
    assert drain(w) == [(MN, "link-down")]
    w.link(False, 1.0)
    assert drain(w) == []


def test_inactivity_detaches_a_station_silent_for_the_timeout() -> None:
    w = StationWatch(WatchSettings(inactivity_timeout_s=30.0))
    w.binding_up(MN, 0.0)
    w.binding_up(MN2, 0.0)
    assert w.get_timer() == 30.0
    w.neighbours([alive(MN), alive(MN2, NUD_FAILED)], 20.0)
    while (t := w.get_timer()) is not None and t <= 100.0:
        w.handle_timer(t)
        if t == 30.0:
            assert drain(w) == [(MN2, "inactivity")]
    assert drain(w) == [(MN, "inactivity")]
    assert w.counters["inactivity_detaches"] == 2
    assert w.get_timer() is None


def test_stale_counts_as_present_and_a_new_binding_restarts_the_clock() -> None:
    w = StationWatch(WatchSettings(inactivity_timeout_s=30.0))
    w.binding_up(MN, 0.0)
    w.neighbours([alive(MN, NUD_STALE)], 25.0)
    w.handle_timer(50.0)
    assert drain(w) == []
    w.handle_timer(55.0)
    assert drain(w) == [(MN, "inactivity")]
    w.binding_up(MN, 60.0)  # the daemon attached it again
    assert w.get_timer() == 90.0


def test_probe_request_layout() -> None:
    raw = neighbour_probe_request(9, 4, IPv6Address("2001:db8::7"))
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", raw)
    assert (length, kind, flags, seq) == (len(raw), 28, 0x1, 9)  # RTM_NEWNEIGH, no NLM_F_CREATE
    family, ifindex, state, ndm_flags, _ = struct.unpack_from("=BxxxiHBB", raw, 16)
    assert (family, ifindex, state, ndm_flags) == (10, 4, 0, 0x01)  # AF_INET6, NTF_USE
    assert raw[28:] == struct.pack("=HH", 20, 1) + IPv6Address("2001:db8::7").packed
    v4 = neighbour_probe_request(1, 4, IPv4Address("10.200.0.2"))
    assert v4[16] == 2 and v4[28:] == struct.pack("=HH", 8, 1) + bytes([10, 200, 0, 2])


def test_stale_entries_of_bound_stations_are_probed() -> None:
    w = StationWatch(WatchSettings(inactivity_timeout_s=30.0))
    w.binding_up(MN, 0.0)
    stale, fresh = alive(MN, NUD_STALE), alive(MN, NUD_REACHABLE)
    other = alive(MN2, NUD_STALE)  # no binding here: not ours to probe
    assert w.to_probe([stale, fresh, other, alive(MN, NUD_FAILED)]) == [stale]
    w.handle_timer(30.0)
    assert drain(w) == [(MN, "inactivity")]
    assert w.to_probe([stale]) == []  # reported already
    assert StationWatch(WatchSettings()).to_probe([stale]) == []  # no inactivity detach


def test_zero_timeout_disables_inactivity() -> None:
    w = StationWatch(WatchSettings(inactivity_timeout_s=0.0))
    w.binding_up(MN, 0.0)
    assert w.get_timer() is None
    w.handle_timer(1e9)
    assert drain(w) == []


# --- configuration and hooks ----------------------------------------------------------

BASE = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::a"\n'


def test_ra_config_defaults_and_rfc6543_address() -> None:
    cfg = parse_ra_config({"interface": "br-lan"})
    assert cfg.active and cfg.link_local_address == RFC6543_LINK_LOCAL
    assert str(RFC6543_LINK_LOCAL) == "fe80::200:5eff:fe00:5213"
    assert cfg.mtu == 1460 and cfg.router_lifetime_s == 1800
    assert not parse_ra_config({}).active
    assert not parse_ra_config({"interface": "x", "enabled": False}).active


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({"interface": "a", "link_local_address": "2001:db8::1"}, "link_local_address", "link"),
        ({"interface": "a", "mtu": 1000}, "mtu", "at least 1280"),
        ({"interface": "a", "router_lifetime_s": 9001}, "router_lifetime_s", "at most"),
        ({"interface": "a", "mac": "01:00:5e:00:00:01"}, "mac", "group"),
        ({"interface": "a/b"}, "interface", "not an interface"),
        ({"mtu": 1400}, "interface", "required"),
        ({"interface": "a", "mtus": 1}, "mtus", "did you mean"),
    ],
)
def test_ra_config_errors_name_the_key(section: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ra_config(section)
    assert info.value.key_path == f"plugin.ra.{key}"
    assert words in info.value.reason


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"interface": "a", "inactivity_timeout_s": -1}, "inactivity_timeout_s"),
        (
            {"interface": "a", "inactivity_timeout_s": 1, "poll_interval_s": 2},
            "inactivity_timeout_s",
        ),
        ({"interface": "a", "link_down": True}, "link_down"),
        ({"inactivity_timeout_s": 60}, "interface"),
    ],
)
def test_triggers_config_errors_name_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_linkwatch_config(section)
    assert info.value.key_path == f"plugin.linkwatch.{key}"


def test_both_plugins_are_default_and_inert_without_configuration() -> None:
    assert {"mag_ap_ra", "mag_ap_linkwatch"} <= set(DEFAULT_PLUGINS)
    host = PluginHost.from_config(parse_config_text(BASE), entry_points=False)
    assert host.address_services() == [] and host.trigger_providers() == []
    assert "mag_ap_ra" not in host.status_extra()


def test_configured_plugins_share_one_provider_per_role() -> None:
    text = BASE + (
        '[plugin.ra]\ninterface = "mapX-acc"\n'
        '[plugin.linkwatch]\ninterface = "mapX-acc"\ninactivity_timeout_s = 60\n'
    )
    host = PluginHost.from_config(parse_config_text(text), entry_points=False)
    services = host.address_services()
    triggers = host.trigger_providers()
    ra = [s for s in services if isinstance(s, RaService)]
    watch = [s for s in services if isinstance(s, AccessWatch)]
    assert len(ra) == 1 and len(watch) == 1
    rs = [t for t in triggers if isinstance(t, RsTrigger)]
    assert [t.service for t in rs] == ra  # the trigger shares the service's socket
    assert watch[0] in triggers
    assert host.status_extra()["mag_ap_ra"] == {"interface": "mapX-acc", "running": False}


def test_a_bad_section_is_refused_at_start() -> None:
    with pytest.raises(ConfigError) as info:
        PluginHost.from_config(
            parse_config_text(BASE + '[plugin.ra]\ninterface = "a"\nmtu = 70000\n'),
            entry_points=False,
        )
    assert info.value.key_path == "plugin.ra.mtu"


# --- sans-IO boundary of the pure modules ------------------------------------------


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("pkg", ["mag_ap_ra", "mag_ap_linkwatch"])
def test_no_module_of_these_plugins_imports_pyroute2(pkg: str) -> None:
    paths = sorted((ROOT / "plugins" / pkg).glob("*.py"))
    assert len(paths) >= 3
    for path in paths:
        assert "pyroute2" not in _imports(path), path
