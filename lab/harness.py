"""A lab program driven over JSON lines: commands on its stdin, events on its stdout.

The plugin harnesses (:mod:`lab.access_harness`, :mod:`lab.dhcp4_lab`) run a
plugin's real IO inside a lab namespace and talk this way; the test side reads
every event on a thread into one log, and :meth:`HarnessProcess.expect` takes
events from it in order, each at most once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .topology import Host, Lab, wait_for

ROOT = Path(__file__).resolve().parent.parent  # so ``python -m lab.<module>`` resolves

Event = dict[str, Any]


class HarnessProcess:
    """``python -m <module> ARGS`` in ``host``; stopped with the lab."""

    def __init__(
        self,
        lab: Lab,
        host: Host,
        module: str,
        args: Sequence[str],
        *,
        stderr_log: Path | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        stderr = stderr_log.open("w") if stderr_log is not None else None
        self.proc = subprocess.Popen(
            host.exec_argv([sys.executable, "-m", module, *args]),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        if stderr is not None:
            stderr.close()
        lab.processes.append(self.proc)
        self.log: list[Event] = []  # every event, in arrival order
        self._taken: set[int] = set()  # indexes into log that expect() returned
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._on_event = on_event
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event: Event = json.loads(line)
            with self._lock:
                self.log.append(event)
            if self._on_event is not None:
                self._on_event(event)

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        with self._send_lock:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()

    def close_stdin(self) -> None:
        """End of commands: the harness stops its service and says ``stopped``."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def events(self, event: str, **fields: Any) -> list[Event]:
        """Every event so far named ``event`` with ``fields``."""
        with self._lock:
            return [e for e in self.log if _matches(e, event, fields)]

    def pending(self, event: str, **fields: Any) -> list[Event]:
        """Such events that :meth:`expect` has not returned yet."""
        with self._lock:
            return [
                e
                for i, e in enumerate(self.log)
                if i not in self._taken and _matches(e, event, fields)
            ]

    def expect(self, event: str, timeout_s: float = 20.0, **fields: Any) -> Event:
        """The oldest event named ``event`` with ``fields`` not returned before; waits for it."""
        found: list[Event] = []

        def take() -> bool:
            with self._lock:
                for i, e in enumerate(self.log):
                    if i not in self._taken and _matches(e, event, fields):
                        self._taken.add(i)
                        found.append(e)
                        return True
            return False

        wait_for(take, timeout_s, f"{event} {fields}")
        return found[0]


def emit(**fields: Any) -> None:
    """The harness side: one event line on stdout."""
    print(json.dumps(fields), flush=True)


class PrintSink:
    """The harness side's TriggerSink: every attach/detach becomes an event line."""

    def station_attached(self, mac: str, mn_id: str | None = None) -> None:
        emit(event="attached", mac=mac)

    def station_detached(self, mac: str, reason: str = "trigger") -> None:
        emit(event="detached", mac=mac, reason=reason)


def _matches(e: Event, event: str, fields: dict[str, Any]) -> bool:
    return e.get("event") == event and all(e.get(k) == v for k, v in fields.items())


__all__ = ["ROOT", "HarnessProcess", "PrintSink", "emit"]
