"""The hostapd trigger against REAL hostapd (driver=wired, 802.1X) and wpa_supplicant.

hostapd runs its internal EAP server in one namespace, wpa_supplicant -Dwired in
another, joined by a veth; the plugin's TriggerProvider runs in this process
against a recording sink. What is proven: attach with the 802.1X NAI (EAP-MD5
and PEAP/MSCHAPv2), no attach ever after a wrong password (also not on a
re-sync that sees the unauthorized station), stations present before the
trigger started, hostapd restarted under a connected station (reconnect,
re-sync, detach, re-attach, no socket leak) and garbage on the sockets.
"""

from __future__ import annotations

import os
import signal
import socket
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from lab.hostapd_lab import (
    AccessPoint,
    ProviderThread,
    Station,
    build,
    start_radius_server,
)
from lab.topology import Lab, wait_for
from mag_ap_hostapd import HostapdSettings
from mag_ap_hostapd._watch_io import HostapdWatcher
from mag_ap_radacct import RadAcctSettings
from mag_ap_radacct._listener_io import RadAcctListener
from mag_ap_radius.packet import encode_request


def _watcher(ap: AccessPoint, reconnect_max_s: float = 30.0) -> HostapdWatcher:
    settings = HostapdSettings(
        enabled=True,
        control_sockets=(ap.ctrl_socket,),
        ping_interval_s=0.5,
        reconnect_max_s=reconnect_max_s,
    )
    return HostapdWatcher(settings)


def _station(lab: Lab, ap: AccessPoint, identity: str, password: str, eap: str = "MD5") -> Station:
    return Station(lab.hosts["sta1"], "eth0", ap.workdir, identity, password, eap)


@pytest.mark.parametrize("eap", ["MD5", "PEAP"])
def test_attach_carries_the_8021x_identity_and_logoff_detaches(
    lab: Lab, tmp_path: Path, eap: str
) -> None:
    ap = build(lab, tmp_path)
    ap.start()
    runner = ProviderThread(_watcher(ap))
    try:
        sta = _station(lab, ap, "alice@example.net", "alice-secret", eap)
        sta.start()
        mac = sta.mac
        wait_for(lambda: runner.sink.has("attach"), 20, "attach trigger")
        assert runner.sink.of("attach") == [("attach", mac, "alice@example.net")]
        assert ap.authorized() == {mac}  # hostapd_cli agrees
        assert runner.call(runner.provider.identity_for(mac)) == "alice@example.net"
        other = "02:00:00:00:00:99"
        assert runner.call(runner.provider.identity_for(other)) is None  # the chain asks on

        sta.logoff()
        wait_for(lambda: runner.sink.has("detach"), 10, "detach trigger")
        assert runner.sink.of("detach") == [("detach", mac, "hostapd")]
        assert runner.provider.table.attached() == []
        assert runner.alive()
    finally:
        runner.stop()


def test_wrong_password_never_attaches(lab: Lab, tmp_path: Path) -> None:
    ap = build(lab, tmp_path)
    ap.start()
    runner = ProviderThread(_watcher(ap))
    try:
        bad = _station(lab, ap, "bob@example.net", "not-bobs-password")
        bad.start()
        wait_for(lambda: runner.provider.counters["eap_failures"] >= 1, 30, "an EAP failure")
        mac = bad.mac
        # hostapd lists the station, unauthorized: a fresh trigger's re-sync must skip it too
        assert mac in ap.cli("all_sta").lower()
        assert ap.authorized() == set()
        second = ProviderThread(_watcher(ap))
        try:
            wait_for(lambda: second.provider.counters["resyncs"] >= 1, 10, "second re-sync")
            assert second.sink.calls == []
        finally:
            second.stop()
        bad.stop()
        assert runner.sink.calls == []
        assert runner.call(runner.provider.identity_for(mac)) is None  # failed: no name kept

        # hostapd holds a failed station in its 60 s quiet period: come back with a new MAC
        host = lab.hosts["sta1"]
        host.ip("link", "set", "eth0", "down")
        host.ip("link", "set", "eth0", "address", "02:00:00:00:0b:0b")
        host.ip("link", "set", "eth0", "up")
        good = _station(lab, ap, "bob@example.net", "bob-secret")
        good.start()
        wait_for(lambda: runner.sink.has("attach"), 20, "attach after the right password")
        assert runner.sink.calls == [("attach", "02:00:00:00:0b:0b", "bob@example.net")]
    finally:
        runner.stop()


def test_station_before_start_and_hostapd_restart(lab: Lab, tmp_path: Path) -> None:
    ap = build(lab, tmp_path)
    ap.start()
    sta = _station(lab, ap, "alice@example.net", "alice-secret")
    sta.start()
    mac = sta.mac
    wait_for(lambda: ap.authorized() == {mac}, 20, "station authorized before the trigger")

    runner = ProviderThread(_watcher(ap, reconnect_max_s=0.5))
    try:
        wait_for(lambda: runner.sink.has("attach"), 10, "attach from the first re-sync")
        assert runner.sink.calls == [("attach", mac, "alice@example.net")]

        ap.stop(signal.SIGKILL)  # a crash: no event; the new hostapd has no station
        ap.start()
        wait_for(lambda: runner.sink.has("detach"), 20, "detach from the re-sync after restart")
        assert runner.sink.calls[1] == ("detach", mac, "hostapd-resync")
        assert runner.provider.counters["reconnects"] >= 1

        sta.stop()  # the supplicant re-authenticates from scratch against the new hostapd
        sta.start()
        wait_for(lambda: len(runner.sink.of("attach")) == 2, 20, "attach after restart")
        assert runner.sink.calls[2] == ("attach", mac, "alice@example.net")
        assert runner.sink.attached_now() == set(runner.provider.table.attached()) == {mac}
        assert ap.authorized() == {mac}
        # no leak: exactly our two client sockets (request + monitor), however many reconnects
        assert runner.provider.client_dir is not None
        assert len(os.listdir(runner.provider.client_dir)) == 2
        assert runner.alive()
    finally:
        runner.stop()
    assert runner.provider.client_dir is not None
    assert not Path(runner.provider.client_dir).exists()


def test_garbage_on_the_control_socket_kills_neither_hostapd_nor_the_trigger(
    lab: Lab, tmp_path: Path
) -> None:
    ap = build(lab, tmp_path)
    ap.start()
    runner = ProviderThread(_watcher(ap))
    try:
        wait_for(lambda: runner.provider.counters["resyncs"] >= 1, 10, "first re-sync")
        garbage = [
            b"\xff\xfe\x00garbage",
            b"STA not-a-mac",
            b"ATTACH ATTACH ATTACH",
            b"DETACH",
            b"x" * 4000,
            b"",
        ]
        # our own client sockets are connected to hostapd: the kernel refuses anyone else
        # (EPERM), so garbage can only come through hostapd; the parser's share is unit-tested
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            for data in garbage:
                s.sendto(data, ap.ctrl_socket)
            with pytest.raises(PermissionError):
                s.sendto(
                    b"<3>AP-STA-CONNECTED 02:00:00:00:00:42",
                    runner.provider.monitors[ap.ctrl_socket],
                )
        assert ap.proc is not None and ap.proc.poll() is None
        sta = _station(lab, ap, "alice@example.net", "alice-secret")
        sta.start()
        wait_for(lambda: runner.sink.has("attach"), 20, "attach after the garbage")
        assert runner.sink.calls == [("attach", sta.mac, "alice@example.net")]
        assert runner.provider.counters["reconnects"] == 0
        assert runner.alive()
    finally:
        runner.stop()


def test_radius_accounting_start_fills_the_identity_map(lab: Lab, tmp_path: Path) -> None:
    secret = "acct-secret"
    ap = build(
        lab,
        tmp_path,
        extra=(
            "own_ip_addr=127.0.0.1\nauth_server_addr=127.0.0.1\nauth_server_port=18120\n"
            "auth_server_shared_secret=auth-secret\n"
            "acct_server_addr=127.0.0.1\nacct_server_port=1813\n"
            f"acct_server_shared_secret={secret}\n"
        ),
    )
    start_radius_server(ap, 18120, "auth-secret")
    settings = RadAcctSettings(
        enabled=True,
        address=IPv4Address("127.0.0.1"),
        secret=secret.encode(),
        detach_on_stop=True,
        identity_wait_s=0.1,
    )
    listener = RadAcctListener(settings)
    runner = ProviderThread(listener, netns=ap.host.netns)
    try:
        wait_for(lambda: listener.bound is not None, 10, "listener bound")
        ap.start()
        watcher = ProviderThread(_watcher(ap))  # EAP via RADIUS: CTRL-EVENT-EAP-SUCCESS2
        sta = _station(lab, ap, "alice@example.net", "alice-secret")
        sta.start()
        mac = sta.mac
        wait_for(lambda: listener.identities.get(mac) is not None, 20, "Accounting-Start")
        wait_for(lambda: watcher.sink.has("attach"), 20, "hostapd trigger with RADIUS")
        watcher.stop()
        assert watcher.sink.calls == [("attach", mac, "alice@example.net")]
        assert listener.identities.get(mac) == "alice@example.net"
        assert runner.call(listener.identity_for(mac)) == "alice@example.net"
        assert listener.counters["answered"] >= 2  # Accounting-On and Start, both answered
        assert listener.counters["bad_authenticator"] == listener.counters["malformed"] == 0
        # hostapd retransmits what we do not answer: it logs no retry when we do
        sta.logoff()
        wait_for(lambda: runner.sink.has("detach"), 20, "Accounting-Stop")
        assert runner.sink.calls == [("detach", mac, "radius-accounting-stop")]
        assert listener.identities.get(mac) is None
        assert runner.call(listener.identity_for(mac)) is None  # forgotten: the chain asks on

        # a forged request (wrong secret) and junk: dropped and counted, listener alive
        forged = encode_request(7, [(40, b"\x00\x00\x00\x01"), (1, b"mallory"),
                                    (31, mac.encode())], b"wrong")  # fmt: skip
        ap.host.run(
            "python3", "-c",
            "import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            f"[s.sendto(bytes.fromhex(h),('127.0.0.1',1813)) for h in {[forged.hex(), '0401']!r}]",
        )  # fmt: skip
        wait_for(lambda: listener.counters["malformed"] >= 1, 10, "junk counted")
        wait_for(lambda: listener.counters["bad_authenticator"] >= 1, 10, "forgery counted")
        assert listener.identities.get(mac) is None
        assert runner.alive()
    finally:
        runner.stop()
