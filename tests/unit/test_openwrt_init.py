"""The procd init script and the setup script, run by busybox sh against stand-ins.

procd, uci and netifd do not run here: lab/openwrt_shims.py records what the
scripts ask of them (a mock, named as such). The UCI translation the init script
calls is the real ``mag-ap uci-to-toml``.
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

HARNESS = r"""
. "$IPKG_INSTROOT/lib/functions.sh"
. "$INIT"
PROG="$MAGAP_PROG"
UCI_FILE="$UCI_ROOT/mag-ap"
RUN_CONFIG="$RUN_DIR/mag-ap.toml"
start_service
echo "start_rc $?" >>"$RECORD"
service_triggers
echo "triggers_rc $?" >>"$RECORD"
"""

CONFIG = """
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


def _run_init(tmp_path: Path, config: str) -> tuple[list[str], Path]:
    busybox = require_tool("busybox")
    root = tmp_path / "root"
    install_shims(root)
    uci_root = tmp_path / "etc-config"
    uci_root.mkdir()
    (uci_root / "mag-ap").write_text(config)
    run_dir = tmp_path / "run"
    prog = tmp_path / "mag-ap"
    prog.write_text(f'#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m mag_ap "$@"\n')
    prog.chmod(0o755)
    record = tmp_path / "record"
    env = {
        **os.environ,
        "IPKG_INSTROOT": str(root),
        "INIT": str(FILES / "mag-ap.init"),
        "MAGAP_PROG": str(prog),
        "UCI_ROOT": str(uci_root),
        "RUN_DIR": str(run_dir),
        "RECORD": str(record),
        "NETDEVS": "pmip=br-pmip wan=eth1",
    }
    subprocess.run([busybox, "sh", "-c", HARNESS], env=env, check=True, timeout=120)
    return record.read_text().splitlines(), run_dir / "mag-ap.toml"


def test_start_service_sets_the_procd_parameters(tmp_path: Path) -> None:
    lines, toml = _run_init(tmp_path, CONFIG.format(enabled=1, lifetime=3600))
    prog = tmp_path / "mag-ap"
    assert lines == [
        "open_instance ",
        f"set_param command {prog} run -c {toml}",
        "set_param respawn 3600 5 5",
        "set_param stdout 1",
        "set_param stderr 1",
        f"set_param file {toml}",
        "append_param netdev br-pmip",
        "append_param netdev eth1",
        "close_instance",
        "start_rc 0",
        "reload_trigger mag-ap",
        "interface_trigger interface.* pmip /etc/init.d/mag-ap reload",
        "interface_trigger interface.* wan /etc/init.d/mag-ap reload",
        "triggers_rc 0",
    ]
    config = load_config(toml)
    assert config.mag is not None and config.mag.lifetime_s == 3600
    assert sorted(p.name for p in toml.parent.iterdir()) == ["mag-ap.toml"]


def test_disabled_service_starts_no_instance(tmp_path: Path) -> None:
    lines, toml = _run_init(tmp_path, CONFIG.format(enabled=0, lifetime=3600))
    assert "start_rc 0" in lines
    assert not any(line.startswith(("open_instance", "set_param")) for line in lines)
    assert "reload_trigger mag-ap" in lines  # so enabling it later starts it
    assert not toml.exists()


def test_a_broken_config_is_logged_with_its_uci_option(tmp_path: Path) -> None:
    lines, toml = _run_init(tmp_path, CONFIG.format(enabled=1, lifetime=3601))
    assert "start_rc 1" in lines
    assert not any(line.startswith("open_instance") for line in lines)
    logged = [line for line in lines if line.startswith("logger")]
    assert logged and "mag-ap.main.lifetime_s: must be a multiple of 4" in logged[0]
    assert "-t mag-ap -p daemon.err" in logged[0]
    assert not toml.parent.exists() or not list(toml.parent.iterdir())


def test_no_daemon_section_fails_start(tmp_path: Path) -> None:
    lines, _ = _run_init(tmp_path, "config mag 'main'\n")
    assert "start_rc 1" in lines and "triggers_rc 0" in lines
    assert not any(line.startswith("interface_trigger") for line in lines)


def _run_setup(tmp_path: Path, uci_get: str, *args: str) -> tuple[int, str, str]:
    busybox = require_tool("busybox")
    root = tmp_path / "root"
    install_shims(root)
    record = tmp_path / "record"
    record.touch()
    env = {
        **os.environ,
        "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
        "RECORD": str(record),
        "UCI_GET": uci_get,
    }
    out = subprocess.run(
        [busybox, "sh", str(FILES / "mag-ap.setup"), *args],
        env=env, check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return out.returncode, record.read_text(), out.stderr


def test_setup_turns_off_dhcp_and_ra_and_opens_the_firewall(tmp_path: Path) -> None:
    rc, record, _ = _run_setup(
        tmp_path, "mag-ap.@daemon[0].access_interface=pmip\nmag-ap.@daemon[0].firewall_zone=up"
    )
    assert rc == 0
    for line in (
        "set dhcp.pmip=dhcp",
        "set dhcp.pmip.ignore='1'",
        "set dhcp.pmip.dhcpv4='disabled'",
        "set dhcp.pmip.ra='disabled'",
        "set dhcp.pmip.dhcpv6='disabled'",
        "set dhcp.pmip.ndp='disabled'",
        "commit dhcp",
    ):
        assert line in record.splitlines(), line
    rules = {}
    for line in record.splitlines():
        if line.startswith("set firewall.") and ".proto=" in line:
            section = line.split(".")[1]
            rules[section] = line.split("=", 1)[1].strip("'")
    assert sorted(rules.values()) == ["135", "4", "41", "47", "udp"]
    assert "set firewall.mag_ap_udp.dest_port='5436-5437'" in record
    assert "set firewall.mag_ap_mh.family='ipv6'" in record
    assert record.count(".src='up'") == 5
    assert record.count(".target='ACCEPT'") == 5
    assert "uci -q commit firewall" in record


def test_setup_without_access_interface_only_opens_the_firewall(tmp_path: Path) -> None:
    rc, record, _ = _run_setup(tmp_path, "")
    assert rc == 0
    assert "dhcp." not in record
    assert record.count(".src='wan'") == 5


def test_setup_refuses_a_bad_interface_name(tmp_path: Path) -> None:
    rc, record, err = _run_setup(tmp_path, "mag-ap.@daemon[0].access_interface=la n;x")
    assert rc == 1
    assert "access_interface: 'la n;x' is not an interface name" in err
    assert "batch" not in record
