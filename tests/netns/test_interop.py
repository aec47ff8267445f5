"""The MAG against LMAs that behave like common minimal (or buggy) ones.

The reference LMA's interop switches (lma.pba_timestamps, echo_requested_hnp,
heartbeats, revocation) make it answer like an LMA from another vendor; the
real MAG and LMA processes run in two namespaces (:func:`lab.domain.domain_of_one`:
unique names, everything removed also on failure).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from lab.domain import Daemon, cli_bindings, cli_status, domain_of_one, one, start_checked
from lab.topology import wait_for
from tests.conftest import ROOT

MAC = "02:00:00:00:00:01"
MN_ID = "mn1@example.org"

MAC2 = "02:00:00:00:00:02"
MN_ID2 = "mn2@example.org"
FIXED_HNP = "2001:db8:100:77::/64"  # from the LMA's default pool, asked for by the policy
FIXED_PROFILE = f'[[plugin.localpolicy.profile]]\nmn_id = "{MN_ID}"\nhnp = "{FIXED_HNP}"\n'
FAST_HEARTBEATS = "heartbeat_interval_s = 0.3\nmissing_heartbeats_allowed = 2\n"


def _status(daemon: Daemon) -> dict[str, Any]:
    status: dict[str, Any] = cli_status(daemon)["status"]
    return status


def _counters(daemon: Daemon) -> dict[str, int]:
    counters: dict[str, int] = _status(daemon)["counters"]
    return counters


def _peer(mag: Daemon) -> dict[str, Any] | None:
    peers = _status(mag)["peers"]
    return peers[0] if peers else None


def _bound(mag: Daemon, mac: str) -> dict[str, Any] | None:
    row = one(cli_bindings(mag), "mac", mac)
    return row if row is not None and row["state"] == "bound" else None


def _attach(mag: Daemon, mac: str, mn_id: str) -> dict[str, Any]:
    out = mag.cli("attach", mac, "--mn-id", mn_id, "--wait", "5", "--json")
    answer: dict[str, Any] = json.loads(out.stdout)
    assert answer["ok"] and answer["settled"], answer
    return answer


def test_lma_echoing_the_all_zero_hnp_is_refused_and_other_bindings_stay(tmp_path: Path) -> None:
    """The issue's LMA: it answers "please assign" (::/0) with ::/0 as the granted prefix."""
    with domain_of_one(
        tmp_path / "domain",
        "ipv6",
        lma="text",
        mag="json",
        lma_extra="echo_requested_hnp = true\n",
        profile_extra=FIXED_PROFILE,
    ) as d:
        lma, mag = start_checked(d)
        # MN1's policy asks for a specific prefix: the echo is that prefix, a valid grant.
        _attach(mag, MAC, MN_ID)
        first = wait_for(lambda: _bound(mag, MAC), 10, "MN1 bound")
        assert first is not None and first["hnp"] == FIXED_HNP

        answer = _attach(mag, MAC2, MN_ID2)  # asks ::/0, gets ::/0 back
        assert answer["binding"] is None, answer  # refused: no binding row
        wait_for(lambda: _counters(mag)["pba_invalid"] == 1, 10, "the refusal to be counted")
        # The MAG told the LMA to drop what it granted (lifetime 0): only MN1 is left there.
        wait_for(lambda: [b["mn_id"] for b in cli_bindings(lma)] == [MN_ID], 10, "MN2's BCE to go")
        rows = cli_bindings(mag)
        assert [(r["mac"], r["state"], r["hnp"]) for r in rows] == [(MAC, "bound", FIXED_HNP)]
        records = [json.loads(line) for line in mag.log_text().splitlines()]
        refusals = [r for r in records if r["msg"].startswith("PBA refused: hnp: ::/0")]
        assert len(refusals) == 1 and refusals[0]["fields"]["field"] == "hnp", refusals
        ups = [r for r in records if r["msg"] == "binding up"]
        assert [u["fields"]["mac"] for u in ups] == [MAC], ups  # nothing for MN2 was installed
        assert any(r["msg"] == "binding rejected" and r["fields"]["mac"] == MAC2 for r in records)
        assert mag.stop() == 0 and lma.stop() == 0


def test_lma_dropping_heartbeats_is_marked_unsupported_not_restarted(tmp_path: Path) -> None:
    with domain_of_one(
        tmp_path / "domain",
        "ipv6",
        lma="text",
        mag="text",
        lma_extra='heartbeats = "drop"\n',
        mag_extra=FAST_HEARTBEATS,
    ) as d:
        lma, mag = start_checked(d)
        _attach(mag, MAC, MN_ID)
        peer = wait_for(
            lambda: (p := _peer(mag)) and p["heartbeats"] == "unsupported" and p,
            15,
            "the LMA to be marked as not speaking RFC 5847",
        )
        assert peer and peer["next_heartbeat_in_s"] is None  # no request is scheduled any more
        counters = _counters(mag)
        assert counters["heartbeat_unsupported"] == 1
        assert counters["heartbeat_losses"] == 0 and counters["peer_restarts"] == 0
        assert counters["heartbeat_requests_sent"] == 2  # MISSING_HEARTBEATS_ALLOWED of them
        wait_for(lambda: _counters(lma)["heartbeats_ignored"] == 2, 10, "both requests at the LMA")
        assert _bound(mag, MAC) is not None
        log = mag.log_text()
        assert "peer restarted" not in log and "stopped answering heartbeats" not in log
        assert "RFC 5847 unsupported" in log
        assert mag.stop() == 0 and lma.stop() == 0


def test_lma_answering_heartbeats_with_binding_error_is_marked_at_once(tmp_path: Path) -> None:
    with domain_of_one(
        tmp_path / "domain",
        "ipv6",
        lma="text",
        mag="text",
        lma_extra='heartbeats = "binding_error"\n',
        mag_extra=FAST_HEARTBEATS,
    ) as d:
        lma, mag = start_checked(d)
        _attach(mag, MAC, MN_ID)
        wait_for(
            lambda: (p := _peer(mag)) and p["heartbeats"] == "unsupported",
            15,
            "the Binding Error to stop the heartbeats",
        )
        counters = _counters(mag)
        assert counters["heartbeat_requests_sent"] == 1  # the first one got the Binding Error
        assert counters["binding_errors_received"] == 1
        assert counters["heartbeat_unsupported"] == 1 and counters["peer_restarts"] == 0
        assert _bound(mag, MAC) is not None
        assert mag.stop() == 0 and lma.stop() == 0


def test_sequence_number_only_lma_without_pba_timestamps(tmp_path: Path) -> None:
    """Our MAG in its default timestamp mode, against an LMA that ignores timestamps."""
    with domain_of_one(
        tmp_path / "domain",
        "ipv6",
        lma="text",
        mag="text",
        lma_extra="use_timestamps = false\npba_timestamps = false\n",
    ) as d:
        lma, mag = start_checked(d)
        _attach(mag, MAC, MN_ID)
        _attach(mag, MAC2, MN_ID2)
        for mac in (MAC, MAC2):
            assert _bound(mag, mac) is not None
        counters = _counters(mag)
        assert counters["pba_without_timestamp"] == 2 and counters["pba_invalid"] == 0
        assert mag.log_text().count("LMA answers without Timestamp option") == 1
        mag.cli("detach", MAC)
        wait_for(lambda: one(cli_bindings(lma), "mn_id", MN_ID) is None, 10, "de-registration")
        assert mag.stop() == 0 and lma.stop() == 0


def test_sequence_number_mode_mag_against_it(tmp_path: Path) -> None:
    with domain_of_one(
        tmp_path / "domain",
        "ipv4",
        lma="text",
        mag="text",
        lma_extra="use_timestamps = false\npba_timestamps = false\n",
        mag_extra="use_timestamps = false\n",
    ) as d:
        lma, mag = start_checked(d)
        _attach(mag, MAC, MN_ID)
        assert _bound(mag, MAC) is not None
        assert _counters(mag)["pba_without_timestamp"] == 0
        assert mag.stop() == 0 and lma.stop() == 0


def test_lma_without_revocation(tmp_path: Path) -> None:
    with domain_of_one(
        tmp_path / "domain", "ipv6", lma="text", mag="text", lma_extra="revocation = false\n"
    ) as d:
        lma, mag = start_checked(d)
        _attach(mag, MAC, MN_ID)
        out = lma.cli("lma", "revoke", MN_ID, check=False)
        assert out.returncode == 1 and "revocation is switched off" in out.stderr, out
        assert _counters(mag)["bri_received"] == 0
        bound = _bound(mag, MAC)
        assert bound is not None
        # Without configuring it, a stale binding here lasts at most 5 minutes, not
        # the hour up to the refresh before the lifetime ends (unit-tested in full in
        # tests/unit/test_mag_stale_binding.py).
        assert 0 < bound["refresh_in_s"] <= 300.0, bound
        assert mag.stop() == 0 and lma.stop() == 0


# A raw responder that grants hostile values, one MN-ID per case (lab/hostile_lma.py).
HOSTILE_GRANTS = {
    "zero@example.org": {"hnp": "::/0", "hoa": "10.200.0.10/16", "router": "10.200.0.1"},
    "linklocal@example.org": {"hnp": "fe80::/64", "hoa": "10.200.0.11/16", "router": "10.200.0.1"},
    "multicast@example.org": {"hnp": "ff05::/64", "hoa": "10.200.0.12/16", "router": "10.200.0.1"},
    # the MAG's own link to the LMA (lab.domain: 2001:db8:f1::2/64)
    "own@example.org": {"hnp": "2001:db8:f1::/64", "hoa": "10.200.0.13/16", "router": "10.200.0.1"},
    "short@example.org": {"hnp": "2001::/16", "hoa": "10.200.0.14/16", "router": "10.200.0.1"},
    "loopback4@example.org": {"hnp": "2001:db8:100:5::/64", "hoa": "127.0.0.2/8"},
    "router@example.org": {
        "hnp": "2001:db8:100:6::/64",
        "hoa": "10.200.0.16/16",
        "router": "10.201.0.1",
    },
    "good@example.org": {
        "hnp": "2001:db8:100:7::/64",
        "hoa": "10.200.0.17/16",
        "router": "10.200.0.1",
    },
}


def test_hostile_lma_values_never_reach_the_datapath(tmp_path: Path) -> None:
    with domain_of_one(tmp_path / "domain", "ipv6", lma="text", mag="json") as d:
        responder = subprocess.Popen(
            ["ip", "netns", "exec", d.lab.hosts["lma"].netns, sys.executable, "-m",
             "lab.hostile_lma", d.lma_service_address(), json.dumps(HOSTILE_GRANTS)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            assert responder.stdout is not None
            assert responder.stdout.readline().strip() == "listening"
            mag = d.mag[0]
            mag.start()
            for i, mn_id in enumerate(HOSTILE_GRANTS):
                mag.cli("attach", f"02:00:00:00:01:{i:02x}", "--mn-id", mn_id, "--wait", "5")
            good = wait_for(lambda: _bound(mag, "02:00:00:00:01:07"), 10, "the good grant")
            assert good is not None and good["hnp"] == "2001:db8:100:7::/64"
            hostile = len(HOSTILE_GRANTS) - 1
            wait_for(lambda: _counters(mag)["pba_invalid"] == hostile, 10, "every refusal")
            wait_for(lambda: len(cli_bindings(mag)) == 1, 10, "the de-registrations to finish")
            records = [json.loads(line) for line in mag.log_text().splitlines()]
            refused = {
                r["fields"]["mn_id"]: r["msg"]
                for r in records
                if r["msg"].startswith("PBA refused")
            }
            assert set(refused) == set(HOSTILE_GRANTS) - {"good@example.org"}, refused
            expected = {
                "zero@example.org": "hnp: ::/0",
                "linklocal@example.org": "link-local",
                "multicast@example.org": "multicast",
                "own@example.org": "own network",
                "short@example.org": "prefix length",
                "loopback4@example.org": "ipv4_hoa: 127.0.0.2/8 is loopback",
                "router@example.org": "ipv4_default_router: 10.201.0.1 is outside",
            }
            for mn_id, words in expected.items():
                assert words in refused[mn_id], (mn_id, refused[mn_id])
            ups = [r["fields"]["mn_id"] for r in records if r["msg"] == "binding up"]
            assert ups == ["good@example.org"]
            assert mag.stop() == 0
        finally:
            responder.kill()
            responder.wait(timeout=10)
