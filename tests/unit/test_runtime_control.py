"""The control socket's line protocol, its file hygiene, the sync client and the CLI's errors."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mag_ap.mh.constants import HandoffIndicator
from mag_ap.runtime.control import (
    ControlError,
    ControlServer,
    NoDaemonError,
    Request,
    Response,
    request,
    require_str,
)
from mag_ap.runtime.daemon import _handoff_from_request
from tests.conftest import ROOT

MAG_AP = Path(sys.executable).parent / "mag-ap"


def _handlers() -> dict[str, Any]:
    async def status(req: Request) -> Response:
        return {"status": {"bindings": []}}

    async def attach(req: Request) -> Response:
        return {"mac": require_str(req, "mac")}

    async def refuse(req: Request) -> Response:
        raise ControlError("policy refused mn1")

    async def crash(req: Request) -> Response:
        raise KeyError("oops")

    return {"status": status, "attach": attach, "refuse": refuse, "crash": crash}


def _serve(tmp_path: Path, body: Any) -> Any:
    """Run ``body(server, path)`` (a coroutine function) with a started server."""

    async def main() -> Any:
        path = tmp_path / "run" / "ctl.sock"
        server = ControlServer(path, _handlers())
        await server.start()
        try:
            return await body(server, path)
        finally:
            await server.close()
        assert not path.exists()

    return asyncio.run(main())


def test_requests_and_answers(tmp_path: Path) -> None:
    async def body(server: ControlServer, path: Path) -> None:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600
        ask = asyncio.to_thread
        assert await ask(request, path, {"cmd": "status"}) == {
            "ok": True,
            "status": {"bindings": []},
        }
        assert await ask(request, path, {"cmd": "attach", "mac": "02:00:00:00:00:01"}) == {
            "ok": True,
            "mac": "02:00:00:00:00:01",
        }
        missing = await ask(request, path, {"cmd": "attach"})
        assert missing == {"ok": False, "error": '"mac" (a non-empty string) is required'}
        assert await ask(request, path, {"cmd": "refuse"}) == {
            "ok": False,
            "error": "policy refused mn1",
        }
        crash = await ask(request, path, {"cmd": "crash"})
        assert crash["ok"] is False and crash["error"].startswith("internal error: KeyError")
        unknown = await ask(request, path, {"cmd": "fly"})
        assert unknown["ok"] is False and "unknown command 'fly'" in unknown["error"]
        assert "attach, crash, refuse, status" in unknown["error"]
        nocmd = await ask(request, path, {"mac": "x"})
        assert nocmd == {"ok": False, "error": 'request needs "cmd" (a string)'}
        assert server.counters["requests"] == 7

    _serve(tmp_path, body)


def test_garbage_lines_get_errors_on_the_same_connection(tmp_path: Path) -> None:
    async def body(server: ControlServer, path: Path) -> list[Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"not json\n\n[1, 2]\n" + b'{"cmd": "status"}\n' + b"\xff\xfe\n")
        await writer.drain()
        answers = [json.loads(await reader.readline()) for _ in range(4)]
        writer.close()
        await writer.wait_closed()
        return answers

    answers = _serve(tmp_path, body)
    assert answers[0]["ok"] is False and answers[0]["error"].startswith("request is not JSON")
    assert answers[1] == {"ok": False, "error": "request must be a JSON object"}
    assert answers[2]["ok"] is True
    assert answers[3]["ok"] is False


def test_close_drops_idle_connections_and_removes_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "ctl.sock"
        server = ControlServer(path, _handlers())
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(path))
        # An answered request: the server holds this connection, now idle.
        writer.write(b'{"cmd": "status"}\n')
        await writer.drain()
        assert json.loads(await reader.readline())["ok"] is True
        await asyncio.wait_for(server.close(), 2.0)
        assert not path.exists()
        writer.close()

    asyncio.run(main())


def test_stale_socket_is_replaced_but_a_live_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: a crashed daemon's leftover

    async def main() -> None:
        first = ControlServer(path, _handlers())
        await first.start()
        second = ControlServer(path, _handlers())
        with pytest.raises(ControlError, match="another daemon is listening"):
            await second.start()
        assert (await asyncio.to_thread(request, path, {"cmd": "status"}))["ok"]
        await first.close()

    asyncio.run(main())

    path.write_text("not a socket")

    async def refuse_regular_file() -> None:
        with pytest.raises(ControlError, match="is not a socket"):
            await ControlServer(path, _handlers()).start()

    asyncio.run(refuse_regular_file())


def test_client_reports_a_missing_daemon(tmp_path: Path) -> None:
    missing = tmp_path / "nobody.sock"
    with pytest.raises(NoDaemonError, match=r"no daemon at .*nobody\.sock \(is it running\?\)"):
        request(missing, {"cmd": "status"})
    dead = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(dead))
    sock.close()
    with pytest.raises(NoDaemonError):
        request(dead, {"cmd": "status"})


def test_client_times_out_on_a_silent_daemon(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    try:
        with pytest.raises(ControlError, match="no answer"):
            request(path, {"cmd": "status"}, timeout_s=0.1)
    finally:
        listener.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAG_AP), *args], capture_output=True, text=True, cwd=ROOT, timeout=30, check=False
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["status", "--json"],
        ["attach", "02:00:00:00:00:01", "--mn-id", "mn1@example.org"],
        ["detach", "02:00:00:00:00:01"],
        ["lma", "revoke", "mn1@example.org"],
        ["stop"],
    ],
)
def test_cli_says_no_daemon_when_the_socket_is_missing(tmp_path: Path, argv: list[str]) -> None:
    path = tmp_path / "none.sock"
    out = _cli(*argv, "-s", str(path))
    assert out.returncode == 1
    assert out.stderr.strip() == f"mag-ap: no daemon at {path} (is it running?)"


def test_cli_talks_to_a_control_server(tmp_path: Path) -> None:
    """The CLI end to end against a stand-in daemon (the real one needs root: tests/netns)."""
    status = {
        "role": "mag",
        "status": {
            "bindings": [
                {
                    "mn_id": "mn1@example.org",
                    "mac": "02:00:00:00:00:01",
                    "state": "bound",
                    "lma": "2001:db8:1::1",
                    "hnp": "2001:db8:100::/64",
                    "ipv4_hoa": "10.200.0.2/16",
                    "lifetime_left_s": 3590.5,
                    "last_registration_delay_ms": 1.25,
                }
            ],
            "counters": {"pbu_sent": 1, "pba_received": 1},
        },
        "runtime": {"driver": {"events": 3}, "socket": {"rx_datagrams": 1}},
    }

    async def status_h(req: Request) -> Response:
        return status

    async def revoke_h(req: Request) -> Response:
        if req["mn_id"] != "mn1@example.org":
            raise ControlError(f"no binding for {req['mn_id']}")
        return {"mn_id": req["mn_id"], "revoking": True}

    async def main() -> None:
        path = tmp_path / "ctl.sock"
        server = ControlServer(path, {"status": status_h, "revoke": revoke_h})
        await server.start()
        try:
            js = await asyncio.to_thread(_cli, "status", "--json", "-s", str(path))
            assert js.returncode == 0, js.stderr
            assert json.loads(js.stdout) == {"ok": True, **status}
            table = await asyncio.to_thread(_cli, "status", "-s", str(path))
            assert table.returncode == 0, table.stderr
            for text in ("mn1@example.org", "02:00:00:00:00:01", "bound", "2001:db8:100::/64"):
                assert text in table.stdout
            assert "10.200.0.2/16" in table.stdout and "pbu_sent" in table.stdout
            ok = await asyncio.to_thread(_cli, "lma", "revoke", "mn1@example.org", "-s", str(path))
            assert ok.returncode == 0 and "revoking mn1@example.org" in ok.stdout
            bad = await asyncio.to_thread(_cli, "lma", "revoke", "mn2@x", "-s", str(path))
            assert bad.returncode == 1 and bad.stderr.strip() == "mag-ap: no binding for mn2@x"
            unknown = await asyncio.to_thread(_cli, "detach", "02:00:00:00:00:01", "-s", str(path))
            assert unknown.returncode == 1 and "unknown command 'detach'" in unknown.stderr
        finally:
            await server.close()

    asyncio.run(main())


def test_cli_status_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`mag-ap status --json | head -1`: exit 141 like a SIGPIPE'd tool, no traceback."""
    many = [{"mn_id": f"mn{i}@example.org", "state": "bound"} for i in range(5000)]

    async def status_h(req: Request) -> Response:
        return {"role": "mag", "status": {"bindings": many, "counters": {}}}

    async def main() -> None:
        path = tmp_path / "ctl.sock"
        server = ControlServer(path, {"status": status_h})
        await server.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                str(MAG_AP), "status", "--json", "-s", str(path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stderr is not None
            first = await proc.stdout.readline()
            proc._transport.get_pipe_transport(1).close()  # type: ignore[attr-defined]
            err = await proc.stderr.read()
            rc = await proc.wait()
        finally:
            await server.close()
        assert first.strip() == b"{"
        assert rc == 141, err
        assert b"Traceback" not in err and b"BrokenPipe" not in err

    asyncio.run(main())


def test_cli_attach_takes_the_handoff_indicator_as_name_or_number(tmp_path: Path) -> None:
    seen: list[object] = []

    async def attach_h(req: Request) -> Response:
        seen.append(req.get("handoff"))
        return {"mac": req["mac"], "mn_id": "mn1@example.org", "lma": "2001:db8:1::1"}

    async def main() -> list[int]:
        path = tmp_path / "ctl.sock"
        server = ControlServer(path, {"attach": attach_h})
        await server.start()
        codes = []
        try:
            for hi in ("3", "MAG_CHANGE", "unknown"):
                out = await asyncio.to_thread(
                    _cli, "attach", "02:00:00:00:00:01", "--handoff", hi, "-s", str(path)
                )
                assert out.returncode == 0, out.stderr
                codes.append(out.returncode)
        finally:
            await server.close()
        return codes

    asyncio.run(main())
    assert seen == [3, "MAG_CHANGE", "unknown"]
    # and the daemon side turns each into the indicator (a digit string too)
    assert _handoff_from_request(seen[0]) is HandoffIndicator.MAG_CHANGE
    assert _handoff_from_request("3") is HandoffIndicator.MAG_CHANGE
    assert _handoff_from_request(seen[1]) is HandoffIndicator.MAG_CHANGE
    assert _handoff_from_request(seen[2]) is HandoffIndicator.UNKNOWN
    with pytest.raises(ControlError, match="must be one of"):
        _handoff_from_request("9")


def test_cli_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[daemon]\nrole = "lma"\ncontrol_socket = "/tmp/x.sock"\n'
        '[lma]\nown_address = "2001:db8::1"\n'
    )
    out = _cli("check-config", "-c", str(good))
    assert (out.returncode, out.stdout.strip()) == (0, "ok"), out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::2"\nlifetime_s = 7\n')
    out = _cli("check-config", "-c", str(bad))
    assert out.returncode == 1
    assert (
        out.stderr.strip()
        == f"mag-ap: {bad}: config error at mag.lifetime_s: must be a multiple of 4"
    )
    out = _cli("check-config", "-c", str(tmp_path / "absent.toml"))
    assert out.returncode == 1 and "cannot read" in out.stderr


def test_cli_run_refuses_a_config_of_the_other_role(tmp_path: Path) -> None:
    cfg = tmp_path / "lma.toml"
    cfg.write_text('[daemon]\nrole = "lma"\n[lma]\nown_address = "2001:db8::1"\n')
    out = _cli("run", "-c", str(cfg))
    assert out.returncode == 1 and "configures a LMA" in out.stderr
    out = _cli("lma")
    assert out.returncode == 2 and "give -c FILE" in out.stderr


def test_socket_mode_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:

        async def body(server: ControlServer, path: Path) -> int:
            return stat.S_IMODE(path.stat().st_mode)

        assert _serve(tmp_path, body) == 0o600
    finally:
        os.umask(old)
