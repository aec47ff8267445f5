"""The daemon from the installed .ipk layout, on the host: uci-to-toml, run, status, ubus glue.

A stand-in for an OpenWrt device (no OpenWrt image can be downloaded here): the
main package's data.tar.gz is unpacked into a scratch root and run with
``python -S`` (no site-packages: only the payload and pluggy, like an AP with
python3-light + python3-pluggy). IPv4 transport on a random loopback address,
so no root is needed. RSS is reported, not asserted.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from mag_ap.plugins import DEFAULT_PLUGINS
from openwrt.tools import feed, ipk
from tests.conftest import require_tool


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody uses right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


VOLATILE = (("runtime", "uptime_s"), ("runtime", "control"))


def _strip(answer: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(answer))
    for section, key in VOLATILE:
        out[section].pop(key, None)
    return out


class Installed:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        site = base / "site"  # what python3-pluggy installs, nothing else
        site.mkdir()
        (site / "pluggy").symlink_to(Path(pluggy.__file__).parent)
        self.env = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
        main = feed.feed_packages()[0]
        blob = ipk.build_ipk(main, "0-r1", 0)
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as outer:
            member = outer.extractfile("./data.tar.gz")
            assert member is not None
            data = member.read()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(self.root, filter="data")

    def run(self, *args: str, stdin: str = "", extra: dict[str, str] | None = None) -> Any:
        return subprocess.run(
            [sys.executable, "-S", *args], input=stdin, check=False, capture_output=True, text=True,
            env={**self.env, **(extra or {})}, cwd=self.base, timeout=60,
        )  # fmt: skip

    def rpcd(self, *args: str, stdin: str = "", extra: dict[str, str] | None = None) -> Any:
        """The rpcd exec plugin under busybox ash, with busybox's nc (as on OpenWrt)."""
        busybox = require_tool("busybox")
        tools = self.base / "busybox-bin"
        tools.mkdir(exist_ok=True)
        if not (tools / "nc").exists():
            (tools / "nc").symlink_to(busybox)
        env = {**self.env, "PATH": f"{tools}:{os.environ['PATH']}", **(extra or {})}
        return subprocess.run(
            [busybox, "sh", str(self.root / "usr/libexec/rpcd/mag-ap"), *args], input=stdin,
            check=False, capture_output=True, text=True, env=env, cwd=self.base, timeout=60,
        )  # fmt: skip

    def mag_ap(self, *args: str) -> Any:
        return self.run(str(self.root / "usr/bin/mag-ap"), *args)


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Installed]:
    yield Installed(tmp_path)


def test_installed_layout_runs_the_daemon_and_answers_status(installed: Installed) -> None:
    base = installed.base
    net = f"127.{random.randint(32, 250)}.{random.randint(1, 250)}"
    uci = base / "mag-ap"
    uci.write_text(
        f"config daemon 'daemon'\n\toption role 'mag'\n\toption transport 'ipv4'\n"
        f"\toption control_socket '{base}/mag.sock'\n\toption state_dir '{base}/state'\n"
        f"\toption log_target 'stderr'\n\toption status_port '{free_port()}'\n"
        f"config mag 'main'\n\toption own_address '{net}.2'\n"
        f"config plugin 'localpolicy'\n\toption lma_address '{net}.1'\n"
    )
    out = installed.mag_ap("uci-to-toml", "--export", str(uci))
    assert out.returncode == 0, out.stderr
    toml = base / "run.toml"
    toml.write_text(out.stdout)
    shipped = {Path(m).name for m in feed.feed_packages()[0].modules}
    missing = [p for p in DEFAULT_PLUGINS if p not in shipped]
    assert f"disabled = {json.dumps(missing)}".replace('", "', '", "') in out.stdout

    daemon = subprocess.Popen(
        [sys.executable, "-S", str(installed.root / "usr/bin/mag-ap"), "run", "-c", str(toml)],
        env=installed.env, cwd=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(300):
            if (base / "mag.sock").exists() or daemon.poll() is not None:
                break
            time.sleep(0.05)
        assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
        status = installed.mag_ap("status", "--json", "-s", str(base / "mag.sock"))
        assert status.returncode == 0, status.stderr
        cli = json.loads(status.stdout)
        assert cli["ok"] is True and cli["role"] == "mag"
        assert set(cli["runtime"]["plugins"]) == set(DEFAULT_PLUGINS) - set(missing)
        text = installed.mag_ap("status", "-s", str(base / "mag.sock"))
        assert text.returncode == 0 and text.stdout

        rss_kib = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{daemon.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        )
        print(f"\nRSS of the MAG daemon from the installed layout: {rss_kib / 1024:.1f} MiB")

        listed = installed.rpcd("list")
        assert json.loads(listed.stdout) == {"status": {"lma": True}}
        called = installed.rpcd("call", "status", stdin="{}", extra={"MAG_AP_CONFIG": str(toml)})
        assert called.returncode == 0, called.stderr
        ubus = json.loads(called.stdout)
        assert _strip(ubus) == _strip(cli)  # `ubus call mag-ap status` == `mag-ap status --json`
        assert ubus["runtime"]["control"]["requests"] > cli["runtime"]["control"]["requests"]
    finally:
        stop = installed.mag_ap("stop", "-s", str(base / "mag.sock"))
        try:
            code = daemon.wait(timeout=20)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    assert stop.returncode == 0 and code == 0


def test_rpcd_plugin_without_a_daemon_answers_an_error_object(installed: Installed) -> None:
    toml = installed.base / "run.toml"
    port = free_port()
    toml.write_text(
        f'[daemon]\nrole = "mag"\ncontrol_socket = "{installed.base}/none.sock"\n'
        f'status_port = {port}\n[mag]\nown_address = "2001:db8::1"\n'
    )
    out = installed.rpcd("call", "status", extra={"MAG_AP_CONFIG": str(toml)})
    assert out.returncode == 0
    reply = json.loads(out.stdout)
    assert reply == {"ok": False, "error": f"no daemon at 127.0.0.1:{port} (is it running?)"}
    out = installed.rpcd("call", "status", extra={"MAG_AP_CONFIG": str(installed.base / "x")})
    assert json.loads(out.stdout)["error"].startswith("no status_port in ")
    bad = installed.rpcd("call", "frobnicate")
    assert bad.returncode == 2
