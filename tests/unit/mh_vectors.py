"""Golden Mobility Header messages, written by hand from the RFC layouts.

Shared by the codec's golden tests and the ``mag-ap mh`` CLI tests.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from mag_ap.mh import (
    AccessTechnologyType,
    AccessTechnologyTypeOption,
    BindingAckStatus,
    BindingError,
    BindingErrorStatus,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    GREKey,
    HandoffIndicator,
    HandoffIndicatorOption,
    Heartbeat,
    HomeNetworkPrefix,
    IPv4HomeAddressRequest,
    MNLinkLayerIdentifier,
    MobileNodeIdentifier,
    MobilityMessage,
    NotificationAckStatus,
    NotificationReason,
    PadN,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    RevocationStatus,
    RevocationTrigger,
    Timestamp,
    UnknownMessage,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)

PAD2 = "0102 0000"  # PadN with two zero octets: 4 octets of padding

# (id, hex of the whole MH, expected message)
MESSAGES: list[tuple[str, str, MobilityMessage]] = [
    (
        "pbu-minimal",
        "3b01 0500 0000 | 1234 c200 0384 |" + PAD2,
        ProxyBindingUpdate(sequence=0x1234, lifetime_s=3600, options=(PadN(length=2),)),
    ),
    (
        "pbu-every-flag-checksum-kept",
        "3b01 0500 abcd | ffff fff0 0000 |" + PAD2,
        ProxyBindingUpdate(
            sequence=65535,
            lifetime_s=0,
            checksum=0xABCD,
            **dict.fromkeys("ahlkmrpftbsd", True),
            options=(PadN(length=2),),
        ),
    ),
    (
        "pbu-plain-bu-no-flags",
        "3b01 0500 0000 | 0001 0000 ffff |" + PAD2,
        ProxyBindingUpdate(
            sequence=1, lifetime_s=0xFFFF * 4, a=False, h=False, p=False, options=(PadN(length=2),)
        ),
    ),
    (
        "pba-seq-out-of-window",
        "3b01 0600 0000 | 87 a0 0007 0064 |" + PAD2,
        ProxyBindingAcknowledgement(
            status=BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW,
            k=True,
            p=True,
            sequence=7,
            lifetime_s=400,
            options=(PadN(length=2),),
        ),
    ),
    (
        "pba-every-flag",
        "3b01 0600 0000 | 00 fe 0100 0000 |" + PAD2,
        ProxyBindingAcknowledgement(
            sequence=256,
            **dict.fromkeys("krptbsd", True),
            options=(PadN(length=2),),
        ),
    ),
    (
        "binding-error",
        "3b02 0700 0000 | 02 00 2001 0db8 0000 0000 0000 0000 0000 0001",
        BindingError(
            status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE,
            home_address=IPv6Address("2001:db8::1"),
        ),
    ),
    (
        "heartbeat-request",
        "3b01 0d00 0000 | 0000 0000 0001 |" + PAD2,
        Heartbeat(sequence=1, options=(PadN(length=2),)),
    ),
    (
        "heartbeat-response-unsolicited",
        "3b01 0d00 0000 | 0003 ffff fffe |" + PAD2,
        Heartbeat(sequence=0xFFFFFFFE, u=True, r=True, options=(PadN(length=2),)),
    ),
    (
        "bri-global",
        "3b01 1000 0000 | 01 01 0009 a000 |" + PAD2,
        BindingRevocationIndication(
            trigger=RevocationTrigger.ADMINISTRATIVE_REASON,
            sequence=9,
            p=True,
            g=True,
            options=(PadN(length=2),),
        ),
    ),
    (
        "bra-no-binding",
        "3b01 1000 0000 | 02 80 0009 c000 |" + PAD2,
        BindingRevocationAcknowledgement(
            status=RevocationStatus.BINDING_DOES_NOT_EXIST,
            sequence=9,
            p=True,
            v=True,
            options=(PadN(length=2),),
        ),
    ),
    (
        "update-notification",
        "3b01 1300 0000 | 0003 01 80 | 0104 0000 0000",
        UpdateNotification(
            sequence=3,
            reason=NotificationReason.FORCE_REREGISTRATION,
            a=True,
            options=(PadN(length=4),),
        ),
    ),
    (
        "update-notification-ack",
        "3b01 1400 0000 | 0003 00 00 | 0104 0000 0000",
        UpdateNotificationAcknowledgement(
            sequence=3, status=NotificationAckStatus.SUCCESS, options=(PadN(length=4),)
        ),
    ),
    (
        "unknown-mh-type-kept-opaque",
        "3b01 6300 0000 | dead beef 0000 0000 0000",
        UnknownMessage(type_number=99, data=bytes.fromhex("deadbeef000000000000")),
    ),
    (
        "pbu-full-registration",
        # seq 1, A|H|P, 3600 s, options from offset 12:
        "3b0b 0500 0000 | 0001 c200 0384 |"
        "080b 01 6d6e3140 65782e6f 7267 |"  # 12 MN-ID NAI "mn1@ex.org"
        "0101 00 |"  # 25 PadN(1) -> HNP at 8n+4
        "1612 00 40 2001 0db8 0001 0000 0000 0000 0000 0000 |"  # 28 HNP 2001:db8:1::/64
        "1702 0001 |"  # 48 HI new interface
        "1802 0004 |"  # 52 ATT 802.11
        "0100 |"  # 56 PadN(0) -> Timestamp at 8n+2
        "1b08 0000 6553 f100 8000 |"  # 58 Timestamp 1700000000.5
        "1908 0000 0200 0000 0001 |"  # 68 MN LL-ID 02:00:00:00:00:01
        "0100 |"  # 78 PadN(0) -> IPv4 HoA Request at 4n
        "2406 0000 0000 0000 |"  # 80 IPv4 HoA Request 0.0.0.0/0
        "2106 0000 0000 002a",  # 88 GRE key 42, ends at 96
        ProxyBindingUpdate(
            sequence=1,
            lifetime_s=3600,
            options=(
                MobileNodeIdentifier.nai("mn1@ex.org"),
                PadN(length=1),
                HomeNetworkPrefix(prefix_length=64, prefix=IPv6Address("2001:db8:1::")),
                HandoffIndicatorOption(indicator=HandoffIndicator.NEW_INTERFACE),
                AccessTechnologyTypeOption(access_technology=AccessTechnologyType.IEEE_802_11),
                PadN(length=0),
                Timestamp(seconds=1_700_000_000, fraction=0x8000),
                MNLinkLayerIdentifier(link_layer_identifier=bytes.fromhex("020000000001")),
                PadN(length=0),
                IPv4HomeAddressRequest(),
                GREKey(key=42),
            ),
        ),
    ),
]


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("|", "").replace(" ", ""))
