"""Logs at their levels: the daemon's syslog lines, caught by a unix datagram socket the test binds.

On OpenWrt logd serves /dev/log and keeps each datagram's facility.level;
here the test is the receiver, so what logread would show is checked from the
datagrams themselves (``<PRI>mag-ap[pid]: message``, PRI = facility * 8 + severity).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mag_ap.plugins import DEFAULT_PLUGINS
from mag_ap.runtime.daemon import setup_logging
from mag_ap.runtime.syslog_log import MAX_LINE, SyslogHandler, severity
from tests.conftest import ROOT

_LINE = re.compile(rb"^<(\d+)>mag-ap\[(\d+)\]: (.*)$", re.S)
LEVEL = {7: "debug", 6: "info", 4: "warning", 3: "err", 2: "crit"}


class Receiver:
    """A syslog socket like /dev/log: one datagram a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def take(self, deadline_s: float = 10.0) -> tuple[int, int, int, str]:
        """(facility, severity, pid, message) of the next datagram."""
        self.sock.settimeout(deadline_s)
        data = self.sock.recv(65536)
        match = _LINE.match(data)
        assert match, data
        pri = int(match[1])
        return pri // 8, pri % 8, int(match[2]), match[3].decode()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    rx = Receiver(tmp_path / "log")
    yield rx
    rx.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_each_level_arrives_at_its_syslog_severity(
    receiver: Receiver, restore_logging: None
) -> None:
    setup_logging("debug", "text", "syslog", str(receiver.path))
    for name, level in (("mag_ap.daemon", logging.DEBUG), ("mag_ap_macnai", logging.INFO),
                        ("mag_ap.core", logging.WARNING), ("mag_ap.x", logging.ERROR),
                        ("mag_ap.x", logging.CRITICAL)):  # fmt: skip
        logging.getLogger(name).log(level, "hello %s", logging.getLevelName(level),
                                    extra={"fields": {"mac": "02:00:00:00:00:01"}})  # fmt: skip
    got = [receiver.take() for _ in range(5)]
    assert [(fac, LEVEL[sev]) for fac, sev, _, _ in got] == [
        (3, "debug"), (3, "info"), (3, "warning"), (3, "err"), (3, "crit")]  # fmt: skip
    assert all(pid == os.getpid() for _, _, pid, _ in got)
    # logd stamps the time and the level is in PRI: the text is the message and its fields
    assert got[1][3] == "hello INFO mac=02:00:00:00:00:01"


def test_a_traceback_is_one_datagram_a_line_at_the_record_level(
    receiver: Receiver, restore_logging: None
) -> None:
    setup_logging("info", "text", "syslog", str(receiver.path))
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("mag_ap.x").exception("failed")
    first = receiver.take()
    assert first[1] == 3 and first[3] == "failed"
    rest = [receiver.take() for _ in range(3)]
    assert all(sev == 3 for _, sev, _, _ in rest)
    assert rest[0][3] == "Traceback (most recent call last):"
    handler = SyslogHandler(str(receiver.path))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "y" * 5000, None, None)
    assert [len(d) for d in handler.datagrams(record)] == [MAX_LINE]
    assert severity(logging.INFO + 5) == 6 and severity(1) == 7


def test_without_a_receiver_lines_go_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    setup_logging("info", "text", "syslog", str(tmp_path / "nobody"))
    logging.getLogger("mag_ap.x").warning("still seen")
    assert "still seen" in capsys.readouterr().err


def test_the_daemon_logs_info_as_info(tmp_path: Path, receiver: Receiver) -> None:
    """A real MAG daemon (IPv4 transport, no root needed) logs `ready` and `stopping` at info."""
    net = f"127.{random.randint(32, 250)}.{random.randint(1, 250)}"
    sock = tmp_path / "mag.sock"
    config = tmp_path / "mag.toml"
    # plugins that need root or a device stay off: the core, policy and identity log enough
    keep = ("mag_ap_localpolicy", "mag_ap_macnai", "mag_ap_nulldatapath")
    off = [name for name in DEFAULT_PLUGINS if name not in keep]
    config.write_text(
        f'[daemon]\nrole = "mag"\ntransport = "ipv4"\ncontrol_socket = "{sock}"\n'
        f'state_dir = "{tmp_path / "state"}"\nlog_target = "syslog"\n'
        f'syslog_socket = "{receiver.path}"\n'
        f'[mag]\nown_address = "{net}.2"\n'
        f"[plugins]\ndisabled = {json.dumps(list(off))}\n"
        f'[plugin.localpolicy]\nlma_address = "{net}.1"\n'
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mag_ap", "run", "-c", str(config)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    seen: list[tuple[int, int, int, str]] = []
    try:
        deadline = time.monotonic() + 60
        while not any(m.startswith("ready ") for _, _, _, m in seen):
            assert time.monotonic() < deadline, seen
            assert daemon.poll() is None, (seen, daemon.communicate())
            try:
                seen.append(receiver.take(deadline_s=1.0))
            except TimeoutError:
                continue
    finally:
        daemon.terminate()
        _out, err = daemon.communicate(timeout=30)
    while True:
        try:
            seen.append(receiver.take(deadline_s=2.0))
        except TimeoutError:
            break
    levels = {m.split()[0]: LEVEL[sev] for _, sev, _, m in seen}
    assert levels["ready"] == "info" and levels["stopping"] == "info", seen
    assert all(pid == daemon.pid for _, _, pid, _ in seen)
    assert all(fac == 3 for fac, _, _, _ in seen)
    assert err == b"", err  # nothing left on stderr, which procd would log as daemon.err
