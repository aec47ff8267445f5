"""The guest's datapath captures, decoded on the host with tshark (an independent decoder).

tests/vm/guest/guest_test_datapath.py runs real ``mag-ap`` daemons with the
netlink datapath on the guest kernel's tunnel modules and records dumpcap
captures of each MAG-LMA link plus the facts needed to read them (addresses,
the GRE keys of the binding, handover ping counts) in the share of the
``guest_pytest`` boot. This module checks what went over the wire: the
encapsulation (next header 41 / 4, GRE 47 with the negotiated keys, IPv4
protocol 41 / 4 / 47), no destination options header, and that the keys in the
PBU/PBA are those on the packets. When the guest test that writes a capture
failed, these fail too, with the guest's own assertion text.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import vm
from tests.conftest import require_tool
from tests.vm.conftest import guest_failures

FIELDS = ("frame.protocols", "ip.src", "ip.dst", "ip.proto", "ipv6.src", "ipv6.dst",
          "ipv6.nxt", "gre.key", "gre.proto", "udp.dstport", "mip6.mhtype", "mip6.gre_key",
          "icmp.type", "icmpv6.type")  # fmt: skip
ECHO = {"icmp.type": ("8", "0"), "icmpv6.type": ("128", "129")}  # request, reply
PBU, PBA = "5", "6"  # MH types: Binding Update / Acknowledgement (RFC 6275; proxy: RFC 5213)


@dataclass(frozen=True)
class Frame:
    """One captured frame: every occurrence of each field, outermost header first."""

    values: dict[str, list[str]]

    def get(self, name: str) -> list[str]:
        return self.values[name]

    def first(self, name: str) -> str:
        return (self.values[name] or [""])[0]

    def outer_family(self) -> str:
        """ "ipv6" or "ip": the first IP header after Ethernet."""
        layers = self.first("frame.protocols").split(":")
        return next((x for x in layers if x in ("ip", "ipv6")), "")

    def outer(self) -> tuple[str, str]:
        """Outer source and destination (IPv6 or IPv4 transport)."""
        fam = self.outer_family()
        return self.first(f"{fam}.src"), self.first(f"{fam}.dst")

    def outer_protocol(self) -> str:
        """Outer next header (IPv6 transport) or protocol (IPv4 transport)."""
        return self.first("ipv6.nxt" if self.outer_family() == "ipv6" else "ip.proto")

    def inner(self) -> tuple[str, str]:
        """The MN-CN addresses inside the tunnel (the last IP header of either family)."""
        outer = self.outer()
        for src, dst in (("ipv6.src", "ipv6.dst"), ("ip.src", "ip.dst")):
            pairs = list(zip(self.values[src], self.values[dst], strict=True))
            pairs = [p for p in pairs if p != outer]
            if pairs:
                return pairs[-1]
        return ("", "")

    def is_echo(self) -> bool:
        return any(v in self.values[name] for name, types in ECHO.items() for v in types)


@pytest.fixture(scope="module")
def facts(guest_pytest: vm.VmResult) -> dict[str, Any]:
    path = guest_pytest.results_dir / "datapath" / "facts.json"
    if not path.is_file():
        pytest.fail(f"the guest wrote no datapath facts:\n{guest_failures(guest_pytest)}")
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def section(guest: vm.VmResult, facts: dict[str, Any], name: str) -> dict[str, Any]:
    """The facts one guest test recorded at its end (missing: that guest test failed)."""
    if name not in facts:
        pytest.fail(f"the guest test recording {name!r} did not finish:\n{guest_failures(guest)}")
    found: dict[str, Any] = facts[name]
    return found


def decode(guest: vm.VmResult, pcap_name: str) -> list[Frame]:
    tshark = require_tool("tshark")
    pcap = guest.results_dir / "datapath" / pcap_name
    argv = [tshark, "-r", str(pcap), "-T", "fields", *(a for f in FIELDS for a in ("-e", f))]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    frames = []
    for line in out.stdout.splitlines():
        cells = zip(FIELDS, line.split("\t"), strict=True)
        frames.append(Frame({name: [v for v in cell.split(",") if v] for name, cell in cells}))
    return frames


def tunnelled(frames: list[Frame], f: dict[str, Any], protocol: str) -> dict[str, list[Frame]]:
    """Pings (MN -> CN up, CN -> MN down) with outer ``protocol`` between MAG and LMA."""
    out: dict[str, list[Frame]] = {"up6": [], "down6": [], "up4": [], "down4": []}
    for frame in frames:
        if frame.outer_protocol() != protocol or not frame.is_echo():
            continue
        outer, inner = frame.outer(), frame.inner()
        for fam in ("6", "4"):
            mn, cn = f[f"mn{fam}"], f[f"cn{fam}"]
            if (outer, inner) == ((f["mag"], f["lma"]), (mn, cn)):
                out[f"up{fam}"].append(frame)
            if (outer, inner) == ((f["lma"], f["mag"]), (cn, mn)):
                out[f"down{fam}"].append(frame)
    return out


def assert_no_extension_headers(frames: list[Frame]) -> None:
    """No destination options (60), routing (43) or fragment (44) header anywhere."""
    bad = [f for f in frames if {"60", "43", "44"} & set(f.get("ipv6.nxt"))]
    assert bad == [], bad[:3]


def assert_mh_keys(frames: list[Frame], f: dict[str, Any]) -> None:
    """The PBU carries the MAG's downlink key, the PBA the LMA's uplink key (RFC 5845)."""
    pbu = [x for x in frames if x.first("mip6.mhtype") == PBU]
    pba = [x for x in frames if x.first("mip6.mhtype") == PBA]
    assert pbu and pba, "the capture holds no PBU/PBA"
    assert {int(x.first("mip6.gre_key")) for x in pbu} == {f["downlink_key"]}
    assert {int(x.first("mip6.gre_key")) for x in pba} == {f["uplink_key"]}
    assert {x.outer() for x in pbu} == {(f["mag"], f["lma"])}


# --- IPv6 transport ---------------------------------------------------------------------


def test_ip6tnl_sends_ipv6_as_41_and_ipv4_as_4_without_destination_options(
    guest_pytest: vm.VmResult, facts: dict[str, Any]
) -> None:
    f = section(guest_pytest, facts, "ip6tnl")
    frames = decode(guest_pytest, f["pcap"])
    six, four = tunnelled(frames, f, "41"), tunnelled(frames, f, "4")
    assert (len(six["up6"]), len(six["down6"])) >= (5, 5), frames
    assert (len(four["up4"]), len(four["down4"])) >= (5, 5), frames
    assert_no_extension_headers(frames)
    # Nothing of the MN's goes over the link outside the tunnel.
    mn = {f["mn6"], f["mn4"]}
    assert [x for x in frames if {x.outer()[0], x.outer()[1]} & mn] == []


def test_ip6gre_packets_carry_the_keys_negotiated_in_pbu_and_pba(
    guest_pytest: vm.VmResult, facts: dict[str, Any]
) -> None:
    f = section(guest_pytest, facts, "ip6gre")
    assert f["uplink_key"] != f["downlink_key"]  # so a swapped pair would show
    frames = decode(guest_pytest, f["pcap"])
    gre = tunnelled(frames, f, "47")
    assert all(len(gre[k]) >= 5 for k in gre), {k: len(v) for k, v in gre.items()}
    for direction, key in (("up", f["uplink_key"]), ("down", f["downlink_key"])):
        found = {(int(x.first("gre.key"), 16), x.first("gre.proto")) for fam in "64"
                 for x in gre[direction + fam]}  # fmt: skip
        assert found == {(key, "0x86dd"), (key, "0x0800")}, (direction, found)
    assert_no_extension_headers(frames)
    assert_mh_keys(frames, f)


def test_handover_under_a_10ms_ping_lost_a_handful(
    guest_pytest: vm.VmResult, facts: dict[str, Any]
) -> None:
    f = section(guest_pytest, facts, "handover")
    sys.stderr.write(f"\nhandover MAG1 -> MAG2, 10 ms ping: sent {f['sent']}, lost {f['lost']}\n")
    assert all(0 <= lost <= 50 for lost in f["lost"].values()), f
    assert all(sent >= 100 for sent in f["sent"].values()), f


# --- IPv4 transport (RFC 5844 section 4) -----------------------------------------------


def test_ipv4_transport_signals_over_udp_5436_and_tunnels_ipip(
    guest_pytest: vm.VmResult, facts: dict[str, Any]
) -> None:
    f = section(guest_pytest, facts, "ipip")
    frames = decode(guest_pytest, f["pcap"])
    six, four = tunnelled(frames, f, "41"), tunnelled(frames, f, "4")
    assert (len(six["up6"]), len(six["down6"])) >= (5, 5), frames
    assert (len(four["up4"]), len(four["down4"])) >= (5, 5), frames
    mh = [x for x in frames if x.get("mip6.mhtype")]
    assert mh and all(x.get("udp.dstport") == ["5436"] for x in mh), mh
    assert [x for x in frames if x.get("ipv6.src") and x.first("ipv6.nxt") == "135"] == []


def test_ipv4_transport_gre_carries_the_negotiated_keys(
    guest_pytest: vm.VmResult, facts: dict[str, Any]
) -> None:
    f = section(guest_pytest, facts, "gre")
    assert f["uplink_key"] != f["downlink_key"]
    frames = decode(guest_pytest, f["pcap"])
    gre = tunnelled(frames, f, "47")
    assert all(len(gre[k]) >= 5 for k in gre), {k: len(v) for k, v in gre.items()}
    for direction, key in (("up", f["uplink_key"]), ("down", f["downlink_key"])):
        found = {(int(x.first("gre.key"), 16), x.first("gre.proto")) for fam in "64"
                 for x in gre[direction + fam]}  # fmt: skip
        assert found == {(key, "0x86dd"), (key, "0x0800")}, (direction, found)
    assert_mh_keys(frames, f)
    assert all(x.get("udp.dstport") == ["5436"] for x in frames if x.get("mip6.mhtype"))


def test_captures_are_in_the_share(guest_pytest: vm.VmResult, facts: dict[str, Any]) -> None:
    names = {"ip6tnl", "ip6gre", "ipip", "gre"}
    found = {n for n in names if n in facts}
    assert found == names, guest_failures(guest_pytest)
    for name in names:
        assert Path(guest_pytest.results_dir / "datapath" / facts[name]["pcap"]).stat().st_size
