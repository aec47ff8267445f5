"""Router Solicitation/Advertisement codec: RFC 4861 golden bytes, errors, fuzz, tshark.

The golden vectors are written field by field from the layouts of RFC 4861
sections 4.1, 4.2 and 4.6 (not produced by the encoder); their checksums were
confirmed by tshark (``icmpv6.checksum.status`` 1) and are re-checked below
with an independent RFC 1071 sum. Unknown option types stay out of the tshark
vectors: Wireshark 4.0 flags every option it cannot dissect as expert info.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.pcap import write_pcap
from mag_ap.mac import mac_bytes, mac_text
from mag_ap.wire import DecodeError
from mag_ap_ra._packet import (
    ALL_NODES,
    ALL_ROUTERS,
    ChecksumError,
    Frame,
    LinkMtu,
    NdOption,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    TargetLinkLayerAddress,
    UnknownOption,
    ValidationError,
    decode_frame,
    decode_message,
    encode_frame,
    encode_message,
    multicast_mac,
)
from tests.conftest import require_tool

MAG_MAC = bytes.fromhex("0200000000aa")
MN_MAC = bytes.fromhex("020000000001")
MAG_LL = IPv6Address("fe80::200:5eff:fe00:5213")
MN_LL = IPv6Address("fe80::1:2")
LINKTYPE_ETHERNET = 1

GOLDEN_RA = bytes.fromhex(
    "020000000001"  # Ethernet destination: the MN's unicast MAC (RFC 6085)
    "0200000000aa"  # Ethernet source: the MAG
    "86dd"  # IPv6
    "60000000"
    "0040"
    "3a"
    "ff"  # version 6, payload 64, next header ICMPv6, hop limit 255
    "fe800000000000000200"
    "5efffe005213"  # source fe80::200:5eff:fe00:5213 (RFC 6543)
    "ff020000000000000000000000000001"  # destination ff02::1
    "86"
    "00"
    "e7e5"  # type 134, code 0, checksum
    "40"
    "00"
    "0708"  # cur hop limit 64, M=O=0, router lifetime 1800
    "00000000"
    "00000000"  # reachable time, retrans timer
    "01"
    "01"
    "0200000000aa"  # Source Link-Layer Address option
    "03"
    "04"
    "40"
    "c0"  # Prefix Information: length 4, /64, L and A
    "00000e10"
    "00000e10"
    "00000000"  # valid 3600, preferred 3600, reserved
    "20010db8000100000000000000000000"  # 2001:db8:1::
    "05"
    "01"
    "0000"
    "000005b4"  # MTU 1460
)
GOLDEN_RA_FRAME = Frame(
    dst_mac=MN_MAC,
    src_mac=MAG_MAC,
    src=MAG_LL,
    dst=ALL_NODES,
    message=RouterAdvertisement(
        router_lifetime_s=1800,
        options=(
            SourceLinkLayerAddress(MAG_MAC),
            PrefixInformation(IPv6Address("2001:db8:1::"), 64, True, True, 3600, 3600),
            LinkMtu(1460),
        ),
    ),
)
GOLDEN_RS = bytes.fromhex(
    "333300000002"  # Ethernet destination: all-routers group
    "020000000001"  # the MN
    "86dd"
    "60000000"
    "0010"
    "3a"
    "ff"
    "fe800000000000000000000000010002"  # fe80::1:2
    "ff020000000000000000000000000002"  # ff02::2
    "85"
    "00"
    "7a2a"
    "00000000"  # type 133, code 0, checksum, reserved
    "01"
    "01"
    "020000000001"  # Source Link-Layer Address option
)


def rfc1071(data: bytes) -> int:
    """Independent one's complement sum, byte by byte."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_checksum_ok(frame: bytes) -> bool:
    icmp = frame[54:]
    pseudo = frame[22:54] + len(icmp).to_bytes(4, "big") + b"\x00\x00\x00\x3a"
    return rfc1071(pseudo + icmp) == 0


# --- golden vectors -------------------------------------------------------------


def test_golden_ra_encodes_byte_exact() -> None:
    assert encode_frame(GOLDEN_RA_FRAME) == GOLDEN_RA
    assert pseudo_checksum_ok(GOLDEN_RA)


def test_golden_ra_decodes_to_its_fields() -> None:
    assert decode_frame(GOLDEN_RA) == GOLDEN_RA_FRAME


def test_golden_rs_decodes_and_reencodes() -> None:
    assert pseudo_checksum_ok(GOLDEN_RS)
    frame = decode_frame(GOLDEN_RS)
    assert frame.message == RouterSolicitation((SourceLinkLayerAddress(MN_MAC),))
    assert (frame.src, frame.dst, frame.src_mac) == (MN_LL, ALL_ROUTERS, MN_MAC)
    assert encode_frame(frame) == GOLDEN_RS


def test_mac_helpers() -> None:
    assert mac_bytes("02:00:00:00:00:AA") == MAG_MAC
    assert mac_text(MAG_MAC) == "02:00:00:00:00:aa"
    assert multicast_mac(ALL_ROUTERS) == bytes.fromhex("333300000002")
    with pytest.raises(ValueError):
        mac_bytes("02:00:00")


def test_unknown_option_is_kept_byte_exact() -> None:
    raw = bytes.fromhex("8600000040000708000000000000000019030000") + bytes(20)
    msg = decode_message(raw)
    assert isinstance(msg, RouterAdvertisement)
    assert msg.options == (UnknownOption(25, bytes(22)),)
    assert encode_message(msg) == raw


def test_ethernet_padding_after_the_payload_is_ignored() -> None:
    assert decode_frame(GOLDEN_RS + bytes(6)) == decode_frame(GOLDEN_RS)


# --- typed errors with offsets ------------------------------------------------------


def _patched(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value) :]


@pytest.mark.parametrize(
    ("data", "kind", "offset", "words"),
    [
        (GOLDEN_RA[:40], DecodeError, 0, "too short"),
        (_patched(GOLDEN_RA, 12, b"\x08\x00"), DecodeError, 12, "ethertype"),
        (_patched(GOLDEN_RA, 14, b"\x40"), DecodeError, 14, "version"),
        (_patched(GOLDEN_RA, 20, b"\x11"), DecodeError, 20, "next header"),
        (_patched(GOLDEN_RA, 18, b"\x00\x50"), DecodeError, 18, "overruns"),
        (_patched(GOLDEN_RA, 21, b"\x40"), ValidationError, 21, "hop limit"),
        (_patched(GOLDEN_RA, 56, b"\x00\x00"), ChecksumError, 56, "checksum"),
        (_patched(GOLDEN_RA, 55, b"\x01"), ValidationError, 55, "code 1"),
        (_patched(GOLDEN_RA, 71, b"\x00"), ValidationError, 71, "length 0"),
        (_patched(GOLDEN_RA, 79, b"\x03"), DecodeError, 78, "prefix information"),
        (_patched(GOLDEN_RA, 80, b"\x81"), DecodeError, 80, "exceeds 128"),
        (_patched(GOLDEN_RA, 79, b"\x09"), DecodeError, 78, "overruns"),
        (_patched(GOLDEN_RA, 54, b"\x80"), DecodeError, 54, "not a router"),
    ],
)
def test_bad_frames_raise_typed_errors_with_offsets(
    data: bytes, kind: type[DecodeError], offset: int, words: str
) -> None:
    with pytest.raises(kind) as info:
        decode_frame(data)
    assert info.value.offset == offset, str(info.value)
    assert words in info.value.reason


def test_solicitation_from_unspecified_with_source_lladdr_is_invalid() -> None:
    frame = Frame(multicast_mac(ALL_ROUTERS), MN_MAC, IPv6Address("::"), ALL_ROUTERS,
                  RouterSolicitation((SourceLinkLayerAddress(MN_MAC),)))  # fmt: skip
    with pytest.raises(ValidationError, match="from ::"):
        decode_frame(encode_frame(frame))
    bare = Frame(frame.dst_mac, MN_MAC, IPv6Address("::"), ALL_ROUTERS, RouterSolicitation())
    assert decode_frame(encode_frame(bare)).message == RouterSolicitation()


def test_encoder_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(ValueError):
        encode_message(RouterAdvertisement(router_lifetime_s=70000))
    with pytest.raises(ValueError):
        encode_message(RouterAdvertisement(options=(UnknownOption(7, bytes(5)),)))
    with pytest.raises(ValueError):
        encode_message(RouterAdvertisement(options=(UnknownOption(3, bytes(6)),)))
    pio = PrefixInformation(IPv6Address("::"), 129)
    with pytest.raises(ValueError):
        encode_message(RouterAdvertisement(options=(pio,)))


# --- hypothesis ----------------------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)
known_types = {1, 2, 3, 5}
options: st.SearchStrategy[NdOption] = st.one_of(
    macs.map(SourceLinkLayerAddress),
    macs.map(TargetLinkLayerAddress),
    st.builds(
        PrefixInformation,
        prefix=st.integers(0, 2**128 - 1).map(IPv6Address),
        prefix_length=st.integers(0, 128),
        on_link=st.booleans(),
        autonomous=st.booleans(),
        valid_lifetime_s=u32,
        preferred_lifetime_s=u32,
        router_address=st.booleans(),
    ),
    u32.map(LinkMtu),
    st.builds(
        UnknownOption,
        type=st.integers(0, 255).filter(lambda t: t not in known_types),
        data=st.integers(0, 4).flatmap(lambda n: st.binary(min_size=6 + 8 * n, max_size=6 + 8 * n)),
    ),
)
messages = st.one_of(
    st.builds(RouterSolicitation, options=st.lists(options, max_size=5).map(tuple)),
    st.builds(
        RouterAdvertisement,
        cur_hop_limit=st.integers(0, 255),
        managed=st.booleans(),
        other=st.booleans(),
        home_agent=st.booleans(),
        preference=st.integers(0, 3),
        router_lifetime_s=st.integers(0, 0xFFFF),
        reachable_time_ms=u32,
        retrans_timer_ms=u32,
        options=st.lists(options, max_size=5).map(tuple),
    ),
)
addresses = st.integers(1, 2**128 - 1).map(IPv6Address)


@given(messages, macs, macs, addresses, addresses)
def test_encode_then_decode_is_identity(
    msg: RouterSolicitation | RouterAdvertisement,
    dst_mac: bytes,
    src_mac: bytes,
    src: IPv6Address,
    dst: IPv6Address,
) -> None:
    frame = Frame(dst_mac, src_mac, src, dst, msg)
    data = encode_frame(frame)
    assert decode_frame(data) == frame
    assert pseudo_checksum_ok(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_icmp_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        msg = decode_message(data)
    except DecodeError:
        return
    assert decode_message(encode_message(msg)) == msg


@settings(max_examples=300)
@given(st.integers(0, len(GOLDEN_RA) - 1), st.integers(0, 255), st.integers(0, 16))
def test_mutated_frames_never_escape_decode_error(offset: int, value: int, cut: int) -> None:
    data = _patched(GOLDEN_RA, offset, bytes((value,)))[: len(GOLDEN_RA) - cut]
    try:
        frame = decode_frame(data)
    except DecodeError:
        return
    assert decode_frame(encode_frame(frame)) == frame


# --- tshark as the independent decoder ---------------------------------------------

TSHARK_VECTORS: list[Frame] = [
    GOLDEN_RA_FRAME,
    Frame(  # withdrawal, as sent on BindingDown
        MN_MAC,
        MAG_MAC,
        MAG_LL,
        ALL_NODES,
        RouterAdvertisement(
            router_lifetime_s=0,
            options=(
                SourceLinkLayerAddress(MAG_MAC),
                PrefixInformation(IPv6Address("2001:db8:ffff:1::"), 64, True, True, 0, 0),
                LinkMtu(1280),
            ),
        ),
    ),
    Frame(
        MN_MAC,
        MAG_MAC,
        MAG_LL,
        ALL_NODES,
        RouterAdvertisement(
            cur_hop_limit=255,
            managed=True,
            other=True,
            preference=1,
            router_lifetime_s=9000,
            reachable_time_ms=30000,
            retrans_timer_ms=1000,
            options=(
                PrefixInformation(IPv6Address("2001:db8:40::"), 48, True, False, 0xFFFFFFFF, 7),
            ),
        ),
    ),
    decode_frame(GOLDEN_RS),
]


def _json_tree(node: object) -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _json_tree(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_tree(value)


def _fields(tree: object, name: str) -> list[str]:
    out: list[str] = []
    for key, value in _json_tree(tree):
        if key == name:
            out.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return out


@pytest.fixture(scope="module")
def tshark_layers(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    tshark = require_tool("tshark")
    pcap: Path = tmp_path_factory.mktemp("ra-tshark") / "ra.pcap"
    write_pcap(pcap, [encode_frame(f) for f in TSHARK_VECTORS], linktype=LINKTYPE_ETHERNET)
    proc = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-T", "json", "--no-duplicate-keys"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    decoded = json.loads(proc.stdout)
    assert len(decoded) == len(TSHARK_VECTORS)
    return [frame["_source"]["layers"] for frame in decoded]


@pytest.mark.parametrize("index", range(len(TSHARK_VECTORS)))
def test_tshark_decodes_every_field_as_encoded(
    tshark_layers: list[dict[str, object]], index: int
) -> None:
    layers = tshark_layers[index]
    frame = TSHARK_VECTORS[index]
    assert [k for k, _ in _json_tree(layers) if k.startswith("_ws.")] == []
    assert _fields(layers, "eth.dst") == [mac_text(frame.dst_mac)]
    assert _fields(layers, "ipv6.hlim") == ["255"]
    assert _fields(layers, "ipv6.src") == [str(frame.src)]
    assert _fields(layers, "ipv6.dst") == [str(frame.dst)]
    assert _fields(layers, "icmpv6.checksum.status") == ["1"]  # Good
    msg = frame.message
    lladdrs = [mac_text(o.address) for o in msg.options if isinstance(o, SourceLinkLayerAddress)]
    assert _fields(layers, "icmpv6.opt.src_linkaddr") == lladdrs
    if isinstance(msg, RouterSolicitation):
        assert _fields(layers, "icmpv6.type") == ["133"]
        return
    assert _fields(layers, "icmpv6.type") == ["134"]
    assert _fields(layers, "icmpv6.nd.ra.cur_hop_limit") == [str(msg.cur_hop_limit)]
    assert _fields(layers, "icmpv6.nd.ra.flag.m") == [str(int(msg.managed))]
    assert _fields(layers, "icmpv6.nd.ra.flag.o") == [str(int(msg.other))]
    assert _fields(layers, "icmpv6.nd.ra.flag.prf") == [str(msg.preference)]
    assert _fields(layers, "icmpv6.nd.ra.router_lifetime") == [str(msg.router_lifetime_s)]
    assert _fields(layers, "icmpv6.nd.ra.reachable_time") == [str(msg.reachable_time_ms)]
    assert _fields(layers, "icmpv6.nd.ra.retrans_timer") == [str(msg.retrans_timer_ms)]
    pios = msg.prefixes()
    assert _fields(layers, "icmpv6.opt.prefix") == [str(p.prefix) for p in pios]
    assert _fields(layers, "icmpv6.opt.prefix.length") == [str(p.prefix_length) for p in pios]
    assert _fields(layers, "icmpv6.opt.prefix.flag.l") == [str(int(p.on_link)) for p in pios]
    assert _fields(layers, "icmpv6.opt.prefix.flag.a") == [str(int(p.autonomous)) for p in pios]
    assert _fields(layers, "icmpv6.opt.prefix.valid_lifetime") == [
        str(p.valid_lifetime_s) for p in pios
    ]
    assert _fields(layers, "icmpv6.opt.prefix.preferred_lifetime") == [
        str(p.preferred_lifetime_s) for p in pios
    ]
    mtus = [str(o.mtu) for o in msg.options if isinstance(o, LinkMtu)]
    assert _fields(layers, "icmpv6.opt.mtu") == mtus
    types = [str(_option_type(o)) for o in msg.options]
    assert _fields(layers, "icmpv6.opt.type") == types


def _option_type(opt: NdOption) -> int:
    table = {SourceLinkLayerAddress: 1, TargetLinkLayerAddress: 2, PrefixInformation: 3,
             LinkMtu: 5}  # fmt: skip
    return opt.type if isinstance(opt, UnknownOption) else table[type(opt)]


def test_tshark_oracle_can_fail(tmp_path: Path) -> None:
    """A corrupted checksum must show in tshark's decode, or the checks above prove nothing."""
    tshark = require_tool("tshark")
    pcap = tmp_path / "bad.pcap"
    write_pcap(pcap, [_patched(GOLDEN_RA, 56, b"\x00\x01")], linktype=LINKTYPE_ETHERNET)
    proc = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-T", "json", "--no-duplicate-keys"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    layers = json.loads(proc.stdout)[0]["_source"]["layers"]
    assert _fields(layers, "icmpv6.checksum.status") == ["0"]
    assert any(k.startswith("_ws.expert") for k, _ in _json_tree(layers))
