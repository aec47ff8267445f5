"""Real DHCPv4 clients on a lab station: busybox udhcpc, ISC dhclient, dhcpcd.

Each client runs with our own hook script (never the stock one: it would
rewrite the host's resolv.conf). The hook appends one line per event to the
station's ``dhcp-events`` file (wall time, client, event, ip, mask, router,
server, lease), and for udhcpc and dhclient (which leave the address to their
script) configures the address and default route. dhcpcd configures the
interface itself and only reports.

What each client does at a handover (:meth:`DhcpClient.after_roam`) is what
the software around it does on a real reassociation: netifd sends udhcpc
SIGUSR1 (renew); ifupdown-style restarts dhclient (``-x``, then ``-1`` again:
INIT-REBOOT with the lease from its lease file); dhcpcd watches the carrier
itself. :meth:`DhcpClient.release` ends the client with a DHCPRELEASE
(udhcpc ``-R`` on SIGTERM, ``dhclient -r``, ``dhcpcd -k``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .access_lab import Station
from .demo_lab import MN_IF

__all__ = ["CLIENTS", "DhcpClient", "DhcpEvent", "dhcp_events", "make_client"]

HOOK = """#!/bin/sh
# DHCP hook of a lab station ({client}): log the event, configure IPv4 only.
log() {{ echo "$(date +%s.%N) {client} $1 ip=$2 mask=$3 router=$4 server=$5 lease=$6" \
>> "{events}"; }}
IF={ifname}
case "{client}" in
udhcpc)
  log "$1" "$ip" "${{mask:-$subnet}}" "$router" "$serverid" "$lease"
  case "$1" in
    deconfig) ip -4 addr flush dev $IF ;;
    bound|renew)
      ip -4 addr replace "$ip/${{mask:-$subnet}}" dev $IF
      for r in $router; do ip -4 route replace default via "$r" dev $IF; break; done ;;
  esac ;;
dhclient)
  log "$reason" "$new_ip_address" "$new_subnet_mask" "$new_routers" \
"$new_dhcp_server_identifier" "$new_dhcp_lease_time"
  case "$reason" in
    PREINIT) ip link set $IF up ;;
    BOUND|RENEW|REBIND|REBOOT)
      if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
        ip -4 addr flush dev $IF
      fi
      ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev $IF
      for r in $new_routers; do ip -4 route replace default via "$r" dev $IF; break; done ;;
    EXPIRE|FAIL|RELEASE) ip -4 addr flush dev $IF ;;
  esac ;;
dhcpcd)
  log "$reason" "$new_ip_address" "$new_subnet_cidr" "$new_routers" \
"$new_dhcp_server_identifier" "$new_dhcp_lease_time" ;;
esac
exit 0
"""


@dataclass(frozen=True)
class DhcpEvent:
    wall: float
    client: str
    event: str
    fields: dict[str, str]


def dhcp_events(path: Path) -> list[DhcpEvent]:
    """Every line the hook wrote, oldest first."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        fields = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
        out.append(DhcpEvent(float(parts[0]), parts[1], parts[2], fields))
    return out


# The hook events that mean "this lease is configured now", per client.
BOUND_EVENTS = {
    "udhcpc": ("bound", "renew"),
    "dhclient": ("BOUND", "RENEW", "REBIND", "REBOOT"),
    "dhcpcd": ("BOUND", "RENEW", "REBIND", "REBOOT", "STATIC"),
}


@dataclass
class DhcpClient:
    """One client program on one station."""

    kind: str  # "udhcpc" | "dhclient" | "dhcpcd"
    station: Station
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    _argv: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.station.workdir

    @property
    def events_path(self) -> Path:
        return self.dir / "dhcp-events"

    @property
    def log(self) -> Path:
        return self.dir / f"{self.kind}.log"

    def events(self) -> list[DhcpEvent]:
        return dhcp_events(self.events_path)

    def leases(self) -> list[DhcpEvent]:
        """Hook events that configured a lease (with its address), oldest first."""
        return [
            e for e in self.events() if e.event in BOUND_EVENTS[self.kind] and e.fields.get("ip")
        ]

    def hook(self) -> Path:
        path = self.dir / f"{self.kind}-hook.sh"
        path.write_text(HOOK.format(client=self.kind, events=self.events_path, ifname=MN_IF))
        path.chmod(0o755)
        return path

    def _dhclient_args(self) -> list[str]:
        conf = self.dir / "dhclient.conf"
        conf.write_text(
            "request subnet-mask, routers, dhcp-lease-time, dhcp-server-identifier;\n"
            "timeout 30;\nretry 1;\ninitial-interval 1;\n"
        )
        return [
            "-4",
            "-cf",
            str(conf),
            "-sf",
            str(self.hook()),
            "-lf",
            str(self.dir / "dhclient.leases"),
            "-pf",
            str(self.dir / "dhclient.pid"),
        ]

    def start(self) -> None:
        """Start the client (in the background: the caller waits for its lease)."""
        self.started_at = time.time()
        host = self.station.host
        if self.kind == "udhcpc":
            argv = ["busybox", "udhcpc", "-f", "-R", "-i", MN_IF, "-s", str(self.hook())]
            argv += ["-t", "30", "-T", "1", "-A", "1", "-S"]
            self.proc = host.spawn(argv, self.log)
        elif self.kind == "dhclient":
            # -1: try once, then go to the background with the lease (not -d: never exits)
            self.proc = host.spawn(["dhclient", "-1", *self._dhclient_args(), MN_IF], self.log)
        elif self.kind == "dhcpcd":
            conf = self.dir / "dhcpcd.conf"
            conf.write_text("noipv4ll\nnoarp\nipv4only\noption subnet_mask, routers\n")
            script = (
                "mount -t tmpfs none /var/lib/dhcpcd && mount -t tmpfs none /run && "
                f"exec dhcpcd -f {conf} -c {self.hook()} --nobackground -t 30 {MN_IF}"
            )
            self.proc = host.spawn(["sh", "-c", script], self.log)
        else:
            raise ValueError(f"unknown DHCP client {self.kind!r}")

    def after_roam(self) -> None:
        """What the station's software does after a reassociation (see the module doc)."""
        host = self.station.host
        if self.kind == "udhcpc":
            assert self.proc is not None  # ip netns exec execs: the pid is udhcpc's
            os.kill(self.proc.pid, signal.SIGUSR1)  # renew
        elif self.kind == "dhclient":
            args = self._dhclient_args()
            host.run("dhclient", "-x", *args, MN_IF, timeout_s=20)
            self.proc = host.spawn(["dhclient", "-1", *args, MN_IF], self.log)
        # dhcpcd: nothing to do, it saw the carrier go and come back

    def release(self) -> None:
        """End the client with a DHCPRELEASE to the server."""
        host = self.station.host
        if self.kind == "udhcpc":
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGTERM)  # -R: release on exit
            self.proc.wait(timeout=10)
        elif self.kind == "dhclient":
            host.run("dhclient", "-r", *self._dhclient_args(), MN_IF, timeout_s=20)
        else:
            # dhcpcd -k talks to the running daemon over its socket in /run: same mounts
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGALRM)  # dhcpcd: SIGALRM = release and exit
            self.proc.wait(timeout=10)


CLIENTS = ("udhcpc", "dhclient", "dhcpcd")


def make_client(kind: str, station: Station) -> DhcpClient:
    if kind not in CLIENTS:
        raise ValueError(f"unknown DHCP client {kind!r}")
    return DhcpClient(kind, station)
