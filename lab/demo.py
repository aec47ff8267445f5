"""``make demo``: a dual-stack station authenticates, gets its home addresses and walks.

Everything is real and runs in network namespaces of this machine (root):
a correspondent node, the reference LMA (``mag-ap lma``) and two access points,
each a ``mag-ap run`` MAG with the kernel datapath, the collocated DHCPv4
server, router advertisements and a real ``hostapd`` (802.1X, wired driver)
feeding the hostapd trigger and identity plugin. The mobile node has one
interface and a fixed MAC; ``wpa_supplicant`` authenticates it as
``alice@example.net``, ``busybox udhcpc`` gets its IPv4 home address and the
kernel's SLAAC its IPv6 one, and two continuous pings (20 ms) run to the CN
while the node walks from one access point to the other: logoff at the old
AP (hostapd reports AP-STA-DISCONNECTED, the MAG de-registers), its radio port
moves to the new AP's bridge, logon there (802.1X again, PBU/PBA, RA, DHCP
state). Prints a timeline, writes ``demo-report.json`` and removes every
namespace and process, also on failure or Ctrl-C.

Usage: ``python -m lab.demo [--keep] [--json-only] [--handovers N] [--report PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
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
from .demo_report import PingLog, Timeline, parse_ping
from .domain import Daemon, mag_ap_command
from .topology import wait_for

CN6 = "2001:db8:c0::2"
CN4 = "198.51.100.2"
PING_INTERVAL_S = 0.02
_HI_NOTE = {
    1: "what the hostapd trigger path sends (no hint that the station came from another MAG); "
    "the old MAG had de-registered, so the LMA saw a new attachment; same HNP/HoA from its pools",
    3: "handoff between MAGs",
    4: "handoff state unknown: the LMA takes over the entry",
}
DEPARTURE = "hostapd AP-STA-DISCONNECTED after the station's EAPOL-Logoff (wpa_cli logoff)"


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

    def __init__(self, lab: DemoLab, handovers: int, say: Callable[[str], None]) -> None:
        self.lab = lab
        self.handovers = handovers
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
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
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
        self.start_pings()
        time.sleep(1.0)
        handovers = []
        at = 1
        for k in range(1, self.handovers + 1):
            to = 2 if at == 1 else 1
            handovers.append(self.walk(k, at, to))
            at = to
            time.sleep(1.0)
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

    def walk(self, k: int, at: int, to: int) -> dict[str, Any]:
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
            self.event(time.time(), f"AP{to}'s hostapd has forgotten the MN's last visit")
        start = time.time()
        self.event(start, f"handover {k}: MN walks from AP{at} to AP{to} (wpa_cli logoff)")
        successes = len(lab.eap_successes())
        lab.wpa_cli("logoff")
        self.wait(
            lambda: MN_MAC not in lab.authorized_at(at),
            5,
            f"AP{at} did not see the MN leave",
            f"hostapd{at}",
        )
        lab.move_to(to)
        moved = time.time()
        self.event(
            moved,
            f"radio: MN port moved to AP{to}'s bridge; wpa_cli logon; "
            f"association reported to AP{to} (hostapd NEW_STA)",
        )
        lab.wpa_cli("logon")
        self.wait(
            lambda: lab.supplicant_pae_state() == "CONNECTING",
            10,
            "wpa_supplicant did not reach CONNECTING after logon",
            "supplicant",
        )
        lab.associate(to)
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
        old = _log_events(lab.mag(at))
        gone = _first(old, "detach", start)
        if gone:
            self.event(gone[0], f"MAG{at}: station left ({gone[1].get('reason')}): de-register")
        new = _log_events(lab.mag(to))
        pbu = _first(new, "registering", start)
        if pbu:
            self.event(pbu[0], f"MAG{to} -> LMA: PBU")
        pba = _first(new, "binding up", start)
        lma = self.lma_binding() or {}
        hi = lma.get("handoff_indicator")
        if pba:
            self.event(
                pba[0],
                f"LMA -> MAG{to}: PBA accepted, AP{to} binding up "
                f"(HNP {binding['hnp']}, same: {binding['hnp'] == self.hnp})",
            )
            self.event(
                pba[0], f"  PBU Handoff Indicator {hi}: {_HI_NOTE.get(int(hi or 0), 'see report')}"
            )
        firsts = {}
        for family, run in self.pings.items():
            first = self.wait(
                functools.partial(_first_reply_after, run, moved),
                10,
                f"no {family} ping reply after handover {k}",
                f"mag{to}",
            )
            firsts[family] = first[1]
            self.event(first[1], f"first {family} ping reply after handover {k}")
        self.wait(
            lambda: self.mag_binding(at) is None, 10, f"MAG{at} still has a binding", f"mag{at}"
        )
        return {
            "number": k,
            "from_ap": at,
            "to_ap": to,
            "start_wall": start,
            "moved_wall": moved,
            "eap_success_wall": success[0],
            "first_reply_wall": firsts,
            "handoff_indicator": hi,
            "lma_binding": lma,
            "departure_detected_by": DEPARTURE,
            "binding": binding,
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
        lma_status = self.cli_status(lab.lma)
        mag_ids = [b["mn_id"] for b in mag_status["status"]["bindings"]]
        lma_ids = [b["mn_id"] for b in lma_status["status"].get("bindings", [])]
        per_handover = []
        for h in handovers:
            end = max(h["first_reply_wall"].values())
            window = (h["start_wall"] - 1.0, end + 1.0)
            fam: dict[str, Any] = {}
            for family, log in logs.items():
                sent, lost = log.window(*window)
                fam[family] = {
                    "interruption_ms": log.interruption_ms(h["start_wall"], end),
                    "window_sent": sent,
                    "window_lost": lost,
                    "first_reply_after_ms": round(
                        (h["first_reply_wall"][family] - h["start_wall"]) * 1000, 1
                    ),
                }
            per_handover.append(
                {
                    "number": h["number"],
                    "from": f"AP{h['from_ap']}",
                    "to": f"AP{h['to_ap']}",
                    "departure_detected_by": h["departure_detected_by"],
                    "handoff_indicator": h["handoff_indicator"],
                    "eap_ms": round((h["eap_success_wall"] - h["moved_wall"]) * 1000, 1),
                    "pbu_to_pba_ms": h["binding"].get("last_registration_delay_ms"),
                    "hnp": h["binding"].get("hnp"),
                    "ipv4_hoa": h["binding"].get("ipv4_hoa"),
                    "window_s": [round(w - self.start_wall, 3) for w in window],
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
            "attach_ms": {k: v for k, v in attach.items() if k not in ("binding", "started_wall")},
            "handovers": per_handover,
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
    lab = DemoLab(workdir)
    demo = Demo(lab, args.handovers, say)
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
            f"handover {h['number']} {h['from']}->{h['to']} (HI {h['handoff_indicator']}): "
            + "; ".join(parts)
        )
    for fam, p in report["ping"].items():
        lines.append(f"ping {fam} {p['target']}: sent {p['sent']}, lost {p['lost']}")
    lines.append(f"report: {path}")
    return "\n".join(lines)


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
    parser.add_argument("--handovers", type=int, default=1, metavar="N", help="walks (default 1)")
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
