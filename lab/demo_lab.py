"""The demo's lab: CN - LMA - two access points - a "radio" - one walking mobile node.

Built on :class:`lab.datapath_lab.DatapathLab` (LMA and MAGs as real
``mag-ap`` daemons with ``[plugin.datapath]``, CN behind the LMA). What this
module adds is the access side of a real access point:

* each MAG namespace runs ``hostapd`` (``driver=wired``, 802.1X, internal
  EAP server with an ``eap_user`` file) on its ``access`` interface, and its
  daemon gets ``[plugin.hostapd]`` (trigger + 802.1X identity), ``[plugin.dhcp4]``
  (collocated DHCPv4 server) and ``[plugin.ra]`` (unicast RAs with the HNP);
* both access interfaces carry the RFC 6543 MAC ``00:00:5e:00:52:13`` (so the
  fixed link-local ``fe80::200:5eff:fe00:5213`` is also their EUI-64 address):
  FixedMAGLinkLayerAddressOnAllAccessLinks (RFC 5213 section 6.8), so the MN's
  neighbour entries for its default routers stay right across a handover;
* a ``radio`` namespace holds one bridge per access point (``br1``, ``br2``),
  each joining that AP's access link; the MN's single interface ``wlan0`` has
  its peer ``sta`` in one of them. Walking = moving ``sta`` to the other bridge:
  the MN keeps its interface, MAC and addresses, as a Wi-Fi station does.
  The bridges forward 802.1X PAE frames (``group_fwd_mask`` bit 3);
* the MN runs ``wpa_supplicant -Dwired`` (EAP-MD5 as ``alice@example.net``),
  ``busybox udhcpc`` with our own hook (never the stock one: it would touch the
  host's resolv.conf) and the kernel's SLAAC (``accept_ra=1``, forwarding 0).

Every namespace and process goes away with ``close()`` (the Lab's teardown).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .datapath_lab import DatapathLab
from .domain import Daemon
from .hostapd_lab import AccessPoint, Station
from .topology import Host, require_tool

__all__ = [
    "AP_MAC",
    "EAP_IDENTITY",
    "MN_IF",
    "MN_MAC",
    "CtrlSocket",
    "DemoLab",
    "PingRun",
]

AP_MAC = "00:00:5e:00:52:13"  # RFC 6543: the MAC reserved for PMIPv6 MAG access links
MN_MAC = "02:00:00:00:aa:01"
MN_IF = "wlan0"
EAP_IDENTITY = "alice@example.net"
EAP_PASSWORD = "alice-secret"
HOSTAPD_CTRL = "hostapd"  # hostapd's control directory in each MAG's directory
UDHCPC_HOOK = """#!/bin/sh
# udhcpc hook of the demo's mobile node: IPv4 only, never resolv.conf.
echo "$(date +%s.%N) $1 ip=$ip mask=${mask:-$subnet} router=$router server=$serverid \
lease=$lease" >> "$DEMO_DHCP_EVENTS"
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip -4 addr add "$ip/${mask:-$subnet}" dev "$interface"
    for r in $router; do ip -4 route replace default via "$r" dev "$interface"; break; done ;;
esac
# the lease is in place (address and default route): what the demo waits for before pinging
echo "$(date +%s.%N) $1-configured" >> "$DEMO_DHCP_EVENTS"
exit 0
"""


class CtrlSocket:
    """A hostapd / wpa_supplicant control socket, spoken to directly.

    ``hostapd_cli`` or ``wpa_cli`` under ``ip netns exec`` costs 10-30 ms per
    command on a busy machine: inside a handover that is lab time, not network
    time. AF_UNIX sockets live in the file system, so the demo reaches them from
    its own namespace in well under a millisecond.
    """

    def __init__(self, server: Path, local: Path) -> None:
        local.unlink(missing_ok=True)
        self.local = local
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(local))
        self.sock.connect(str(server))
        self.sock.settimeout(5.0)

    def request(self, command: str) -> str:
        self.sock.send(command.encode())
        while True:
            reply = self.sock.recv(65536).decode(errors="replace")
            if not reply.startswith("<"):  # an unsolicited event, if ever attached
                return reply

    def close(self) -> None:
        self.sock.close()
        self.local.unlink(missing_ok=True)


class RadioNetlink:
    """One rtnetlink socket opened inside the radio namespace: a move is one RTM_NEWLINK.

    ``ip -n radio link set ...`` costs 10-30 ms on a busy machine (a process and
    a namespace switch); inside a handover that would be lab time. A socket keeps
    the namespace it was created in, so the demo enters the namespace (setns on
    this thread) only to create it.
    """

    RTM_NEWLINK = 16
    NLM_F_REQUEST_ACK = 0x1 | 0x4
    NLMSG_ERROR = 2
    IFLA_MASTER = 10
    CLONE_NEWNET = 0x40000000

    def __init__(self, netns: str) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            if libc.setns(target, self.CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {netns}")
            try:
                self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
                self.sock.bind((0, 0))
                self.index = {name: socket.if_nametoindex(name) for name in ("sta", "br1", "br2")}
            finally:
                if libc.setns(own, self.CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(own)
            os.close(target)
        self.sock.settimeout(5.0)
        self.seq = 0

    def set_master(self, port: str, bridge: str) -> None:
        self.seq += 1
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, self.index[port], 0, 0)
        body += struct.pack("=HHI", 8, self.IFLA_MASTER, self.index[bridge])
        header = struct.pack(
            "=IHHII", 16 + len(body), self.RTM_NEWLINK, self.NLM_F_REQUEST_ACK, self.seq, 0
        )
        self.sock.send(header + body)
        while True:
            answer = self.sock.recv(65536)
            _, kind, _, seq, _ = struct.unpack_from("=IHHII", answer)
            if kind == self.NLMSG_ERROR and seq == self.seq:
                (code,) = struct.unpack_from("=i", answer, 16)
                if code:
                    raise OSError(-code, f"{port} master {bridge}: {errno.errorcode.get(-code)}")
                return

    def close(self) -> None:
        self.sock.close()


@dataclass
class PingRun:
    """A continuous ``ping -D -O`` from the MN; its output is parsed afterwards."""

    family: str  # "ipv4" | "ipv6"
    target: str
    interval_s: float
    log: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> str:
        """SIGINT (ping prints its summary), then the whole output."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.log.read_text(errors="replace")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class DemoLab:
    """The whole demo network; ``build()``, ``start()``, drive, ``close()``."""

    # programs build() insists on (a subclass without 802.1X needs fewer)
    TOOLS: ClassVar[tuple[str, ...]] = (
        "hostapd",
        "hostapd_cli",
        "wpa_supplicant",
        "wpa_cli",
        "busybox",
        "ping",
    )
    workdir: Path
    encapsulation: str = "auto"
    gre_keys: bool = False  # the profile asks for GRE keys (RFC 5845): ip6gre tunnels
    daemon_timeout_s: float = 20.0  # an emulated guest starts Python ~40x slower
    identity: str = EAP_IDENTITY
    password: str = EAP_PASSWORD
    dp: DatapathLab = field(init=False)
    access_points: dict[int, AccessPoint] = field(default_factory=dict)
    supplicant: Station = field(init=False)
    udhcpc: subprocess.Popen[bytes] | None = None
    mn_at: int = 1  # the bridge (access point) the MN's radio port is on
    _ctrl: dict[str, CtrlSocket] = field(default_factory=dict)
    _radio_nl: RadioNetlink | None = None

    def __post_init__(self) -> None:
        self.dp = DatapathLab(
            self.workdir,
            encapsulation=self.encapsulation,
            mags=2,
            profile_extra="gre_key = true\n" if self.gre_keys else "",
            daemon_timeout_s=self.daemon_timeout_s,
        )
        self.dp.mn_id = self.identity

    # --- names ----------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return self.dp.domain.lab.prefix

    def host(self, name: str) -> Host:
        return self.dp.host(name)

    @property
    def mn(self) -> Host:
        return self.host("mn")

    def mag(self, i: int) -> Daemon:
        return self.dp.domain.mag[i - 1]

    @property
    def lma(self) -> Daemon:
        assert self.dp.domain.lma is not None
        return self.dp.domain.lma

    def mag_dir(self, i: int) -> Path:
        return self.workdir / f"mag{i}"

    def hostapd_ctrl_dir(self, i: int) -> Path:
        return self.mag_dir(i) / HOSTAPD_CTRL

    @property
    def dhcp_events(self) -> Path:
        return self.workdir / "mn" / "dhcp-events"

    @property
    def supplicant_ctrl(self) -> Path:
        return self.supplicant.ctrl_dir

    @property
    def supplicant_log(self) -> Path:
        return self.supplicant.log

    def hostapd_log(self, i: int) -> Path:
        return self.access_points[i].log

    # --- building -------------------------------------------------------------------

    def build(self) -> None:
        """Domain and CN (DatapathLab's), then radio bridges, access links and the MN."""
        for tool in self.TOOLS:
            require_tool(tool)
        d = self.dp.domain
        d.build()
        lab = d.lab
        lma = self.host("lma")
        cn = lab.add_host("cn")
        lab.link(lma, "to-cn", cn, "eth0")
        lma.ip("addr", "add", "2001:db8:c0::1/64", "dev", "to-cn")
        lma.ip("addr", "add", "198.51.100.1/24", "dev", "to-cn")
        cn.ip("addr", "add", "2001:db8:c0::2/64", "dev", "eth0")
        cn.ip("addr", "add", "198.51.100.2/24", "dev", "eth0")
        cn.ip("-6", "route", "add", "2001:db8:100::/48", "via", "2001:db8:c0::1")
        cn.ip("-4", "route", "add", "10.200.0.0/16", "via", "198.51.100.1")
        for name in ("lma", "mag1", "mag2"):
            self.host(name).sysctl("net.ipv6.conf.all.forwarding", "1")
            self.host(name).sysctl("net.ipv4.ip_forward", "1")

        radio = lab.add_host("radio")
        radio.sysctl("net.ipv6.conf.all.disable_ipv6", "1")  # the radio is layer 2 only
        radio.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
        for i in (1, 2):
            br = f"br{i}"
            radio.ip(
                "link",
                "add",
                br,
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
                "group_fwd_mask",
                "8",
            )
            radio.ip("link", "set", br, "up")
            mag = self.host(f"mag{i}")
            lab.link(mag, "access", radio, f"ap{i}")
            radio.ip("link", "set", f"ap{i}", "master", br)
            mag.ip("link", "set", "access", "down")
            mag.ip("link", "set", "access", "address", AP_MAC)
            mag.ip("link", "set", "access", "up")
            self.mag_dir(i).mkdir(parents=True, exist_ok=True)
            self.mag(i).config_text += self._access_sections(i)
            self.access_points[i] = AccessPoint(
                mag,
                "access",
                self.mag_dir(i),
                users={self.identity: self.password},
                peap=False,
                ctrl_dir_name=HOSTAPD_CTRL,
                log_option="-t",
            )

        mn = lab.add_host("mn")
        (self.workdir / "mn").mkdir(parents=True, exist_ok=True)
        lab.link(mn, MN_IF, radio, "sta")
        mn.ip("link", "set", MN_IF, "down")
        mn.ip("link", "set", MN_IF, "address", MN_MAC)
        for key, value in (
            ("forwarding", "0"),
            ("accept_ra", "1"),
            ("autoconf", "1"),
            ("accept_dad", "0"),
        ):
            mn.sysctl(f"net.ipv6.conf.{MN_IF}.{key}", value)
        mn.ip("link", "set", MN_IF, "up")
        radio.ip("link", "set", "sta", "master", "br1")
        self.supplicant = Station(
            mn,
            MN_IF,
            self.workdir / "mn",
            self.identity,
            self.password,
            options=("-t",),
            stem="wpa",
        )
        self.mn_at = 1

    def _access_sections(self, i: int) -> str:
        """What makes a MAG an access point: hostapd trigger/identity, DHCPv4, RAs."""
        ctrl = self.hostapd_ctrl_dir(i) / "access"
        return (
            "\n[plugin.hostapd]\n"
            f'control_sockets = ["{ctrl}"]\n'
            f'client_dir = "{self.mag_dir(i)}"\n'
            "ping_interval_s = 1.0\nreconnect_max_s = 1.0\n"
            "\n[plugin.dhcp4]\n"
            'interface = "access"\n'
            "trigger = false  # 802.1X: only hostapd's authorized stations attach\n"
            f'fixed_link_layer_address = "{AP_MAC}"\n'
            "# the kernel datapath already puts each default router /32 on the access link\n"
            "assign_router_address = false\n"
            "\n[plugin.ra]\n"
            'interface = "access"\n'
            "rs_trigger = false  # 802.1X: only hostapd's authorized stations attach\n"
            "rs_delay_max_s = 0.0\n"
            "# the access MAC is RFC 6543's, so the kernel already gives the interface the\n"
            "# fixed link-local address as its EUI-64 one\n"
            "add_link_local = false\n"
        )

    def start(self) -> None:
        """hostapd on both access points, then the LMA and MAG daemons."""
        for ap in self.access_points.values():
            ap.start()
        self.dp.start()

    def hostapd_cli(self, i: int, *args: str) -> str:
        return self.access_points[i].cli(*args, check=False)

    def stations_at(self, i: int) -> dict[str, str]:
        """MAC -> flags of every station hostapd on AP ``i`` knows (hostapd_cli all_sta)."""
        return self.access_points[i].stations()

    def authorized_at(self, i: int) -> set[str]:
        """MACs hostapd on AP ``i`` lists as authorized."""
        return self.access_points[i].authorized()

    # --- the mobile node --------------------------------------------------------------

    def start_supplicant(self) -> None:
        self.supplicant.start()

    def supplicant_pae_state(self) -> str:
        """The supplicant PAE state (``wpa_cli status``): CONNECTING, AUTHENTICATED..."""
        for line in self.wpa_cli("status", check=False).splitlines():
            if line.startswith("Supplicant PAE state="):
                return line.split("=", 1)[1].strip()
        return ""

    def associate(self, ap: int) -> None:
        """The radio reports the MN's association to AP ``ap``'s hostapd (NEW_STA).

        A Wi-Fi driver tells hostapd about an association and hostapd starts
        802.1X at once; the wired driver only learns of a station from its
        frames, and wpa_supplicant waits 2 s (startWhen) for the authenticator
        before it sends EAPOL-Start. NEW_STA is that association event.
        """
        out = self.hostapd_cli(ap, "new_sta", MN_MAC)
        if "OK" not in out:
            raise RuntimeError(f"hostapd on mag{ap} refused NEW_STA {MN_MAC}: {out.strip()}")

    def eap_starts(self) -> list[float]:
        """Wall-clock times (``-t``) of every CTRL-EVENT-EAP-STARTED of the supplicant."""
        text = (
            self.supplicant_log.read_text(errors="replace") if self.supplicant_log.exists() else ""
        )
        return [
            float(m.group(1))
            for m in re.finditer(r"^(\d+\.\d+): .*CTRL-EVENT-EAP-STARTED", text, re.MULTILINE)
        ]

    def eap_successes(self) -> list[float]:
        """Wall-clock times (``-t``) of every CTRL-EVENT-EAP-SUCCESS of the supplicant."""
        text = self.supplicant.log_text()
        return [
            float(m.group(1))
            for m in re.finditer(r"^(\d+\.\d+): .*CTRL-EVENT-EAP-SUCCESS", text, re.MULTILINE)
        ]

    def wpa_cli(self, *args: str, check: bool = True) -> str:
        return self.supplicant.cli(*args, check=check)

    def start_udhcpc(self) -> None:
        hook = self.workdir / "mn" / "udhcpc-hook.sh"
        hook.write_text(UDHCPC_HOOK)
        hook.chmod(0o755)
        self.udhcpc = self.mn.spawn(
            [
                "busybox",
                "udhcpc",
                "-f",
                "-i",
                MN_IF,
                "-s",
                str(hook),
                "-t",
                "20",
                "-T",
                "1",
                "-A",
                "1",
                "-S",
            ],
            self.workdir / "mn" / "udhcpc.log",
            env={"DEMO_DHCP_EVENTS": str(self.dhcp_events)},
        )

    def dhcp_events_seen(self) -> list[tuple[float, str, dict[str, str]]]:
        """(wall time, event, variables) of every hook call."""
        if not self.dhcp_events.exists():
            return []
        out = []
        for line in self.dhcp_events.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            out.append((float(parts[0]), parts[1], fields))
        return out

    def addresses(self) -> dict[str, list[str]]:
        """The MN's global IPv4 and IPv6 addresses on its one interface."""
        info = json.loads(self.mn.ip("-j", "addr", "show", "dev", MN_IF))
        found: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
        for iface in info:
            for a in iface.get("addr_info", []):
                if a.get("scope") != "global":
                    continue
                fam = "ipv4" if a["family"] == "inet" else "ipv6"
                found[fam].append(f"{a['local']}/{a['prefixlen']}")
        return found

    def mn_link(self) -> dict[str, Any]:
        (info,) = json.loads(self.mn.ip("-j", "link", "show", "dev", MN_IF))
        result: dict[str, Any] = info
        return result

    def move_to(self, ap: int) -> None:
        """The radio part of walking: the MN's port leaves one AP's bridge for the other's."""
        self.host("radio").ip("link", "set", "dev", "sta", "master", f"br{ap}")
        self.mn_at = ap

    # --- the fast path of a walk: no process per step ---------------------------------

    def _ctrl_socket(self, key: str, server: Path) -> CtrlSocket:
        if key not in self._ctrl:
            self._ctrl[key] = CtrlSocket(server, self.workdir / f"ctrl-{key}.sock")
        return self._ctrl[key]

    def supplicant_request(self, command: str) -> str:
        """One wpa_supplicant control command (LOGOFF, LOGON, REAUTHENTICATE, STATUS)."""
        return self._ctrl_socket("mn", self.supplicant_ctrl / MN_IF).request(command)

    def hostapd_request(self, ap: int, command: str) -> str:
        """One hostapd control command on AP ``ap`` (NEW_STA, DEAUTHENTICATE, STA)."""
        return self._ctrl_socket(f"ap{ap}", self.hostapd_ctrl_dir(ap) / "access").request(command)

    def open_radio(self) -> None:
        """A netlink socket in the radio namespace, so a move is one netlink request."""
        if self._radio_nl is None:
            self._radio_nl = RadioNetlink(self.host("radio").netns)

    def move_fast(self, ap: int) -> None:
        """``move_to`` over the open netlink socket (well under 1 ms instead of 10-30)."""
        self.open_radio()
        assert self._radio_nl is not None
        self._radio_nl.set_master("sta", f"br{ap}")
        self.mn_at = ap

    def associate_fast(self, ap: int) -> None:
        out = self.hostapd_request(ap, f"NEW_STA {MN_MAC}")
        if "OK" not in out:
            raise RuntimeError(f"hostapd on mag{ap} refused NEW_STA {MN_MAC}: {out.strip()}")

    @staticmethod
    def mono() -> float:
        return time.monotonic()

    def start_ping(self, family: str, target: str, interval_s: float) -> PingRun:
        log = self.workdir / "mn" / f"ping-{family}.log"
        flag = "-4" if family == "ipv4" else "-6"
        proc = self.mn.spawn(
            ["ping", flag, "-D", "-O", "-n", "-W", "1", "-i", f"{interval_s:g}", target], log
        )
        return PingRun(family, target, interval_s, log, proc)

    # --- teardown -----------------------------------------------------------------------

    def close(self) -> None:
        for ctrl in self._ctrl.values():
            ctrl.close()
        self._ctrl.clear()
        if self._radio_nl is not None:
            self._radio_nl.close()
            self._radio_nl = None
        self.dp.close()

    def cleanup_command(self) -> str:
        """A shell line that removes what ``--keep`` left running."""
        return (
            f"for ns in $(ip netns list | grep -o '^{self.prefix}-[a-z0-9]*'); do "
            'ip netns pids "$ns" | xargs -r kill -9; ip netns delete "$ns"; done'
        )
