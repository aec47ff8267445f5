"""Findings of ``make fuzz`` (issue 13 item 5), each kept as the input that found it.

Bad input must end in the decoder's documented error with a clear reason, never in
another exception (for the control socket: that client's connection dying).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.openwrt.uci import UciError, parse_ubus
from mag_ap.runtime.control import ControlServer, Request, Response
from mag_ap_ubus._notify import NotificationStream, Unknown
from tests.conftest import ROOT

CORPUS = ROOT / "fuzz" / "corpus"


@pytest.mark.parametrize("text", ["a = " + "[" * 3000, "a = " + "[" * 3000 + "]" * 3000])
def test_config_nested_too_deeply_is_a_config_error(text: str) -> None:
    """tomllib recursed into a RecursionError (fuzz/corpus/config/regress-deep-array)."""
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_config_text(text)


def test_config_regression_input_is_a_config_error() -> None:
    data = (CORPUS / "config" / "regress-deep-array").read_bytes()
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config_text(data.decode())


def test_control_request_nested_too_deeply_gets_an_error_on_a_live_connection(
    tmp_path: Path,
) -> None:
    """json recursed into a RecursionError that killed the connection's task."""
    deep = (CORPUS / "control" / "regress-deep-array").read_bytes()
    assert deep.endswith(b"\n")

    async def body(server: ControlServer, path: Path) -> list[Any]:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(deep + b'{"cmd": "status"}\n')
        await writer.drain()
        answers = [json.loads(await reader.readline()) for _ in range(2)]
        writer.close()
        await writer.wait_closed()
        return answers

    async def status(request: Request) -> Response:
        return {"bindings": []}

    async def main() -> list[Any]:
        server = ControlServer(tmp_path / "ctl.sock", {"status": status})
        await server.start()
        try:
            return await body(server, tmp_path / "ctl.sock")
        finally:
            await server.close()

    answers = asyncio.run(main())
    assert answers[0] == {"ok": False, "error": "request is not JSON: nested too deeply"}
    assert answers[1]["ok"] is True


@pytest.mark.parametrize("index", ["x", [1], 1e400, None])
def test_ubus_uci_answer_with_a_bad_index_is_a_uci_error(index: object) -> None:
    """``int(.index)`` raised ValueError/TypeError/OverflowError out of parse_ubus."""
    answer = {"values": {"a": {".type": "daemon", ".index": index, "role": "mag"}}}
    with pytest.raises(UciError, match=r"\.index"):
        parse_ubus(answer)


@pytest.mark.parametrize("name", ["regress-ubus-index-text", "regress-ubus-index-inf"])
def test_ubus_uci_regression_inputs_are_uci_errors(name: str) -> None:
    answer = json.loads((CORPUS / "uci" / name).read_bytes())
    with pytest.raises(UciError):
        parse_ubus(answer)


def test_ubus_stream_scans_each_octet_once() -> None:
    """Re-scanning the whole buffer per line was quadratic: 64 KiB of ``[`` lines stalled
    the event loop for a minute. The balance is now carried from line to line."""
    stream = NotificationStream()
    lines = (CORPUS / "ubus" / "regress-many-open-lines").read_text().splitlines(keepends=True)
    scans = set()
    for line in lines:
        assert list(stream.feed(line)) == []
        scans.add(id(stream._scan))
        assert stream._scan.end == len(stream._buffer)  # scanned up to here, not again
    assert len(scans) == 1
    # 1,000 levels: json gives up (RecursionError), and the stream goes on
    assert list(stream.feed("]" * len(lines) + "\n")) == [
        Unknown(("[\n" * len(lines))[:128], "bad JSON")
    ]
    [note] = stream.feed('{"deauth": {"address": "02:00:00:00:00:02"}}\n')
    assert not isinstance(note, Unknown) and note.action() == "detach"
