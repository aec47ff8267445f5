"""Start-up as a new user meets it: README's "Running it" and the errors that name the fix.

Every namespace is created here with a unique prefix and removed also on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.topology import Lab, run, wait_for
from tests.conftest import ROOT

MAG_AP = str(Path(sys.executable).parent / "mag-ap")


@contextlib.contextmanager
def empty_netns() -> Iterator[str]:
    """One namespace with only ``lo`` up (unique name, removed also on failure)."""
    with Lab() as lab:
        yield lab.add_host("x").netns


def _config(tmp_path: Path, role: str, extra: str = "") -> Path:
    """examples/<role>.toml with the control socket and state in ``tmp_path``."""
    text = (ROOT / "examples" / f"{role}.toml").read_text()
    head = f'[daemon]\ncontrol_socket = "{tmp_path / role}.sock"\nstate_dir = "{tmp_path}"\n'
    path = tmp_path / f"{role}.toml"
    path.write_text(text.replace("[daemon]\n", head + extra, 1))
    return path


def _start(netns: str, role: str, config: Path) -> subprocess.CompletedProcess[str]:
    sub = "lma" if role == "lma" else "run"
    argv = ["ip", "netns", "exec", netns, MAG_AP, sub, "-c", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_own_address_not_on_any_interface_names_key_address_and_fix(tmp_path: Path) -> None:
    with empty_netns() as netns:
        config = _config(tmp_path, "lma")
        out = _start(netns, "lma", config)
    assert out.returncode == 1, out
    err = out.stderr
    assert "cannot start: lma.own_address = 2001:db8:ffff::1" in err, err
    assert str(config) in err and "is not an address of this host" in err
    assert "ip addr add 2001:db8:ffff::1/64 dev IFACE nodad" in err
    assert "examples/netns.sh" in err
    assert "Errno" not in err and "Traceback" not in err


def test_control_socket_of_a_live_daemon_is_refused_with_the_fix(tmp_path: Path) -> None:
    with empty_netns() as netns:
        run(["ip", "-n", netns, "addr", "add", "2001:db8:ffff::1/128", "dev", "lo", "nodad"])
        config = _config(tmp_path, "lma")
        first = subprocess.Popen(
            ["ip", "netns", "exec", netns, MAG_AP, "lma", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            sock = tmp_path / "lma.sock"
            wait_for(
                lambda: (
                    subprocess.run(
                        [MAG_AP, "status", "-s", str(sock)], capture_output=True, check=False
                    ).returncode
                    == 0
                ),
                20,
                "the first LMA",
            )
            second = _start(netns, "lma", config)
            assert second.returncode == 1, second
            assert "another daemon is listening on" in second.stderr
            assert f"mag-ap stop -s {sock}" in second.stderr
            assert "key_path=daemon.control_socket" in second.stderr
        finally:
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=10)
        assert first.returncode == 0


def test_state_dir_that_cannot_be_written_names_the_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with empty_netns() as netns:
        config = _config(tmp_path, "lma")
        text = config.read_text().replace(f'state_dir = "{tmp_path}"', f'state_dir = "{blocker}/x"')
        config.write_text(text)
        out = _start(netns, "lma", config)
    assert out.returncode == 1
    assert f"cannot use daemon.state_dir = {blocker}/x" in out.stderr, out.stderr


def test_readme_example_runs_lma_and_mag_in_namespaces(tmp_path: Path) -> None:
    """examples/netns.sh: the README's way to try both daemons on one machine."""
    if os.geteuid() != 0:
        pytest.fail("needs root")
    env = {**os.environ, "RUN_DIR": str(tmp_path), "MAG_AP": MAG_AP}
    proc = subprocess.Popen(
        [str(ROOT / "examples" / "netns.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    prefix = f"mapex{proc.pid}-"
    mag_sock, lma_sock = str(tmp_path / "mag.sock"), str(tmp_path / "lma.sock")

    def status(sock: str) -> dict[str, object] | None:
        out = subprocess.run(
            [MAG_AP, "status", "--json", "-s", sock], capture_output=True, text=True, check=False
        )
        return json.loads(out.stdout) if out.returncode == 0 else None

    try:
        # The static station of examples/mag.toml registers by itself.
        def printer_bound() -> bool:
            answer = status(mag_sock)
            rows = answer["status"]["bindings"] if answer else []  # type: ignore[index]
            return any(r["mn_id"] == "printer@example.net" and r["state"] == "bound" for r in rows)

        wait_for(printer_bound, 60, "the example MAG to bind its static station")
        attach = subprocess.run(
            [MAG_AP, "attach", "02:00:00:00:00:01", "--mn-id", "alice@example.net",
             "--wait", "5", "-s", mag_sock],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        assert attach.returncode == 0, attach.stderr
        revoke = subprocess.run(
            [MAG_AP, "lma", "revoke", "alice@example.net", "-s", lma_sock],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        assert revoke.returncode == 0, revoke.stderr
        assert prefix + "lma" in run(["ip", "netns", "list"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143, output
    assert "namespaces" in output and "removed" in output
    assert prefix not in run(["ip", "netns", "list"], check=False)
