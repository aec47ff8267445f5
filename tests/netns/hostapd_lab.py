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
import signal
import subprocess
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lab.topology import Host, Lab, wait_for
from tests.conftest import require_tool

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
    """hostapd in the ``ap`` namespace, serving ``ifname``."""

    host: Host
    ifname: str
    workdir: Path
    extra: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ctrl_dir(self) -> Path:
        return self.workdir / "ctrl"

    @property
    def ctrl_socket(self) -> str:
        return str(self.ctrl_dir / self.ifname)

    def write_config(self) -> Path:
        users = self.workdir / "eap_users"
        users.write_text(
            "".join(
                f'"{u}" MD5,PEAP "{p}"\n"{u}" MSCHAPV2 "{p}" [2]\n' for u, p in EAP_USERS.items()
            )
        )
        cert, key = self.workdir / "server.pem", self.workdir / "server.key"
        if not cert.exists():  # PEAP needs a server certificate; the supplicant does not check it
            subprocess.run(
                [require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=mag-ap-lab"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        conf = self.workdir / "hostapd.conf"
        internal = int("auth_server_addr" not in self.extra)  # else EAP goes to a RADIUS server
        conf.write_text(
            f"interface={self.ifname}\ndriver=wired\nctrl_interface={self.ctrl_dir}\n"
            f"ieee8021x=1\neap_server={internal}\neap_user_file={users}\neapol_version=2\n"
            f"server_cert={cert}\nprivate_key={key}\n"
            f"logger_stdout=-1\nlogger_stdout_level=1\n{self.extra}"
        )
        return conf

    def start(self) -> None:
        require_tool("hostapd")
        conf = self.write_config()
        self.proc = self.host.spawn(["hostapd", "-d", str(conf)], self.workdir / "hostapd.log")
        wait_for(self._pong, 10, "hostapd answering PING")

    def _pong(self) -> bool:
        if not Path(self.ctrl_socket).exists():
            return False
        return "PONG" in self.host.run(
            "hostapd_cli", "-p", str(self.ctrl_dir), "-i", self.ifname, "ping", check=False
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop hostapd: SIGTERM deauthenticates everyone, SIGKILL is a crash (no event)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(10)
        self.proc = None

    def cli(self, *args: str) -> str:
        return self.host.run("hostapd_cli", "-p", str(self.ctrl_dir), "-i", self.ifname, *args)

    def authorized(self) -> set[str]:
        """MACs hostapd lists as authorized (hostapd_cli all_sta: the independent view)."""
        out = self.cli("all_sta")
        macs: set[str] = set()
        current = None
        for line in out.splitlines():
            if len(line) == 17 and line.count(":") == 5:
                current = line.lower()
            elif line.startswith("flags=") and "[AUTHORIZED]" in line and current:
                macs.add(current)
        return macs


@dataclass
class Station:
    """wpa_supplicant -Dwired in its own namespace."""

    host: Host
    ifname: str
    workdir: Path
    identity: str
    password: str
    eap: str = "MD5"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def mac(self) -> str:
        out = self.host.ip("-o", "link", "show", self.ifname)
        return out.split("link/ether ", 1)[1].split()[0].lower()

    def start(self) -> None:
        require_tool("wpa_supplicant")
        conf = self.workdir / f"sup-{self.host.name}.conf"
        phase2 = '  phase2="auth=MSCHAPV2"\n' if self.eap == "PEAP" else ""
        conf.write_text(
            f"ctrl_interface={self.workdir}/sup-{self.host.name}\nap_scan=0\n"
            f'network={{\n  key_mgmt=IEEE8021X\n  eap={self.eap}\n  identity="{self.identity}"\n'
            f'  password="{self.password}"\n{phase2}  eapol_flags=0\n}}\n'
        )
        self.proc = self.host.spawn(
            ["wpa_supplicant", "-Dwired", f"-i{self.ifname}", f"-c{conf}", "-d"],
            self.workdir / f"sup-{self.host.name}.log",
        )

    def stop(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        self.proc = None

    def logoff(self) -> None:
        self.host.run(
            "wpa_cli", "-p", f"{self.workdir}/sup-{self.host.name}", "-i", self.ifname, "logoff"
        )


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
