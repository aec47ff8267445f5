"""``make demo``: a dual-stack station authenticates, gets its home addresses and walks.

Everything is real and runs in network namespaces of this machine (root):
a correspondent node, the reference LMA (``mag-ap lma``) and two access points,
each a ``mag-ap run`` MAG with the kernel datapath, the collocated DHCPv4
server, router advertisements and a real ``hostapd`` (802.1X, wired driver)
feeding the hostapd trigger and identity plugin. The mobile node has one
interface and a fixed MAC; ``wpa_supplicant`` authenticates it as
``alice@example.net``, ``busybox udhcpc`` gets its IPv4 home address and the
kernel's SLAAC its IPv6 one, and two continuous pings (10 ms) run to the CN
while the node walks between the access points, two ways:

* break-before-make (``bbm``): EAPOL-Logoff at the old AP (its MAG de-registers
  on hostapd's AP-STA-DISCONNECTED), the radio port moves, 802.1X at the new AP;
* make-before-break (``mbb``): the station associates with the new AP while the
  old one still holds it; the new MAG registers (Handoff Indicator 4, or 3 when
  it knows the MN left it for another MAG), the LMA switches the route and
  revokes the old MAG's binding (BRI); later the old AP's hostapd reports the
  departure, and its MAG finds nothing left to de-register.

The walk's own steps go over control sockets and one netlink socket, so the
lab's process spawning stays out of the measured gap. Each handover's gap
(the longest silence of each ping) is cut into steps from real events: the
demo's own actions, the supplicant's log, the daemons' JSON logs (``mono``,
CLOCK_MONOTONIC) and the ping capture; what no step covers is reported as
unaccounted. Prints a timeline and per-mode medians, writes ``demo-report.json``
and removes every namespace and process, also on failure or Ctrl-C.

Usage: ``python -m lab.demo [--keep] [--json-only] [--handovers N] [--mode bbm|mbb|both]
[--datapath auto|seg6|ip6tnl|ip6gre] [--report PATH]`` (a kernel with tunnel
modules for the last two: ``bench/handover_vm.py`` runs it in the VM tier).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any, TextIO

from mag_ap import __version__

from .demo_lab import MN_IF, MN_MAC, DemoLab, PingRun
from .demo_report import STEPS, PingLog, Timeline, breakdown, parse_ping, percentile
from .domain import Daemon, mag_ap_command
from .topology import wait_for

CN6 = "2001:db8:c0::2"
CN4 = "198.51.100.2"
PING_INTERVAL_S = 0.01
_HI_NOTE = {
    1: "new attachment",
    3: "handoff between MAGs (this MAG had the LMA's BRI for the MN's earlier move away)",
    4: "handoff state unknown (what a trigger knows): the LMA takes over the entry",
}
DEPARTURE = {
    "bbm": "hostapd AP-STA-DISCONNECTED after the station's EAPOL-Logoff: the old MAG de-registers",
    "mbb": "the LMA's BRI (inter-MAG handover) to the old MAG; hostapd's late "
    "AP-STA-DISCONNECTED (deauthentication) there finds nothing left",
}
MODES = {"bbm": "break-before-make", "mbb": "make-before-break"}


class DemoError(RuntimeError):
    """A step did not happen in time; the message says which and shows the relevant log."""


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _log_events(daemon: Daemon) -> list[tuple[float, str, dict[str, Any]]]:
    """(wall time, message, fields) of every JSON log line of a daemon."""
    out = []
    for line in daemon.log_text().splitlines():
        try:
            record = json.loads(line)
            wall = datetime.fromisoformat(record["ts"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        out.append((wall, str(record.get("msg", "")), dict(record.get("fields") or {})))
    return out


def _wall_minus_mono() -> float:
    """CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest of a few paired readings."""
    best = None
    for _ in range(5):
        m0 = time.monotonic()
        wall = time.time()
        m1 = time.monotonic()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, wall - (m0 + m1) / 2)
    assert best is not None
    return best[1]


def _mono_events(daemon: Daemon) -> list[tuple[float, str, dict[str, Any]]]:
    """(monotonic time, message, fields) of every JSON log line that has ``mono``."""
    out = []
    for line in daemon.log_text().splitlines():
        try:
            record = json.loads(line)
            mono = float(record["mono"])
        except (ValueError, KeyError, TypeError):
            continue
        out.append((mono, str(record.get("msg", "")), dict(record.get("fields") or {})))
    return out


def _first_mono(
    events: list[tuple[float, str, dict[str, Any]]], msg: str, after: float, **fields: Any
) -> tuple[float, dict[str, Any]] | None:
    """The first event ``msg`` at or after monotonic ``after`` with these fields."""
    for mono, text, got in events:
        if (
            text == msg
            and mono >= after
            and all(str(got.get(k)) == str(v) for k, v in fields.items())
        ):
            return mono, got
    return None


def _first(
    events: list[tuple[float, str, dict[str, Any]]], msg: str, after: float, **fields: Any
) -> tuple[float, dict[str, Any]] | None:
    """The first event ``msg`` at or after ``after`` (log times have ms resolution)."""
    for wall, text, got in events:
        matches = all(str(got.get(k)) == str(v) for k, v in fields.items())
        if text == msg and wall >= after - 0.001 and matches:
            return wall, got
    return None


def _first_reply_after(run: PingRun, wall: float) -> tuple[int, float] | None:
    return parse_ping(run.output()).first_reply_after(wall)


def _versions() -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError as exc:
            return f"unavailable: {exc}"
        text = (proc.stdout + proc.stderr).strip()
        return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "mag_ap": __version__,
        "python": platform.python_version(),
        "pyroute2": dist("pyroute2"),
        "kernel": platform.release(),
        "hostapd": first_line(["hostapd", "-v"]),
        "wpa_supplicant": first_line(["wpa_supplicant", "-v"]),
        "busybox": first_line(["busybox"]),
        "iproute2": first_line(["ip", "-V"]),
        "ping": first_line(["ping", "-V"]),
    }


class Demo:
    """One run: build, attach, ping, walk, report. Raises DemoError with the reason."""

    def __init__(
        self,
        lab: DemoLab,
        handovers: int,
        say: Callable[[str], None],
        modes: tuple[str, ...],
        slow: float = 1.0,
    ) -> None:
        self.lab = lab
        self.slow = slow  # every wait's deadline is multiplied by this (an emulated guest)
        self.handovers = handovers
        self.modes = modes
        # ping -D and wpa_supplicant -t print wall time; the daemons log CLOCK_MONOTONIC
        self.wall_minus_mono = _wall_minus_mono()
        self.say = say
        self.start_wall = time.time()
        self.timeline = Timeline(self.start_wall)
        self.pings: dict[str, PingRun] = {}
        self.addresses_before: dict[str, list[str]] = {}
        self.hnp: str | None = None

    # --- small helpers -------------------------------------------------------------

    def event(self, wall: float, text: str) -> None:
        self.timeline.add(wall, text)
        self.say(f"{wall - self.start_wall:8.3f} s  {text}")

    def wait(
        self, condition: Callable[[], Any], timeout_s: float, what: str, logs: str = "mag1"
    ) -> Any:
        """Poll until ``condition()`` is truthy; else fail naming ``what`` and a log."""
        timeout_s *= self.slow
        try:
            return wait_for(condition, timeout_s, what, interval_s=0.01)
        except TimeoutError:
            raise DemoError(f"{what} within {timeout_s:g} s; {self._log_for(logs)}") from None

    def _log_for(self, who: str) -> str:
        lab = self.lab
        if who.startswith("mag"):
            text = lab.mag(int(who[3:])).log_text()
        elif who == "lma":
            text = lab.lma.log_text()
        elif who == "supplicant":
            text = lab.supplicant_log.read_text(errors="replace")
        elif who.startswith("hostapd"):
            text = lab.hostapd_log(int(who[7:])).read_text(errors="replace")
        else:
            path = lab.workdir / "mn" / f"{who}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
        return f"{who} log (last lines):\n{_tail(text)}"

    def mag_binding(self, i: int) -> dict[str, Any] | None:
        for binding in self.lab.mag(i).status()["bindings"]:
            if binding.get("mac") == MN_MAC:
                found: dict[str, Any] = binding
                return found
        return None

    def lma_binding(self) -> dict[str, Any] | None:
        for binding in self.lab.lma.status().get("bindings", []):
            if binding.get("mn_id") == self.lab.identity:
                found: dict[str, Any] = binding
                return found
        return None

    def cli_status(self, daemon: Daemon) -> dict[str, Any]:
        """``mag-ap status --json`` exactly as an operator would run it."""
        argv = [*mag_ap_command(), "status", "--json", "-s", str(daemon.socket)]
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=20 * self.slow, check=False
        )
        if proc.returncode != 0:
            raise DemoError(f"mag-ap status failed: {proc.stderr.strip()}")
        answer: dict[str, Any] = json.loads(proc.stdout)
        return answer

    def slaac_address(self, hnp: str) -> str | None:
        prefix = IPv6Network(hnp)
        for addr in self.lab.addresses()["ipv6"]:
            if IPv6Address(addr.split("/")[0]) in prefix:
                return addr
        return None

    # --- the story -------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        lab = self.lab
        self.say(f"mag-ap demo: lab prefix {lab.prefix}, work directory {lab.workdir}")
        lab.build()
        lab.start()
        encapsulation = lab.dp.datapath_status("mag1").get("encapsulation", "?")
        self.event(
            time.time(),
            f"lab built: CN, LMA, AP1 and AP2 (mag-ap run + hostapd), radio, MN; "
            f"datapath {encapsulation}",
        )
        attach = self.attach()
        lab.open_radio()
        self.start_pings()
        time.sleep(1.0)
        handovers = []
        at = 1
        k = 0
        for mode in self.modes:
            for _ in range(self.handovers):
                k += 1
                to = 2 if at == 1 else 1
                handovers.append(self.walk(k, at, to, mode))
                at = to
        time.sleep(0.5)
        logs = {family: parse_ping(run.stop()) for family, run in self.pings.items()}
        return self.finish(attach, handovers, logs, at)

    def attach(self) -> dict[str, Any]:
        lab = self.lab
        started = time.time()
        lab.start_supplicant()
        self.event(
            started, f"MN {MN_MAC} on AP1: wpa_supplicant -Dwired, EAP-MD5 as {lab.identity}"
        )
        self.wait(
            lambda: lab.supplicant_pae_state() == "CONNECTING",
            10,
            "wpa_supplicant did not reach CONNECTING",
            "supplicant",
        )
        lab.associate(1)
        self.event(time.time(), "radio: MN associated with AP1 (hostapd NEW_STA: starts 802.1X)")
        success = self.wait(lab.eap_successes, 15, "802.1X success (EAP-MD5) not seen", "hostapd1")
        self.event(success[0], "802.1X success at AP1 (CTRL-EVENT-EAP-SUCCESS)")
        lab.start_udhcpc()
        binding = self.wait(
            lambda: (b := self.mag_binding(1)) and b.get("state") == "bound" and b,
            10,
            "MAG1 binding not bound",
        )
        events = _log_events(lab.mag(1))
        trig = _first(events, "attach", started, source="trigger")
        if trig:
            self.event(trig[0], f"MAG1: hostapd trigger attach, MN-ID {trig[1].get('mn_id')}")
        pbu = _first(events, "registering", started)
        if pbu:
            self.event(pbu[0], "MAG1 -> LMA: PBU (initial registration)")
        pba = _first(events, "binding up", started)
        if pba:
            self.event(
                pba[0],
                f"LMA -> MAG1: PBA accepted: HNP {binding['hnp']}, IPv4 HoA {binding['ipv4_hoa']} "
                f"(registration {binding.get('last_registration_delay_ms')} ms, mag-ap status)",
            )
        lease = self.wait(
            lambda: [e for e in lab.dhcp_events_seen() if e[1] == "bound"],
            15,
            "DHCP lease not obtained",
        )[0]
        # the hook writes "bound" before it configures: pings wait for the default route
        self.wait(
            lambda: [e for e in lab.dhcp_events_seen() if e[1] == "bound-configured"],
            15,
            "DHCP lease not configured on the MN",
        )
        self.event(
            lease[0],
            f"MN: DHCP lease {lease[2].get('ip')}/{lease[2].get('mask')} "
            f"router {lease[2].get('router')} (udhcpc)",
        )
        hnp = str(binding["hnp"])
        slaac = self.wait(lambda: self.slaac_address(hnp), 15, f"SLAAC address in {hnp} not seen")
        slaac_wall = time.time()
        self.event(slaac_wall, f"MN: SLAAC address {slaac} (kernel, RA from the fixed link-local)")
        self.hnp = hnp
        self.addresses_before = lab.addresses()
        return {
            "started_wall": started,
            "eap_success_ms": round((success[0] - started) * 1000, 1),
            "pbu_to_pba_ms": binding.get("last_registration_delay_ms"),
            "dhcp_lease_ms": round((lease[0] - started) * 1000, 1),
            "slaac_ms": round((slaac_wall - started) * 1000, 1),
            "dual_stack_ms": round((max(lease[0], slaac_wall) - started) * 1000, 1),
            "binding": binding,
        }

    def start_pings(self) -> None:
        lab = self.lab
        started = time.time()
        for family, target in (("ipv4", CN4), ("ipv6", CN6)):
            self.pings[family] = lab.start_ping(family, target, PING_INTERVAL_S)
        for family, run in self.pings.items():
            first = self.wait(
                functools.partial(_first_reply_after, run, started),
                10,
                f"no {family} ping reply from the CN {run.target}",
            )
            self.event(first[1], f"first {family} ping reply from CN {run.target}")

    def walk(self, k: int, at: int, to: int, mode: str) -> dict[str, Any]:
        """One handover, break-before-make ("bbm") or make-before-break ("mbb").

        The steps inside the gap go over control sockets and one netlink socket:
        the demo's own process spawning is not in the measured time. Waiting and
        collecting happen afterwards, from the events' own timestamps.
        """
        lab = self.lab
        if MN_MAC in lab.stations_at(to):
            # hostapd keeps a station it deauthenticated for 5 s and ignores its
            # association (NEW_STA) and EAPOL-Start until then: the MN stays put meanwhile.
            self.wait(
                lambda: MN_MAC not in lab.stations_at(to),
                15,
                f"AP{to}'s hostapd still lists the MN from its last visit",
                f"hostapd{to}",
            )
        successes = len(lab.eap_successes())
        starts = len(lab.eap_starts())
        time.sleep(0.2)  # pings flowing steadily before the walk
        self.wall_minus_mono = _wall_minus_mono()
        start = time.time()
        if mode == "bbm":
            self.event(
                start, f"handover {k} (break-before-make): MN logs off AP{at}, walks to AP{to}"
            )
            leave = time.monotonic()
            lab.supplicant_request("LOGOFF")
            lab.move_fast(to)
            lab.supplicant_request("LOGON")
            lab.associate_fast(to)
        else:
            self.event(
                start,
                f"handover {k} (make-before-break): MN associates with AP{to} "
                f"while AP{at} still holds it",
            )
            leave = time.monotonic()
            lab.move_fast(to)
            lab.associate_fast(to)
        associated = time.monotonic()
        success = self.wait(
            lambda: lab.eap_successes()[successes:],
            15,
            f"802.1X success at AP{to} not seen",
            f"hostapd{to}",
        )
        self.event(success[0], f"802.1X success at AP{to}")
        binding = self.wait(
            lambda: (b := self.mag_binding(to)) and b.get("state") == "bound" and b,
            10,
            f"MAG{to} binding not bound",
            f"mag{to}",
        )
        self.wait(
            lambda: self.mag_binding(at) is None, 10, f"MAG{at} still has a binding", f"mag{at}"
        )
        for family, run in self.pings.items():
            first = self.wait(
                functools.partial(_first_reply_after, run, self.to_wall(associated) + 0.05),
                10,
                f"no {family} ping reply after handover {k}",
                f"mag{to}",
            )
        time.sleep(0.3)  # replies after the gap, so the gap is closed on both sides
        late = None
        if mode == "mbb":
            # AP{at} learns of the departure late (inactivity, deauthentication): its
            # MAG finds nothing to de-register, the LMA's BRI already cleaned up.
            late = time.monotonic()  # hostapd reports the departure before it answers
            lab.hostapd_request(at, f"DEAUTHENTICATE {MN_MAC}")
            self.wait(
                lambda: _first_mono(_mono_events(lab.mag(at)), "detach", late, mac=MN_MAC),
                5,
                f"MAG{at} did not hear of the late departure",
                f"mag{at}",
            )
        started = lab.eap_starts()[starts:]
        marks = self.milestones(at, to, leave, associated, success[0])
        marks["eap_started"] = self.to_mono(started[0]) if started else None
        lma = self.lma_binding() or {}
        hi = lma.get("handoff_indicator")
        self.event(
            self.to_wall(marks["pbu"] or leave),
            f"MAG{to} -> LMA: PBU, Handoff Indicator {hi}: {_HI_NOTE.get(int(hi or 0), '?')}",
        )
        old = _mono_events(lab.mag(at))
        revoked = _first_mono(old, "binding revocation", leave)
        if revoked:
            self.event(
                self.to_wall(revoked[0]),
                f"MAG{at}: LMA's BRI (trigger {revoked[1].get('trigger')}): binding removed",
            )
        gone = _first_mono(old, "detach", leave)
        if gone:
            self.event(self.to_wall(gone[0]), f"MAG{at}: station left ({gone[1].get('reason')})")
        families: dict[str, Any] = {}
        for family, run in self.pings.items():
            families[family] = self.family_breakdown(parse_ping(run.output()), leave, marks)
            first = families[family].get("first_reply_mono")
            if first is not None:
                self.event(self.to_wall(first), f"first {family} ping reply after handover {k}")
        return {
            "number": k,
            "mode": mode,
            "from_ap": at,
            "to_ap": to,
            "start_wall": start,
            "leave_mono": leave,
            "eap_success_wall": success[0],
            "handoff_indicator": hi,
            "lma_binding": lma,
            "departure_detected_by": DEPARTURE[mode],
            "old_mag_cleanup": (
                f"BRI trigger {revoked[1].get('trigger')}" if revoked else "de-registration"
            ),
            "late_departure_ignored": late is not None
            and _first_mono(old, "detach of an unknown station ignored", late) is not None,
            "binding": binding,
            "milestones_ms": {
                name: None if at_ is None else round((at_ - leave) * 1000, 2)
                for name, at_ in marks.items()
            },
            "families": families,
        }

    def to_wall(self, mono: float) -> float:
        return mono + self.wall_minus_mono

    def to_mono(self, wall: float) -> float:
        return wall - self.wall_minus_mono

    def milestones(
        self, at: int, to: int, leave: float, associated: float, eap_wall: float
    ) -> dict[str, float | None]:
        """The handover's events on the monotonic clock, each from its own source."""
        lab = self.lab
        new = _mono_events(lab.mag(to))
        old = _mono_events(lab.mag(at))
        lma = _mono_events(lab.lma)

        def t(found: tuple[float, dict[str, Any]] | None) -> float | None:
            return found[0] if found else None

        route = _first_mono(lma, "mobile route up", leave)
        return {
            "leave": leave,
            "associated": associated,
            "eap_success": self.to_mono(eap_wall),
            "old_down": t(_first_mono(old, "binding down", leave, mac=MN_MAC)),
            "trigger": t(_first_mono(new, "trigger: station attached", leave, mac=MN_MAC)),
            "attach": t(_first_mono(new, "attach", leave, mac=MN_MAC)),
            "pbu": t(_first_mono(new, "registering", leave, mac=MN_MAC)),
            "pba": t(_first_mono(new, "binding up", leave, mac=MN_MAC)),
            "datapath_done": t(
                _first_mono(new, "action applied", leave, provider="datapath", action="BindingUp")
            ),
            "ra_done": t(
                _first_mono(new, "action applied", leave, provider="ra", action="BindingUp")
            ),
            "lma_route": t(route),
            "lma_route_done": t(
                _first_mono(lma, "action applied", route[0], action="MobileRouteUp")
                if route
                else None
            ),
        }

    def family_breakdown(
        self, log: PingLog, leave: float, marks: dict[str, float | None]
    ) -> dict[str, Any]:
        """The longest silence around the walk, and its steps.

        The window reaches 1 s past the later of the LMA's route switch and the new
        MAG's datapath, at least 3 s past the departure: a PBA that came late (a
        retransmitted PBU) must not cut the silence short.
        """
        done = [m for m in (marks.get("datapath_done"), marks.get("lma_route_done")) if m]
        restored = max(done, default=leave)
        lo = self.to_wall(leave) - 0.2
        hi = self.to_wall(max(leave + 3.0, restored + 1.0))
        times = sorted((t, seq) for seq, t in log.replies.items() if lo <= t <= hi)
        if len(times) < 2:
            return {"interruption_ms": None}
        (a, _), (b, seq) = max(itertools.pairwise(times), key=lambda p: p[1][0] - p[0][0])
        sent = log.sent_at(seq)
        family_marks = dict(marks)
        family_marks.update(
            last_reply=self.to_mono(a),
            first_reply=self.to_mono(b),
            first_echo_sent=None if sent is None else self.to_mono(sent),
        )
        cut = breakdown(family_marks)
        sent_n, lost_n = log.window(self.to_wall(leave) - 1.0, b + 1.0)
        return {
            "interruption_ms": round((b - a) * 1000, 1),
            "window_sent": sent_n,
            "window_lost": lost_n,
            "first_reply_mono": self.to_mono(b),
            "breakdown": cut.as_json() if cut is not None else None,
        }

    def finish(
        self,
        attach: dict[str, Any],
        handovers: list[dict[str, Any]],
        logs: dict[str, PingLog],
        at: int,
    ) -> dict[str, Any]:
        lab = self.lab
        addresses_after = lab.addresses()
        mag_status = self.cli_status(lab.mag(at))
        tunnels = lab.dp.datapath_status(f"mag{at}").get("tunnels", [])
        lma_status = self.cli_status(lab.lma)
        mag_ids = [b["mn_id"] for b in mag_status["status"]["bindings"]]
        lma_ids = [b["mn_id"] for b in lma_status["status"].get("bindings", [])]
        per_handover = []
        for h in handovers:
            fam: dict[str, Any] = {}
            for family, f in h["families"].items():
                fam[family] = {
                    "interruption_ms": f.get("interruption_ms"),
                    "window_sent": f.get("window_sent"),
                    "window_lost": f.get("window_lost"),
                    "first_reply_after_ms": None
                    if f.get("first_reply_mono") is None
                    else round((f["first_reply_mono"] - h["leave_mono"]) * 1000, 1),
                    "breakdown": f.get("breakdown"),
                }
            per_handover.append(
                {
                    "number": h["number"],
                    "mode": h["mode"],
                    "from": f"AP{h['from_ap']}",
                    "to": f"AP{h['to_ap']}",
                    "departure_detected_by": h["departure_detected_by"],
                    "old_mag_cleanup": h["old_mag_cleanup"],
                    "late_departure_ignored": h["late_departure_ignored"],
                    "handoff_indicator": h["handoff_indicator"],
                    "eap_ms": h["milestones_ms"].get("eap_success"),
                    "pbu_to_pba_ms": h["binding"].get("last_registration_delay_ms"),
                    "hnp": h["binding"].get("hnp"),
                    "ipv4_hoa": h["binding"].get("ipv4_hoa"),
                    "milestones_ms": h["milestones_ms"],
                    "ping": fam,
                }
            )
        report: dict[str, Any] = {
            "ok": True,
            "lab_prefix": lab.prefix,
            "workdir": str(lab.workdir),
            "mobile_node": {
                "interface": MN_IF,
                "mac": MN_MAC,
                "mac_after": lab.mn_link().get("address"),
                "nai": lab.identity,
            },
            "addresses": {"before": self.addresses_before, "after": addresses_after},
            "mn_id": {"mag": mag_ids, "mag_daemon": f"mag{at}", "lma": lma_ids},
            "datapath": {
                "encapsulation": sorted({str(t.get("encapsulation")) for t in tunnels}),
                "kernel": platform.release(),
            },
            "attach_ms": {k: v for k, v in attach.items() if k not in ("binding", "started_wall")},
            "handovers": per_handover,
            "summary": summarize(per_handover),
            "ping": {
                family: {
                    "target": self.pings[family].target,
                    "interval_ms": PING_INTERVAL_S * 1000,
                    "sent": log.transmitted,
                    "received": log.received,
                    "lost": log.lost,
                }
                for family, log in logs.items()
            },
            "lma_binding": self.lma_binding(),
            "lma_counters": {
                k: v
                for k, v in lma_status["status"].get("counters", {}).items()
                if k
                in (
                    "registrations",
                    "handovers",
                    "new_attachments_after_deregistration",
                    "deregistrations",
                    "refreshes",
                )
            },
            "timeline": self.timeline.rows(),
            "versions": _versions(),
        }
        return report


def _run_demo(args: argparse.Namespace, out: TextIO) -> int:
    def say(text: str) -> None:
        if not args.json_only:
            print(text, file=out, flush=True)

    if os.geteuid() != 0:
        print("mag-ap demo: needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="mag-ap-demo-"))
    lab = DemoLab(
        workdir,
        encapsulation="auto" if args.datapath == "ip6gre" else args.datapath,
        gre_keys=args.datapath == "ip6gre",
        daemon_timeout_s=20.0 * args.slow,
    )
    modes = tuple(MODES) if args.mode == "both" else (args.mode,)
    demo = Demo(lab, args.handovers, say, modes, slow=args.slow)
    report_path = Path(args.report)
    rc = 1
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        report = demo.run()
        rc = 0
    except KeyboardInterrupt:
        print("\nmag-ap demo: interrupted; cleaning up", file=sys.stderr)
        report, rc = {"ok": False, "error": "interrupted", "lab_prefix": lab.prefix}, 130
    except DemoError as exc:
        print(f"mag-ap demo failed: {exc}", file=sys.stderr)
        report = {
            "ok": False,
            "error": str(exc),
            "lab_prefix": lab.prefix,
            "timeline": demo.timeline.rows(),
        }
    except Exception as exc:  # a lab command failed: say what, with the MAG log
        print(f"mag-ap demo failed: {exc!r}\n{demo._log_for('mag1')}", file=sys.stderr)
        report = {
            "ok": False,
            "error": repr(exc),
            "lab_prefix": lab.prefix,
            "timeline": demo.timeline.rows(),
        }
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.keep:
            print(
                f"mag-ap demo: lab left up (--keep); files in {workdir}\n"
                f"  clean up with: {lab.cleanup_command()}",
                file=sys.stderr,
            )
        else:
            with _no_interrupts():
                lab.close()
                shutil.rmtree(workdir, ignore_errors=True)
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    if args.json_only:
        print(json.dumps(report, indent=2, sort_keys=True, default=str), file=out)
    elif rc == 0:
        print(_summary(report, demo.timeline, report_path), file=out)
    return rc


def summarize(handovers: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode and family: interruption p50/p95, losses, unaccounted time, step medians."""
    out: dict[str, Any] = {}
    for mode in MODES:
        walks = [h for h in handovers if h["mode"] == mode]
        if not walks:
            continue
        per_family: dict[str, Any] = {}
        for family in ("ipv4", "ipv6"):
            rows = [h["ping"][family] for h in walks if family in h["ping"]]
            gaps = [r["interruption_ms"] for r in rows if r["interruption_ms"] is not None]
            lost = [r["window_lost"] for r in rows if r.get("window_lost") is not None]
            cuts = [r["breakdown"] for r in rows if r.get("breakdown")]
            steps: dict[str, list[float]] = {}
            for cut in cuts:
                for step in cut["steps"]:
                    steps.setdefault(step["step"], []).append(step["ms"])
            per_family[family] = {
                "walks": len(rows),
                "interruption_p50_ms": percentile(gaps, 50),
                "interruption_p95_ms": percentile(gaps, 95),
                "interruption_max_ms": max(gaps, default=None),
                "lost_per_handover_p50": percentile([float(x) for x in lost], 50),
                "lost_per_handover_max": max(lost, default=None),
                "unaccounted_p50_ms": percentile([c["unaccounted_ms"] for c in cuts], 50),
                "unaccounted_max_ms": max((c["unaccounted_ms"] for c in cuts), default=None),
                "step_p50_ms": {
                    label: percentile(steps[label], 50) for label, _, _ in STEPS if label in steps
                },
            }
        out[mode] = per_family
    return out


def _summary(report: dict[str, Any], timeline: Timeline, path: Path) -> str:
    lines = ["", "Timeline (seconds since start):", timeline.render(), ""]
    before, after = report["addresses"]["before"], report["addresses"]["after"]
    lines.append(f"addresses before: {before}")
    lines.append(f"addresses after:  {after}  (same: {before == after})")
    lines.append(
        f"MN-ID on the MAG: {report['mn_id']['mag']}, in the LMA: {report['mn_id']['lma']}"
    )
    for h in report["handovers"]:
        parts = [
            f"{fam} interruption {v['interruption_ms']} ms, lost {v['window_lost']}/"
            f"{v['window_sent']} in the window"
            for fam, v in h["ping"].items()
        ]
        lines.append(
            f"handover {h['number']} {h['mode']} {h['from']}->{h['to']} "
            f"(HI {h['handoff_indicator']}, old MAG: {h['old_mag_cleanup']}): " + "; ".join(parts)
        )
    for mode, families in report["summary"].items():
        lines.append("")
        lines.append(f"{MODES[mode]}: median per step (ms), from real events")
        labels = [label for label, _, _ in STEPS]
        lines.append(f"  {'step':<58} " + " ".join(f"{f:>6}" for f in families))
        for label in labels:
            cells = [families[f]["step_p50_ms"].get(label) for f in families]
            if all(c is None for c in cells):
                continue
            lines.append(f"  {label:<58} " + " ".join(f"{_cell(c):>6}" for c in cells))
        for key, name in (
            ("unaccounted_p50_ms", "unaccounted (p50)"),
            ("unaccounted_max_ms", "unaccounted (max)"),
            ("interruption_p50_ms", "interruption p50"),
            ("interruption_p95_ms", "interruption p95"),
            ("lost_per_handover_max", "lost per handover (max)"),
        ):
            cells = [families[f][key] for f in families]
            lines.append(f"  {name:<58} " + " ".join(f"{_cell(c):>6}" for c in cells))
    for fam, p in report["ping"].items():
        lines.append(f"ping {fam} {p['target']}: sent {p['sent']}, lost {p['lost']}")
    lines.append(f"report: {path}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _no_interrupts() -> Any:
    """Clean-up is not interrupted by a second Ctrl-C."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the lab up for inspection")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON report")
    parser.add_argument(
        "--handovers", type=int, default=1, metavar="N", help="walks per mode (default 1)"
    )
    parser.add_argument(
        "--mode",
        choices=("both", *MODES),
        default="both",
        help="break-before-make (bbm), make-before-break (mbb) or both (default)",
    )
    parser.add_argument(
        "--datapath",
        choices=("auto", "seg6", "ip6tnl", "ip6gre"),
        default="auto",
        help="encapsulation of every daemon (ip6gre: GRE keys negotiated, RFC 5845); "
        "auto: ip6tnl where the kernel has it, else seg6 (default)",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every deadline by F (an emulated guest: bench/handover_vm.py uses 12)",
    )
    parser.add_argument("--report", default="demo-report.json", help="where to write the report")
    args = parser.parse_args(argv)
    if args.handovers < 0:
        parser.error("--handovers must be >= 0")
    # A shell starts background jobs with SIGINT ignored, and Python then keeps it ignored:
    # Ctrl-C (or a test's SIGINT) must still interrupt the demo and clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return _run_demo(args, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
