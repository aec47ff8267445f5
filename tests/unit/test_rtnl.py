"""mag_ap.rtnl requests byte for byte (linux/netlink.h, if_addr.h, rtnetlink.h, seg6...)."""

from __future__ import annotations

import socket
import struct

import pytest

from mag_ap.rtnl import (
    IFA_F_NODAD,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    RTM_DELADDR,
    RTM_DELROUTE,
    RTM_DELRULE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTM_NEWRULE,
    ack_errno,
    acks,
    address_request,
    link_address_request,
    route_request,
    rule_request,
    with_seq,
)

NLM_F_REPLACE = 0x100
NLA_F_NESTED = 0x8000


def attrs(data: bytes, offset: int) -> list[tuple[int, bytes]]:
    """(type, payload) of the netlink attributes from ``offset`` (an independent walker)."""
    out = []
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        out.append((kind, data[offset + 4 : offset + length]))
        offset += (length + 3) & ~3
    return out


def test_ipv4_address_add_layout() -> None:
    msg = address_request(True, 7, "192.0.2.1/32", seq=9)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", msg)
    assert (length, kind, seq, pid) == (len(msg), RTM_NEWADDR, 9, 0)
    assert flags == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert struct.unpack_from("=BBBBI", msg, 16) == (socket.AF_INET, 32, 0, 0, 7)
    # IFA_LOCAL then IFA_ADDRESS, 8 bytes each
    assert msg[24:32] == struct.pack("=HH", 8, 2) + bytes([192, 0, 2, 1])
    assert msg[32:40] == struct.pack("=HH", 8, 1) + bytes([192, 0, 2, 1])
    assert len(msg) == 40


def test_ipv6_link_local_nodad_and_delete() -> None:
    msg = address_request(True, 3, "fe80::1/64", nodad=True)
    assert struct.unpack_from("=BBBBI", msg, 16) == (socket.AF_INET6, 64, IFA_F_NODAD, 253, 3)
    assert msg[-8:] == struct.pack("=HHI", 8, 8, IFA_F_NODAD)  # IFA_FLAGS
    gone = address_request(False, 3, "fe80::1/64")
    assert struct.unpack_from("=IHH", gone)[1:] == (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)


def test_link_address_request() -> None:
    msg = link_address_request(4, "02:00:00:00:00:aa")
    assert struct.unpack_from("=IHH", msg)[1] == RTM_NEWLINK
    assert struct.unpack_from("=BxHiII", msg, 16) == (0, 0, 4, 0, 0)
    assert msg[32:] == struct.pack("=HH", 10, 1) + bytes.fromhex("0200000000aa") + b"\0\0"
    with pytest.raises(ValueError):
        link_address_request(4, "02:00")


def test_ack_errno() -> None:
    def err(code: int, seq: int) -> bytes:
        return struct.pack("=IHHII", 36, 2, 0, seq, 0) + struct.pack("=i", code) + b"\0" * 16

    assert ack_errno(err(0, 5), 5) == 0
    assert ack_errno(err(-17, 5), 5) == 17  # EEXIST
    assert ack_errno(err(-17, 4), 5) is None  # another request's
    assert ack_errno(b"", 5) is None
    with pytest.raises(ValueError):
        ack_errno(struct.pack("=IHHII", 99, 2, 0, 5, 0), 5)


def test_ipv6_onlink_route_replace_layout() -> None:
    msg = route_request(True, "2001:db8:100::/64", table=254, proto=0xB5, oif=7, seq=3)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", msg)
    assert (length, kind, seq) == (len(msg), RTM_NEWROUTE, 3)
    assert flags == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
    # family, dst_len, src_len, tos, table, protocol, scope universe, unicast, flags
    assert struct.unpack_from("=BBBBBBBBI", msg, 16) == (
        socket.AF_INET6, 64, 0, 0, 254, 0xB5, 0, 1, 0,
    )  # fmt: skip
    assert attrs(msg, 28) == [
        (1, socket.inet_pton(socket.AF_INET6, "2001:db8:100::")),  # RTA_DST
        (15, struct.pack("=I", 254)),  # RTA_TABLE
        (4, struct.pack("=I", 7)),  # RTA_OIF
    ]


def test_ipv4_onlink_route_is_scope_link_and_big_tables_go_in_rta_table() -> None:
    msg = route_request(True, "10.200.0.2/32", table=2602, proto=0xB5, oif=2)
    family, dst_len, _, _, table, _, scope, _, _ = struct.unpack_from("=BBBBBBBBI", msg, 16)
    assert (family, dst_len, table, scope) == (socket.AF_INET, 32, 0, 253)
    assert (15, struct.pack("=I", 2602)) in attrs(msg, 28)


def test_seg6_reduced_encap_route_with_locked_mtu() -> None:
    msg = route_request(
        True, "::/0", table=2602, proto=0xB5, oif=3, mtu=1460, seg6_segment="2001:db8:ff::1"
    )
    found = dict(attrs(msg, 28))
    metrics = dict(attrs(found[8 | NLA_F_NESTED], 0))  # RTA_METRICS
    assert metrics == {1: struct.pack("=I", 1 << 2), 2: struct.pack("=I", 1460)}  # lock, mtu
    assert found[21] == struct.pack("=H", 5)  # RTA_ENCAP_TYPE: LWTUNNEL_ENCAP_SEG6
    ((kind, tunnel),) = attrs(found[22 | NLA_F_NESTED], 0)  # RTA_ENCAP
    assert kind == 1  # SEG6_IPTUNNEL_SRH
    mode, nexthdr, hdrlen, srh_type, left, first = struct.unpack_from("=iBBBBB", tunnel)
    assert (mode, nexthdr, hdrlen, srh_type, left, first) == (3, 0, 2, 4, 0, 0)  # encap.red
    assert len(tunnel) == 4 + (hdrlen + 1) * 8  # what the kernel checks
    assert tunnel[12:] == socket.inet_pton(socket.AF_INET6, "2001:db8:ff::1")


def test_seg6local_decap_routes_name_action_and_unspecified_next_hop() -> None:
    for action, number, nexthop in (("End.DX6", 5, (5, bytes(16))), ("End.DX4", 6, (4, bytes(4)))):
        msg = route_request(
            True, "2001:db8:f1::2/128", table=2600, proto=0xB5, oif=3, seg6local=action
        )
        found = dict(attrs(msg, 28))
        assert found[21] == struct.pack("=H", 7)  # LWTUNNEL_ENCAP_SEG6_LOCAL
        assert attrs(found[22 | NLA_F_NESTED], 0) == [(1, struct.pack("=I", number)), nexthop]


def test_route_delete_matches_any_scope_and_carries_no_oif_or_encap() -> None:
    msg = route_request(False, "10.200.0.2/32", table=254, proto=0xB5, oif=9, mtu=1400)
    _, kind, flags, _, _ = struct.unpack_from("=IHHII", msg)
    assert (kind, flags) == (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK)
    assert struct.unpack_from("=BBBBBBBBI", msg, 16)[5:8] == (0xB5, 255, 0)  # proto, nowhere, any
    assert [k for k, _ in attrs(msg, 28)] == [1, 15]


def test_rule_add_is_exclusive_and_delete_names_the_same_fields() -> None:
    msg = rule_request(
        True, 6, priority=1002, table=2602, proto=0xB5, src="2001:db8:100::/64", iifname="access"
    )
    _, kind, flags, _, _ = struct.unpack_from("=IHHII", msg)
    assert (kind, flags) == (RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    # family, dst_len, src_len, tos, table (in FRA_TABLE), res, res, FR_ACT_TO_TBL, flags
    assert struct.unpack_from("=BBBBBBBBI", msg, 16) == (socket.AF_INET6, 0, 64, 0, 0, 0, 0, 1, 0)
    assert attrs(msg, 28) == [
        (2, socket.inet_pton(socket.AF_INET6, "2001:db8:100::")),  # FRA_SRC
        (3, b"access\0"),  # FRA_IIFNAME
        (6, struct.pack("=I", 1002)),  # FRA_PRIORITY
        (15, struct.pack("=I", 2602)),  # FRA_TABLE
        (21, bytes([0xB5])),  # FRA_PROTOCOL
    ]
    gone = rule_request(False, 6, priority=1000, table=2600, proto=0xB5, dst="2001:db8:f1::2/128",
                        ip_proto=41)  # fmt: skip
    assert struct.unpack_from("=IHH", gone)[1:] == (RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK)
    assert struct.unpack_from("=BBB", gone, 16) == (socket.AF_INET6, 128, 0)
    assert attrs(gone, 28)[-1] == (22, bytes([41]))  # FRA_IP_PROTO


def test_tagged_address_without_prefix_route() -> None:
    msg = address_request(True, 2, "2001:db8::1/64", noprefixroute=True, proto=0xB5)
    assert struct.unpack_from("=BBBBI", msg, 16)[2] == 0  # 0x200 does not fit the byte
    assert attrs(msg, 24)[-2:] == [(8, struct.pack("=I", 0x200)), (11, bytes([0xB5]))]


def test_acks_of_a_batch_and_renumbering() -> None:
    def err(code: int, seq: int) -> bytes:
        return struct.pack("=IHHII", 36, 2, 0, seq, 0) + struct.pack("=i", code) + b"\0" * 16

    assert acks(err(0, 7) + err(-2, 8) + err(-17, 9)) == [(7, 0), (8, 2), (9, 17)]
    assert acks(b"") == []
    with pytest.raises(ValueError):
        acks(err(0, 7) + struct.pack("=IHHII", 99, 2, 0, 5, 0))
    msg = with_seq(route_request(False, "::/0", table=254, proto=1, seq=1), 4242)
    assert struct.unpack_from("=I", msg, 8) == (4242,)
