"""The pure DHCPv4 server driven with ``now``: attach trigger before any answer, OFFER/ACK
with the LMA's HoA, NAK cases, RELEASE/DECLINE/expiry detach, reply destinations
(RFC 2131 4.1), handover, rate limits; plus the plugin's config and the import boundary."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mag_ap.config import ConfigError, parse_config
from mag_ap.core.types import BindingDown, BindingUp, LogEvent
from mag_ap.plugins import DEFAULT_PLUGINS, PluginHost
from mag_ap_dhcp4 import parse_dhcp4, service_for
from mag_ap_dhcp4._packet import (
    BROADCAST,
    DhcpMessage,
    MessageType,
    decode,
    encode,
)
from mag_ap_dhcp4._server import (
    BROADCAST_MAC,
    Dhcp4Server,
    SendReply,
    ServerAction,
    StationAttached,
    StationDetached,
)
from mag_ap_dhcp4._settings import ServerSettings

MAC = "02:00:00:00:00:01"
MAC_RAW = bytes.fromhex("020000000001")
HOA = IPv4Interface("10.200.0.9/16")
ROUTER = IPv4Address("10.200.0.1")
LMA = IPv6Address("2001:db8::1")


def up(mac: str = MAC, hoa: IPv4Interface = HOA, lifetime_s: int = 3600) -> BindingUp:
    return BindingUp(
        mn_id="mn1@example.org", mac=mac, lma=LMA, hnp=None, ipv4_hoa=hoa,
        ipv4_default_router=ROUTER, gre_key_to_lma=None, gre_key_from_lma=None,
        lifetime_s=lifetime_s,
    )  # fmt: skip


def down(mac: str = MAC) -> BindingDown:
    return BindingDown(
        mn_id="mn1@example.org", mac=mac, lma=LMA, hnp=None, ipv4_hoa=HOA, reason="test"
    )


def pkt(mtype: MessageType, mac: bytes = MAC_RAW, **kw: Any) -> bytes:
    return encode(
        DhcpMessage(message_type=mtype, xid=kw.pop("xid", 42), chaddr=mac + bytes(10), **kw)
    )


def replies(actions: list[ServerAction]) -> list[SendReply]:
    return [a for a in actions if isinstance(a, SendReply)]


def only_reply(server: Dhcp4Server) -> SendReply:
    actions = server.drain()
    out = replies(actions)
    assert len(out) == 1, actions
    return out[0]


def test_discover_from_unknown_mac_triggers_attach_and_waits_for_the_binding() -> None:
    server = Dhcp4Server()
    server.receive(pkt(MessageType.DHCPDISCOVER), now=0.0)
    assert server.drain() == [StationAttached(mac=MAC)]
    server.receive(pkt(MessageType.DHCPDISCOVER), now=1.0)  # retransmission: no new trigger
    assert server.drain() == []
    server.binding_up(up(), now=1.5)
    offer = only_reply(server)
    msg = offer.message
    assert msg.message_type == MessageType.DHCPOFFER and msg.yiaddr == HOA.ip
    assert msg.subnet_mask == IPv4Address("255.255.0.0")
    assert msg.routers == (ROUTER,) and msg.server_id == ROUTER == offer.server_ip
    assert (msg.lease_time_s, msg.renewal_time_s, msg.rebinding_time_s) == (3600, 1800, 3150)
    assert offer.destination.mac == MAC_RAW and offer.destination.ip == HOA.ip  # unicast


def test_attach_is_triggered_again_for_a_station_still_waiting() -> None:
    server = Dhcp4Server(ServerSettings(retrigger_after_s=5.0))
    server.receive(pkt(MessageType.DHCPDISCOVER), now=0.0)
    server.receive(pkt(MessageType.DHCPDISCOVER), now=6.0)
    assert server.drain() == [StationAttached(mac=MAC)] * 2


def test_full_exchange_with_dns_lease_capped_by_binding_and_mtu_on_request() -> None:
    dns = (IPv4Address("192.0.2.53"),)
    server = Dhcp4Server(ServerSettings(lease_time_s=600, dns_servers=dns, interface_mtu=1400))
    server.binding_up(up(lifetime_s=300), now=0.0)
    server.receive(pkt(MessageType.DHCPDISCOVER, parameter_request_list=(1, 3, 26)), now=0.0)
    offer = only_reply(server).message
    assert offer.lease_time_s == 300 and offer.dns_servers == dns and offer.interface_mtu == 1400
    request = pkt(MessageType.DHCPREQUEST, server_id=ROUTER, requested_ip=HOA.ip, flags=0x8000)
    server.receive(request, now=0.5)
    ack = only_reply(server)
    assert ack.message.message_type == MessageType.DHCPACK and ack.message.yiaddr == HOA.ip
    assert ack.destination.mac == BROADCAST_MAC and ack.destination.ip == BROADCAST  # B flag
    assert ack.message.interface_mtu is None  # not asked for in this REQUEST
    assert server.lease_for(MAC) == HOA.ip


def test_request_for_the_wrong_address_is_naked_broadcast() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    wrong = IPv4Address("10.200.0.77")
    server.receive(pkt(MessageType.DHCPREQUEST, requested_ip=wrong), now=0.0)  # init-reboot
    nak = only_reply(server)
    assert nak.message.message_type == MessageType.DHCPNAK
    assert nak.destination.ip == BROADCAST and nak.destination.mac == BROADCAST_MAC
    assert server.counters["naks"] == 1


def test_renewing_is_acked_unicast_to_ciaddr() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    server.receive(pkt(MessageType.DHCPREQUEST, ciaddr=HOA.ip), now=10.0)
    ack = only_reply(server)
    assert ack.message.ciaddr == HOA.ip and ack.destination.ip == HOA.ip
    assert ack.destination.mac == MAC_RAW


def test_selecting_another_server_is_silent() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    other = IPv4Address("10.200.0.2")
    server.receive(pkt(MessageType.DHCPREQUEST, server_id=other, requested_ip=HOA.ip), now=0.0)
    assert replies(server.drain()) == []
    assert server.counters["for_other_server"] == 1


def test_binding_down_forgets_the_lease_and_naks_renewals() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    server.receive(pkt(MessageType.DHCPREQUEST, requested_ip=HOA.ip), now=0.0)
    assert only_reply(server).message.message_type == MessageType.DHCPACK
    server.binding_down(down(), now=1.0)
    assert server.lease_for(MAC) is None
    server.receive(pkt(MessageType.DHCPREQUEST, ciaddr=HOA.ip), now=2.0)
    assert only_reply(server).message.message_type == MessageType.DHCPNAK
    server.receive(pkt(MessageType.DHCPDISCOVER), now=3.0)  # comes back: attach again
    assert server.drain() == [StationAttached(mac=MAC)]


def test_renewal_after_handover_waits_for_the_binding_and_keeps_the_address() -> None:
    server = Dhcp4Server()  # the new MAG: never saw this station
    server.receive(pkt(MessageType.DHCPREQUEST, ciaddr=HOA.ip), now=0.0)
    assert server.drain() == [StationAttached(mac=MAC)]
    server.binding_up(up(), now=0.3)  # the LMA hands the same HoA to the new MAG
    ack = only_reply(server)
    assert ack.message.message_type == MessageType.DHCPACK and ack.message.yiaddr == HOA.ip


def test_release_detaches_and_decline_detaches() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    server.receive(pkt(MessageType.DHCPRELEASE, ciaddr=HOA.ip, server_id=ROUTER), now=1.0)
    assert server.drain()[-1] == StationDetached(mac=MAC, reason="dhcp release")
    decline = pkt(MessageType.DHCPDECLINE, requested_ip=HOA.ip, server_id=ROUTER)
    server.receive(decline, now=2.0)
    actions = server.drain()
    assert actions[-1] == StationDetached(mac=MAC, reason="dhcp decline")
    assert any(isinstance(a, LogEvent) and a.level == "warning" for a in actions)


def test_release_for_another_server_or_address_is_ignored() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    other = IPv4Address("10.200.0.2")
    server.receive(pkt(MessageType.DHCPRELEASE, ciaddr=HOA.ip, server_id=other), now=1.0)
    server.receive(pkt(MessageType.DHCPRELEASE, ciaddr=other, server_id=ROUTER), now=1.0)
    assert not any(isinstance(a, StationDetached) for a in server.drain())


def test_inform_gets_an_ack_without_lease() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    server.receive(pkt(MessageType.DHCPINFORM, ciaddr=HOA.ip), now=0.0)
    ack = only_reply(server)
    assert ack.message.message_type == MessageType.DHCPACK
    assert ack.message.lease_time_s is None and ack.message.yiaddr == IPv4Address(0)
    assert ack.message.routers == (ROUTER,) and ack.destination.ip == HOA.ip


def test_relayed_request_goes_back_to_the_relay() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    relay = IPv4Address("10.200.0.254")
    server.receive(pkt(MessageType.DHCPDISCOVER, giaddr=relay), now=0.0)
    dest = only_reply(server).destination
    assert dest.via_relay and dest.ip == relay and dest.port == 67


def test_unanswered_bound_lease_expires_and_detaches() -> None:
    server = Dhcp4Server(ServerSettings(lease_time_s=120))
    server.binding_up(up(), now=0.0)
    server.receive(pkt(MessageType.DHCPREQUEST, requested_ip=HOA.ip), now=0.0)
    server.drain()
    timer = server.get_timer()
    assert timer == 120.0
    server.handle_timer(timer)
    assert StationDetached(mac=MAC, reason="dhcp lease expired") in server.drain()
    assert server.get_timer() is None


def test_new_client_id_on_the_same_mac_replaces_the_lease() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    server.receive(pkt(MessageType.DHCPREQUEST, requested_ip=HOA.ip, client_id=b"\x01a"), now=0)
    server.receive(pkt(MessageType.DHCPREQUEST, requested_ip=HOA.ip, client_id=b"\x01b"), now=1)
    assert len(server.status(now=1)["leases"]) == 1


def test_binding_without_ipv4_home_address_drops_the_waiting_request() -> None:
    server = Dhcp4Server()
    server.receive(pkt(MessageType.DHCPDISCOVER), now=0.0)
    server.binding_up(replace(up(), ipv4_hoa=None), now=0.1)
    assert replies(server.drain()) == [] and server.counters["no_ipv4_hoa"] == 1


def test_station_bound_without_ipv4_is_not_answered_nor_attached_again() -> None:
    server = Dhcp4Server(ServerSettings(retrigger_after_s=5.0))
    server.binding_up(replace(up(), ipv4_hoa=None, ipv4_default_router=None), now=0.0)
    for now in (1.0, 7.0, 20.0):  # an IPv6-only station whose client keeps asking
        server.receive(pkt(MessageType.DHCPDISCOVER, xid=int(now)), now=now)
    assert server.drain() == [] and server.counters["no_ipv4_hoa"] == 3
    assert server.status(20.0)["pending"] == 0
    server.binding_down(down(), now=21.0)  # gone: a new DISCOVER is a new attachment
    server.receive(pkt(MessageType.DHCPDISCOVER), now=22.0)
    assert server.drain() == [StationAttached(mac=MAC)]
    server.binding_up(up(), now=22.5)  # back with IPv4: answered
    assert only_reply(server).message.message_type == MessageType.DHCPOFFER


def test_flood_of_random_macs_is_rate_limited_but_a_bound_station_is_served() -> None:
    server = Dhcp4Server(ServerSettings(global_rate_per_s=10, global_burst=20, max_stations=100))
    server.binding_up(up(), now=0.0)
    for i in range(5000):
        mac = (0x020000000000 + 0x100 + i).to_bytes(6, "big")
        server.receive(pkt(MessageType.DHCPDISCOVER, mac=mac), now=i / 1000)  # 1000/s for 5 s
    server.receive(pkt(MessageType.DHCPDISCOVER), now=5.0)
    actions = server.drain()
    triggers = [a for a in actions if isinstance(a, StationAttached)]
    assert len(triggers) <= 20 + 10 * 5 + 1
    assert server.counters["rate_limited_global"] >= 4900
    assert server.status(now=5.0)["pending"] <= 100
    assert [r.message.message_type for r in replies(actions)] == [MessageType.DHCPOFFER]


def test_one_mac_flooding_is_limited_per_mac() -> None:
    server = Dhcp4Server(ServerSettings(per_mac_rate_per_s=1, per_mac_burst=3))
    server.binding_up(up(), now=0.0)
    for _ in range(10):
        server.receive(pkt(MessageType.DHCPDISCOVER), now=0.0)
    assert len(replies(server.drain())) == 3 and server.counters["rate_limited_mac"] == 7


def test_hostile_packets_are_counted_and_never_raise() -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    good = pkt(MessageType.DHCPDISCOVER)
    for raw in (b"", good[:100], good[:241], good[:240] + bytes([53, 9]), b"\xff" * 600):
        server.receive(raw, now=0.0)
    server.receive(pkt(MessageType.DHCPDISCOVER, htype=6), now=0.0)
    server.receive(encode(DhcpMessage(op=2, message_type=1, chaddr=MAC_RAW + bytes(10))), 0.0)
    server.receive(encode(DhcpMessage(chaddr=MAC_RAW + bytes(10))), now=0.0)
    c = server.counters
    assert (c["decode_errors"], c["bad_hardware"], c["not_a_request"], c["no_message_type"]) == (
        5, 1, 1, 1,
    )  # fmt: skip
    server.receive(good, now=0.0)
    assert only_reply(server).message.yiaddr == HOA.ip  # the station is still served


@given(st.lists(st.binary(max_size=400), max_size=30))
@settings(max_examples=200)
def test_fuzzed_traffic_never_raises(packets: list[bytes]) -> None:
    server = Dhcp4Server()
    server.binding_up(up(), now=0.0)
    for i, data in enumerate(packets):
        server.receive(data, now=float(i))
        server.receive(pkt(MessageType.DHCPREQUEST, ciaddr=HOA.ip, xid=i), now=float(i))
    assert all(decode(encode(r.message)) == r.message for r in replies(server.drain()))


# --- config, plugin wiring, import boundary --------------------------------------------

BASE = {"daemon": {"role": "mag"}, "mag": {"own_address": "2001:db8::2"}}


def _config(section: dict[str, Any] | None) -> Any:
    data: dict[str, Any] = dict(BASE)
    if section is not None:
        data["plugin"] = {"dhcp4": section}
    return parse_config(data)


def test_plugin_is_a_default_and_inert_without_its_section() -> None:
    assert "mag_ap_dhcp4" in DEFAULT_PLUGINS
    for section in (None, {"enabled": False}):
        host = PluginHost.from_config(_config(section), entry_points=False)
        providers: list[Any] = [*host.address_services(), *host.trigger_providers()]
        assert [p for p in providers if p.name == "dhcp4"] == []
        assert "mag_ap_dhcp4" not in host.status_extra()


def test_plugin_shares_one_service_between_roles() -> None:
    host = PluginHost.from_config(_config({"interface": "eth1"}), entry_points=False)
    (service,) = [p for p in host.address_services() if p.name == "dhcp4"]
    triggers: list[Any] = [t for t in host.trigger_providers() if t.name == "dhcp4"]
    assert triggers == [service]
    assert service is service_for(host.config)
    assert host.status_extra()["mag_ap_dhcp4"]["counters"]["received"] == 0


@pytest.mark.parametrize(
    ("section", "key_path"),
    [
        ({}, "plugin.dhcp4.interface"),
        ({"interface": "eth1", "lease_time_s": 10}, "plugin.dhcp4.lease_time_s"),
        ({"interface": "eth1", "dns_servers": ["2001:db8::53"]}, "plugin.dhcp4.dns_servers[0]"),
        ({"interface": "eth1", "server_adress": "10.0.0.1"}, "plugin.dhcp4.server_adress"),
        ({"interface": "x" * 16}, "plugin.dhcp4.interface"),
        (
            {"interface": "eth1", "fixed_link_layer_address": "01:00:5e:00:00:01"},
            "plugin.dhcp4.fixed_link_layer_address",
        ),
        ({"interface": "eth1", "global_rate_per_s": 0}, "plugin.dhcp4.global_rate_per_s"),
    ],
)
def test_bad_config_is_refused_with_key_path(section: dict[str, Any], key_path: str) -> None:
    if not section:
        section = {"enabled": True}
    with pytest.raises(ConfigError) as info:
        parse_dhcp4(section)
    assert info.value.key_path == key_path


def test_config_values() -> None:
    cfg = parse_dhcp4(
        {"interface": "eth1", "dns_servers": ["192.0.2.53"], "fixed_link_layer_address":
         "02-00-5E-10-00-01", "server_address": "10.200.0.1", "per_mac_burst": 3}
    )  # fmt: skip
    assert cfg.enabled and cfg.fixed_link_layer_address == "02:00:5e:10:00:01"
    assert cfg.server.dns_servers == (IPv4Address("192.0.2.53"),)
    assert cfg.server.server_address == ROUTER and cfg.server.per_mac_burst == 3


def test_plugin_package_imports_no_socket_until_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys; before = set(sys.modules); import mag_ap_dhcp4; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in ('asyncio', 'socket', '_socket') if m in new))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", Path(out.stdout)
