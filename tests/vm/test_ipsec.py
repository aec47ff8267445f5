"""IPsec ESP on the signalling, end to end in a guest, and its captures decoded on the host.

One dedicated guest boot runs tests/vm/guest/ipsec_scenarios.py (real daemons,
the guest kernel's esp6/esp4 and rfc4106(gcm(aes)); the host kernel has neither);
every scenario must pass there. Here tshark, an independent decoder, reads what
dumpcap saw on the LMA's links: signalling between a MAG and the LMA is only
ESP with the configured SPIs, never a cleartext Mobility Header or UDP 5436; the
forged PBUs from the third namespace crossed the wire in clear and got no answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from lab import vm
from tests.conftest import ROOT, require_tool
from tests.vm.conftest import boot, guest_failures

SCENARIOS = Path(__file__).parent / "guest" / "ipsec_scenarios.py"
TIMEOUT_S = 1200.0  # seven daemon starts under TCG: ~6.5 min of guest time on 2 busy cores


@pytest.fixture(scope="module")
def guest(vm_image: vm.VmImage, tmp_path_factory: pytest.TempPathFactory) -> vm.VmResult:
    share = tmp_path_factory.mktemp("vm-ipsec")
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
        f"--junitxml={share / 'junit.xml'}", "--durations=5", str(SCENARIOS.relative_to(ROOT)),
    ]  # fmt: skip
    return boot(vm_image, argv, share, timeout_s=TIMEOUT_S, env={"GUEST_OUT": str(share)})


def _out(guest: vm.VmResult) -> Path:
    return guest.results_dir / "ipsec"


def _facts(guest: vm.VmResult) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((_out(guest) / "facts.json").read_text())
    return facts


def _frames(pcap: Path, display_filter: str, *fields: str) -> list[list[str]]:
    """tshark's view of ``pcap``: one row of ``fields`` per frame matching ``display_filter``."""
    assert pcap.is_file(), f"no capture {pcap}"
    argv = [require_tool("tshark"), "-r", str(pcap), "-Y", display_filter, "-T", "fields"]
    for name in fields or ("frame.number",):
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_every_guest_scenario_passes(guest: vm.VmResult) -> None:
    assert guest.exit_code == 0, guest_failures(guest)
    suite = ET.parse(guest.results_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert (
        counts["tests"] == 7 and counts["failures"] + counts["errors"] + counts["skipped"] == 0
    ), guest_failures(guest)


def test_mag_lma_signalling_is_only_esp_with_the_configured_spis(guest: vm.VmResult) -> None:
    pcap = _out(guest) / "mag1-lma.pcapng"
    spis = _facts(guest)["spis"]["mag1"]
    esp = _frames(pcap, "esp", "ipv6.src", "esp.spi")
    # registration, handover revocation, de-registration: at least 3 exchanges, both ways
    assert len(esp) >= 6, esp
    by_spi = {int(spi, 16): src for src, spi in esp}
    assert by_spi == {spis["up"]: "2001:db8:f1::2", spis["down"]: "2001:db8:ff::1"}, esp
    assert _frames(pcap, "mipv6 || udp.port == 5436") == []


def test_forged_pbus_crossed_in_clear_and_got_no_answer(guest: vm.VmResult) -> None:
    pcap = _out(guest) / "evil-lma.pcapng"
    forged = _frames(pcap, "mip6.mhtype == 5 && ipv6.src == 2001:db8:fe::2")
    assert len(forged) == _facts(guest)["forged"]["sent"] == 20
    assert _frames(pcap, "ipv6.src == 2001:db8:ff::1") == []  # no PBA, no error, nothing


def test_ipv4_transport_signalling_is_only_esp(guest: vm.VmResult) -> None:
    pcap = _out(guest) / "ipv4-mag1-lma.pcapng"
    esp = _frames(pcap, "esp", "ip.src", "esp.spi")
    assert len(esp) >= 4, esp
    assert {src for src, _ in esp} == {"192.0.2.6", "192.0.2.250"}
    assert _frames(pcap, "udp.port == 5436 || mipv6") == []
