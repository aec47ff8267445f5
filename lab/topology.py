"""Network-namespace lab: hosts, veth links and processes with unique names.

Used by the netns tests, the benchmarks and ``make demo``. Every namespace and
process a ``Lab`` creates is removed by ``close()`` (also when the caller
fails), and every name carries the lab's unique prefix so parallel runs and
other users of the machine are never touched. Needs root and iproute2.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def require_tool(name: str) -> str:
    """Path of a program the lab needs; a missing one is an error (tests fail, never skip)."""
    path = shutil.which(name)
    if path is None:
        raise LabError(f"{name} is not installed: run 'make setup' (scripts/setup.sh installs it)")
    return path


def run(argv: Sequence[str], check: bool = True, timeout_s: float = 30.0) -> str:
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class Host:
    """One network namespace of the lab."""

    lab: Lab
    name: str  # short name given by the caller ("lma", "mag1")
    netns: str  # full namespace name, prefixed

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, *argv: str, check: bool = True, timeout_s: float = 30.0) -> str:
        """Run a command inside the namespace and return its stdout."""
        return run(self.exec_argv(argv), check=check, timeout_s=timeout_s)

    def ip(self, *args: str, check: bool = True) -> str:
        return run(["ip", "-n", self.netns, *args], check=check)

    def spawn(
        self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process in the namespace; the lab stops it on close."""
        log = log_path.open("ab")
        proc = subprocess.Popen(
            self.exec_argv(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()
        self.lab.processes.append(proc)
        return proc

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")


@dataclass
class Lab:
    """A set of namespaces with a unique prefix; use as a context manager."""

    prefix: str = field(default_factory=lambda: f"ma{secrets.token_hex(3)}")
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        netns = f"{self.prefix}-{name}"
        run(["ip", "netns", "add", netns])
        host = Host(self, name, netns)
        self.hosts[name] = host
        host.ip("link", "set", "lo", "up")
        host.sysctl("net.ipv6.conf.all.accept_dad", "0")
        host.sysctl("net.ipv6.conf.default.accept_dad", "0")
        return host

    def link(self, a: Host, a_if: str, b: Host, b_if: str) -> None:
        """A veth pair between two hosts, both ends up."""
        tmp = f"{self.prefix}{secrets.token_hex(2)}"
        run(["ip", "link", "add", tmp, "type", "veth", "peer", "name", tmp + "p"])
        run(["ip", "link", "set", tmp, "netns", a.netns, "name", a_if])
        run(["ip", "link", "set", tmp + "p", "netns", b.netns, "name", b_if])
        a.ip("link", "set", a_if, "up")
        b.ip("link", "set", b_if, "up")

    def close(self) -> None:
        """Stop every process (TERM, then KILL) and delete every namespace."""
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.processes.clear()
        for host in self.hosts.values():
            # Kill anything left in the namespace (e.g. daemons started by tests).
            pids = run(["ip", "netns", "pids", host.netns], check=False).split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "delete", host.netns], check=False)
        self.hosts.clear()


def wait_for(
    condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Fails with ``what`` after ``timeout_s``: the one way tests, bench and demo wait.
    """
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
    return value


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout_s: float,
    what: str,
    interval_s: float = 0.01,
) -> None:
    """:func:`wait_for` on a running event loop; ``condition`` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


def hold(
    condition: Callable[[], bool], duration_s: float, what: str, interval_s: float = 0.05
) -> None:
    """Check ``condition`` throughout ``duration_s``; fail the moment it stops holding.

    For the negative claims ("the binding stays while the station is idle"): the
    duration is the scenario's, and every poll is an observation, not a pause.
    """
    deadline = time.monotonic() + duration_s
    while True:
        if not condition():
            raise AssertionError(f"{what} stopped holding before {duration_s} s")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval_s)
