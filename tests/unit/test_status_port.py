"""The status port answers the status line to holders of the token, and nothing to others."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from mag_ap.plugins import DEFAULT_PLUGINS
from mag_ap.runtime.control import ControlServer, Request, Response
from mag_ap.runtime.status_port import StatusPort, token_path
from tests.conftest import ROOT


async def _status(request: Request) -> Response:
    del request
    return {"role": "mag", "status": {"bindings": [], "big": 2**70, "nan": float("nan")}}


async def _ask(port: int, line: bytes) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(line)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    answer: dict[str, Any] = json.loads(data)
    return answer


def test_token_holders_get_the_status_and_others_an_error(tmp_path: Path) -> None:
    async def main() -> None:
        control = ControlServer(tmp_path / "c.sock", {"status": _status})
        await control.start()
        token_file = token_path(str(tmp_path / "c.sock"))
        port_server = StatusPort(0, control, token_file)
        await port_server.start()
        try:
            assert port_server._server is not None
            port = port_server._server.sockets[0].getsockname()[1]
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            token = token_file.read_bytes()
            answer = await _ask(port, token)
            # the control socket's answer, blobmsg-safe: huge integer as text, NaN as null
            status: dict[str, Any] = {"bindings": [], "big": str(2**70), "nan": None}
            assert answer == {"ok": True, "role": "mag", "status": status}
            assert control.counters["requests"] == 1
            assert await _ask(port, b"guess\n") == {
                "ok": False,
                "error": "status port: wrong token",
            }
            assert (await _ask(port, b""))["ok"] is False  # no token at all
            assert port_server.counters == {"answered": 1, "refused": 2}
        finally:
            await port_server.close()
            await control.close()
        assert not token_file.exists()

    asyncio.run(main())


def test_a_taken_status_port_refuses_the_start_with_the_key(tmp_path: Path) -> None:
    """A real MAG daemon (IPv4 transport, no root needed) whose status port is taken."""
    keep = ("mag_ap_localpolicy", "mag_ap_macnai", "mag_ap_nulldatapath")
    net = f"127.{random.randint(32, 250)}.{random.randint(1, 250)}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "mag.toml"
        config.write_text(
            f'[daemon]\nrole = "mag"\ntransport = "ipv4"\n'
            f'control_socket = "{tmp_path / "c.sock"}"\nstate_dir = "{tmp_path / "s"}"\n'
            f'status_port = {port}\n[mag]\nown_address = "{net}.2"\n'
            f"[plugins]\ndisabled = {json.dumps([p for p in DEFAULT_PLUGINS if p not in keep])}\n"
            f'[plugin.localpolicy]\nlma_address = "{net}.1"\n'
        )
        out = subprocess.run(
            [sys.executable, "-m", "mag_ap", "run", "-c", str(config)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "daemon.status_port" in out.stderr
    assert not (tmp_path / "c.sock").exists()  # torn down again
