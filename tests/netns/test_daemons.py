"""The real thing: `mag-ap lma` and `mag-ap run` in two network namespaces, over a veth.

Real processes, real raw protocol-135 sockets (or UDP 5436 for the IPv4
transport), real control sockets driven by the real CLI. The namespaces are a
one-MAG :class:`lab.domain.Domain` (unique prefix, removed in the teardown,
also when a test fails). Addresses are documentation prefixes inside the
namespaces only. Needs root: without it the tests FAIL (never skip).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.domain import (
    Daemon,
    Domain,
    cli_bindings,
    cli_status,
    domain_of_one,
    one,
    start_checked,
)
from lab.topology import wait_for

MAC = "02:00:00:00:00:01"
MN_ID = "mn1@example.org"


@pytest.fixture(params=["ipv6", "ipv4"])
def domain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Domain]:
    with domain_of_one(tmp_path / "domain", request.param, lma="text", mag="json") as built:
        yield built


def _bound(mag: Daemon) -> dict[str, Any] | None:
    b = one(cli_bindings(mag), "mac", MAC)
    return b if b is not None and b["state"] == "bound" else None


def test_attach_bind_detach_and_clean_stop(domain: Domain) -> None:
    lma, mag = start_checked(domain)

    started = time.monotonic()
    attach = mag.cli("attach", MAC, "--mn-id", MN_ID, "--wait", "5", "--json")
    answer = json.loads(attach.stdout)
    assert answer["ok"] and answer["settled"], answer
    bound = wait_for(lambda: _bound(mag), 10, "the MAG binding to be bound")
    assert bound is not None
    cli_latency_ms = (time.monotonic() - started) * 1000
    assert bound["mn_id"] == MN_ID and bound["lma"] == domain.lma_service_address()
    assert bound["hnp"] and bound["hnp"].endswith("/64")
    assert bound["ipv4_hoa"]
    delay_ms = bound["last_registration_delay_ms"]
    assert delay_ms is not None and 0 <= delay_ms < 1000
    where = f"[{domain.transport}] attach->bound:"
    print(f"\n{where} PBU->PBA {delay_ms:.2f} ms, control attach->settled", end=" ")
    print(f"{answer['elapsed_ms']:.2f} ms, CLI round trips {cli_latency_ms:.0f} ms")

    bce = one(cli_bindings(lma), "mn_id", MN_ID)
    assert bce is not None, cli_status(lma)
    assert bce["state"] == "registered"
    assert bce["mag"] == domain.mag_address(1)
    assert (bce["hnp"], bce["ipv4_hoa"]) == (bound["hnp"], bound["ipv4_hoa"])

    # The human view lists the same binding.
    table = mag.cli("status").stdout
    assert MN_ID in table and MAC in table and bound["hnp"] in table

    mag.cli("detach", MAC)
    wait_for(lambda: not cli_bindings(mag), 10, "the MAG binding to go")
    wait_for(lambda: not cli_bindings(lma), 10, "the LMA binding cache entry to go")
    counters = cli_status(mag)["status"]["counters"]
    assert isinstance(counters, dict)

    assert mag.stop() == 0, mag.log_text()
    assert lma.stop() == 0, lma.log_text()
    for daemon in (mag, lma):
        assert not daemon.socket.exists(), f"{daemon.role} left its control socket"
        assert (daemon.state_dir / f"{daemon.role}.restart_counter").read_text().strip() == "1"

    # Structured logs: the MAG's are one JSON object per line.
    for line in mag.log_text().splitlines():
        record = json.loads(line)
        assert set(record) >= {"ts", "level", "msg", "fields"}, line
    assert any(json.loads(line)["msg"] == "ready" for line in mag.log_text().splitlines())
    assert " ready " in lma.log_text()


def test_sigterm_deregisters_live_bindings_and_restart_counts(tmp_path: Path) -> None:
    """A MAG stopped with a binding up sends the lifetime-0 PBU before it exits 0."""
    with domain_of_one(tmp_path / "domain", "ipv6", lma="json", mag="text") as domain:
        lma, mag = start_checked(domain)
        mag.cli("attach", MAC, "--mn-id", MN_ID, "--wait", "5")
        assert one(cli_bindings(lma), "mn_id", MN_ID) is not None
        assert mag.stop() == 0, mag.log_text()
        wait_for(lambda: not cli_bindings(lma), 5, "the LMA to drop the de-registered binding")
        assert "de-registration not acknowledged" not in mag.log_text()

        # A second start bumps the persisted restart counter (RFC 5847).
        mag.start()
        assert cli_status(mag)["runtime"]["restart_counter"] == 2
        # Stop by control command as well as by signal: both are clean.
        mag.cli("stop")
        assert mag.proc is not None and mag.proc.wait(timeout=10) == 0
        assert lma.stop() == 0, lma.log_text()


def test_revocation_from_the_lma_reaches_the_mag(tmp_path: Path) -> None:
    with domain_of_one(tmp_path / "domain", "ipv6", lma="text", mag="text") as domain:
        lma, mag = start_checked(domain)
        mag.cli("attach", MAC, "--mn-id", MN_ID, "--wait", "5")
        out = lma.cli("lma", "revoke", MN_ID)
        assert f"revoking {MN_ID}" in out.stdout
        wait_for(lambda: not cli_bindings(mag), 10, "the MAG to drop the revoked binding")
        wait_for(lambda: not cli_bindings(lma), 10, "the LMA to finish the revocation")
        missing = lma.cli("lma", "revoke", MN_ID, check=False)
        assert missing.returncode == 1 and f"no binding for {MN_ID}" in missing.stderr
        assert mag.stop() == 0 and lma.stop() == 0
