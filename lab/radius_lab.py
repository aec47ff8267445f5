"""A REAL FreeRADIUS (Debian ``freeradius``) in a lab namespace, with its own config tree.

Nothing under /etc/freeradius is read or changed: a minimal ``radiusd.conf`` (files
+ pap modules, one ``default`` server) and a ``users`` file are written into the
test's temporary directory and ``freeradius -X -d DIR`` runs as root in the
namespace (no user/group directives). The RFC 6572 attributes come from the
stock dictionary (``/usr/share/freeradius/dictionary.rfc6572``). Also: a coroutine
runner whose sockets live in a lab namespace, and radclient as an oracle.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .topology import Host, wait_for

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

# The part of radiusd.conf every test server shares: paths in a temp dir, log to stdout.
RADIUSD_HEAD = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = {dir}
localstatedir = {dir}
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = {dir}
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
	destination = stdout
	auth = yes
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}}
"""
_RADIUSD_CONF = (
    RADIUSD_HEAD
    + """\
{clients}
modules {{
	files {{
		filename = {dir}/users
	}}
	pap {{
	}}
}}
server default {{
{listens}
	authorize {{
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
	}}
}}
"""
)


class FreeRadius:
    """One freeradius process answering from ``users`` on the given addresses."""

    def __init__(
        self,
        host: Host,
        workdir: Path,
        *,
        listen: Sequence[str],
        clients: Sequence[str],
        secret: str,
        users: str,
        port: int = 1812,
    ) -> None:
        self.host = host
        self.dir = workdir / f"raddb-{host.name}-{port}"
        self.dir.mkdir(parents=True)
        self.port = port
        self.listen = list(listen)
        client_blocks = "\n".join(
            f"client c{i} {{\n\tipaddr = {net}\n\tsecret = {secret}\n"
            "\trequire_message_authenticator = yes\n}"
            for i, net in enumerate(clients)
        )
        listen_blocks = "\n".join(
            f"\tlisten {{\n\t\ttype = auth\n\t\t{'ipv6addr' if ':' in a else 'ipaddr'} = {a}\n"
            f"\t\tport = {port}\n\t}}"
            for a in listen
        )
        (self.dir / "radiusd.conf").write_text(
            _RADIUSD_CONF.format(dir=self.dir, clients=client_blocks, listens=listen_blocks)
        )
        (self.dir / "users").write_text(users)
        self.log = self.dir / "radiusd.log"

    def start(self) -> None:
        self.proc = self.host.spawn(["freeradius", "-X", "-f", "-d", str(self.dir)], self.log)
        wait_for(
            lambda: (
                "Ready to process requests" in self.log.read_text(errors="replace")
                or self.proc.poll() is not None
            ),
            20,
            "freeradius ready",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"freeradius exited: {self.log.read_text(errors='replace')}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def enter_netns(name: str) -> None:
    """Move the calling thread into a lab namespace (its new sockets live there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def run_in_netns(netns: str, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
    """``asyncio.run(coro)`` in a thread inside ``netns``; its result or its exception."""
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            enter_netns(netns)
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError("coroutine in the namespace did not finish")
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


def radclient(host: Host, server: str, secret: str, attributes: str) -> str:
    """radclient's verbose exchange (an independent encoder/decoder of RADIUS)."""
    return host.run(
        "sh",
        "-c",
        f"printf '%s\\n' '{attributes}' | radclient -x -r 1 -t 2 {server} auth {secret}",
        check=False,
    )
