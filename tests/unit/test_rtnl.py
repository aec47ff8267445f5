"""mag_ap.rtnl requests byte for byte (linux/netlink.h, if_addr.h, rtnetlink.h)."""

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
    RTM_NEWADDR,
    RTM_NEWLINK,
    ack_errno,
    address_request,
    link_address_request,
)


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
