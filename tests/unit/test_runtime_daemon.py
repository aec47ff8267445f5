"""The daemons in-process, without root: IPv4 transport (UDP 5436) on loopback addresses.

Proves the glue of ``mag_ap.runtime.daemon``: identity and policy before attach,
refusals as control errors, attach --wait, status, revoke, stop, the restart
counter and the log formats. The raw IPv6 socket path runs in tests/netns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lab.topology import until
from mag_ap.config import Config, parse_config_text
from mag_ap.core.types import MobileRouteUp
from mag_ap.runtime.control import request
from mag_ap.runtime.daemon import (
    JsonFormatter,
    LmaDaemon,
    MagDaemon,
    TextFormatter,
    bump_restart_counter,
)

LMA_ADDR, MAG_ADDR = "127.0.0.1", "127.0.0.2"


def _configs(
    tmp_path: Path, lma_addr: str = LMA_ADDR, mag_addr: str = MAG_ADDR
) -> tuple[Config, Config]:
    lma = parse_config_text(
        f"""
[daemon]
role = "lma"
transport = "ipv4"
control_socket = "{tmp_path}/lma.sock"
state_dir = "{tmp_path}/state"
[lma]
own_address = "{lma_addr}"
min_delay_before_bce_delete_s = 0
"""
    )
    mag = parse_config_text(
        f"""
[daemon]
role = "mag"
transport = "ipv4"
control_socket = "{tmp_path}/mag.sock"
state_dir = "{tmp_path}/state"
[mag]
own_address = "{mag_addr}"
[plugin.localpolicy]
lma_address = "{lma_addr}"
[[plugin.localpolicy.profile]]
mn_id = "mn1@example.org"
[[plugin.localpolicy.profile]]
mac = "02:00:00:00:00:02"
[[static_attach]]
mac = "02:00:00:00:00:03"
mn_id = "mn1@example.org"
"""
    )
    return lma, mag


Ask = Callable[[Config, dict[str, Any]], Awaitable[dict[str, Any]]]


def _with_daemons(tmp_path: Path, body: Callable[[Config, Config, Ask], Awaitable[None]]) -> None:
    lma_cfg, mag_cfg = _configs(tmp_path)

    async def ask(cfg: Config, payload: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(request, cfg.control_socket, payload)

    async def ready(cfg: Config, task: asyncio.Task[int]) -> None:
        def socket_or_exit() -> bool:
            if task.done():
                task.result()
                raise AssertionError("daemon exited early")
            return Path(cfg.control_socket).exists()

        await until(socket_or_exit, 10, f"{cfg.role} control socket")

    async def main() -> None:
        lma = asyncio.create_task(LmaDaemon(lma_cfg).run())
        await ready(lma_cfg, lma)
        mag = asyncio.create_task(MagDaemon(mag_cfg).run())
        try:
            await ready(mag_cfg, mag)
            await body(lma_cfg, mag_cfg, ask)
        finally:
            for cfg, task in ((mag_cfg, mag), (lma_cfg, lma)):
                if not task.done():
                    await ask(cfg, {"cmd": "stop"})
                assert await asyncio.wait_for(task, 10) == 0
        for cfg in (lma_cfg, mag_cfg):
            assert not Path(cfg.control_socket).exists()

    asyncio.run(main())


def _rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = answer["status"]["bindings"]
    return rows


def test_attach_paths_refusals_revoke_and_stop(tmp_path: Path) -> None:
    async def body(lma: Config, mag: Config, ask: Ask) -> None:
        # The static station binds by itself.
        async def static_bound() -> bool:
            rows = _rows(await ask(mag, {"cmd": "status"}))
            return bool(rows) and rows[0]["state"] == "bound"

        await until(static_bound, 10, "the static station to bind")
        rows = _rows(await ask(mag, {"cmd": "status"}))
        assert [r["mac"] for r in rows] == ["02:00:00:00:00:03"]

        # mn_id given, wait for the PBA.
        ans = await ask(mag, {"cmd": "attach", "mac": "02-00-00-00-00-01", "wait_s": 5})
        assert ans == {  # the MAC-based NAI is not admitted by the policy
            "ok": False,
            "error": "policy refused 020000000001@mag-ap.invalid (02:00:00:00:00:01)",
        }
        ans = await ask(
            mag, {"cmd": "attach", "mac": "0200.0000.0001", "mn_id": "mn1@example.org", "wait_s": 5}
        )
        assert ans["ok"] and ans["settled"] and ans["mac"] == "02:00:00:00:00:01", ans
        assert ans["binding"]["state"] == "bound" and ans["binding"]["ipv4_hoa"]

        # No mn_id: the MAC-based NAI identity, admitted by the MAC profile.
        ans = await ask(mag, {"cmd": "attach", "mac": "02:00:00:00:00:02", "wait_s": 5})
        assert ans["ok"] and ans["mn_id"] == "020000000002@mag-ap.invalid", ans

        # Refusals are answers, not crashes.
        refused = await ask(mag, {"cmd": "attach", "mac": "02:00:00:00:00:09", "mn_id": "x@y"})
        assert refused == {"ok": False, "error": "policy refused x@y (02:00:00:00:00:09)"}
        bad = await ask(mag, {"cmd": "attach", "mac": "zz"})
        assert bad["ok"] is False and "not a MAC address" in bad["error"]
        assert (await ask(mag, {"cmd": "revoke", "mn_id": "x"}))["ok"] is False
        assert (await ask(lma, {"cmd": "attach", "mac": "02:00:00:00:00:01"}))["ok"] is False

        status = await ask(mag, {"cmd": "status"})
        assert len(_rows(status)) == 3
        assert status["runtime"]["mag"] == {
            "attach_requests": 5,
            "attach_refused": 2,
            "lma_failovers": 0,
            "trigger_duplicate": 0,
            "trigger_dropped_busy": 0,
            "trigger_admitted_on_retry": 0,
            "trigger_busy_remembered": 0,
        }
        assert status["runtime"]["restart_counter"] == 1
        assert status["runtime"]["socket"]["rx_datagrams"] >= 3
        lma_status = await ask(lma, {"cmd": "status"})
        assert {r["mn_id"] for r in _rows(lma_status)} == {
            "mn1@example.org",
            "020000000002@mag-ap.invalid",
        }

        # Revocation: the LMA tells the MAG, both forget the MN.
        assert (await ask(lma, {"cmd": "revoke", "mn_id": "020000000002@mag-ap.invalid"}))["ok"]

        async def macs() -> set[str]:
            return {r["mac"] for r in _rows(await ask(mag, {"cmd": "status"}))}

        async def revoked() -> bool:
            return "02:00:00:00:00:02" not in await macs()

        await until(revoked, 10, "the MAG to drop the revoked binding")
        assert await macs() == {"02:00:00:00:00:01", "02:00:00:00:00:03"}
        gone = await ask(lma, {"cmd": "revoke", "mn_id": "nobody@x"})
        assert gone == {"ok": False, "error": "no binding for nobody@x"}

        # Detach is quiet about unknown stations; stop de-registers the rest.
        assert (await ask(mag, {"cmd": "detach", "mac": "02:00:00:00:00:07"}))["ok"]

    _with_daemons(tmp_path, body)
    assert (tmp_path / "state" / "mag.restart_counter").read_text() == "1\n"
    assert (tmp_path / "state" / "lma.restart_counter").read_text() == "1\n"


REFUSED = "020000000002@mag-ap.invalid"


class _RouteRefusingDatapath:
    """Stands in for a kernel datapath that cannot install one MN's routes."""

    name = "refusing"

    def __init__(self) -> None:
        self.refused: list[str] = []

    async def start(self) -> None:
        pass

    async def apply(self, action: Any) -> None:
        if isinstance(action, MobileRouteUp) and action.mn_id == REFUSED:
            self.refused.append(action.mn_id)
            raise OSError("route replace: no such device")

    async def stop(self) -> None:
        pass


def test_lma_revokes_a_binding_whose_route_it_could_not_install(tmp_path: Path) -> None:
    """The PBA already went out: the LMA takes the binding back with a BRI."""
    net = f"127.{random.randrange(1, 250)}.{random.randrange(1, 250)}"  # other tests run too
    lma_cfg, mag_cfg = _configs(tmp_path, f"{net}.1", f"{net}.2")
    datapath = _RouteRefusingDatapath()

    class Lma(LmaDaemon):
        def prepare_providers(self, host: Any) -> None:
            if self.datapath is not None:  # the null datapath the config falls back to
                self.providers.remove(self.datapath)
            self.datapath = datapath
            self.providers.append(datapath)

    async def main() -> None:
        lma = asyncio.create_task(Lma(lma_cfg).run())
        mag = None
        try:
            await until(Path(lma_cfg.control_socket).exists, 5, "LMA control socket")
            mag = asyncio.create_task(MagDaemon(mag_cfg).run())
            await until(Path(mag_cfg.control_socket).exists, 5, "MAG control socket")

            async def ask(path: str, payload: dict[str, Any]) -> dict[str, Any]:
                return await asyncio.to_thread(request, path, payload)

            ans = await ask(mag_cfg.control_socket, {"cmd": "attach", "mac": "02:00:00:00:00:02"})
            assert ans["ok"] and ans["mn_id"] == REFUSED, ans
            mag_rows: list[dict[str, Any]] = []
            lma_status: dict[str, Any] = {}
            lma_ids: list[str] = []

            async def revoked() -> bool:
                nonlocal mag_rows, lma_status, lma_ids
                mag_rows = _rows(await ask(mag_cfg.control_socket, {"cmd": "status"}))
                lma_status = await ask(lma_cfg.control_socket, {"cmd": "status"})
                lma_ids = [r["mn_id"] for r in _rows(lma_status)]
                gone = len(mag_rows) == 1 and lma_ids == ["mn1@example.org"]
                return bool(datapath.refused) and gone

            await until(revoked, 5, "the refused binding revoked on both sides")
            assert datapath.refused == [REFUSED]
            # the static station (mn1) is untouched; the refused one is gone on both sides
            assert [r["mac"] for r in mag_rows] == ["02:00:00:00:00:03"], mag_rows
            assert lma_ids == ["mn1@example.org"]
            counters = lma_status["status"]["counters"]
            assert counters["revocations"] == 1 and counters["bra_received"] == 1, counters
        finally:
            for cfg, task in ((mag_cfg, mag), (lma_cfg, lma)):
                if task is not None and not task.done():
                    await asyncio.to_thread(request, cfg.control_socket, {"cmd": "stop"})
                    await asyncio.wait_for(task, 10)

    asyncio.run(main())


def test_restart_counter_persists_and_survives_garbage(tmp_path: Path) -> None:
    assert bump_restart_counter(tmp_path / "s", "mag") == 1
    assert bump_restart_counter(tmp_path / "s", "mag") == 2
    assert bump_restart_counter(tmp_path / "s", "lma") == 1
    (tmp_path / "s" / "mag.restart_counter").write_text("garbage")
    assert bump_restart_counter(tmp_path / "s", "mag") == 1
    (tmp_path / "s" / "mag.restart_counter").write_text(str(2**32 - 1))
    assert bump_restart_counter(tmp_path / "s", "mag") == 0


def test_log_formats() -> None:
    record = logging.LogRecord("mag_ap.daemon", logging.INFO, __file__, 1, "ready", (), None)
    record.fields = {"role": "mag", "note": "two words"}
    obj = json.loads(JsonFormatter().format(record))
    assert obj["level"] == "info" and obj["msg"] == "ready"
    assert obj["fields"] == {"role": "mag", "note": "two words"}
    assert obj["ts"].endswith("+00:00")
    text = TextFormatter().format(record)
    assert text.split(" ", 1)[1] == 'info    ready role=mag note="two words"'


def test_a_second_daemon_on_the_same_socket_is_refused(tmp_path: Path) -> None:
    lma_cfg, _ = _configs(tmp_path)

    async def main() -> None:
        first = asyncio.create_task(LmaDaemon(lma_cfg).run())
        await until(lambda: Path(lma_cfg.control_socket).exists(), 10, "the LMA control socket")
        from mag_ap.runtime.startup_errors import StartupError

        with pytest.raises(StartupError) as refused:
            await LmaDaemon(lma_cfg).run()
        # The MH socket (UDP 5436 here) is opened first: that is what is in use.
        assert refused.value.key_path == "lma.own_address", refused.value
        assert "already in use" in str(refused.value) and "mag-ap stop" in str(refused.value)
        assert Path(lma_cfg.control_socket).exists()  # the first one's socket is untouched
        await asyncio.to_thread(request, lma_cfg.control_socket, {"cmd": "stop"})
        assert await asyncio.wait_for(first, 10) == 0

    asyncio.run(main())
