"""The shipped init script, uci-defaults and mag-ap-setup, run by busybox ash against stand-ins.

procd, uci, ubus, logger and rc.common do not run here: lab/openwrt_shims.py
has stand-ins (named so) that record what the scripts ask of them. The UCI
translation the init script calls is the real ``mag-ap uci-to-toml``, which
asks the uci stand-in for ``uci export mag-ap``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.openwrt_shims import install_shims
from mag_ap.config import load_config
from tests.conftest import ROOT, require_tool

FILES = ROOT / "openwrt/net/mag-ap/files"
SCRIPTS = [FILES / "mag-ap.init", FILES / "mag-ap.setup", FILES / "mag-ap.uci-defaults",
           ROOT / "openwrt/qemu-smoke.sh"]  # fmt: skip

# what `uci export mag-ap` prints for a working MAG configuration
EXPORT = """package mag-ap

config daemon 'daemon'
	option enabled '{enabled}'
	option role 'mag'
	option access_interface 'pmip'
	option uplink_interface 'wan'

config mag 'main'
	option own_address '2001:db8:ffff::10'
	option lifetime_s '{lifetime}'

config plugin 'localpolicy'
	option lma_address '2001:db8:ffff::1'
"""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_sh_n_and_shellcheck(script: Path) -> None:
    busybox = require_tool("busybox")
    shellcheck = require_tool("shellcheck")
    subprocess.run([busybox, "sh", "-n", str(script)], check=True)
    subprocess.run(["sh", "-n", str(script)], check=True)
    out = subprocess.run([shellcheck, str(script)], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


class Device:
    """An IPKG_INSTROOT with the stand-ins, /etc/config files and the shipped scripts."""

    def __init__(self, tmp_path: Path) -> None:
        self.busybox = require_tool("busybox")
        self.root = tmp_path / "root"
        install_shims(self.root)
        self.config = self.root / "etc/config"
        self.config.mkdir(parents=True)
        self.run_dir = tmp_path / "run"
        self.record = tmp_path / "record"
        self.record.touch()
        libexec = self.root / "usr/libexec"
        libexec.mkdir(parents=True)
        (libexec / "mag-ap-setup").write_bytes((FILES / "mag-ap.setup").read_bytes())
        (libexec / "mag-ap-setup").chmod(0o755)
        self.prog = tmp_path / "mag-ap"
        self.prog.write_text(f'#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m mag_ap "$@"\n')
        self.prog.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}",
            "IPKG_INSTROOT": str(self.root),
            "UCI_ROOT": str(self.config),
            "UCI_GET": "",
            "RECORD": str(self.record),
            "NETDEVS": "pmip=br-pmip wan=eth1",
            "STANDIN_PROG": str(self.prog),
            "STANDIN_RUN_CONFIG": str(self.run_dir / "mag-ap.toml"),
        }

    @property
    def toml(self) -> Path:
        return self.run_dir / "mag-ap.toml"

    def lines(self) -> list[str]:
        return self.record.read_text().splitlines()

    def init(self, action: str = "start") -> int:
        """``/etc/init.d/mag-ap ACTION`` through the rc.common stand-in."""
        out = subprocess.run(
            [self.busybox, "sh", str(self.root / "etc/rc.common"), str(FILES / "mag-ap.init"),
             action], env=self.env, check=False, timeout=120,
        )  # fmt: skip
        return out.returncode

    def uci_defaults(self) -> tuple[int, bool]:
        """Run uci-defaults as OpenWrt does (sourced in a subshell, deleted on success)."""
        script = self.root / "etc/uci-defaults/90-mag-ap"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_bytes((FILES / "mag-ap.uci-defaults").read_bytes())
        apply = f'cd "{script.parent}" && ( . ./90-mag-ap ) && rm -f 90-mag-ap'
        out = subprocess.run([self.busybox, "sh", "-c", apply], env=self.env, check=False,
                             timeout=60)  # fmt: skip
        return out.returncode, script.exists()

    def setup(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.busybox, "sh", str(self.root / "usr/libexec/mag-ap-setup"), *args],
            env=self.env, check=False, capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture
def device(tmp_path: Path) -> Device:
    return Device(tmp_path)


def test_start_asks_uci_and_sets_the_procd_parameters(device: Device) -> None:
    (device.config / "mag-ap").write_text(EXPORT.format(enabled=1, lifetime=3600))
    assert device.init("start") == 0
    lines = device.lines()
    procd = [line for line in lines if line.startswith("procd ")]
    init = str(FILES / "mag-ap.init")
    assert procd == [
        f"procd open_service mag-ap.init {init}",
        "procd open_instance ",
        f"procd set_param command {device.prog} run -c {device.toml}",
        "procd set_param respawn 3600 5 5",
        "procd set_param stderr 1",
        f"procd set_param file {device.toml}",
        "procd append_param netdev br-pmip",
        "procd append_param netdev eth1",
        "procd close_instance",
        "procd reload_trigger mag-ap",
        "procd interface_trigger interface.* pmip /etc/init.d/mag-ap reload",
        "procd interface_trigger interface.* wan /etc/init.d/mag-ap reload",
        "procd close_service",
    ]
    # one rule: the shell's config_load and the translation both asked `uci export`
    assert lines.count("uci -q export mag-ap") == 3  # start, translation, triggers
    assert "ubus call network.interface.pmip status" in lines
    config = load_config(device.toml)
    assert config.mag is not None and config.mag.lifetime_s == 3600
    assert config.state_dir == "/etc/mag-ap" and config.log_target == "syslog"
    assert sorted(p.name for p in device.run_dir.iterdir()) == ["mag-ap.toml"]


def test_staged_changes_reach_the_shell_and_the_daemon_alike(device: Device) -> None:
    """What `uci export` shows (a staged log_level debug) is what both sides use."""
    export = EXPORT.format(enabled=1, lifetime=3600).replace(
        "option role 'mag'", "option role 'mag'\n\toption log_level 'debug'"
    )
    (device.config / "mag-ap").write_text(export)
    assert device.init("start") == 0
    assert load_config(device.toml).log_level == "debug"


def test_disabled_service_starts_no_instance(device: Device) -> None:
    (device.config / "mag-ap").write_text(EXPORT.format(enabled=0, lifetime=3600))
    assert device.init("start") == 0
    lines = device.lines()
    assert not any(line.startswith(("procd open_instance", "procd set_param")) for line in lines)
    assert "procd reload_trigger mag-ap" in lines  # so enabling it later starts it
    assert not device.toml.exists()


def test_a_broken_config_fails_start_with_the_reason_in_the_log(device: Device) -> None:
    (device.config / "mag-ap").write_text(EXPORT.format(enabled=1, lifetime=3600))
    assert device.init("start") == 0 and device.toml.exists()
    (device.config / "mag-ap").write_text(EXPORT.format(enabled=1, lifetime=3601))
    device.record.write_text("")
    assert device.init("reload") == 1  # rc.common passes start_service's code on
    lines = device.lines()
    assert not any(line.startswith("procd open_instance") for line in lines)
    logged = [line for line in lines if line.startswith("logger")]
    assert len(logged) == 1
    assert logged[0].startswith("logger -t mag-ap -p daemon.err -- not started: ")
    assert "mag-ap.main.lifetime_s: must be a multiple of 4" in logged[0]
    assert not device.run_dir.exists() or not list(device.run_dir.iterdir())  # no stale TOML


def test_a_config_uci_cannot_read_fails_start(device: Device) -> None:
    assert device.init("start") == 1  # no /etc/config/mag-ap at all
    logged = [line for line in device.lines() if line.startswith("logger")]
    assert logged and "no 'config daemon' section" in logged[0]


def test_uci_defaults_is_deleted_only_after_it_configured_something(device: Device) -> None:
    device.env["UCI_GET"] = "mag-ap.@daemon[0].access_interface=pmip"
    (device.config / "dhcp").write_text("package dhcp\n")
    # no firewall config yet: nothing done, the script stays for the next boot, and says why
    rc, kept = device.uci_defaults()
    assert rc != 0 and kept
    lines = device.lines()
    assert not any(line.startswith("set ") for line in lines)
    logged = [line for line in lines if line.startswith("logger")]
    assert any("no uci config 'firewall' yet" in line for line in logged), logged
    assert any("runs again at the next boot" in line for line in logged), logged
    # next boot, firewall4 is there: configured, verified, deleted
    (device.config / "firewall").write_text("package firewall\n")
    rc, kept = device.uci_defaults()
    assert rc == 0 and not kept
    lines = device.lines()
    assert "set dhcp.pmip.ignore='1'" in lines and "commit firewall" in lines
    assert any("daemon.notice" in line and "configured" in line for line in lines)


def test_setup_turns_off_dhcp_and_ra_and_opens_the_firewall(device: Device) -> None:
    device.env["UCI_GET"] = (
        "mag-ap.@daemon[0].access_interface=pmip\nmag-ap.@daemon[0].firewall_zone=up"
    )
    for name in ("dhcp", "firewall"):
        (device.config / name).write_text(f"package {name}\n")
    out = device.setup()
    assert out.returncode == 0, out.stderr
    record = device.record.read_text()
    for line in (
        "set dhcp.pmip=dhcp",
        "set dhcp.pmip.ignore='1'",
        "set dhcp.pmip.dhcpv4='disabled'",
        "set dhcp.pmip.ra='disabled'",
        "set dhcp.pmip.dhcpv6='disabled'",
        "set dhcp.pmip.ndp='disabled'",
        "commit dhcp",
        "commit firewall",
    ):
        assert line in record.splitlines(), line
    rules = {}
    for line in record.splitlines():
        if line.startswith("set firewall.") and ".proto=" in line:
            rules[line.split(".")[1]] = line.split("=", 1)[1].strip("'")
    assert sorted(rules.values()) == ["135", "4", "41", "47", "esp", "udp"]
    assert "set firewall.mag_ap_udp.dest_port='5436-5437'" in record
    assert "set firewall.mag_ap_mh.family='ipv6'" in record
    assert record.count(".src='up'") == 6
    assert record.count(".target='ACCEPT'") == 6


def test_setup_dry_run_prints_the_batch_and_changes_nothing(device: Device) -> None:
    device.env["UCI_GET"] = "mag-ap.@daemon[0].access_interface=pmip"
    for name in ("dhcp", "firewall"):
        (device.config / name).write_text(f"package {name}\n")
    dry = device.setup("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "uci batch" not in device.record.read_text()  # nothing applied
    assert not any(line.startswith("logger") for line in device.lines())
    # the printed batch is exactly what a real run feeds `uci batch`
    device.record.write_text("")
    assert device.setup().returncode == 0
    applied = [line for line in device.lines() if not line.startswith(("uci ", "logger "))]
    assert applied == dry.stdout.splitlines()
    # idempotent: a second run sets the same values again, the result is the same
    store = (device.config / ".store").read_text().splitlines()
    assert device.setup().returncode == 0
    again = (device.config / ".store").read_text().splitlines()
    assert dict(x.split("=", 1) for x in again) == dict(x.split("=", 1) for x in store)


def test_setup_without_access_interface_only_opens_the_firewall(device: Device) -> None:
    (device.config / "firewall").write_text("package firewall\n")  # no dhcp needed then
    out = device.setup()
    assert out.returncode == 0, out.stderr
    record = device.record.read_text()
    assert "dhcp." not in record
    assert record.count(".src='wan'") == 6


def test_setup_refuses_a_bad_interface_name(device: Device) -> None:
    device.env["UCI_GET"] = "mag-ap.@daemon[0].access_interface=la n;x"
    out = device.setup()
    assert out.returncode == 1
    assert "access_interface: 'la n;x' is not an interface name" in out.stderr
    assert "batch" not in device.record.read_text()
    assert device.setup("--frobnicate").returncode == 2


def test_setup_creates_the_access_network_and_points_8021x_wifi_at_the_mag(
    device: Device,
) -> None:
    device.env["UCI_GET"] = "\n".join([
        "mag-ap.@daemon[0].access_interface=pmip",
        "wireless.ap_eap.network=pmip", "wireless.ap_eap.encryption=wpa2+ccmp",
        "wireless.@wifi-iface[1].network=lan pmip", "wireless.@wifi-iface[1].encryption=wpa3",
        "wireless.ap_psk.network=pmip", "wireless.ap_psk.encryption=psk2",
        "wireless.lan_eap.network=lan", "wireless.lan_eap.encryption=wpa2",
    ])  # fmt: skip
    for name in ("dhcp", "firewall", "network", "wireless"):
        (device.config / name).write_text(f"package {name}\n")
    (device.config / "wireless.show").write_text(
        "wireless.radio0=wifi-device\nwireless.ap_eap=wifi-iface\nwireless.@wifi-iface[1]=wifi-iface\n"
        "wireless.ap_psk=wifi-iface\nwireless.lan_eap=wifi-iface\n"
    )
    out = device.setup()
    assert out.returncode == 0, out.stderr
    lines = device.lines()
    # no network.pmip yet: created with its bridge, and named to the datapath plugin
    for line in ("set network.mag_ap_pmip_br.type='bridge'",
                 "set network.mag_ap_pmip_br.name='br-pmip'",
                 "set network.pmip.device='br-pmip'", "set network.pmip.proto='none'",
                 "set mag-ap.datapath.access_interface='br-pmip'",
                 "set firewall.mag_ap_access.network='pmip'",
                 "set mag-ap.radacct.address='127.0.0.1'", "set mag-ap.hostapd.identity='0'",
                 "commit network", "commit wireless", "commit mag-ap"):  # fmt: skip
        assert line in lines, line
    acct = sorted(line.split(".")[1] for line in lines if ".acct_server='127.0.0.1'" in line)
    assert acct == ["@wifi-iface[1]", "ap_eap"]  # 802.1X on pmip only: not psk, not lan
    secrets = {line.split("=", 1)[1] for line in lines if "secret=" in line}
    assert len(secrets) == 1 and len(secrets.pop()) == 34  # one generated secret, quoted
    # a second run keeps the secret and does not create the network again
    first = (device.config / ".store").read_text()
    secret = next(x for x in first.splitlines() if x.startswith("mag-ap.radacct.secret="))
    device.env["UCI_GET"] += "\nnetwork.pmip=interface\nnetwork.pmip.device=br-pmip"
    device.record.write_text("")
    assert device.setup().returncode == 0
    again = device.lines()
    assert not any(line.startswith("set network.") for line in again)
    assert f"set mag-ap.radacct.secret='{secret.split('=', 1)[1]}'" in again
