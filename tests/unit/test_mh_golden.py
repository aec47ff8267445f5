"""Golden vectors: bytes written by hand from the RFC layouts, decoded field by
field and re-encoded byte-exact."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from mag_ap.mh import (
    AccessNetworkIdentifier,
    AccessTechnologyTypeOption,
    BindingAckStatus,
    DecodeError,
    GeoLocation,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4CareOfAddress,
    IPv4DefaultRouterAddress,
    IPv4DHCPSupportMode,
    IPv4HoAReplyStatus,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    MNIdentifierSubtype,
    MobileNodeGroupIdentifier,
    MobileNodeIdentifier,
    MobilityMessage,
    MobilityOption,
    NetworkIdentifier,
    OperatorIdentifier,
    Pad1,
    PadN,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    RestartCounter,
    ServiceSelection,
    Timestamp,
    UnknownANISubOption,
    UnknownMessage,
    UnknownOption,
    VendorSpecific,
    decode_message,
    encode_message,
)
from mag_ap.mh.option_area import decode_options, encode_options
from tests.unit.mh_vectors import (
    MESSAGES,
    PAD2,
    hex_bytes,
)


def _without_pads(msg: MobilityMessage) -> tuple[MobilityOption, ...]:
    return tuple(o for o in msg.options if not isinstance(o, Pad1 | PadN))


@pytest.mark.parametrize(
    ("wire", "expected"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES]
)
def test_message_golden_vector(wire: str, expected: MobilityMessage) -> None:
    data = hex_bytes(wire)
    decoded = decode_message(data)
    assert decoded == expected
    assert type(decoded) is type(expected)
    assert encode_message(decoded) == data


@pytest.mark.parametrize(
    ("wire", "expected"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES]
)
def test_encoder_pads_like_the_hand_written_layout(wire: str, expected: MobilityMessage) -> None:
    """Without explicit pads the encoder chooses the same minimal padding as the RFC layout."""
    if isinstance(expected, UnknownMessage):
        return
    from dataclasses import replace

    assert encode_message(replace(expected, options=_without_pads(expected))) == hex_bytes(wire)


def test_full_pbu_fields_read_naturally() -> None:
    msg = decode_message(hex_bytes(MESSAGES[-1][1]))
    assert isinstance(msg, ProxyBindingUpdate)
    mnid = msg.find(MobileNodeIdentifier)
    assert mnid is not None
    assert mnid.identifier == "mn1@ex.org"
    hnp = msg.find(HomeNetworkPrefix)
    assert hnp is not None
    assert str(hnp.network) == "2001:db8:1::/64"
    ts = msg.find(Timestamp)
    assert ts is not None
    assert ts.unix_time_s == 1_700_000_000.5
    assert Timestamp.at_unix_time(1_700_000_000.5) == ts
    assert msg.a and msg.h and msg.p and not msg.l


# (id, MH offset where the option area starts, hex of the option area, expected options)
OPTIONS: list[tuple[str, int, str, tuple[MobilityOption, ...]]] = [
    (
        "vendor-specific-4n+2",
        12,
        "0100 | 1308 000028af 01 aabbcc",
        (PadN(length=0), VendorSpecific(vendor_id=10415, subtype=1, data=b"\xaa\xbb\xcc")),
    ),
    (
        "service-selection",
        12,
        "1408 696e7465726e6574 | 0100",
        (ServiceSelection(identifier="internet"), PadN(length=0)),
    ),
    (
        "link-local-8n+6",
        14,
        "1a10 fe80 0000 0000 0000 0000 0000 0000 0001",
        (LinkLocalAddress(address=IPv6Address("fe80::1")),),
    ),
    (
        "restart-counter-4n+2",
        14,
        "1c04 00000005 |" + PAD2,
        (RestartCounter(counter=5), PadN(length=2)),
    ),
    (
        "ipv4-care-of-address",
        12,
        "2006 0000 c0000201 |" + PAD2,
        (IPv4CareOfAddress(address=IPv4Address("192.0.2.1")), PadN(length=2)),
    ),
    (
        "ipv4-hoa-request-static",
        12,
        "2406 8000 c000020a |" + PAD2,
        (
            IPv4HomeAddressRequest(prefix_length=32, address=IPv4Address("192.0.2.10")),
            PadN(length=2),
        ),
    ),
    (
        "ipv4-hoa-reply",
        12,
        "2506 00 60 c000020a |" + PAD2,
        (
            IPv4HomeAddressReply(
                status=IPv4HoAReplyStatus.SUCCESS,
                prefix_length=24,
                address=IPv4Address("192.0.2.10"),
            ),
            PadN(length=2),
        ),
    ),
    (
        "ipv4-hoa-reply-refused",
        12,
        "2506 84 00 00000000 |" + PAD2,
        (
            IPv4HomeAddressReply(status=IPv4HoAReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE),
            PadN(length=2),
        ),
    ),
    (
        "ipv4-default-router",
        12,
        "2606 0000 c0000201 |" + PAD2,
        (IPv4DefaultRouterAddress(address=IPv4Address("192.0.2.1")), PadN(length=2)),
    ),
    ("dhcp-support-mode-server", 12, "2702 0001", (IPv4DHCPSupportMode(s_flag=True),)),
    ("dhcp-support-mode-relay", 12, "2702 0000", (IPv4DHCPSupportMode(s_flag=False),)),
    (
        "mn-group-identifier",
        12,
        "3206 01 00 00000001 |" + PAD2,
        (MobileNodeGroupIdentifier(subtype=1, group_identifier=1), PadN(length=2)),
    ),
    (
        "access-network-identifier",
        12,
        "341b"
        " 010a 80 05 7373696431 02 6170"  # Network-Identifier, UTF-8, "ssid1", AP "ap"
        " 0206 000001 ffffff"  # Geo-Location lat 1, long -1 (raw fixed point)
        " 0305 01 000028af"  # Operator-Identifier, PEN 10415
        " | 0105 0000000000",
        (
            AccessNetworkIdentifier(
                sub_options=(
                    NetworkIdentifier(e_flag=True, network_name="ssid1", access_point_name="ap"),
                    GeoLocation(latitude=1, longitude=-1),
                    OperatorIdentifier(op_id_type=1, identifier=bytes.fromhex("000028af")),
                )
            ),
            PadN(length=5),
        ),
    ),
    (
        "ani-unknown-sub-option-kept",
        12,
        "3404 0902 abcd | 0104 00000000",
        (
            AccessNetworkIdentifier(
                sub_options=(UnknownANISubOption(sub_type=9, data=b"\xab\xcd"),)
            ),
            PadN(length=4),
        ),
    ),
    (
        "unknown-option-kept-opaque",
        12,
        "3c03 010203 | 0105 0000000000",
        (UnknownOption(type_number=60, data=b"\x01\x02\x03"), PadN(length=5)),
    ),
    ("pad1-run", 12, "00 00 00 00", (Pad1(), Pad1(), Pad1(), Pad1())),
    (
        "mn-id-eui48",
        12,
        "0807 05 001122334455 | 0101 00",
        (
            MobileNodeIdentifier(
                subtype=MNIdentifierSubtype.EUI_48, identifier=bytes.fromhex("001122334455")
            ),
            PadN(length=1),
        ),
    ),
    (
        "mn-id-nai-not-utf8-kept-as-bytes",
        12,
        "0803 01 ff fe | 0105 0000000000",
        (MobileNodeIdentifier(identifier=b"\xff\xfe"), PadN(length=5)),
    ),
    (
        "hi-att-unknown-values-kept",
        12,
        "1702 00c8 1802 00fe |" + PAD2,
        (
            HandoffIndicatorOption(indicator=200),
            AccessTechnologyTypeOption(access_technology=254),
            PadN(length=2),
        ),
    ),
]


@pytest.mark.parametrize(
    ("start", "wire", "expected"), [o[1:] for o in OPTIONS], ids=[o[0] for o in OPTIONS]
)
def test_option_golden_vector(start: int, wire: str, expected: tuple[MobilityOption, ...]) -> None:
    data = hex_bytes(wire)
    assert decode_options(data, start) == expected
    assert encode_options(expected, start) == data


@pytest.mark.parametrize(
    ("start", "wire", "expected"), [o[1:] for o in OPTIONS], ids=[o[0] for o in OPTIONS]
)
def test_option_auto_padding_matches(
    start: int, wire: str, expected: tuple[MobilityOption, ...]
) -> None:
    bare = tuple(o for o in expected if not isinstance(o, Pad1 | PadN))
    if bare:
        assert encode_options(bare, start) == hex_bytes(wire)


# (id, hex, offset the DecodeError must point at)
BAD: list[tuple[str, str, int]] = [
    ("shorter-than-8", "3b00 0500 0000 00", 0),
    ("header-len-says-more", "3b02 0500 0000 0001 c200 0000 0102 0000", 1),
    ("header-len-says-less", "3b00 0500 0000 0001 c200 0000 0102 0000", 1),
    ("binding-error-too-short", "3b01 0700 0000 0200 2001 0db8 0000 0000", 6),
    ("option-overruns-message", "3b01 0500 0000 0001 c200 0000 1605 0000", 13),
    ("option-header-truncated", "3b01 0500 0000 0001 c200 0000 0000 0016", 15),
    (
        "hnp-length-17",
        "3b03 0500 0000 0001 c200 0000 1611 0040 2001 0db8 0000 0000 0000 0000 0000 00 | 00",
        14,
    ),
    (
        "hnp-prefix-length-129",
        "3b03 0500 0000 0001 c200 0000 1612 0081 2001 0db8 0000 0000 0000 0000 0000 0000",
        15,
    ),
    (
        "handoff-indicator-length-3",
        "3b02 0500 0000 0001 c200 0000 1703 0000 01 0105 0000000000",
        14,
    ),
    ("restart-counter-length-6", "3b02 0500 0000 0001 c200 0000 1c06 0000 0000 0001 0102 0000", 14),
    ("gre-key-length-2", "3b01 0500 0000 0001 c200 0000 2102 0000", 14),
    ("mn-id-subtype-only", "3b01 0500 0000 0001 c200 0000 0801 0100", 14),
    (
        "ipv4-hoa-request-prefix-33",
        "3b02 0600 0000 0000 0001 0000 2406 8400 c000 0201 0102 0000",
        14,
    ),
    ("revocation-unknown-br-type", "3b01 1000 0000 0301 0009 a000 0102 0000", 6),
    ("ani-sub-option-overrun", "3b01 0500 0000 0001 c200 0000 3402 0109", 14),
]


@pytest.mark.parametrize(("wire", "offset"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_decode_error_with_offset(wire: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_message(hex_bytes(wire))
    assert info.value.offset == offset
    assert f"offset {offset}" in str(info.value)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


@pytest.mark.parametrize("lifetime_s", [-4, 3, 0x10000 * 4])
def test_encoder_refuses_a_lifetime_the_field_cannot_carry(lifetime_s: int) -> None:
    with pytest.raises(ValueError, match="lifetime_s"):
        encode_message(ProxyBindingUpdate(lifetime_s=lifetime_s))


def test_encoder_refuses_an_option_body_over_255_octets() -> None:
    with pytest.raises(ValueError, match="exceeds 255"):
        encode_message(ProxyBindingUpdate(options=(ServiceSelection(identifier="x" * 256),)))


def test_statuses_below_128_are_accepted() -> None:
    assert ProxyBindingAcknowledgement(status=BindingAckStatus.GRE_KEY_OPTION_NOT_REQUIRED).accepted
    assert not ProxyBindingAcknowledgement(status=BindingAckStatus.REASON_UNSPECIFIED).accepted
