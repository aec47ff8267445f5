"""A whole PMIPv6 domain in namespaces: one LMA, N MAGs, real daemons.

The LMA namespace has one veth to every MAG namespace (a star), with
documentation addresses: IPv6 ``2001:db8:f<i>::1`` (LMA side) and ``::2`` (MAG
``i``), or IPv4 ``192.0.2.<4i+1>/30`` and ``.<4i+2>`` for the IPv4 transport of
RFC 5844 section 4. Daemons run as ``mag-ap run`` / ``mag-ap lma`` processes and
are driven through their control sockets. Used by netns tests, benchmarks and
the demo; ``close()`` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from types import TracebackType
from typing import Any

from mag_ap.runtime.control import NoDaemonError, request

from .topology import Host, Lab, LabError, require_tool, wait_for


def mag_ap_command() -> list[str]:
    """How to start the CLI: the venv's console script, else ``python -m mag_ap``."""
    script = Path(sys.executable).parent / "mag-ap"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mag_ap"]


@dataclass
class Daemon:
    """One mag-ap daemon in a lab host."""

    role: str  # "mag" | "lma"
    host: Host
    workdir: Path
    config_text: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def config(self) -> Path:
        return self.workdir / f"{self.role}.toml"

    @property
    def socket(self) -> Path:
        return self.workdir / "control.sock"

    @property
    def log(self) -> Path:
        return self.workdir / "daemon.log"

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the daemon and wait until its control socket answers."""
        self.config.write_text(self.config_text)
        sub = "run" if self.role == "mag" else "lma"
        self.proc = self.host.spawn([*mag_ap_command(), sub, "-c", str(self.config)], self.log)
        self.starts += 1

        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                return bool(self.request({"cmd": "status"}).get("ok"))
            except (NoDaemonError, OSError):
                return False

        wait_for(answers, timeout_s, f"{self.host.name} control socket")

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM (graceful stop) and the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        """SIGKILL: the process dies with no de-registration at all."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def request(self, payload: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        return request(self.socket, payload, timeout_s=timeout_s)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``mag-ap ARGS -s <control socket>``: the operator's way in, through the real CLI."""
        out = subprocess.run(
            [*mag_ap_command(), *args, "-s", str(self.socket)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if check and out.returncode != 0:
            raise RuntimeError(
                f"mag-ap {' '.join(args)}: exit {out.returncode}: {out.stderr}\n"
                f"--- {self.role} log ---\n{self.log_text()}"
            )
        return out

    def status(self) -> dict[str, Any]:
        answer = self.request({"cmd": "status"})
        if not answer.get("ok"):
            raise RuntimeError(f"status refused: {answer}")
        body: dict[str, Any] = answer["status"]
        return body

    def bindings(self) -> dict[str, dict[str, Any]]:
        """Bindings by MN-ID."""
        return {b["mn_id"]: b for b in self.status()["bindings"]}

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.status()["counters"]
        return result

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Domain:
    """LMA + MAGs in namespaces. ``transport`` is "ipv6" or "ipv4"."""

    workdir: Path
    mags: int = 2
    transport: str = "ipv6"
    lma_extra: str = ""  # extra TOML lines for [lma]
    mag_extra: str = ""  # extra TOML lines for [mag]
    profile_extra: str = ""  # extra TOML lines for [plugin.localpolicy.default]
    log_formats: dict[str, str] = field(default_factory=dict)  # role -> "text"; default "json"
    lab: Lab = field(default_factory=Lab)
    lma: Daemon | None = None
    mag: list[Daemon] = field(default_factory=list)

    def __enter__(self) -> Domain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.lab.close()

    # --- addressing ---------------------------------------------------------------

    def lma_address(self, i: int = 1) -> str:
        """The LMA's address on the link to MAG ``i``."""
        if self.transport == "ipv4":
            return str(IPv4Address("192.0.2.0") + 4 * i + 1)
        return f"2001:db8:f{i}::1"

    def mag_address(self, i: int) -> str:
        if self.transport == "ipv4":
            return str(IPv4Address("192.0.2.0") + 4 * i + 2)
        return f"2001:db8:f{i}::2"

    def lma_service_address(self) -> str:
        """The LMA address every MAG uses (LMAA): a loopback-style address on the LMA."""
        return "192.0.2.250" if self.transport == "ipv4" else "2001:db8:ff::1"

    # --- building -----------------------------------------------------------------

    def build(self) -> None:
        """Namespaces, links, addresses and routes; no daemons yet."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        lma_host = self.lab.add_host("lma")
        service = self.lma_service_address()
        family = "-4" if self.transport == "ipv4" else "-6"
        plen = "32" if self.transport == "ipv4" else "128"
        lma_host.ip("addr", "add", f"{service}/{plen}", "dev", "lo")
        for i in range(1, self.mags + 1):
            host = self.lab.add_host(f"mag{i}")
            self.lab.link(lma_host, f"to-mag{i}", host, "uplink")
            link_plen = "30" if self.transport == "ipv4" else "64"
            lma_host.ip("addr", "add", f"{self.lma_address(i)}/{link_plen}", "dev", f"to-mag{i}")
            host.ip("addr", "add", f"{self.mag_address(i)}/{link_plen}", "dev", "uplink")
            host.ip(family, "route", "add", f"{service}/{plen}", "via", self.lma_address(i))
        self._write_configs()

    def _write_configs(self) -> None:
        service = self.lma_service_address()
        lma_dir = self.workdir / "lma"
        lma_dir.mkdir(exist_ok=True)
        self.lma = Daemon(
            "lma",
            self.lab.hosts["lma"],
            lma_dir,
            self._head("lma", lma_dir) + f'[lma]\nown_address = "{service}"\n' + self.lma_extra,
        )
        self.mag = []
        for i in range(1, self.mags + 1):
            mag_dir = self.workdir / f"mag{i}"
            mag_dir.mkdir(exist_ok=True)
            text = (
                self._head("mag", mag_dir)
                + f'[mag]\nown_address = "{self.mag_address(i)}"\n'
                + self.mag_extra
                + f'\n[plugin.localpolicy]\nlma_address = "{service}"\n'
                + "[plugin.localpolicy.default]\n"
                + self.profile_extra
            )
            self.mag.append(Daemon("mag", self.lab.hosts[f"mag{i}"], mag_dir, text))

    def _head(self, role: str, directory: Path) -> str:
        return (
            f'[daemon]\nrole = "{role}"\ncontrol_socket = "{directory / "control.sock"}"\n'
            f'state_dir = "{directory / "state"}"\ntransport = "{self.transport}"\n'
            f'log_level = "debug"\nlog_format = "{self.log_formats.get(role, "json")}"\n'
        )

    def start(self) -> None:
        assert self.lma is not None
        self.lma.start()
        for daemon in self.mag:
            daemon.start()

    # --- driving ------------------------------------------------------------------

    def attach(self, mag: int, mac: str, mn_id: str, wait_s: float = 5.0) -> dict[str, Any]:
        return self.mag[mag - 1].request(
            {"cmd": "attach", "mac": mac, "mn_id": mn_id, "wait_s": wait_s},
            timeout_s=wait_s + 5,
        )

    def detach(self, mag: int, mac: str) -> dict[str, Any]:
        return self.mag[mag - 1].request({"cmd": "detach", "mac": mac})

    def capture(self, host: str, ifname: str, path: Path) -> subprocess.Popen[bytes]:
        """tshark writing the MH traffic of one interface to ``path`` (stopped on close)."""
        require_tool("tshark")
        filt = "udp port 5436" if self.transport == "ipv4" else "ip6 proto 135"
        log = path.with_suffix(".log")
        proc = self.lab.hosts[host].spawn(
            ["tshark", "-q", "-i", ifname, "-f", filt, "-w", str(path)], log
        )
        wait_for(
            lambda: "Capture started" in log.read_text(errors="replace"), 30, "tshark to start"
        )
        return proc


@contextlib.contextmanager
def domain_of_one(
    workdir: Path,
    transport: str = "ipv6",
    *,
    lma_extra: str = "",
    mag_extra: str = "",
    profile_extra: str = "",
    **log_formats: str,
) -> Iterator[Domain]:
    """An LMA and one MAG over one veth, built (daemons not started), closed however
    the body ends; an LMA entry goes at once (MinDelayBeforeBCEDelete 0).

    ``log_formats``: ``lma="text"``, ``mag="json"``. Raises when a namespace of it
    is left behind.
    """
    domain = Domain(
        workdir,
        mags=1,
        transport=transport,
        lma_extra="min_delay_before_bce_delete_s = 0\n" + lma_extra,
        mag_extra=mag_extra,
        profile_extra=profile_extra,
        log_formats=log_formats,
    )
    try:
        domain.build()
        yield domain
    finally:
        domain.close()
        left = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        ).stdout
        if domain.lab.prefix + "-" in left:
            raise LabError(f"namespaces left behind: {left}")


def start_checked(domain: Domain) -> tuple[Daemon, Daemon]:
    """``check-config`` passes for both configs; the LMA, then the MAGs, start and log ready.

    Returns the LMA and the first MAG.
    """
    assert domain.lma is not None
    daemons = [domain.lma, *domain.mag]
    for daemon in daemons:
        daemon.config.write_text(daemon.config_text)
        out = subprocess.run(
            [*mag_ap_command(), "check-config", "-c", str(daemon.config)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if out.returncode != 0 or out.stdout.strip() != "ok":
            raise LabError(f"check-config {daemon.config}: {out.stdout}{out.stderr}")
    for daemon in daemons:
        daemon.start()
        if "ready" not in daemon.log_text():
            raise LabError(f"{daemon.role} answers but never logged ready:\n{daemon.log_text()}")
    return domain.lma, domain.mag[0]


def cli_status(daemon: Daemon) -> dict[str, Any]:
    """``mag-ap status --json`` (the operator's view, through the CLI)."""
    answer: dict[str, Any] = json.loads(daemon.cli("status", "--json").stdout)
    if answer.get("ok") is not True:
        raise LabError(f"status refused: {answer}")
    return answer


def cli_bindings(daemon: Daemon) -> list[dict[str, Any]]:
    """The binding rows of ``mag-ap status --json``."""
    rows: list[dict[str, Any]] = cli_status(daemon)["status"]["bindings"]
    return rows


def one(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    """The row whose ``key`` is ``value``, None if there is none; two are an error."""
    found = [row for row in rows if row.get(key) == value]
    if len(found) > 1:
        raise LabError(f"{len(found)} rows with {key} = {value}: {rows}")
    return found[0] if found else None


def lma_binding_view(binding: dict[str, Any]) -> tuple[Any, ...]:
    """The part of a binding both ends must agree on (MN-ID, HNP, IPv4 HoA)."""
    return (binding["mn_id"], binding.get("hnp"), binding.get("ipv4_hoa"))


def as_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)


__all__ = [
    "Daemon",
    "Domain",
    "cli_bindings",
    "cli_status",
    "domain_of_one",
    "lma_binding_view",
    "mag_ap_command",
    "one",
    "start_checked",
]
