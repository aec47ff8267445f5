"""Property-based tests of the MH codec (hypothesis).

Round trip for generated messages; and the decoder, fed arbitrary or mutated
bytes, only ever returns a message or raises DecodeError.
"""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mag_ap import mh
from mag_ap.mh import (
    DecodeError,
    MobilityMessage,
    MobilityOption,
    Pad1,
    PadN,
    decode_message,
    encode_message,
    message_from_json,
    message_to_json,
)
from mag_ap.mh.ani import ANI_SUB_OPTION_CLASSES
from mag_ap.mh.messages import MESSAGE_CLASSES
from mag_ap.mh.option_area import OPTION_CLASSES

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
v4 = st.builds(IPv4Address, u32)
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
# Bytes that are not valid UTF-8, so a text-or-bytes field decodes back to bytes.
not_utf8 = st.binary(max_size=20).map(lambda b: b"\xff" + b)
lifetime = st.integers(0, 0xFFFF).map(lambda units: units * 4)

sub_options = st.one_of(
    st.builds(
        mh.NetworkIdentifier,
        e_flag=st.booleans(),
        network_name=st.one_of(text, not_utf8),
        access_point_name=st.one_of(text, not_utf8),
    ),
    st.builds(
        mh.GeoLocation,
        latitude=st.integers(-(2**23), 2**23 - 1),
        longitude=st.integers(-(2**23), 2**23 - 1),
    ),
    st.builds(mh.OperatorIdentifier, op_id_type=u8, identifier=st.binary(max_size=20)),
    st.builds(
        mh.UnknownANISubOption,
        sub_type=u8.filter(lambda t: t not in ANI_SUB_OPTION_CLASSES),
        data=st.binary(max_size=20),
    ),
)

options: st.SearchStrategy[MobilityOption] = st.one_of(
    st.builds(mh.MobileNodeIdentifier.nai, text),
    st.builds(
        mh.MobileNodeIdentifier,
        subtype=st.integers(2, 255),
        identifier=st.binary(min_size=1, max_size=30),
    ),
    st.builds(mh.VendorSpecific, vendor_id=u32, subtype=u8, data=st.binary(max_size=30)),
    st.builds(mh.ServiceSelection, identifier=text),
    st.builds(mh.HomeNetworkPrefix, prefix_length=st.integers(0, 128), prefix=v6),
    st.builds(mh.HandoffIndicatorOption, indicator=u8),
    st.builds(mh.AccessTechnologyTypeOption, access_technology=u8),
    st.builds(mh.MNLinkLayerIdentifier, link_layer_identifier=st.binary(min_size=1, max_size=16)),
    st.builds(mh.LinkLocalAddress, address=v6),
    st.builds(mh.Timestamp, seconds=st.integers(0, 2**48 - 1), fraction=u16),
    st.builds(mh.RestartCounter, counter=u32),
    st.builds(mh.IPv4CareOfAddress, address=v4),
    st.builds(mh.GREKey, key=u32),
    st.builds(mh.IPv4HomeAddressRequest, prefix_length=st.integers(0, 32), address=v4),
    st.builds(mh.IPv4HomeAddressReply, status=u8, prefix_length=st.integers(0, 32), address=v4),
    st.builds(mh.IPv4DefaultRouterAddress, address=v4),
    st.builds(mh.IPv4DHCPSupportMode, s_flag=st.booleans()),
    st.builds(mh.MobileNodeGroupIdentifier, subtype=u8, group_identifier=u32),
    st.builds(mh.AccessNetworkIdentifier, sub_options=st.lists(sub_options, max_size=3).map(tuple)),
    st.builds(
        mh.UnknownOption,
        type_number=st.integers(2, 255).filter(lambda t: t not in OPTION_CLASSES),
        data=st.binary(max_size=30),
    ),
)
option_lists = st.lists(options, max_size=6).map(tuple)
flag = st.booleans()

messages: st.SearchStrategy[MobilityMessage] = st.one_of(
    st.builds(
        mh.ProxyBindingUpdate,
        sequence=u16,
        lifetime_s=lifetime,
        options=option_lists,
        **dict.fromkeys("ahlkmrpftbsd", flag),
    ),
    st.builds(
        mh.ProxyBindingAcknowledgement,
        status=u8,
        sequence=u16,
        lifetime_s=lifetime,
        options=option_lists,
        **dict.fromkeys("krptbsd", flag),
    ),
    st.builds(mh.BindingError, status=u8, home_address=v6, options=option_lists),
    st.builds(mh.Heartbeat, sequence=u32, u=flag, r=flag, options=option_lists),
    st.builds(
        mh.BindingRevocationIndication,
        trigger=u8,
        sequence=u16,
        p=flag,
        v=flag,
        g=flag,
        options=option_lists,
    ),
    st.builds(
        mh.BindingRevocationAcknowledgement,
        status=u8,
        sequence=u16,
        p=flag,
        v=flag,
        g=flag,
        options=option_lists,
    ),
    st.builds(mh.UpdateNotification, sequence=u16, reason=u8, a=flag, d=flag, options=option_lists),
    st.builds(mh.UpdateNotificationAcknowledgement, sequence=u16, status=u8, options=option_lists),
    st.builds(
        mh.UnknownMessage,
        type_number=u8.filter(lambda t: t not in MESSAGE_CLASSES and t != 16),
        data=st.integers(0, 20).flatmap(
            lambda n: st.binary(min_size=8 * n + 2, max_size=8 * n + 2)
        ),
    ),
)


def _strip_pads(msg: MobilityMessage) -> MobilityMessage:
    if isinstance(msg, mh.UnknownMessage):
        return msg
    return replace(msg, options=tuple(o for o in msg.options if not isinstance(o, Pad1 | PadN)))


@given(messages)
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_of_generated_messages(msg: MobilityMessage) -> None:
    wire = encode_message(msg)
    assert len(wire) % 8 == 0
    decoded = decode_message(wire)
    assert _strip_pads(decoded) == msg
    assert encode_message(decoded) == wire  # byte-exact once the padding is explicit


@given(messages)
@settings(max_examples=300)
def test_json_view_round_trip(msg: MobilityMessage) -> None:
    decoded = decode_message(encode_message(msg))
    view = json.loads(json.dumps(message_to_json(decoded)))
    assert message_from_json(view) == decoded
    assert encode_message(message_from_json(view)) == encode_message(decoded)


def _decode_is_total(data: bytes) -> None:
    """Decode returns a message or raises DecodeError; a decoded message re-encodes stably."""
    try:
        msg = decode_message(data)
    except DecodeError:
        return
    again = decode_message(encode_message(msg))
    assert encode_message(again) == encode_message(msg)


@given(st.binary(max_size=300))
@settings(max_examples=2000)
def test_decoder_on_arbitrary_bytes(data: bytes) -> None:
    _decode_is_total(data)


@given(
    st.integers(0, 255).map(lambda t: bytes([59, 3, t, 0, 0, 0])),
    st.binary(min_size=26, max_size=26),
)
@settings(max_examples=2000)
def test_decoder_on_well_framed_random_bodies(header: bytes, body: bytes) -> None:
    _decode_is_total(header + body)


@given(messages, st.data())
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_decoder_on_mutated_valid_messages(msg: MobilityMessage, data: st.DataObject) -> None:
    wire = bytearray(encode_message(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "truncate", "extend"]))
        if kind == "truncate" and len(wire) > 1:
            del wire[data.draw(st.integers(0, len(wire) - 1)) :]
        elif kind == "extend":
            wire += data.draw(st.binary(min_size=1, max_size=16))
        elif wire:
            at = data.draw(st.integers(0, len(wire) - 1))
            if kind == "flip":
                wire[at] ^= 1 << data.draw(st.integers(0, 7))
            else:
                wire[at] = data.draw(u8)
    _decode_is_total(bytes(wire))


wild_int = st.integers(-(2**40), 2**70)
wild_options = st.one_of(
    st.builds(mh.HomeNetworkPrefix, prefix_length=wild_int, prefix=v6),
    st.builds(mh.IPv4HomeAddressRequest, prefix_length=wild_int, address=v4),
    st.builds(mh.IPv4HomeAddressReply, status=wild_int, prefix_length=wild_int, address=v4),
    st.builds(mh.GREKey, key=wild_int),
    st.builds(mh.RestartCounter, counter=wild_int),
    st.builds(mh.Timestamp, seconds=wild_int, fraction=wild_int),
    st.builds(mh.MobileNodeIdentifier, subtype=wild_int, identifier=st.binary(max_size=3)),
    st.builds(mh.ServiceSelection, identifier=st.text(max_size=3)),
    st.builds(mh.MNLinkLayerIdentifier, link_layer_identifier=st.binary(max_size=3)),
    st.builds(
        mh.AccessNetworkIdentifier,
        sub_options=st.tuples(st.builds(mh.GeoLocation, latitude=wild_int, longitude=wild_int)),
    ),
    st.builds(mh.HandoffIndicatorOption, indicator=wild_int),
)


@given(
    st.builds(
        mh.Heartbeat, sequence=wild_int, options=st.lists(wild_options, max_size=3).map(tuple)
    )
)
@settings(max_examples=1000)
def test_encoder_emits_only_what_the_decoder_accepts(msg: MobilityMessage) -> None:
    """Out-of-range fields are a ValueError at encode time, never bytes we would refuse."""
    try:
        wire = encode_message(msg)
    except ValueError:
        return
    decode_message(wire)
