"""IPsec start-up on this host's kernel, which has XFRM but no ESP and no rfc4106(gcm(aes)).

The ESP data path itself is tested in a QEMU guest (tests/vm/test_ipsec.py). Here:
a daemon asked for IPsec on a kernel that cannot do it refuses to start with the
missing part and the OpenWrt packages named, and leaves no SA or policy behind
(the half-done install is removed); the kernel's own `in` policy, which needs no
ESP, is shown to drop an unprotected PBU before any daemon reads it.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

from lab.domain import domain_of_one
from lab.topology import wait_for


def _ipsec(peer: str) -> str:
    return (
        '\n[ipsec]\nmode = "static"\n[[ipsec.peer]]\n'
        f'address = "{peer}"\nspi_in = 0x2001\nspi_out = 0x2002\n'
        f'key_in = "{secrets.token_hex(20)}"\nkey_out = "{secrets.token_hex(20)}"\n'
    )


def test_a_kernel_without_esp_refuses_the_start_naming_the_packages(tmp_path: Path) -> None:
    with domain_of_one(tmp_path) as d:
        assert d.lma is not None
        d.lma.config_text += _ipsec(d.mag_address(1))
        with pytest.raises(RuntimeError, match="lma exited 1"):
            d.lma.start()
        log = d.lma.log_text()
        assert "cannot start: cannot install IPsec SA" in log, log
        assert "the kernel lacks the AEAD algorithm rfc4106(gcm(aes))" in log, log
        assert "kmod-ipsec kmod-ipsec4 kmod-ipsec6 kmod-crypto-gcm" in log, log
        assert '"key_path": "ipsec"' in log
        lma = d.lab.hosts["lma"]
        assert lma.ip("xfrm", "state").strip() == ""
        assert lma.ip("xfrm", "policy").strip() == ""


def test_the_in_policy_drops_an_unprotected_pbu_before_the_daemon(tmp_path: Path) -> None:
    # The policy the LMA installs for its own address, added by hand (no SA is needed to
    # refuse): a running LMA without IPsec then never sees the PBUs a MAG sends.
    with domain_of_one(tmp_path) as d:
        assert d.lma is not None
        d.lma.start()
        lma_host, mag_host = d.lab.hosts["lma"], d.lab.hosts["mag1"]
        send = [sys.executable, "-m", "lab.mhsend", d.lma_service_address(), "--valid"]
        assert int(mag_host.run(*send, "--count", "3")) == 3
        wait_for(lambda: d.lma is not None and d.lma.counters()["pbu_received"] == 3, 10, "PBUs")
        lma_host.ip(
            "xfrm", "policy", "add", "src", "::/0", "dst", f"{d.lma_service_address()}/128",
            "proto", "135", "dir", "in", "tmpl", "proto", "esp", "mode", "transport",
        )  # fmt: skip
        assert int(mag_host.run(*send, "--count", "5", "--seed", "9")) == 5
        wait_for(
            lambda: _tmpl_mismatches(lma_host.run("cat", "/proc/net/xfrm_stat")) >= 5,
            10,
            "the kernel to refuse 5 unprotected PBUs",
        )
        assert d.lma.counters()["pbu_received"] == 3
        assert d.lma.stop() == 0


def _tmpl_mismatches(xfrm_stat: str) -> int:
    """XfrmInTmplMismatch of /proc/net/xfrm_stat: packets a policy wanted IPsec for."""
    for line in xfrm_stat.splitlines():
        parts = line.split()
        if parts and parts[0] == "XfrmInTmplMismatch":
            return int(parts[1])
    raise AssertionError(f"no XfrmInTmplMismatch in {xfrm_stat!r}")
