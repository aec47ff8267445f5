"""One guest boot: real ip6tnl and ip6gre tunnels between two namespaces, seen on the wire.

tests/vm/guest/tunnels.sh builds the tunnels (the keyed ip6gre through
pyroute2, as the datapath plugin does), pings through them and captures the
transport link with dumpcap; the host's tshark decodes the capture. This is
the encapsulation an LMA on a real kernel expects: plain IPv6-in-IPv6 (next
header 41) and IPv4-in-IPv6 (4) with no destination options header, and GRE
(47) carrying the negotiated key in each direction.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import vm
from tests.conftest import require_tool
from tests.vm.conftest import GUEST, boot, key_values, link_details

MAG, LMA = "2001:db8:1::1", "2001:db8:1::2"
MAG_OKEY, LMA_OKEY = 0x1001, 0x2002  # as in guest/make_ip6gre.py
FIELDS = ("ipv6.src", "ipv6.dst", "ipv6.nxt", "ip.dst", "gre.key", "gre.proto", "icmpv6.type",
          "icmp.type")  # fmt: skip


@dataclass(frozen=True)
class Frame:
    """One captured frame: every occurrence of each field, outermost first."""

    values: dict[str, list[str]]

    def outer_next_header(self) -> int:
        return int(self.values["ipv6.nxt"][0])

    def first(self, name: str) -> str:
        return (self.values[name] or [""])[0]


@pytest.fixture(scope="module")
def guest(vm_image: vm.VmImage, tmp_path_factory: pytest.TempPathFactory) -> vm.VmResult:
    share = tmp_path_factory.mktemp("vm-tunnels")
    return boot(
        vm_image,
        ["sh", str(GUEST / "tunnels.sh"), str(share)],
        share,
        env={"PYTHON": sys.executable},
    )


@pytest.fixture(scope="module")
def frames(guest: vm.VmResult) -> list[Frame]:
    tshark = require_tool("tshark")
    pcap = guest.results_dir / "wan.pcapng"
    assert pcap.is_file(), guest.stdout + guest.stderr
    argv = [tshark, "-r", str(pcap), "-T", "fields", *(a for f in FIELDS for a in ("-e", f))]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    result = []
    for line in out.stdout.splitlines():
        cells = zip(FIELDS, line.split("\t"), strict=True)
        values = {name: [v for v in cell.split(",") if v] for name, cell in cells}
        if values["ipv6.nxt"]:
            result.append(Frame(values))
    return result


def _echoes(frames: list[Frame], next_header: int, inner_dst: str) -> list[Frame]:
    """Echo requests from the MAG to ``inner_dst`` under outer ``next_header``."""
    return [
        f
        for f in frames
        if f.outer_next_header() == next_header
        and f.first("ipv6.src") == MAG
        and inner_dst in f.values["ipv6.dst"][1:] + f.values["ip.dst"]
        and ("128" in f.values["icmpv6.type"] or "8" in f.values["icmp.type"])
    ]


def test_every_guest_step_succeeded(guest: vm.VmResult) -> None:
    steps = key_values(guest.stdout)
    expected = ["ip6tnl_mag", "ip6tnl_lma", "ip6gre_pyroute2", "ping_ip6tnl_v6",
                "ping_ip6tnl_v4", "ping_ip6gre_v6", "ping_ip6gre_v4", "dumpcap"]  # fmt: skip
    assert {k: steps.get(k) for k in expected} == dict.fromkeys(expected, "0"), guest.stderr
    assert guest.exit_code == 0, guest.stderr


def test_ip6tnl_carries_ipv6_as_next_header_41(frames: list[Frame]) -> None:
    assert len(_echoes(frames, 41, "2001:db8:10::2")) == 2


def test_ip6tnl_carries_ipv4_as_next_header_4_on_the_same_device(frames: list[Frame]) -> None:
    assert len(_echoes(frames, 4, "198.51.100.2")) == 2


def test_no_destination_options_header_anywhere(frames: list[Frame]) -> None:
    tunnelled = [f for f in frames if f.outer_next_header() in (41, 4, 47)]
    assert len(tunnelled) >= 16  # 4 pings x 2 echoes x (request + reply)
    assert [f for f in frames if "60" in f.values["ipv6.nxt"]] == []


@pytest.mark.parametrize(
    ("inner_dst", "proto"), [("2001:db8:20::2", "0x86dd"), ("198.51.100.6", "0x0800")]
)
def test_ip6gre_shows_the_uplink_key_on_the_wire(
    frames: list[Frame], inner_dst: str, proto: str
) -> None:
    echoes = _echoes(frames, 47, inner_dst)
    assert len(echoes) == 2
    assert {(int(f.first("gre.key"), 0), f.first("gre.proto")) for f in echoes} == {
        (MAG_OKEY, proto)
    }


def test_ip6gre_replies_carry_the_downlink_key(frames: list[Frame]) -> None:
    downlink = [f for f in frames if f.outer_next_header() == 47 and f.first("ipv6.src") == LMA]
    assert len(downlink) >= 4
    assert {int(f.first("gre.key"), 0) for f in downlink} == {LMA_OKEY}


def test_pyroute2_needs_the_gre_key_flag_in_host_byte_order(guest: vm.VmResult) -> None:
    links = link_details((guest.results_dir / "links.txt").read_text())
    # 0x2002 = 0.0.32.2 and 0x1001 = 0.0.16.1: the flag passed as 0x0020 gives keys...
    assert " ikey 0.0.32.2 okey 0.0.16.1 " in links["gre6"]
    assert " encaplimit none " in links["gre6"]
    # ...while the network-order value 0x2000 silently yields a tunnel without a key.
    assert "ip6gre remote 2001:db8:1::99 " in links["gre6net"]
    assert "key" not in links["gre6net"]


def test_capture_file_is_in_the_results_share(guest: vm.VmResult) -> None:
    assert Path(guest.results_dir / "wan.pcapng").stat().st_size > 0
