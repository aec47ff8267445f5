"""A logging handler that writes syslog datagrams (``<PRI>ident[pid]: line``) to /dev/log.

On OpenWrt, procd logs a service's stderr as ``daemon.err`` whatever the line
says; logd keeps the facility and level of a syslog datagram, so ``logread``
shows info as info. This handler is what syslog(3) does, without the ``syslog``
C module: the socket path is configurable (tests bind their own receiver) and
nothing but ``socket`` is needed. One datagram per line (a traceback becomes
several lines, each at the record's level); a line longer than logd keeps is
cut. When nobody listens (logd restarting), the line goes to stderr instead of
being lost, and the next record tries the socket again.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Final

FACILITY_DAEMON: Final = 3
# syslog severities (RFC 5424 section 6.2.1) for the logging levels
SEVERITY: Final = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
MAX_LINE: Final = 1000  # logd keeps about 1 KiB per line


def severity(levelno: int) -> int:
    """The syslog severity of a logging level (a level in between takes the one below it)."""
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return SEVERITY[level]
    return SEVERITY[logging.DEBUG]


class SyslogHandler(logging.Handler):
    """Sends each formatted record to a unix datagram syslog socket, one line a datagram."""

    def __init__(self, path: str, ident: str = "mag-ap", facility: int = FACILITY_DAEMON) -> None:
        super().__init__()
        self.path = path
        self.ident = ident
        self.facility = facility
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def datagrams(self, record: logging.LogRecord) -> list[bytes]:
        """What :meth:`emit` sends for ``record``: ``<PRI>ident[pid]: line`` per line."""
        pri = self.facility * 8 + severity(record.levelno)
        head = f"<{pri}>{self.ident}[{os.getpid()}]: "
        lines = [line for line in self.format(record).splitlines() if line.strip()] or [""]
        out = []
        for line in lines:
            data = (head + line).encode("utf-8", "replace")
            out.append(data[:MAX_LINE])
        return out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            packets = self.datagrams(record)
        except Exception:  # logging must never raise into the daemon
            self.handleError(record)
            return
        try:
            sock = self._connect()
            for packet in packets:
                sock.send(packet)
        except OSError:
            self.close_socket()
            sys.stderr.write(self.format(record) + "\n")

    def close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        self.close_socket()
        super().close()
