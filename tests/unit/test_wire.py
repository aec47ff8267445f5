"""The shared wire helpers: one decode error for every codec, one RFC 1071 checksum."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import mag_ap_dhcp4._packet
import mag_ap_linkwatch._netlink
import mag_ap_ra._packet
import mag_ap_radius.packet
from mag_ap import mh
from mag_ap.wire import DecodeError, internet_checksum


def test_every_codec_raises_the_one_decode_error() -> None:
    for module in (mh, mag_ap_dhcp4._packet, mag_ap_ra._packet, mag_ap_radius.packet,
                   mag_ap_linkwatch._netlink):  # fmt: skip
        assert module.DecodeError is DecodeError
    err = DecodeError("short header", 7)
    assert (str(err), err.reason, err.offset) == ("short header (at offset 7)", "short header", 7)


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement).
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


@given(st.binary(max_size=64))
def test_data_with_its_checksum_sums_to_zero(data: bytes) -> None:
    padded = data + b"\0" * (len(data) % 2)
    assert internet_checksum(padded + internet_checksum(padded).to_bytes(2, "big")) == 0
