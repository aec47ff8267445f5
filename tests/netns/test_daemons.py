"""The real thing: `mag-ap lma` and `mag-ap run` in two network namespaces, over a veth.

Real processes, real raw protocol-135 sockets (or UDP 5436 for the IPv4
transport), real control sockets driven by the real CLI. Every namespace and
process is created with a unique prefix and removed in the fixture's teardown,
also when a test fails. Addresses are documentation prefixes inside the
namespaces only. Needs root: without it the tests FAIL (never skip).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool

MAG_AP = str(Path(sys.executable).parent / "mag-ap")
MAC = "02:00:00:00:00:01"
MN_ID = "mn1@example.org"
_serial = itertools.count()

ADDRESSES = {
    "ipv6": {"lma": "2001:db8:77::1", "mag": "2001:db8:77::2", "plen": 64},
    "ipv4": {"lma": "192.0.2.1", "mag": "192.0.2.2", "plen": 24},
}


def _run(argv: list[str], check: bool = True, timeout_s: float = 20.0) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def _wait_for(cond: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``cond`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Daemon:
    """One daemon process in a namespace, with its config, socket and log."""

    role: str
    netns: str
    config: Path
    socket: Path
    log: Path
    state_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        sub = "run" if self.role == "mag" else "lma"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, MAG_AP, sub, "-c", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [MAG_AP, *args, "-s", str(self.socket)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"mag-ap {' '.join(args)}: exit {out.returncode}: {out.stderr}\n"
                f"--- {self.role} log ---\n{self.log_text()}"
            )
        return out

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.cli("status", "--json").stdout)
        assert answer["ok"] is True
        return answer

    def bindings(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.status()["status"]["bindings"]
        return rows

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.role} exited with {self.proc.returncode}:\n{self.log_text()}"
                )
            if not self.socket.exists():
                return False
            return self.cli("status", "--json", check=False).returncode == 0

        _wait_for(answers, timeout_s, f"the {self.role} control socket")
        assert "ready" in self.log_text()

    def terminate(self, timeout_s: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)  # ip netns exec execs: this is the daemon
        return self.proc.wait(timeout=timeout_s)


@dataclass
class Lab:
    """Two namespaces and one veth, with a unique prefix; ``close`` removes it all."""

    tmp: Path
    transport: str
    prefix: str = field(default_factory=lambda: f"mt{os.getpid() % 10000}{next(_serial)}")
    namespaces: list[str] = field(default_factory=list)
    daemons: dict[str, Daemon] = field(default_factory=dict)

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def build(self) -> None:
        for name in ("lma", "mag"):
            netns = self.ns(name)
            _run(["ip", "netns", "add", netns])
            self.namespaces.append(netns)
            _run(["ip", "-n", netns, "link", "set", "lo", "up"])
        lma_if, mag_if = f"{self.prefix}l", f"{self.prefix}m"
        peer = ["peer", "name", mag_if, "netns", self.ns("mag")]
        _run(["ip", "link", "add", lma_if, "netns", self.ns("lma"), "type", "veth", *peer])
        addrs = ADDRESSES[self.transport]
        for name, ifname in (("lma", lma_if), ("mag", mag_if)):
            netns = self.ns(name)
            extra = ["nodad"] if self.transport == "ipv6" else []
            prefix = f"{addrs[name]}/{addrs['plen']}"
            _run(["ip", "-n", netns, "addr", "add", prefix, "dev", ifname, *extra])
            _run(["ip", "-n", netns, "link", "set", ifname, "up"])

    def write_configs(
        self,
        *,
        log_format: dict[str, str],
        lma_extra: str = "",
        mag_extra: str = "",
        policy_extra: str = "",
    ) -> None:
        """Configs for both daemons; ``*_extra`` lines go into the [lma]/[mag] table,
        ``policy_extra`` (profiles) at the end of the MAG's."""
        addrs = ADDRESSES[self.transport]
        for role in ("lma", "mag"):
            directory = self.tmp / role
            directory.mkdir()
            daemon = Daemon(
                role=role,
                netns=self.ns(role),
                config=directory / f"{role}.toml",
                socket=directory / f"{role}.sock",
                log=directory / f"{role}.log",
                state_dir=directory / "state",
            )
            head = (
                f'[daemon]\nrole = "{role}"\ncontrol_socket = "{daemon.socket}"\n'
                f'state_dir = "{daemon.state_dir}"\ntransport = "{self.transport}"\n'
                f'log_level = "debug"\nlog_format = "{log_format[role]}"\n'
            )
            if role == "lma":
                body = (
                    f'[lma]\nown_address = "{addrs["lma"]}"\nmin_delay_before_bce_delete_s = 0\n'
                    + lma_extra
                )
            else:
                body = (
                    f'[mag]\nown_address = "{addrs["mag"]}"\n'
                    + mag_extra
                    + f'[plugin.localpolicy]\nlma_address = "{addrs["lma"]}"\n'
                    "[plugin.localpolicy.default]\n" + policy_extra
                )
            daemon.config.write_text(head + body)
            self.daemons[role] = daemon

    def start(self) -> tuple[Daemon, Daemon]:
        lma, mag = self.daemons["lma"], self.daemons["mag"]
        for daemon in (lma, mag):
            out = subprocess.run(
                [MAG_AP, "check-config", "-c", str(daemon.config)],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
        lma.start()
        lma.wait_ready()
        mag.start()
        mag.wait_ready()
        return lma, mag

    def close(self) -> None:
        for daemon in self.daemons.values():
            proc = daemon.proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        for netns in self.namespaces:
            for pid in _run(["ip", "netns", "pids", netns], check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "delete", netns], check=False)
        self.namespaces.clear()


@contextlib.contextmanager
def make_lab(tmp_path: Path, transport: str) -> Iterator[Lab]:
    """A built lab, torn down (processes, namespaces) however the body ends."""
    if os.geteuid() != 0:
        pytest.fail("tests/netns need root (network namespaces, raw sockets): run as root")
    require_tool("ip")
    lab = Lab(tmp_path, transport)
    try:
        lab.build()
        yield lab
    finally:
        lab.close()
        left = _run(["ip", "netns", "list"], check=False)
        assert lab.prefix + "-" not in left, f"namespaces left behind: {left}"


@pytest.fixture(params=["ipv6", "ipv4"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    with make_lab(tmp_path, request.param) as built:
        yield built


def _one(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    found = [row for row in rows if row.get(key) == value]
    assert len(found) <= 1, rows
    return found[0] if found else None


def test_attach_bind_detach_and_clean_stop(lab: Lab) -> None:
    lab.write_configs(log_format={"lma": "text", "mag": "json"})
    lma, mag = lab.start()
    addrs = ADDRESSES[lab.transport]

    started = time.monotonic()
    attach = mag.cli("attach", MAC, "--mn-id", MN_ID, "--wait", "5", "--json")
    answer = json.loads(attach.stdout)
    assert answer["ok"] and answer["settled"], answer
    bound = _wait_for(
        lambda: (b := _one(mag.bindings(), "mac", MAC)) and b["state"] == "bound" and b,
        10,
        "the MAG binding to be bound",
    )
    cli_latency_ms = (time.monotonic() - started) * 1000
    assert bound["mn_id"] == MN_ID and bound["lma"] == addrs["lma"]
    assert bound["hnp"] and bound["hnp"].endswith("/64")
    assert bound["ipv4_hoa"]
    delay_ms = bound["last_registration_delay_ms"]
    assert delay_ms is not None and 0 <= delay_ms < 1000
    where = f"[{lab.transport}] attach->bound:"
    print(f"\n{where} PBU->PBA {delay_ms:.2f} ms, control attach->settled", end=" ")
    print(f"{answer['elapsed_ms']:.2f} ms, CLI round trips {cli_latency_ms:.0f} ms")

    bce = _one(lma.bindings(), "mn_id", MN_ID)
    assert bce is not None, lma.status()
    assert bce["state"] == "registered"
    assert bce["mag"] == addrs["mag"]
    assert (bce["hnp"], bce["ipv4_hoa"]) == (bound["hnp"], bound["ipv4_hoa"])

    # The human view lists the same binding.
    table = mag.cli("status").stdout
    assert MN_ID in table and MAC in table and bound["hnp"] in table

    mag.cli("detach", MAC)
    _wait_for(lambda: not mag.bindings(), 10, "the MAG binding to go")
    _wait_for(lambda: not lma.bindings(), 10, "the LMA binding cache entry to go")
    counters = mag.status()["status"]["counters"]
    assert isinstance(counters, dict)

    assert mag.terminate() == 0, mag.log_text()
    assert lma.terminate() == 0, lma.log_text()
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
    with make_lab(tmp_path, "ipv6") as lab:
        lab.write_configs(log_format={"lma": "json", "mag": "text"})
        lma, mag = lab.start()
        mag.cli("attach", MAC, "--mn-id", MN_ID, "--wait", "5")
        assert _one(lma.bindings(), "mn_id", MN_ID) is not None
        assert mag.terminate() == 0, mag.log_text()
        _wait_for(lambda: not lma.bindings(), 5, "the LMA to drop the de-registered binding")
        assert "de-registration not acknowledged" not in mag.log_text()

        # A second start bumps the persisted restart counter (RFC 5847).
        mag.start()
        mag.wait_ready()
        assert mag.status()["runtime"]["restart_counter"] == 2
        # Stop by control command as well as by signal: both are clean.
        mag.cli("stop")
        assert mag.proc is not None and mag.proc.wait(timeout=10) == 0
        assert lma.terminate() == 0, lma.log_text()


def test_revocation_from_the_lma_reaches_the_mag(tmp_path: Path) -> None:
    with make_lab(tmp_path, "ipv6") as lab:
        lab.write_configs(log_format={"lma": "text", "mag": "text"})
        lma, mag = lab.start()
        mag.cli("attach", MAC, "--mn-id", MN_ID, "--wait", "5")
        out = lma.cli("lma", "revoke", MN_ID)
        assert f"revoking {MN_ID}" in out.stdout
        _wait_for(lambda: not mag.bindings(), 10, "the MAG to drop the revoked binding")
        _wait_for(lambda: not lma.bindings(), 10, "the LMA to finish the revocation")
        missing = lma.cli("lma", "revoke", MN_ID, check=False)
        assert missing.returncode == 1 and f"no binding for {MN_ID}" in missing.stderr
        assert mag.terminate() == 0 and lma.terminate() == 0
