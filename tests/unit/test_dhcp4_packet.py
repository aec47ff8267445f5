"""DHCPv4 codec: golden bytes laid out by hand from RFC 2131 figure 1, tshark as an
independent decoder, hypothesis round trips and fuzzing (only DecodeError escapes)."""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.pcap import write_pcap
from mag_ap.wire import DecodeError
from mag_ap_dhcp4._packet import (
    BOOTREPLY,
    MAGIC_COOKIE,
    DhcpMessage,
    MessageType,
    decode,
    decode_udp_frame,
    encode,
    encode_udp_frame,
    make_reply,
)
from tests.conftest import require_tool

MAC = bytes.fromhex("020000000001")
CHADDR = MAC + bytes(10)


def _header(op: int, xid: int, flags: int = 0, ciaddr: bytes = bytes(4)) -> bytes:
    """RFC 2131 figure 1, field by field: op htype hlen hops xid secs flags ciaddr yiaddr
    siaddr giaddr chaddr(16) sname(64) file(128)."""
    return (
        bytes([op, 1, 6, 0])
        + struct.pack("!I", xid)
        + struct.pack("!HH", 3, flags)
        + ciaddr
        + bytes(12)
        + CHADDR
        + bytes(64)
        + bytes(128)
    )


DISCOVER = (
    _header(1, 0x3903F326, flags=0x8000)
    + MAGIC_COOKIE
    + bytes([53, 1, 1])  # DHCPDISCOVER
    + bytes([61, 7, 1]) + MAC  # client identifier: htype 1 + MAC
    + bytes([50, 4, 192, 0, 2, 9])  # requested IP
    + bytes([55, 4, 1, 3, 6, 26])  # parameter request list
    + bytes([12, 3]) + b"mn1"  # host name
    + bytes([57, 2, 0x05, 0xDC])  # max message size 1500
    + bytes([224, 2, 0xAB, 0xCD])  # unknown (site-specific) option, kept
    + bytes([0, 0])  # pads
    + bytes([255])
)  # fmt: skip


def test_golden_discover_decodes_field_by_field() -> None:
    msg = decode(DISCOVER)
    assert (msg.op, msg.xid, msg.secs, msg.broadcast) == (1, 0x3903F326, 3, True)
    assert msg.client_mac == "02:00:00:00:00:01"
    assert msg.message_type == MessageType.DHCPDISCOVER
    assert msg.client_id == b"\x01" + MAC
    assert msg.requested_ip == IPv4Address("192.0.2.9")
    assert msg.parameter_request_list == (1, 3, 6, 26)
    assert msg.host_name == b"mn1"
    assert msg.max_message_size == 1500
    assert msg.other_options == ((224, b"\xab\xcd"),)
    assert decode(encode(msg)) == msg


def test_golden_offer_encodes_to_hand_laid_bytes() -> None:
    request = decode(DISCOVER)
    offer = make_reply(
        request,
        MessageType.DHCPOFFER,
        server_id=IPv4Address("192.0.2.1"),
        yiaddr=IPv4Address("192.0.2.9"),
        lease_time_s=600,
        renewal_time_s=300,
        rebinding_time_s=525,
        subnet_mask=IPv4Address("255.255.255.0"),
        routers=(IPv4Address("192.0.2.1"),),
        dns_servers=(IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54")),
    )
    expected = (
        bytes([2, 1, 6, 0]) + struct.pack("!IHH", 0x3903F326, 0, 0x8000)
        + bytes(4) + bytes([192, 0, 2, 9]) + bytes(8) + CHADDR + bytes(192)
        + MAGIC_COOKIE
        + bytes([53, 1, 2])
        + bytes([54, 4, 192, 0, 2, 1])
        + bytes([51, 4]) + struct.pack("!I", 600)
        + bytes([58, 4]) + struct.pack("!I", 300)
        + bytes([59, 4]) + struct.pack("!I", 525)
        + bytes([1, 4, 255, 255, 255, 0])
        + bytes([3, 4, 192, 0, 2, 1])
        + bytes([6, 8, 198, 51, 100, 53, 198, 51, 100, 54])
        + bytes([61, 7, 1]) + MAC
        + bytes([255])
    )  # fmt: skip
    expected += bytes(300 - len(expected))
    assert encode(offer) == expected


def test_nak_has_no_address_and_echoes_no_ciaddr() -> None:
    request = decode(DISCOVER)
    nak = make_reply(request, MessageType.DHCPNAK, server_id=IPv4Address("192.0.2.1"))
    out = decode(encode(nak))
    assert out.op == BOOTREPLY and out.message_type == MessageType.DHCPNAK
    assert out.yiaddr == IPv4Address(0) and out.lease_time_s is None


def test_long_option_is_split_and_concatenated_rfc3396() -> None:
    msg = DhcpMessage(message_type=1, chaddr=CHADDR, other_options=((224, bytes(range(256)) * 2),))
    raw = encode(msg)
    assert raw.count(bytes([224, 255])) == 2  # 512 octets -> 255 + 255 + 2
    assert decode(raw) == msg


def test_option_overload_is_read_from_file_and_sname() -> None:
    base = bytearray(_header(1, 7))
    base[108:114] = bytes([12, 3]) + b"abc" + bytes([255])  # file: host name, end
    base[44:50] = bytes([50, 4, 192, 0, 2, 5]) + b""  # sname: requested IP
    base[50] = 255
    raw = bytes(base) + MAGIC_COOKIE + bytes([53, 1, 3, 52, 1, 3, 255])
    msg = decode(raw)
    assert msg.host_name == b"abc" and msg.requested_ip == IPv4Address("192.0.2.5")
    assert msg.file == b"" and msg.sname == b""


@pytest.mark.parametrize(
    ("raw", "reason", "offset"),
    [
        (DISCOVER[:200], "shorter than a DHCP header", 200),
        (DISCOVER[:236] + b"\0\0\0\0", "magic cookie", 236),
        (DISCOVER[:240] + bytes([53, 1, 1]), "no end option", 243),
        (DISCOVER[:240] + bytes([53, 5, 1, 255]), "overruns", 240),
        (DISCOVER[:240] + bytes([53]), "no length octet", 240),
        (DISCOVER[:240] + bytes([53, 2, 1, 1, 255]), "message_type", 240),
        (DISCOVER[:240] + bytes([61, 1, 1, 255]), "client_id", 240),
        (DISCOVER[:240] + bytes([3, 5, 1, 2, 3, 4, 5, 255]), "multiple of 4", 240),
        (DISCOVER[:240] + bytes([52, 1, 4, 255]), "overload value", 240),
        (bytes([3]) + DISCOVER[1:], "neither BOOTREQUEST", 0),
        (DISCOVER[:2] + bytes([17]) + DISCOVER[3:], "hlen 17", 2),
    ],
)
def test_bad_packets_raise_decode_error_with_offset(raw: bytes, reason: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode(raw)
    assert reason in info.value.reason
    assert info.value.offset == offset


def test_overload_inside_file_is_refused() -> None:
    base = bytearray(_header(1, 7))
    base[108:112] = bytes([52, 1, 2, 255])
    with pytest.raises(DecodeError, match="overload inside the file"):
        decode(bytes(base) + MAGIC_COOKIE + bytes([53, 1, 1, 52, 1, 1, 255]))


def test_encoder_refuses_what_the_decoder_refuses() -> None:
    with pytest.raises(ValueError, match="opaque"):
        encode(DhcpMessage(chaddr=CHADDR, other_options=((52, b"\x01"),)))
    with pytest.raises(ValueError, match="chaddr"):
        encode(DhcpMessage(chaddr=MAC))
    with pytest.raises(ValueError, match="at least 2"):
        encode(DhcpMessage(chaddr=CHADDR, client_id=b"\x01"))


# --- frames ------------------------------------------------------------------------


def _offer_frame() -> bytes:
    offer = make_reply(
        decode(DISCOVER),
        MessageType.DHCPOFFER,
        server_id=IPv4Address("192.0.2.1"),
        yiaddr=IPv4Address("192.0.2.9"),
        lease_time_s=600,
        subnet_mask=IPv4Address("255.255.255.0"),
        routers=(IPv4Address("192.0.2.1"),),
    )
    return encode_udp_frame(
        src_mac=bytes.fromhex("020000000099"),
        dst_mac=MAC,
        src_ip=IPv4Address("192.0.2.1"),
        dst_ip=IPv4Address("192.0.2.9"),
        src_port=67,
        dst_port=68,
        payload=encode(offer),
    )


def test_udp_frame_round_trip_checks_checksums() -> None:
    frame = _offer_frame()
    parsed = decode_udp_frame(frame)
    assert (parsed.src_port, parsed.dst_port, parsed.dst_mac) == (67, 68, MAC)
    assert decode(parsed.payload).yiaddr == IPv4Address("192.0.2.9")
    broken = bytearray(frame)
    broken[-1] ^= 1
    with pytest.raises(DecodeError, match="UDP checksum"):
        decode_udp_frame(bytes(broken))


def test_tshark_decodes_our_offer(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    pcap = tmp_path / "offer.pcap"
    write_pcap(pcap, [_offer_frame()], linktype=1)
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-T", "json", "--no-duplicate-keys", "-o",
         "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    layers = json.loads(out.stdout)[0]["_source"]["layers"]
    assert "_ws.malformed" not in layers and "_ws.expert" not in json.dumps(layers["dhcp"])
    dhcp = layers["dhcp"]
    assert dhcp["dhcp.ip.your"] == "192.0.2.9"
    assert dhcp["dhcp.hw.mac_addr"] == "02:00:00:00:00:01"
    text = json.dumps(dhcp)
    for needle in ('"dhcp.option.dhcp": "2"', '"dhcp.option.router": "192.0.2.1"',
                   '"dhcp.option.subnet_mask": "255.255.255.0"',
                   '"dhcp.option.ip_address_lease_time": "600"',
                   '"dhcp.option.dhcp_server_id": "192.0.2.1"'):  # fmt: skip
        assert needle in text, needle
    assert layers["udp"]["udp.checksum.status"] == "1"  # Good
    assert layers["ip"]["ip.checksum.status"] == "1"


# --- properties ----------------------------------------------------------------------

ips = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
opt_ip = st.none() | ips
opt_u32 = st.none() | st.integers(0, 2**32 - 1)
known = {1, 3, 6, 12, 26, 50, 51, 53, 54, 55, 56, 57, 58, 59, 61}
unknown_codes = st.integers(1, 254).filter(lambda c: c not in known and c != 52)

messages = st.builds(
    DhcpMessage,
    op=st.sampled_from([1, 2]),
    htype=st.integers(0, 255),
    hlen=st.integers(0, 16),
    hops=st.integers(0, 255),
    xid=st.integers(0, 2**32 - 1),
    secs=st.integers(0, 0xFFFF),
    flags=st.integers(0, 0xFFFF),
    ciaddr=ips,
    yiaddr=ips,
    chaddr=st.binary(min_size=16, max_size=16),
    sname=st.binary(max_size=64).map(lambda b: b.rstrip(b"\0")),
    message_type=st.none() | st.integers(0, 255),
    subnet_mask=opt_ip,
    routers=st.lists(ips, max_size=70).map(tuple),
    dns_servers=st.lists(ips, max_size=3).map(tuple),
    host_name=st.none() | st.binary(min_size=1, max_size=300),
    requested_ip=opt_ip,
    lease_time_s=opt_u32,
    server_id=opt_ip,
    parameter_request_list=st.lists(st.integers(0, 255), max_size=20).map(tuple),
    client_id=st.none() | st.binary(min_size=2, max_size=40),
    renewal_time_s=opt_u32,
    interface_mtu=st.none() | st.integers(0, 0xFFFF),
    other_options=st.dictionaries(
        unknown_codes, st.binary(min_size=1, max_size=300), max_size=4
    ).map(lambda d: tuple(d.items())),
)


@given(messages)
@settings(max_examples=300)
def test_round_trip(msg: DhcpMessage) -> None:
    assert decode(encode(msg)) == msg


@given(st.binary(max_size=700))
@settings(max_examples=2000)
def test_fuzz_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


def test_a_zero_length_option_survives_a_round_trip() -> None:
    """Found by the fuzz test below: decode took option 2 with length 0, encode refused it."""
    msg = decode(DISCOVER[:240] + b"\x02\x00\xff")
    assert decode(encode(msg)) == msg


@given(st.binary(max_size=300), st.sampled_from([0, 1, 2, 3]))
@settings(max_examples=2000)
def test_fuzz_options_after_a_valid_header(options: bytes, overload: int) -> None:
    head = bytearray(DISCOVER[:240])
    if overload:
        head[44:108] = (options[:63] + b"\xff").ljust(64, b"\0")
        head[108:236] = (options[-127:] + b"\xff").ljust(128, b"\0")
        options = bytes([52, 1, overload]) + options
    try:
        msg = decode(bytes(head) + options)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(head) + len(options)
    else:
        assert decode(encode(msg)) == msg


@given(st.binary(max_size=400))
@settings(max_examples=1000)
def test_fuzz_frames_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_udp_frame(data)
