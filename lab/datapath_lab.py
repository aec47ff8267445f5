"""A PMIPv6 domain with a data path: CN - LMA - MAG1/MAG2 - MN, real daemons, real kernel.

Built on :class:`lab.domain.Domain` (LMA + MAGs as ``mag-ap`` daemons
with the ``[plugin.datapath]`` datapath) plus two namespaces:

* ``cn``, the correspondent node behind the LMA: ``2001:db8:c0::2/64`` and
  ``198.51.100.2/24`` on ``eth0``; the LMA side is ``to-cn`` with ``::1`` / ``.1``;
  the CN routes the LMA's HNP pool (``2001:db8:100::/48``) and IPv4 pool
  (``10.200.0.0/16``) via the LMA.
* ``mn``, the mobile node, with one interface per MAG (``wl1`` to MAG1's
  ``access``, ``wl2`` to MAG2's ``access``) and the same MAC on both, so a
  handover is: take the addresses off one interface, put them on the other.
  Addresses are static for now (the HNP address ``<HNP>::100`` and the IPv4
  HoA from the MAG's binding), default routes via the MAG: IPv6 via the
  link-local ``fe80::1`` every MAG uses on its access link (RFC 5213
  section 6.9.3: the same link-local on every access link), IPv4 via the
  binding's default router, which the MAG datapath answers for on the access link.

Used by tests/netns/test_datapath_seg6.py and, with another encapsulation,
by the VM tier (lab/e2e_datapath.py holds the shared scenarios).
``close()`` removes every namespace and process, also after a failure.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Network
from pathlib import Path
from typing import Any

from .domain import Domain
from .topology import Closing, Host, wait_for

__all__ = ["ACCESS_LINK_LOCAL", "DatapathLab", "PingResult", "datapath_lab"]

ACCESS_LINK_LOCAL = "fe80::1"  # the MAGs' shared link-local address on the access links
MN_MAC = "02:00:00:00:aa:01"
CN6 = "2001:db8:c0::2"
CN4 = "198.51.100.2"
_PING_RE = re.compile(r"(\d+) packets transmitted, (\d+) received")
_RTT_RE = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


def _prefixes(binding: dict[str, Any]) -> tuple[Any, Any]:
    return binding.get("hnp"), binding.get("ipv4_hoa")


_PCAPNG_PACKET_BLOCKS = {2, 3, 6}  # obsolete, simple and enhanced packet blocks


def pcapng_packets(path: Path) -> int:
    """Packets in a pcapng file that may still be growing (a partial last block is
    not counted); a missing file has none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < 12:
        return 0
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    count, offset = 0, 0
    while offset + 12 <= len(data):
        block_type, length = struct.unpack_from(order + "II", data, offset)
        if length < 12 or offset + length > len(data):
            break
        count += block_type in _PCAPNG_PACKET_BLOCKS
        offset += length
    return count


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    rtt_avg_ms: float | None
    output: str

    @property
    def loss(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0


def datapath_section(**keys: object) -> str:
    """A ``[plugin.datapath]`` TOML table from keyword arguments (None values left out)."""
    return "[plugin.datapath]\n" + toml_keys(keys)


def toml_keys(keys: dict[str, object]) -> str:
    """``key = value`` TOML lines (strings, booleans, numbers; None values left out)."""
    lines = []
    for key, value in keys.items():
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    return "".join(f"{line}\n" for line in lines)


@dataclass
class DatapathLab(Closing):
    """The domain plus CN and MN; ``encapsulation`` goes to every daemon's [plugin.datapath]."""

    workdir: Path
    encapsulation: str = "auto"
    mags: int = 2
    transport: str = "ipv6"  # "ipv4": RFC 5844 transport (gre / ipip, VM tier only)
    mag_datapath: dict[str, object] = field(default_factory=dict)  # extra [plugin.datapath] keys
    lma_datapath: dict[str, object] = field(default_factory=dict)
    profile_extra: str = ""
    lma_keys: dict[str, object] = field(default_factory=dict)  # extra [lma] keys
    keyed_mags: tuple[int, ...] = ()  # MAGs whose profile asks for GRE keys (RFC 5845)
    # How long a daemon may take to start or stop: Python starts 35-45x slower in the
    # QEMU guest of the VM tier than on the host.
    daemon_timeout_s: float = 20.0
    domain: Domain = field(init=False)
    mn_at: int | None = None  # the MAG the MN is attached to
    binding: dict[str, Any] | None = None  # its binding there, as the MAG reported it
    mn_id: str = "walker@example.org"
    # running captures by pid: (host, interface, file, link packets when it started)
    _captures: dict[int, tuple[str, str, Path, int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        lma_section = datapath_section(encapsulation=self.encapsulation, **self.lma_datapath)
        mag_keys: dict[str, object] = {
            "access_interface": "access",
            "transport_interface": "uplink",
        }
        mag_keys.update(self.mag_datapath)
        mag_section = datapath_section(encapsulation=self.encapsulation, **mag_keys)
        self.domain = Domain(
            self.workdir,
            mags=self.mags,
            transport=self.transport,
            lma_extra=toml_keys(self.lma_keys) + "\n" + lma_section,
            mag_extra="\n" + mag_section,
            profile_extra=self.profile_extra,
        )

    def close(self) -> None:
        self.domain.close()

    # --- hosts ----------------------------------------------------------------------

    def host(self, name: str) -> Host:
        return self.domain.lab.hosts[name]

    @property
    def cn(self) -> Host:
        return self.host("cn")

    @property
    def mn(self) -> Host:
        return self.host("mn")

    # --- building -------------------------------------------------------------------

    def build(self) -> None:
        """Namespaces, links, addresses, forwarding; no daemons yet."""
        d = self.domain
        d.build()
        lab = d.lab
        lma = self.host("lma")
        cn = lab.add_host("cn")
        lab.link(lma, "to-cn", cn, "eth0")
        lma.ip("addr", "add", "2001:db8:c0::1/64", "dev", "to-cn")
        lma.ip("addr", "add", "198.51.100.1/24", "dev", "to-cn")
        cn.ip("addr", "add", f"{CN6}/64", "dev", "eth0")
        cn.ip("addr", "add", f"{CN4}/24", "dev", "eth0")
        cn.ip("-6", "route", "add", "2001:db8:100::/48", "via", "2001:db8:c0::1")
        cn.ip("-4", "route", "add", "10.200.0.0/16", "via", "198.51.100.1")
        for name in ["lma", *(f"mag{i}" for i in range(1, self.mags + 1))]:
            host = self.host(name)
            host.sysctl("net.ipv6.conf.all.forwarding", "1")
            host.sysctl("net.ipv4.ip_forward", "1")
        mn = lab.add_host("mn")
        for i in range(1, self.mags + 1):
            mag = self.host(f"mag{i}")
            lab.link(mag, "access", mn, f"wl{i}")
            mag.ip("addr", "add", f"{ACCESS_LINK_LOCAL}/64", "dev", "access", "nodad")
            mn.ip("link", "set", f"wl{i}", "address", MN_MAC)
        for i in self.keyed_mags:
            daemon = self.domain.mag[i - 1]
            table = "[plugin.localpolicy.default]\n"
            # The default profile is the config's last table: a key appended lands in it.
            assert "\n[" not in daemon.config_text.split(table, 1)[1], daemon.config_text
            daemon.config_text += "gre_key = true\n"

    def start(self) -> None:
        """Start every daemon at once (each one's start-up is mostly its own imports)."""
        d = self.domain
        daemons = [d.lma, *d.mag]
        with ThreadPoolExecutor(len(daemons)) as pool:
            started = [pool.submit(x.start, self.daemon_timeout_s) for x in daemons if x]
            for future in started:
                future.result()

    def restart(self, mag: int) -> None:
        """Start MAG ``mag``'s daemon again (after a stop or a kill)."""
        self.domain.mag[mag - 1].start(self.daemon_timeout_s)

    # --- the mobile node ------------------------------------------------------------

    def attach(self, mag: int, handoff: str | None = None) -> dict[str, Any]:
        """Attach the MN at ``mag`` (signalling), then give it its addresses there."""
        binding = self._register(mag, handoff)
        previous = self.mn_at
        commands = self._unconfigure_commands(previous) if previous not in (None, mag) else []
        self._mn_batch(commands + self._configure_commands(mag, binding))
        self.mn_at, self.binding = mag, binding
        self.wait_datapath(f"mag{mag}", present=True)
        return binding

    def _register(self, mag: int, handoff: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {"cmd": "attach", "mac": MN_MAC, "mn_id": self.mn_id}
        request["wait_s"] = 5
        if handoff is not None:
            request["handoff"] = handoff
        answer = self.domain.mag[mag - 1].request(request, timeout_s=10)
        if not answer.get("ok") or not answer.get("settled"):
            raise RuntimeError(f"attach at mag{mag} failed: {answer}")
        binding: dict[str, Any] = answer["binding"]
        if binding.get("state") != "bound":
            raise RuntimeError(f"attach at mag{mag} did not bind: {answer}")
        return binding

    def datapath_status(self, name: str) -> dict[str, Any]:
        """The netlink datapath's part of a daemon's status ({} with another datapath)."""
        d = self.domain
        daemon = d.lma if name == "lma" else d.mag[int(name[3:]) - 1]
        assert daemon is not None
        runtime = daemon.request({"cmd": "status"})["runtime"]
        found: dict[str, Any] = runtime.get("plugin_status", {}).get("mag_ap_datapath", {})
        return found

    def wait_datapath(self, name: str, present: bool, timeout_s: float = 10.0) -> None:
        """Wait until ``name``'s datapath has (or no longer has) the MN installed.

        The control socket answers "bound" when the PBA arrives; the datapath
        applies the action right after, asynchronously.
        """
        wait_for(
            lambda: (
                (self.mn_id in self.datapath_status(name).get("mobile_node_ids", [])) == present
            ),
            timeout_s,
            f"{name} datapath to {'install' if present else 'remove'} {self.mn_id}",
        )

    def detach(self, mag: int) -> None:
        self.domain.detach(mag, MN_MAC)
        if self.mn_at == mag:
            self._mn_batch(self._unconfigure_commands(mag))
            self.mn_at = self.binding = None

    def handover(self, to: int) -> dict[str, Any]:
        """The MN moves to MAG ``to`` while MAG ``to`` registers it (Handoff Indicator 3).

        As on a real link change, the MN keeps its addresses and moves them in one
        step (one ``ip -batch``) started together with the registration, so what a
        continuous ping loses is the registration's time, not the lab's. MAG
        ``from`` notices the loss afterwards. A new binding with other prefixes
        (which the LMA must not give on a handover) reconfigures the MN.
        """
        previous, old = self.mn_at, self.binding
        if previous is None or old is None or previous == to:
            return self.attach(to, handoff="MAG_CHANGE")
        move = self._mn_batch_start(
            self._unconfigure_commands(previous) + self._configure_commands(to, old)
        )
        try:
            binding = self._register(to, "MAG_CHANGE")
        finally:
            self._mn_batch_wait(move)
        self.mn_at, self.binding = to, binding
        if _prefixes(binding) != _prefixes(old):
            self._mn_batch(self._configure_commands(to, binding))
        self.wait_datapath(f"mag{to}", present=True)
        self.domain.detach(previous, MN_MAC)
        return binding

    def _configure_commands(self, mag: int, binding: dict[str, Any]) -> list[str]:
        dev = f"wl{mag}"
        out = [f"link set {dev} up"]
        if binding.get("hnp"):
            out.append(f"addr replace {self.hnp_address(binding)} dev {dev} nodad")
            out.append(f"route replace default via {ACCESS_LINK_LOCAL} dev {dev}")
        if binding.get("ipv4_hoa"):
            out.append(f"addr replace {IPv4Interface(binding['ipv4_hoa'])} dev {dev}")
            router = binding.get("ipv4_default_router")
            if router:
                out.append(f"route replace default via {router} dev {dev}")
        return out

    @staticmethod
    def _unconfigure_commands(mag: int) -> list[str]:
        return [f"addr flush dev wl{mag} scope global", f"link set wl{mag} down"]

    def _mn_batch_start(self, commands: list[str]) -> subprocess.Popen[str]:
        """``ip -batch`` in the MN's namespace: one process for every change."""
        proc = subprocess.Popen(
            ["ip", "-n", self.mn.netns, "-batch", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write("".join(f"{line}\n" for line in commands))
        proc.stdin.close()
        return proc

    @staticmethod
    def _mn_batch_wait(proc: subprocess.Popen[str]) -> None:
        out = proc.stdout.read() if proc.stdout is not None else ""
        if proc.wait(timeout=30) != 0:
            raise RuntimeError(f"ip -batch in the MN failed: {out}")

    def _mn_batch(self, commands: list[str]) -> None:
        self._mn_batch_wait(self._mn_batch_start(commands))

    @staticmethod
    def hnp_address(binding: dict[str, Any]) -> str:
        net = IPv6Network(binding["hnp"])
        return f"{net.network_address + 0x100}/{net.prefixlen}"

    # --- traffic --------------------------------------------------------------------

    def ping(
        self,
        src: Host,
        dst: str,
        *,
        count: int = 3,
        interval_s: float = 0.2,
        size: int | None = None,
        dont_fragment: bool = False,
        timeout_s: float = 10.0,
    ) -> PingResult:
        argv = ["ping", "-n", "-c", str(count), "-i", str(interval_s), "-W", "1", dst]
        if size is not None:
            argv[1:1] = ["-s", str(size)]
        if dont_fragment:
            argv[1:1] = ["-M", "do"]
        try:
            proc = subprocess.run(
                src.exec_argv(argv), capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            # Not through in time (ping's own -W bounds each reply; the rest is process
            # start, seconds in a loaded TCG guest): a failed attempt, not a crash.
            return PingResult(count, 0, None, f"ping did not finish within {timeout_s} s: {exc}")
        out = proc.stdout + proc.stderr
        m = _PING_RE.search(out)
        sent, received = (int(m.group(1)), int(m.group(2))) if m else (count, 0)
        rtt = _RTT_RE.search(out)
        return PingResult(sent, received, float(rtt.group(2)) if rtt else None, out)

    def ping_start(self, src: Host, dst: str, interval_s: float = 0.01) -> subprocess.Popen[str]:
        """A continuous ping (stopped and counted by :meth:`ping_stop`)."""
        argv = ["ping", "-n", "-q", "-i", str(interval_s), "-W", "1", dst]
        return subprocess.Popen(
            src.exec_argv(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    @staticmethod
    def ping_stop(proc: subprocess.Popen[str]) -> PingResult:
        """SIGINT (ping prints its summary); a reply still in flight counts as lost."""
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        m = _PING_RE.search(out)
        if m is None:
            raise RuntimeError(f"ping printed no summary: {out}")
        rtt = _RTT_RE.search(out)
        return PingResult(
            int(m.group(1)), int(m.group(2)), float(rtt.group(2)) if rtt else None, out
        )

    def wait_ping(self, src: Host, dst: str, timeout_s: float = 30.0) -> None:
        """Poll until one ping gets through (neighbour discovery, route install).

        Each attempt may take 10 s: starting ``ip netns exec ping`` alone took over
        3 s in the TCG guest under a 10 ms ping flood on a loaded host.
        """
        wait_for(
            lambda: self.ping(src, dst, count=1, timeout_s=10).received == 1,
            timeout_s,
            f"ping {dst} from {src.name}",
            interval_s=0.1,
        )

    def capture(self, name: str, ifname: str, path: Path) -> subprocess.Popen[bytes]:
        """dumpcap on ``ifname`` in ``name`` writing ``path`` (pcapng); stop with
        ``capture_stop``, which waits until every packet that crossed is in the file.

        dumpcap (C) rather than tshark: it starts in a blink also in the QEMU guest;
        decode the file afterwards with tshark wherever that is fast.
        """
        log = path.with_suffix(".log")
        proc = self.host(name).spawn(["dumpcap", "-q", "-i", ifname, "-w", str(path)], log)
        # "Capturing on" comes before the interface is open, "File:" after (with the
        # output file): only then is every packet seen.
        wait_for(
            lambda: proc.poll() is None and "File: " in log.read_text(errors="replace"),
            30,
            f"dumpcap on {name} {ifname}",
            interval_s=0.05,
        )
        self._captures[proc.pid] = (name, ifname, path, self.link_packets(name, ifname))
        return proc

    def link_packets(self, name: str, ifname: str) -> int:
        """Packets received plus sent by ``ifname`` so far (the kernel's counters)."""
        info = json.loads(self.host(name).ip("-j", "-s", "link", "show", "dev", ifname))
        stats = info[0].get("stats64") or info[0]["stats"]
        return int(stats["rx"]["packets"]) + int(stats["tx"]["packets"])

    def capture_stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop dumpcap once the file holds every packet that crossed the link so far.

        dumpcap hands packets to its file in blocks (up to a second late, later on a
        busy machine), and a SIGINT drops what is not written yet: stopping right after
        the traffic lost the last echo frames (the GRE-keys capture flake). So wait on
        the state: packets in the file >= what the link's counters say crossed it
        since the capture started, then stop.
        """
        name, ifname, path, before = self._captures.pop(proc.pid)
        crossed = self.link_packets(name, ifname) - before
        try:
            wait_for(
                lambda: proc.poll() is not None or pcapng_packets(path) >= crossed,
                30,
                f"dumpcap to write the {crossed} packets that crossed {name} {ifname}",
                interval_s=0.1,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)

    # --- kernel state ---------------------------------------------------------------

    def mn_state(self, name: str) -> list[str]:
        """``tagged_state`` without what stays until stop to serve whichever MN comes next.

        The seg6 endpoint (tunnel source, End.DX6/End.DX4 decapsulation routes,
        their rules, the moved ``local`` rule) and the unkeyed shared tunnel
        devices (ip6tnl, sit: one per peer); what is left here after the last MN
        leaves must be nothing else (a GRE-keyed device goes with its last MN).
        """
        return [
            line
            for line in self.tagged_state(name)
            if not (
                line.startswith("tunsrc ")
                or (line.startswith("link ") and ("link/tunnel6" in line or "link/sit" in line))
                or "seg6local" in line
                or (line.startswith("rule ") and ("ipproto" in line or "lookup local" in line))
            )
        ]

    def tagged_state(self, name: str, proto: int = 0xB5, prefix: str = "pm6-") -> list[str]:
        """Every route, rule, address and link in ``name`` carrying our tags (empty = clean)."""
        host = self.host(name)
        found: list[str] = []
        for fam in ("-4", "-6"):
            routes = host.ip(fam, "route", "show", "table", "all", "proto", str(proto))
            found += [f"route {fam} {line}" for line in routes.splitlines() if line.strip()]
            for line in host.ip(fam, "rule", "show").splitlines():
                if f"proto {proto}" in line or "lookup local" in line:
                    if line.startswith("0:") and "lookup local" in line:
                        continue  # the kernel's own local rule at 0: not ours
                    found.append(f"rule {fam} {line}")
        # iproute2 6.1 does not print an address's protocol: every IPv4 address on an
        # access link is ours (the lab puts none there; the datapath adds the default router).
        if "access" in host.ip("-o", "link", "show"):
            for line in host.ip("-4", "-o", "addr", "show", "dev", "access").splitlines():
                found.append(f"addr {line.strip()}")
        for line in host.ip("-o", "link", "show").splitlines():
            if f": {prefix}" in line:
                found.append(f"link {line}")
        tunsrc = host.run("ip", "sr", "tunsrc", "show", check=False).split()
        if tunsrc and tunsrc[-1] != "::":
            found.append(f"tunsrc {tunsrc[-1]}")
        return found


@contextlib.contextmanager
def datapath_lab(workdir: Path, start: bool = True, **kw: Any) -> Iterator[DatapathLab]:
    """A built (and started) DatapathLab; daemon logs on stderr when the body fails, and
    nothing left behind however it ends."""
    lab = DatapathLab(workdir, **kw)
    try:
        lab.build()
        if start:
            lab.start()
        yield lab
    except BaseException:
        d = lab.domain
        for daemon in [d.lma, *d.mag]:
            if daemon is not None:
                sys.stderr.write(f"--- {daemon.host.name} log ---\n{daemon.log_text()[-4000:]}\n")
        raise
    finally:
        lab.close()
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        assert lab.domain.lab.prefix not in left.stdout
