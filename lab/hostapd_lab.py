"""Real hostapd (driver=wired, 802.1X) and wpa_supplicant in lab namespaces.

An access point namespace runs hostapd with its internal EAP server on one end
of a veth; each station namespace runs ``wpa_supplicant -Dwired`` on the other
end. Providers under test run in this process, in a thread with its own event
loop, reporting into a :class:`RecordingSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .topology import Host, Lab, require_tool, wait_for

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

EAP_USERS = {
    "alice@example.net": "alice-secret",
    "bob@example.net": "bob-secret",
}


@dataclass
class RecordingSink:
    """A TriggerSink that records every call (thread-safe)."""

    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def station_attached(self, mac: str, mn_id: str | None = None) -> None:
        with self.lock:
            self.calls.append(("attach", mac, mn_id))

    def station_detached(self, mac: str, reason: str = "trigger") -> None:
        with self.lock:
            self.calls.append(("detach", mac, reason))

    def of(self, kind: str, mac: str | None = None) -> list[tuple[str, str, str | None]]:
        with self.lock:
            return [c for c in self.calls if c[0] == kind and (mac is None or c[1] == mac)]

    def has(self, kind: str) -> bool:
        return bool(self.of(kind))

    def attached_now(self) -> set[str]:
        """MACs whose last call was an attach."""
        state: dict[str, bool] = {}
        with self.lock:
            for kind, mac, _ in self.calls:
                state[mac] = kind == "attach"
        return {mac for mac, up in state.items() if up}


def _enter_netns(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


class ProviderThread:
    """Runs ``provider.run(sink)`` in a private event loop; ``call`` runs coroutines there."""

    def __init__(self, provider: Any, netns: str | None = None) -> None:
        self.provider = provider
        self.netns = netns
        self.sink = RecordingSink()
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        wait_for(lambda: self.task is not None, 5, "provider task")

    def _main(self) -> None:
        if self.netns is not None:
            _enter_netns(self.netns)  # this thread only: its sockets live in the lab namespace
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.provider.run(self.sink))
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            self.loop.close()

    def alive(self) -> bool:
        return self.thread.is_alive() and self.error is None

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        if self.thread.is_alive() and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)
        assert not self.thread.is_alive(), "provider did not stop on cancel"


@dataclass
class AccessPoint:
    """hostapd (driver=wired, 802.1X) in ``host``, serving ``ifname``; files in ``workdir``."""

    host: Host
    ifname: str
    workdir: Path
    extra: str = ""
    users: dict[str, str] = field(default_factory=lambda: dict(EAP_USERS))
    peap: bool = True  # PEAP (MSCHAPv2 inside) besides MD5: needs a server certificate
    ctrl_dir_name: str = "ctrl"
    log_option: str = "-d"  # "-t": timestamps without debug output (the demo's)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ctrl_dir(self) -> Path:
        return self.workdir / self.ctrl_dir_name

    @property
    def ctrl_socket(self) -> str:
        return str(self.ctrl_dir / self.ifname)

    @property
    def log(self) -> Path:
        return self.workdir / "hostapd.log"

    def write_config(self) -> Path:
        users = self.workdir / "eap_users"
        if self.peap:
            lines = [
                f'"{u}" MD5,PEAP "{p}"\n"{u}" MSCHAPV2 "{p}" [2]\n' for u, p in self.users.items()
            ]
        else:
            lines = [f'"{u}" MD5 "{p}"\n' for u, p in self.users.items()]
        users.write_text("".join(lines))
        certificate = ""
        if self.peap:  # PEAP needs a server certificate; the supplicant does not check it
            cert, key = self.workdir / "server.pem", self.workdir / "server.key"
            if not cert.exists():
                openssl = require_tool("openssl")
                subprocess.run(
                    [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                     "-out", str(cert), "-days", "2", "-subj", "/CN=mag-ap-lab"],
                    check=True, capture_output=True, timeout=60,
                )  # fmt: skip
            certificate = f"server_cert={cert}\nprivate_key={key}\n"
        conf = self.workdir / "hostapd.conf"
        internal = int("auth_server_addr" not in self.extra)  # else EAP goes to a RADIUS server
        conf.write_text(
            f"interface={self.ifname}\ndriver=wired\nctrl_interface={self.ctrl_dir}\n"
            f"ieee8021x=1\neap_server={internal}\neap_user_file={users}\neapol_version=2\n"
            f"{certificate}logger_stdout=-1\nlogger_stdout_level=1\n{self.extra}"
        )
        return conf

    def start(self, timeout_s: float = 10.0) -> None:
        """Start hostapd and wait until it answers PING on its control socket."""
        require_tool("hostapd")
        conf = self.write_config()
        self.proc = self.host.spawn(["hostapd", self.log_option, str(conf)], self.log)
        wait_for(self._pong, timeout_s, f"hostapd on {self.host.name} answering PING")

    def _pong(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"hostapd on {self.host.name} exited {self.proc.returncode}: "
                + self.log.read_text(errors="replace")[-2000:]
            )
        if not Path(self.ctrl_socket).exists():
            return False
        return "PONG" in self.cli("ping", check=False)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop hostapd: SIGTERM deauthenticates everyone, SIGKILL is a crash (no event)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(10)
        self.proc = None

    def cli(self, *args: str, check: bool = True) -> str:
        return self.host.run(
            "hostapd_cli", "-p", str(self.ctrl_dir), "-i", self.ifname, *args, check=check
        )

    def stations(self) -> dict[str, str]:
        """MAC -> flags of every station hostapd knows (hostapd_cli all_sta)."""
        found: dict[str, str] = {}
        current = None
        for line in self.cli("all_sta", check=False).splitlines():
            if re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", line.strip().lower()):
                current = line.strip().lower()
                found[current] = ""
            elif line.startswith("flags=") and current:
                found[current] = line.split("=", 1)[1].strip()
        return found

    def authorized(self) -> set[str]:
        """MACs hostapd lists as authorized (hostapd_cli all_sta: the independent view)."""
        return {mac for mac, flags in self.stations().items() if "[AUTHORIZED]" in flags}


@dataclass
class Station:
    """``wpa_supplicant -Dwired`` on ``ifname`` of ``host``; files ``<stem>*`` in ``workdir``."""

    host: Host
    ifname: str
    workdir: Path
    identity: str
    password: str
    eap: str = "MD5"
    phase2: str = ""  # inner method of a tunnelled EAP; PEAP alone means MSCHAPv2 inside
    anonymous_identity: str = ""  # outer identity of a tunnelled method
    ca_cert: Path | None = None  # given: the supplicant checks the server's certificate
    options: tuple[str, ...] = ("-d",)  # logging: "-d" debug, "-t" timestamps
    stem: str = ""  # file names; default ``sup-<host>``
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.stem = self.stem or f"sup-{self.host.name}"
        if self.eap == "PEAP" and not self.phase2:
            self.phase2 = "auth=MSCHAPV2"

    @property
    def mac(self) -> str:
        out = self.host.ip("-o", "link", "show", self.ifname)
        return out.split("link/ether ", 1)[1].split()[0].lower()

    @property
    def ctrl_dir(self) -> Path:
        return self.workdir / self.stem

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.stem}.log"

    def start(self) -> None:
        require_tool("wpa_supplicant")
        lines = [
            "key_mgmt=IEEE8021X",
            f"eap={self.eap}",
            f'identity="{self.identity}"',
            f'password="{self.password}"',
            "eapol_flags=0",
        ]
        if self.anonymous_identity:  # the outer identity travels in clear: keep it anonymous
            lines.append(f'anonymous_identity="{self.anonymous_identity}"')
        if self.ca_cert is not None:
            lines.append(f'ca_cert="{self.ca_cert}"')
        if self.phase2:
            lines.append(f'phase2="{self.phase2}"')
        conf = self.workdir / f"{self.stem}.conf"
        body = "".join(f"  {line}\n" for line in lines)
        conf.write_text(f"ctrl_interface={self.ctrl_dir}\nap_scan=0\nnetwork={{\n{body}}}\n")
        self.proc = self.host.spawn(
            ["wpa_supplicant", *self.options, "-Dwired", f"-i{self.ifname}", f"-c{conf}"],
            self.log,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        self.proc = None

    def cli(self, *args: str, check: bool = True) -> str:
        return self.host.run(
            "wpa_cli", "-p", str(self.ctrl_dir), "-i", self.ifname, *args, check=check
        )

    def logoff(self) -> None:
        self.cli("logoff")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def successes(self) -> int:
        return self.log_text().count("CTRL-EVENT-EAP-SUCCESS")

    def failures(self) -> int:
        return self.log_text().count("CTRL-EVENT-EAP-FAILURE")


def build(lab: Lab, workdir: Path, extra: str = "") -> AccessPoint:
    """An ``ap`` namespace and a ``sta1`` namespace joined by a veth (hap0 <-> eth0)."""
    ap_host = lab.add_host("ap")
    sta = lab.add_host("sta1")
    lab.link(ap_host, "hap0", sta, "eth0")
    return AccessPoint(ap_host, "hap0", workdir, extra)


def start_radius_server(ap: AccessPoint, port: int, secret: str) -> None:
    """hostapd's own RADIUS authentication server (driver=none) on 127.0.0.1 of the AP.

    The OpenWrt shape: the authenticator sends EAP to an external RADIUS server,
    so its ``sm->identity`` (and with it accounting's User-Name) is the EAP identity.
    """
    ap.write_config()  # the eap_users file and the certificate
    clients = ap.workdir / "radius_clients"
    clients.write_text(f"127.0.0.1/32 {secret}\n")
    conf = ap.workdir / "radius-server.conf"
    conf.write_text(
        f"driver=none\ninterface=mag-as\nradius_server_clients={clients}\n"
        f"radius_server_auth_port={port}\neap_server=1\neap_user_file={ap.workdir}/eap_users\n"
        f"server_cert={ap.workdir}/server.pem\nprivate_key={ap.workdir}/server.key\n"
    )
    ap.host.spawn(["hostapd", "-d", str(conf)], ap.workdir / "radius-server.log")
    wait_for(
        lambda: f":{port} " in ap.host.run("ss", "-Hunl", f"sport = :{port}"),
        10,
        "RADIUS server socket",
    )
