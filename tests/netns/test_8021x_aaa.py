"""802.1X with a REAL AAA server: hostapd (driver=wired) -> FreeRADIUS, and the MAG on top.

Namespaces: ``sta1`` (wpa_supplicant -Dwired) -- ``ap`` (hostapd, ``ieee8021x=1``,
``auth_server_*`` pointing at freeradius) -- ``aaa`` (freeradius with EAP-MD5,
PEAP/MSCHAPv2, TTLS with inner PAP or MSCHAPv2; certificates made with openssl).

Identity: with RADIUS, hostapd's ``dot1xAuthSessionUserName`` is the EAP identity
the station sent in clear, which for PEAP/TTLS is the OUTER (anonymous) one; it
becomes the inner identity only when the Access-Accept carries User-Name (here:
the inner tunnel's post-auth puts it into the outer session-state, the outer
post-auth copies that into the Accept). Both behaviours are asserted, so the
MN-ID the MAG uses is known in either configuration.

Proven: per method, EAP success (hostapd ``CTRL-EVENT-EAP-SUCCESS2``) and one
attach with the inner NAI; without User-Name in the Accept the NAI is the outer
identity; a wrong password never attaches. With full daemons (``mag-ap run``
with ``[plugin.hostapd]`` in the AP namespace, ``mag-ap lma``): a wrong password
binds nothing, the right one binds the inner NAI on MAG and LMA, and after
hostapd is SIGKILLed and restarted under the connected station, the MAG re-syncs,
the station re-authenticates and exactly one binding remains on both ends, as
many as hostapd has authorized stations; re-authenticating as another user
moves the binding to that user's NAI (hostapd keeps the port open then and sends
no new AP-STA-CONNECTED: the plugin acts on the EAP success).
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from lab.domain import Domain, lma_binding_view
from lab.eap_aaa_lab import (
    ANONYMOUS,
    METHODS,
    EapRadius,
    hostapd_events,
    hostapd_radius_lines,
    supplicant,
)
from lab.hostapd_lab import AccessPoint, ProviderThread, Station
from lab.topology import Host, Lab, wait_for
from mag_ap_hostapd import HostapdSettings
from mag_ap_hostapd._watch_io import HostapdWatcher

NAI = "alice@example.net"
PASSWORD = "alice-secret"
AP_ADDR, AAA_ADDR = "198.51.100.1", "198.51.100.2"


def _aaa(lab: Lab, ap_host: Host, tmp_path: Path, *, inner_name: bool = True) -> EapRadius:
    """An ``aaa`` namespace behind the AP with freeradius answering the AP's hostapd."""
    aaa = lab.add_host("aaa")
    lab.link(ap_host, "to-aaa", aaa, "aaa0")
    ap_host.ip("addr", "add", f"{AP_ADDR}/24", "dev", "to-aaa")
    aaa.ip("addr", "add", f"{AAA_ADDR}/24", "dev", "aaa0")
    radius = EapRadius(
        aaa, tmp_path, listen=AAA_ADDR, client=f"{AP_ADDR}/32", send_inner_user_name=inner_name
    )
    radius.start()
    return radius


def _access_point(
    lab: Lab, tmp_path: Path, *, inner_name: bool = True
) -> tuple[AccessPoint, EapRadius]:
    ap_host = lab.add_host("ap")
    sta = lab.add_host("sta1")
    lab.link(ap_host, "hap0", sta, "eth0")
    radius = _aaa(lab, ap_host, tmp_path, inner_name=inner_name)
    ap = AccessPoint(ap_host, "hap0", tmp_path, hostapd_radius_lines(AAA_ADDR, AP_ADDR))
    ap.start()
    return ap, radius


def _watcher(ctrl_socket: str) -> HostapdWatcher:
    settings = HostapdSettings(
        enabled=True, control_sockets=(ctrl_socket,), ping_interval_s=0.5, reconnect_max_s=0.5
    )
    return HostapdWatcher(settings)


def _supplicant(
    host: Host, tmp_path: Path, radius: EapRadius, method: str, *, password: str = PASSWORD
) -> Station:
    """wpa_supplicant on the station's ``eth0``, as alice unless told another password."""
    return supplicant(
        host, "eth0", tmp_path, method=method, identity=NAI, password=password, ca_cert=radius.ca
    )


def _sta_user_name(ap: AccessPoint, mac: str) -> str:
    for line in ap.cli("sta", mac).splitlines():
        if line.startswith("dot1xAuthSessionUserName="):
            return line.split("=", 1)[1].strip()
    return ""


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_attaches_with_the_inner_nai(lab: Lab, tmp_path: Path, method: str) -> None:
    ap, radius = _access_point(lab, tmp_path)
    runner = ProviderThread(_watcher(ap.ctrl_socket))
    try:
        sta = _supplicant(lab.hosts["sta1"], tmp_path, radius, method)
        sta.start()
        mac = sta.mac
        wait_for(lambda: runner.sink.has("attach"), 30, f"attach after {method}")
        assert runner.sink.calls == [("attach", mac, NAI)]
        # the authenticator saw RADIUS success; the supplicant saw EAP success
        log = ap.workdir / "hostapd.log"
        assert hostapd_events(log, "CTRL-EVENT-EAP-SUCCESS2", mac) == 1
        assert hostapd_events(log, "CTRL-EVENT-EAP-FAILURE2", mac) == 0
        assert sta.successes() >= 1
        assert ap.authorized() == {mac}
        assert _sta_user_name(ap, mac) == NAI  # hostapd_cli, independently of the plugin
        # what went over RADIUS: the Accept names the inner user
        accepts = radius.accepts()
        assert len(accepts) == 1, radius.log_text()[-3000:]
        if METHODS[method][2]:
            assert f'User-Name = "{ANONYMOUS}"' in radius.log_text()  # the outer identity
            assert re.findall(r'User-Name :?= "([^"]*)"', accepts[0]) == [NAI]
        assert runner.call(runner.provider.identity_for(mac)) == NAI
        assert runner.provider.counters["eap_failures"] == 0
        assert runner.alive()
    finally:
        runner.stop()


def test_without_user_name_in_the_accept_the_nai_is_the_outer_identity(
    lab: Lab, tmp_path: Path
) -> None:
    ap, radius = _access_point(lab, tmp_path, inner_name=False)
    runner = ProviderThread(_watcher(ap.ctrl_socket))
    try:
        sta = _supplicant(lab.hosts["sta1"], tmp_path, radius, "PEAP")
        sta.start()
        mac = sta.mac
        wait_for(lambda: runner.sink.has("attach"), 30, "attach after PEAP")
        assert runner.sink.calls == [("attach", mac, ANONYMOUS)]
        assert _sta_user_name(ap, mac) == ANONYMOUS
        # freeradius' eap module itself echoes the outer User-Name in the Accept
        (accept,) = radius.accepts()
        assert re.findall(r'User-Name :?= "([^"]*)"', accept) == [ANONYMOUS]
    finally:
        runner.stop()


@pytest.mark.parametrize("method", ["MD5", "PEAP", "TTLS-PAP"])
def test_wrong_password_never_attaches(lab: Lab, tmp_path: Path, method: str) -> None:
    ap, radius = _access_point(lab, tmp_path)
    runner = ProviderThread(_watcher(ap.ctrl_socket))
    try:
        sta = _supplicant(lab.hosts["sta1"], tmp_path, radius, method, password="not-alices")
        sta.start()
        mac = sta.mac
        log = ap.workdir / "hostapd.log"
        wait_for(
            lambda: hostapd_events(log, "CTRL-EVENT-EAP-FAILURE2", mac) >= 1, 30, "EAP failure"
        )
        wait_for(lambda: runner.provider.counters["eap_failures"] >= 1, 10, "failure seen")
        assert "Sent Access-Reject" in radius.log_text()
        assert radius.accepts() == []
        assert hostapd_events(log, "AP-STA-CONNECTED", mac) == 0
        assert ap.authorized() == set()
        # a fresh watcher's re-sync sees the unauthorized station and skips it too
        second = ProviderThread(_watcher(ap.ctrl_socket))
        try:
            wait_for(lambda: second.provider.counters["resyncs"] >= 1, 10, "second re-sync")
            assert second.sink.calls == []
        finally:
            second.stop()
        assert runner.sink.calls == []
        assert runner.provider.table.identity(mac) is None
        assert runner.alive()
    finally:
        runner.stop()


def test_reauthentication_as_another_user_rebinds_under_the_new_nai(
    lab: Lab, tmp_path: Path
) -> None:
    """hostapd keeps the port authorized across a re-authentication, so it sends no new
    AP-STA-CONNECTED: only EAP success tells that the MAC now belongs to someone else."""
    ap, radius = _access_point(lab, tmp_path)
    runner = ProviderThread(_watcher(ap.ctrl_socket))
    try:
        sta = _supplicant(lab.hosts["sta1"], tmp_path, radius, "TTLS-MSCHAPV2")
        sta.start()
        mac = sta.mac
        wait_for(lambda: runner.sink.has("attach"), 30, "first attach")
        log = ap.workdir / "hostapd.log"
        assert hostapd_events(log, "CTRL-EVENT-EAP-SUCCESS2", mac) == 1
        sta.cli("set_network", "0", "identity", '"bob@example.net"')
        sta.cli("set_network", "0", "password", '"bob-secret"')
        sta.cli("reauthenticate")
        wait_for(lambda: len(runner.sink.of("attach")) == 2, 30, "attach under the new name")
        assert hostapd_events(log, "CTRL-EVENT-EAP-SUCCESS2", mac) == 2
        assert hostapd_events(log, "AP-STA-CONNECTED", mac) == 1  # the port never closed
        assert runner.sink.calls == [
            ("attach", mac, NAI),
            ("detach", mac, "hostapd-identity-changed"),
            ("attach", mac, "bob@example.net"),
        ]
        assert _sta_user_name(ap, mac) == "bob@example.net"
        # the same user again: nothing to redo
        sta.cli("reauthenticate")
        wait_for(
            lambda: hostapd_events(log, "CTRL-EVENT-EAP-SUCCESS2", mac) == 3, 30, "third success"
        )
        wait_for(lambda: runner.provider.counters["events"] >= 4, 10, "the watcher to see it")
        assert len(runner.sink.calls) == 3
        assert runner.provider.counters["identity_changes"] == 1
    finally:
        runner.stop()


# --- full daemons: mag-ap run (hostapd trigger + localpolicy) and mag-ap lma -------------

GOOD_MAC, BAD_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"


def _set_mac(host: Host, ifname: str, mac: str) -> None:
    host.ip("link", "set", ifname, "down")
    host.ip("link", "set", ifname, "address", mac)
    host.ip("link", "set", ifname, "up")


def _cli_status(domain: Domain, role: str) -> dict[str, Any]:
    """``mag-ap status --json`` (the operator's view, through the CLI)."""
    daemon = domain.lma if role == "lma" else domain.mag[0]
    assert daemon is not None
    answer: dict[str, Any] = json.loads(daemon.cli("status", "--json").stdout)
    return answer


def _mn_ids(status: dict[str, Any]) -> list[str]:
    return sorted(b["mn_id"] for b in status["status"]["bindings"])


def _hostapd_plugin(domain: Domain) -> dict[str, Any]:
    extra = domain.mag[0].request({"cmd": "status"})["runtime"].get("plugin_status", {})
    (found,) = [v for k, v in extra.items() if "hostapd" in k]
    return dict(found)


def test_daemons_bind_the_inner_nai_and_survive_a_hostapd_restart(tmp_path: Path) -> None:
    with Domain(tmp_path / "domain", mags=1) as domain:
        domain.build()
        lab = domain.lab
        mag_host = lab.hosts["mag1"]
        sta_host = lab.add_host("sta1")
        lab.link(mag_host, "access", sta_host, "eth0")
        radius = _aaa(lab, mag_host, tmp_path)
        ap_dir = tmp_path / "ap"
        ap_dir.mkdir()
        ap = AccessPoint(mag_host, "access", ap_dir, hostapd_radius_lines(AAA_ADDR, AP_ADDR))
        ap.start()
        mag = domain.mag[0]
        mag.config_text += (
            "\n[plugin.hostapd]\n"
            f'control_sockets = ["{ap.ctrl_socket}"]\n'
            f'client_dir = "{ap_dir}"\n'
            "ping_interval_s = 0.5\nreconnect_max_s = 0.5\n"
        )
        domain.start()
        lma = domain.lma
        assert lma is not None
        hostapd_log = ap_dir / "hostapd.log"

        # a wrong password: EAP failure at the authenticator, and no binding anywhere
        _set_mac(sta_host, "eth0", BAD_MAC)
        bad = _supplicant(sta_host, tmp_path, radius, "PEAP", password="not-alices")
        bad.start()
        wait_for(
            lambda: _hostapd_plugin(domain)["eap_failures"] >= 1, 30, "the MAG to see the failure"
        )
        assert hostapd_events(hostapd_log, "CTRL-EVENT-EAP-FAILURE2", BAD_MAC) >= 1
        bad.stop()
        assert _mn_ids(_cli_status(domain, "mag")) == []
        assert mag.request({"cmd": "status"})["runtime"]["mag"]["attach_requests"] == 0
        assert lma.bindings() == {}

        # the right password (a new MAC: hostapd holds the failed one in its quiet period)
        _set_mac(sta_host, "eth0", GOOD_MAC)
        sta = _supplicant(sta_host, tmp_path, radius, "PEAP")
        sta.start()

        def bound() -> bool:
            at_mag, at_lma = mag.bindings().get(NAI, {}), lma.bindings().get(NAI, {})
            return at_mag.get("state") == "bound" and at_lma.get("state") == "registered"

        wait_for(bound, 30, "the inner NAI bound on MAG and LMA")
        assert _mn_ids(_cli_status(domain, "mag")) == [NAI]
        assert _mn_ids(_cli_status(domain, "lma")) == [NAI]
        assert mag.bindings()[NAI]["mac"] == GOOD_MAC
        before = lma_binding_view(lma.bindings()[NAI])
        registrations = lma.bindings()[NAI]["registrations"]

        # hostapd crashes (no event at all) and comes back without any station
        ap.stop(signal.SIGKILL)
        ap.start()
        wait_for(lambda: _hostapd_plugin(domain)["resyncs"] >= 2, 20, "re-sync after restart")
        # hostapd lists no authorized station: the MAG let the binding go (de-registration)
        assert ap.authorized() == set()
        wait_for(lambda: mag.bindings() == {}, 10, "the MAG to let go")
        assert lma.bindings()[NAI]["state"] == "deregistered-waiting"  # MinDelayBeforeBCEDelete

        # the station re-authenticates with the new hostapd (as after a Wi-Fi re-association)
        successes = hostapd_events(hostapd_log, "CTRL-EVENT-EAP-SUCCESS2", GOOD_MAC)
        sta.cli("reauthenticate")
        wait_for(bound, 30, "the binding re-established")
        assert hostapd_events(hostapd_log, "CTRL-EVENT-EAP-SUCCESS2", GOOD_MAC) > successes

        # no leak: one binding per end, as many as hostapd has authorized stations
        mag_view, lma_view = _cli_status(domain, "mag"), _cli_status(domain, "lma")
        assert _mn_ids(mag_view) == _mn_ids(lma_view) == [NAI]
        assert len(mag_view["status"]["bindings"]) == len(ap.authorized()) == 1
        assert lma_binding_view(lma.bindings()[NAI]) == before  # same HNP after the re-sync
        assert lma.bindings()[NAI]["registrations"] > registrations
        plugin = _hostapd_plugin(domain)
        assert plugin["stations"] == 1 and plugin["connected"] == 1
        assert plugin["attach"] - plugin["detach"] == 1

        # the same station re-authenticates as bob: the binding moves to bob's NAI
        sta.cli("set_network", "0", "identity", '"bob@example.net"')
        sta.cli("set_network", "0", "password", '"bob-secret"')
        sta.cli("reauthenticate")
        wait_for(lambda: set(mag.bindings()) == {"bob@example.net"}, 30, "bob's binding")
        wait_for(
            lambda: lma.bindings().get("bob@example.net", {}).get("state") == "registered",
            10,
            "bob at the LMA",
        )
        assert lma.bindings()[NAI]["state"] == "deregistered-waiting"
        registered = [b for b in lma.bindings().values() if b["state"] == "registered"]
        assert len(registered) == len(mag.bindings()) == len(ap.authorized()) == 1
        assert mag.proc is not None and mag.proc.poll() is None
