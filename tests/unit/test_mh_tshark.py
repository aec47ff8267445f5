"""Wireshark as an independent oracle for the Mobility Header encoder.

Every vector below is a message dataclass encoded by ``encode_message``, given
its checksum by ``with_checksum`` and written, with an IPv6 header (next header
135), into one pcap. ``tshark -T json`` decodes the capture once per session and
each vector's frame is compared field by field with the dataclass it came from.
Field names and output conventions are those of tshark 4.0 (Debian 12).

tshark does not check option alignment, PadN contents, the 8-octet total or the
checksum, so those are asserted here directly on the encoded bytes.

Inputs deliberately avoided because Wireshark 4.0 itself misreports them
(behaviour checked on crafted captures with tshark 4.0.17):

* binary MN-IDs containing NUL bytes (EUI-48/64, DUID...): Wireshark decodes
  every MN-ID as a string and raises "trailing stray characters"; the non-NAI
  MN-ID used here is an IMSI written as ASCII digits;
* 3GPP vendor-specific options other than sub-type 2 with the M flag clear, and
  option types Wireshark does not know (they raise "not dissected" notes);
* the S and D flags of the BU/BA are encoded but Wireshark 4.0 has no field for
  them; the single-flag vectors still prove they do not leak into other flags.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from calendar import timegm
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address
from time import strptime

import pytest

from lab.pcap import ipv6_packet, write_pcap
from mag_ap.mh import (
    AccessNetworkIdentifier,
    AccessTechnologyType,
    AccessTechnologyTypeOption,
    BindingAckStatus,
    BindingError,
    BindingErrorStatus,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    GeoLocation,
    GREKey,
    HandoffIndicator,
    HandoffIndicatorOption,
    Heartbeat,
    HomeNetworkPrefix,
    IPv4CareOfAddress,
    IPv4DefaultRouterAddress,
    IPv4DHCPSupportMode,
    IPv4HoAReplyStatus,
    IPv4HomeAddressReply,
    IPv4HomeAddressRequest,
    LinkLocalAddress,
    MNIdentifierSubtype,
    MNLinkLayerIdentifier,
    MobileNodeGroupIdentifier,
    MobileNodeIdentifier,
    MobilityMessage,
    MobilityOption,
    NetworkIdentifier,
    NotificationAckStatus,
    NotificationReason,
    OperatorIdentifier,
    Pad1,
    PadN,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    RestartCounter,
    RevocationStatus,
    RevocationTrigger,
    ServiceSelection,
    Timestamp,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
    VendorSpecific,
    checksum_ok,
    encode_message,
    with_checksum,
)
from mag_ap.mh.constants import IPPROTO_MH, LIFETIME_UNIT_S, MAX_LIFETIME_S
from tests.conftest import require_tool

MAG = IPv6Address("2001:db8::a")
LMA = IPv6Address("2001:db8::1:1")
HEADER_LEN = 6
PEN_3GPP = 10415

# --- vectors ----------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    """One message and the addresses it travels between (they enter the checksum)."""

    id: str
    msg: MobilityMessage
    src: IPv6Address = MAG
    dst: IPv6Address = LMA

    @property
    def mh(self) -> bytes:
        return with_checksum(self.src, self.dst, encode_message(self.msg))


def _nai(nai: str) -> MobileNodeIdentifier:
    return MobileNodeIdentifier.nai(nai)


def _hnp(prefix: str, length: int) -> HomeNetworkPrefix:
    return HomeNetworkPrefix(prefix_length=length, prefix=IPv6Address(prefix))


_PBU_FLAG_NAMES = ("a", "h", "l", "k", "m", "r", "p", "f", "t", "b", "s", "d")

_ANI_FULL = AccessNetworkIdentifier(
    sub_options=(
        NetworkIdentifier(e_flag=True, network_name="CorpWiFi", access_point_name="ap-0017"),
        GeoLocation(latitude=round(48.8566 * 32768), longitude=round(2.3522 * 32768)),
        OperatorIdentifier(op_id_type=1, identifier=bytes.fromhex("000028af")),
    )
)
_ANI_BINARY = AccessNetworkIdentifier(
    sub_options=(
        # E clear: Wireshark shows the name as bytes (net_name_data) and the
        # empty AP name as an empty string.
        NetworkIdentifier(e_flag=False, network_name=b"\x01\x02\xfe\x7f", access_point_name=b""),
        GeoLocation(latitude=-round(33.8688 * 32768), longitude=-round(151.2093 * 32768)),
        OperatorIdentifier(op_id_type=2, identifier=b"operator.example"),
    )
)


def _pbu_flag_vectors() -> Iterator[Vector]:
    """No flag, each flag alone, and all twelve together."""
    none = dict.fromkeys(_PBU_FLAG_NAMES, False)
    base = (_nai("flags@example.net"), _hnp("::", 0))
    yield Vector(
        "pbu-flags-none", ProxyBindingUpdate(sequence=7, lifetime_s=8, options=base, **none)
    )
    for i, name in enumerate(_PBU_FLAG_NAMES):
        msg = ProxyBindingUpdate(
            sequence=100 + i, lifetime_s=4 * (i + 1), options=base, **{**none, name: True}
        )
        yield Vector(f"pbu-flag-{name}", msg)
    all_set = dict.fromkeys(_PBU_FLAG_NAMES, True)
    yield Vector(
        "pbu-flags-all",
        ProxyBindingUpdate(sequence=0xFFFF, lifetime_s=MAX_LIFETIME_S, options=base, **all_set),
    )


def _vectors() -> list[Vector]:
    vectors: list[Vector] = [
        Vector(
            "pbu-initial-attach",
            ProxyBindingUpdate(
                sequence=1,
                lifetime_s=3600,
                options=(
                    _nai("mn1@example.com"),
                    _hnp("::", 0),
                    HandoffIndicatorOption(indicator=HandoffIndicator.NEW_INTERFACE),
                    AccessTechnologyTypeOption(access_technology=AccessTechnologyType.IEEE_802_11),
                    Timestamp(seconds=1_700_000_000, fraction=0x8000),
                    MNLinkLayerIdentifier(link_layer_identifier=bytes.fromhex("021122334455")),
                    LinkLocalAddress(address=IPv6Address("::")),
                ),
            ),
        ),
        Vector(
            "pbu-reregistration",
            ProxyBindingUpdate(
                sequence=2,
                lifetime_s=7200,
                options=(
                    _nai("mn1@example.com"),
                    _hnp("2001:db8:1:2::", 64),
                    HandoffIndicatorOption(indicator=HandoffIndicator.NOT_CHANGED),
                    AccessTechnologyTypeOption(access_technology=AccessTechnologyType.IEEE_802_3),
                    Timestamp(seconds=1_700_000_123, fraction=1),
                    MNLinkLayerIdentifier(link_layer_identifier=bytes.fromhex("0211223344550a0b")),
                    LinkLocalAddress(address=IPv6Address("fe80::1")),
                ),
            ),
        ),
        Vector(
            "pbu-deregistration",
            ProxyBindingUpdate(
                sequence=0xFFFE,
                lifetime_s=0,
                options=(
                    _nai("dereg.user@access.example.org"),
                    _hnp("2001:db8:ffff:fffe::", 64),
                    _hnp("2001:db8:aaaa::", 48),
                    HandoffIndicatorOption(indicator=HandoffIndicator.UNKNOWN),
                    AccessTechnologyTypeOption(access_technology=AccessTechnologyType.VIRTUAL),
                    Timestamp(seconds=4_102_444_800, fraction=0xFFFF),
                ),
            ),
        ),
        Vector(
            "pbu-ipv4-and-gre",
            ProxyBindingUpdate(
                sequence=31337,
                lifetime_s=600,
                options=(
                    MobileNodeIdentifier(
                        subtype=MNIdentifierSubtype.IMSI, identifier=b"001010123456789"
                    ),
                    ServiceSelection(identifier="internet"),
                    _hnp("::", 0),
                    HandoffIndicatorOption(indicator=HandoffIndicator.MAG_CHANGE),
                    AccessTechnologyTypeOption(access_technology=AccessTechnologyType.E_UTRAN),
                    IPv4HomeAddressRequest(prefix_length=0, address=IPv4Address("0.0.0.0")),
                    IPv4DHCPSupportMode(s_flag=True),
                    GREKey(key=0xDEADBEEF),
                    IPv4CareOfAddress(address=IPv4Address("192.0.2.10")),
                    Timestamp(seconds=1_234_567_890, fraction=0x4000),
                ),
            ),
        ),
        Vector(
            "pbu-ipv4-static-request",
            ProxyBindingUpdate(
                sequence=5,
                lifetime_s=65532,
                options=(
                    _nai("static@example.com"),
                    IPv4HomeAddressRequest(prefix_length=24, address=IPv4Address("198.51.100.7")),
                    IPv4DHCPSupportMode(s_flag=False),
                    GREKey(key=1),
                    RestartCounter(counter=3),
                ),
            ),
        ),
        Vector(
            "pbu-vendor-ani-group",
            ProxyBindingUpdate(
                sequence=4242,
                lifetime_s=86400,
                options=(
                    _nai("user+tag@example.com"),
                    _hnp("2001:db8:0:100::", 56),
                    VendorSpecific(vendor_id=PEN_3GPP, subtype=2, data=bytes([0x00, 0x07])),
                    VendorSpecific(vendor_id=32473, subtype=5, data=b"abcdef"),
                    _ANI_FULL,
                    MobileNodeGroupIdentifier(subtype=1, group_identifier=0x01020304),
                    RestartCounter(counter=0xFFFFFFFF),
                    ServiceSelection(identifier="ims.mnc001.mcc001.gprs"),
                ),
            ),
        ),
        Vector(
            "pbu-ani-binary-utf8-nai",
            ProxyBindingUpdate(
                sequence=9,
                lifetime_s=400,
                options=(
                    _nai("jürgen@bücher.example"),
                    _ANI_BINARY,
                    HandoffIndicatorOption(indicator=HandoffIndicator.DIFFERENT_INTERFACE),
                    AccessTechnologyTypeOption(access_technology=AccessTechnologyType.UMB),
                    LinkLocalAddress(address=IPv6Address("fe80::21a:2bff:fe3c:4d5e")),
                ),
            ),
        ),
        *_pbu_flag_vectors(),
        Vector(
            "pba-accepted-full",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.ACCEPTED,
                sequence=1,
                lifetime_s=3600,
                options=(
                    _nai("mn1@example.com"),
                    _hnp("2001:db8:1:2::", 64),
                    HandoffIndicatorOption(indicator=HandoffIndicator.NEW_INTERFACE),
                    AccessTechnologyTypeOption(access_technology=AccessTechnologyType.IEEE_802_11),
                    Timestamp(seconds=1_700_000_000, fraction=0x8000),
                    MNLinkLayerIdentifier(link_layer_identifier=bytes.fromhex("021122334455")),
                    LinkLocalAddress(address=IPv6Address("fe80::5054:ff:fe12:3456")),
                ),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "pba-accepted-ipv4",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.ACCEPTED,
                sequence=31337,
                lifetime_s=600,
                options=(
                    _nai("ipv4@example.com"),
                    _hnp("2001:db8:77::", 64),
                    IPv4HomeAddressReply(
                        status=IPv4HoAReplyStatus.SUCCESS,
                        prefix_length=24,
                        address=IPv4Address("10.20.30.40"),
                    ),
                    IPv4DefaultRouterAddress(address=IPv4Address("10.20.30.1")),
                    IPv4DHCPSupportMode(s_flag=True),
                    GREKey(key=0x0000BEEF),
                    RestartCounter(counter=12),
                ),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "pba-ipv4-refused",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                sequence=77,
                lifetime_s=0,
                k=True,
                t=True,
                options=(
                    _nai("noipv4@example.com"),
                    IPv4HomeAddressReply(
                        status=IPv4HoAReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE,
                        prefix_length=32,
                        address=IPv4Address("0.0.0.0"),
                    ),
                ),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "pba-seq-out-of-window",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW,
                sequence=0xABCD,
                lifetime_s=0,
                options=(_nai("late@example.com"), Timestamp(seconds=1_600_000_000, fraction=3)),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "pba-prefix-discovery-rb",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.ACCEPTED_PREFIX_DISCOVERY_NECESSARY,
                sequence=3,
                lifetime_s=40,
                r=True,
                b=True,
                p=False,
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "pba-all-flags-qos",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.CANNOT_MEET_QOS_SERVICE_REQUEST,
                sequence=0xFFFF,
                lifetime_s=MAX_LIFETIME_S,
                k=True,
                r=True,
                p=True,
                t=True,
                b=True,
                s=True,
                d=True,
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "pba-prohibited",
            ProxyBindingAcknowledgement(
                status=BindingAckStatus.ADMINISTRATIVELY_PROHIBITED,
                sequence=0,
                lifetime_s=4,
                s=True,
                options=(_nai("blocked@example.com"),),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "be-unknown-binding",
            BindingError(
                status=BindingErrorStatus.UNKNOWN_BINDING_FOR_HOME_ADDRESS,
                home_address=IPv6Address("2001:db8:1:2::1234"),
            ),
        ),
        Vector(
            "be-unrecognized-type",
            BindingError(status=BindingErrorStatus.UNRECOGNIZED_MH_TYPE, home_address=LMA),
            src=LMA,
            dst=MAG,
        ),
        Vector("hb-request", Heartbeat(sequence=1, options=(RestartCounter(counter=1),))),
        Vector("hb-response", Heartbeat(sequence=0xFFFFFFFF, r=True), src=LMA, dst=MAG),
        Vector(
            "hb-unsolicited",
            Heartbeat(sequence=0, u=True, r=True, options=(RestartCounter(counter=2),)),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "bri-admin",
            BindingRevocationIndication(
                trigger=RevocationTrigger.ADMINISTRATIVE_REASON,
                sequence=11,
                options=(_nai("revoked@example.com"), _hnp("2001:db8:1:2::", 64)),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "bri-global-per-peer",
            BindingRevocationIndication(
                trigger=RevocationTrigger.PER_PEER_POLICY,
                sequence=0xFFFF,
                g=True,
                options=(MobileNodeGroupIdentifier(subtype=1, group_identifier=1),),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "bri-ipv4-only-handover",
            BindingRevocationIndication(
                trigger=RevocationTrigger.INTER_MAG_HANDOVER_DIFFERENT_ATT,
                sequence=0,
                p=True,
                v=True,
                g=True,
                options=(
                    _nai("v4@example.com"),
                    IPv4HomeAddressRequest(prefix_length=32, address=IPv4Address("203.0.113.5")),
                ),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "bri-out-of-sync-no-p",
            BindingRevocationIndication(
                trigger=RevocationTrigger.POSSIBLE_OUT_OF_SYNC_BCE_STATE, sequence=500, p=False
            ),
        ),
        Vector(
            "bra-success",
            BindingRevocationAcknowledgement(
                status=RevocationStatus.SUCCESS,
                sequence=11,
                options=(_nai("revoked@example.com"),),
            ),
        ),
        Vector(
            "bra-partial-global",
            BindingRevocationAcknowledgement(
                status=RevocationStatus.PARTIAL_SUCCESS, sequence=0xFFFF, g=True
            ),
        ),
        Vector(
            "bra-binding-does-not-exist",
            BindingRevocationAcknowledgement(
                status=RevocationStatus.BINDING_DOES_NOT_EXIST, sequence=12, p=False
            ),
        ),
        Vector(
            "bra-not-supported-all-flags",
            BindingRevocationAcknowledgement(
                status=RevocationStatus.PROXY_BINDING_REVOCATION_NOT_SUPPORTED,
                sequence=1,
                p=True,
                v=True,
                g=True,
                options=(MobileNodeGroupIdentifier(subtype=1, group_identifier=0xFFFFFFFF),),
            ),
        ),
        Vector(
            "upn-force-rereg",
            UpdateNotification(sequence=1, reason=NotificationReason.FORCE_REREGISTRATION),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "upn-session-params-d",
            UpdateNotification(
                sequence=0xFFFF,
                reason=NotificationReason.UPDATE_SESSION_PARAMETERS,
                a=False,
                d=True,
                options=(_nai("upn@example.com"), _hnp("2001:db8:5::", 64)),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector(
            "upn-vendor-reason",
            UpdateNotification(
                sequence=40000,
                reason=NotificationReason.VENDOR_SPECIFIC_REASON,
                d=True,
                options=(VendorSpecific(vendor_id=PEN_3GPP, subtype=2, data=b"\x00\x01"),),
            ),
            src=LMA,
            dst=MAG,
        ),
        Vector("upa-success", UpdateNotificationAcknowledgement(sequence=1)),
        Vector(
            "upa-failed",
            UpdateNotificationAcknowledgement(
                sequence=0xFFFF,
                status=NotificationAckStatus.FAILED_TO_UPDATE_SESSION_PARAMETERS,
                options=(_nai("upn@example.com"),),
            ),
        ),
        Vector(
            "upa-missing-vsm",
            UpdateNotificationAcknowledgement(
                sequence=40000, status=NotificationAckStatus.MISSING_VENDOR_SPECIFIC_OPTION
            ),
        ),
    ]
    return vectors


VECTORS = _vectors()
BY_ID = {v.id: v for v in VECTORS}
assert len(BY_ID) == len(VECTORS), "vector ids must be unique"


# What tshark 4.0 calls each option under "Mobility Options" (mip6.options.<name>).
TSHARK_OPTION: dict[type[MobilityOption], str] = {
    Pad1: "pad1",
    PadN: "padn",
    MobileNodeIdentifier: "mnid",
    VendorSpecific: "vsm",
    ServiceSelection: "ssm",
    HomeNetworkPrefix: "hnp",
    HandoffIndicatorOption: "hi",
    AccessTechnologyTypeOption: "att",
    MNLinkLayerIdentifier: "mnlli",
    LinkLocalAddress: "lla",
    Timestamp: "ts",
    RestartCounter: "rc",
    IPv4CareOfAddress: "ipv4coa",
    GREKey: "grek",
    IPv4HomeAddressRequest: "ipv4hareq",
    IPv4HomeAddressReply: "ipv4harep",
    IPv4DefaultRouterAddress: "ipv4dra",
    IPv4DHCPSupportMode: "ipv4dsm",
    MobileNodeGroupIdentifier: "mng",
    AccessNetworkIdentifier: "acc_net_id",
}

# Alignments stated in the RFC texts (xn+y from the start of the MH); the codec's
# ALIGN must agree. Options missing here have no stated requirement, so only the
# codec's own ALIGN is checked for them.
RFC_ALIGN: dict[type[MobilityOption], tuple[int, int]] = {
    HomeNetworkPrefix: (8, 4),  # RFC 5213 section 8.3
    LinkLocalAddress: (8, 6),  # RFC 5213 section 8.7
    Timestamp: (8, 2),  # RFC 5213 section 8.8
    VendorSpecific: (4, 2),  # RFC 5094 section 3
    IPv4HomeAddressRequest: (4, 0),  # RFC 5844 section 3.1.1
    IPv4HomeAddressReply: (4, 0),  # RFC 5844 section 3.1.2
    IPv4DefaultRouterAddress: (4, 0),  # RFC 5844 section 3.1.3
}

# Octets of message data between the 6-octet header and the options, per MH type
# (RFC 6275 6.1.7-6.1.9, RFC 5847 5.1, RFC 5846 6.1-6.2, RFC 7077 4.1-4.2).
FIXED_DATA_LEN = {5: 6, 6: 6, 7: 18, 13: 6, 16: 6, 19: 4, 20: 4}


def _negative_hnp_length() -> tuple[Vector, bytes]:
    """A PBU whose HNP says length 17 instead of 18.

    The prefix's last octet is zero, so once the length is cut it reads as a Pad1:
    the option area still ends exactly at (Header Len + 1) * 8 and only the HNP
    length is wrong. The checksum is recomputed over the corrupted bytes.
    """
    vec = Vector(
        "negative-hnp-length-17",
        ProxyBindingUpdate(
            sequence=66, lifetime_s=40, options=(_nai("bad@example.com"), _hnp("2001:db8:9::", 64))
        ),
    )
    mh = bytearray(vec.mh)
    (hnp,) = [o for o in _walk(mh) if o.type == 22]
    assert mh[hnp.offset + 1] == 18 and mh[hnp.offset + 19] == 0
    mh[hnp.offset + 1] = 17
    return vec, with_checksum(vec.src, vec.dst, bytes(mh))


# --- independent wire walk --------------------------------------------------


@dataclass(frozen=True)
class WireOption:
    """One option as found on the wire: MH offset, type octet, all its octets."""

    offset: int
    type: int
    raw: bytes

    @property
    def is_pad(self) -> bool:
        return self.type in (0, 1)


def _walk(mh: bytes | bytearray) -> list[WireOption]:
    """Split the option area by type/length alone (no codec involved)."""
    pos = HEADER_LEN + FIXED_DATA_LEN[mh[2]]
    end = (mh[1] + 1) * 8
    found: list[WireOption] = []
    while pos < end:
        size = 1 if mh[pos] == 0 else 2 + mh[pos + 1]
        assert pos + size <= end, f"option at {pos} overruns the header"
        found.append(WireOption(pos, mh[pos], bytes(mh[pos : pos + size])))
        pos += size
    return found


# --- running tshark ---------------------------------------------------------

Tree = dict[str, object]


@dataclass(frozen=True)
class Capture:
    """tshark's decode of every frame, keyed by vector id."""

    frames: dict[str, Tree]
    negative: Tree

    def __repr__(self) -> str:  # keeps pytest's failure reports short
        return f"Capture({len(self.frames)} frames + 1 negative)"


def _as_tree(value: object, what: str) -> Tree:
    assert isinstance(value, dict), f"{what}: expected a JSON object, got {value!r}"
    return value


def _as_list(value: object) -> list[object]:
    """tshark --no-duplicate-keys turns a repeated field into a list; undo that."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="session")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    tshark = require_tool("tshark")
    negative, negative_mh = _negative_hnp_length()
    packets = [ipv6_packet(v.src, v.dst, IPPROTO_MH, v.mh) for v in VECTORS]
    packets.append(ipv6_packet(negative.src, negative.dst, IPPROTO_MH, negative_mh))
    pcap = tmp_path_factory.mktemp("mh-tshark") / "vectors.pcap"
    write_pcap(pcap, packets)
    # tshark as root warns on stderr; only the exit status matters.
    proc = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-T", "json", "--no-duplicate-keys"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    decoded = json.loads(proc.stdout)
    assert isinstance(decoded, list) and len(decoded) == len(packets)
    layers: list[Tree] = []
    for number, frame in enumerate(decoded, start=1):
        source = _as_tree(_as_tree(frame, "frame")["_source"], "_source")
        tree = _as_tree(source["layers"], "layers")
        assert _as_tree(tree["frame"], "frame")["frame.number"] == str(number)
        layers.append(tree)
    return Capture(
        frames={v.id: t for v, t in zip(VECTORS, layers, strict=False)}, negative=layers[-1]
    )


def _ws_keys(node: object, path: str = "") -> Iterator[str]:
    """Paths of every Wireshark meta item (expert info, malformed) in a frame."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}/{key}"
            if key.startswith("_ws."):
                yield where
            yield from _ws_keys(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _ws_keys(value, f"{path}[{i}]")


# --- comparing tshark's fields with the dataclasses --------------------------


def _int(actual: object) -> object:
    """tshark prints most integers in decimal and some reserved fields as 0x.."."""
    if isinstance(actual, str):
        try:
            return int(actual, 16) if actual.startswith("0x") else int(actual, 10)
        except ValueError:
            pass
    return actual


def _flag(actual: object) -> object:
    return {"1": True, "0": False}.get(actual, actual) if isinstance(actual, str) else actual


def _bytes(actual: object) -> object:
    """FT_BYTES fields come as colon-separated hex ("" when empty)."""
    if isinstance(actual, str):
        try:
            return bytes.fromhex(actual.replace(":", ""))
        except ValueError:
            pass
    return actual


def _v6(actual: object) -> object:
    if isinstance(actual, str):
        try:
            return IPv6Address(actual)
        except ValueError:
            pass
    return actual


def _v4(actual: object) -> object:
    if isinstance(actual, str):
        try:
            return IPv4Address(actual)
        except ValueError:
            pass
    return actual


_ABSOLUTE_TIME = re.compile(r"^(\w{3}) +(\d{1,2}), (\d{4}) (\d\d:\d\d:\d\d)\.(\d{9}) UTC$")


def _abs_time(actual: object) -> tuple[int, int] | None:
    """FT_ABSOLUTE_TIME text ("Nov 14, 2023 22:13:20.500000000 UTC") as (s, ns)."""
    match = _ABSOLUTE_TIME.match(actual) if isinstance(actual, str) else None
    if match is None:
        return None
    month, day, year, hms, nanos = match.groups()
    seconds = timegm(strptime(f"{month} {day} {year} {hms}", "%b %d %Y %H:%M:%S"))
    return seconds, int(nanos)


@dataclass
class Checks:
    """Field comparisons of one frame; all are made, then reported together."""

    label: str = ""
    done: list[tuple[str, object, object]] = field(default_factory=list)

    def eq(self, name: str, expected: object, actual: object) -> None:
        self.done.append((f"{self.label}{name}", expected, actual))

    def mismatches(self) -> list[str]:
        return [f"{n}: expected {e!r}, tshark {a!r}" for n, e, a in self.done if e != a]


def _header_checks(c: Checks, vec: Vector, layers: Tree) -> Tree:
    ipv6 = _as_tree(layers.get("ipv6"), "ipv6 layer")
    c.eq("ipv6.nxt", IPPROTO_MH, _int(ipv6.get("ipv6.nxt")))
    c.eq("ipv6.plen", len(vec.mh), _int(ipv6.get("ipv6.plen")))
    c.eq("ipv6.src", vec.src, _v6(ipv6.get("ipv6.src")))
    c.eq("ipv6.dst", vec.dst, _v6(ipv6.get("ipv6.dst")))
    mh = _as_tree(ipv6.get("mipv6"), "mipv6 tree")
    c.eq("mip6.proto", vec.msg.payload_proto, _int(mh.get("mip6.proto")))
    c.eq("mip6.hlen", len(vec.mh) // 8 - 1, _int(mh.get("mip6.hlen")))
    c.eq("mip6.mhtype", vec.msg.mh_type, _int(mh.get("mip6.mhtype")))
    c.eq("mip6.reserved", 0, _int(mh.get("mip6.reserved")))
    c.eq("mip6.csum", int.from_bytes(vec.mh[4:6], "big"), _int(mh.get("mip6.csum")))
    return mh


def _fixed_checks(c: Checks, vec: Vector, mh: Tree) -> None:
    msg = vec.msg
    if isinstance(msg, ProxyBindingUpdate):
        bu = _as_tree(mh.get("Binding Update"), "Binding Update")
        c.eq("mip6.bu.seqnr", msg.sequence, _int(bu.get("mip6.bu.seqnr")))
        c.eq(
            "mip6.bu.lifetime", msg.lifetime_s // LIFETIME_UNIT_S, _int(bu.get("mip6.bu.lifetime"))
        )
        # Wireshark 4.0 has no field for S (0x0020) or D (0x0010).
        for name in ("a", "h", "l", "k", "m", "p", "f", "t", "b"):
            key = f"mip6.bu.{name}_flag"
            c.eq(key, getattr(msg, name), _flag(bu.get(key)))
        c.eq("mip6.nemo.bu.r_flag", msg.r, _flag(bu.get("mip6.nemo.bu.r_flag")))
    elif isinstance(msg, ProxyBindingAcknowledgement):
        ba = _as_tree(mh.get("Binding Acknowledgement"), "Binding Acknowledgement")
        c.eq("mip6.ba.status", int(msg.status), _int(ba.get("mip6.ba.status")))
        c.eq("mip6.ba.seqnr", msg.sequence, _int(ba.get("mip6.ba.seqnr")))
        c.eq(
            "mip6.ba.lifetime", msg.lifetime_s // LIFETIME_UNIT_S, _int(ba.get("mip6.ba.lifetime"))
        )
        for name in ("k", "p", "t", "b"):
            key = f"mip6.ba.{name}_flag"
            c.eq(key, getattr(msg, name), _flag(ba.get(key)))
        c.eq("mip6.nemo.ba.r_flag", msg.r, _flag(ba.get("mip6.nemo.ba.r_flag")))
    elif isinstance(msg, BindingError):
        be = _as_tree(mh.get("Binding Error"), "Binding Error")
        c.eq("mip6.be.status", int(msg.status), _int(be.get("mip6.be.status")))
        c.eq("mip6.be.haddr", msg.home_address, _v6(be.get("mip6.be.haddr")))
    elif isinstance(msg, Heartbeat):
        hb = _as_tree(mh.get("Heartbeat"), "Heartbeat")
        c.eq("mip6.hb.seqnr", msg.sequence, _int(hb.get("mip6.hb.seqnr")))
        c.eq("mip6.hb.u_flag", msg.u, _flag(hb.get("mip6.hb.u_flag")))
        c.eq("mip6.hb.r_flag", msg.r, _flag(hb.get("mip6.hb.r_flag")))
    elif isinstance(msg, BindingRevocationIndication | BindingRevocationAcknowledgement):
        indication = isinstance(msg, BindingRevocationIndication)
        title = "Binding Revocation " + ("Indication" if indication else "Acknowledge")
        br = _as_tree(mh.get(title), title)
        c.eq("mip6.bri_br.type", msg.BR_TYPE, _int(br.get("mip6.bri_br.type")))
        if isinstance(msg, BindingRevocationIndication):
            c.eq("mip6.bri_r.trigger", int(msg.trigger), _int(br.get("mip6.bri_r.trigger")))
        else:
            c.eq("mip6.bri_status", int(msg.status), _int(br.get("mip6.bri_status")))
        c.eq("mip6.bri_seqnr", msg.sequence, _int(br.get("mip6.bri_seqnr")))
        c.eq("mip6.bri_res", 0, _int(br.get("mip6.bri_res")))
        # The same three flags have different names in the BRI and the BRA.
        letter = "i" if indication else "a"
        for name in ("p", "v", "g"):
            key = f"mip6.bri_{letter}{name}"
            c.eq(key, getattr(msg, name), _flag(br.get(key)))
    elif isinstance(msg, UpdateNotification | UpdateNotificationAcknowledgement):
        # tshark 4.0 knows MH types 0-18 only: the rest of the header, options
        # included, is one opaque field. Its start is compared with the RFC 7077
        # layout built here independently of the encoder.
        data = _bytes(mh.get("mip6.unknown_type_data"))
        c.eq("mip6.unknown_type_data", vec.mh[HEADER_LEN:], data)
        if isinstance(msg, UpdateNotification):
            flags = (0x80 if msg.a else 0) | (0x40 if msg.d else 0)
            fixed = struct.pack("!HBB", msg.sequence, msg.reason, flags)
        else:
            fixed = struct.pack("!HBB", msg.sequence, msg.status, 0)
        c.eq("unknown_type_data[0:4]", fixed, data[:4] if isinstance(data, bytes) else data)
        c.eq("Mobility Options (not parsed for this type)", None, mh.get("Mobility Options"))
    else:  # pragma: no cover - a new message class needs its checks here
        raise AssertionError(f"no tshark checks for {type(msg).__name__}")


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8")


def _raw(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _ani_checks(c: Checks, p: str, opt: AccessNetworkIdentifier, tree: Tree) -> None:
    subs = _as_list(tree.get("mip6.acc_net_id"))
    c.eq(f"{p}number of ANI sub-options", len(opt.sub_options), len(subs))
    for i, (sub, raw_node) in enumerate(zip(opt.sub_options, subs, strict=False)):
        q = f"{p}mip6.acc_net_id[{i}]."
        node = _as_tree(raw_node, q)
        body = sub.encode_body()
        c.eq(f"{q}ani", sub.sub_option_type, _int(node.get("mip6.acc_net_id.ani")))
        c.eq(f"{q}sub_opt_len", len(body), _int(node.get("mip6.acc_net_id.sub_opt_len")))
        if isinstance(sub, NetworkIdentifier):
            name = _raw(sub.network_name)
            ap = _raw(sub.access_point_name)
            c.eq(f"{q}e_bit", sub.e_flag, _flag(node.get("mip6.acc_net_id.e_bit")))
            c.eq(f"{q}net_name_len", len(name), _int(node.get("mip6.acc_net_id.net_name_len")))
            # Wireshark shows the name as text only when the whole flags octet is 0x80.
            if sub.e_flag:
                c.eq(f"{q}net_name", name.decode(), node.get("mip6.acc_net_id.net_name"))
            else:
                data = _bytes(node.get("mip6.acc_net_id.net_name_data"))
                c.eq(f"{q}net_name_data", name, data)
            c.eq(f"{q}ap_name_len", len(ap), _int(node.get("mip6.acc_net_id.ap_name_len")))
            c.eq(f"{q}ap_name", ap.decode(), node.get("mip6.acc_net_id.ap_name"))
        elif isinstance(sub, GeoLocation):
            # FT_INT24 in JSON is the raw signed integer (degrees * 32768).
            lat = _int(node.get("mip6.acc_net_id.geo.latitude_degrees"))
            lon = _int(node.get("mip6.acc_net_id.geo.longitude_degrees"))
            c.eq(f"{q}geo.latitude_degrees", sub.latitude, lat)
            c.eq(f"{q}geo.longitude_degrees", sub.longitude, lon)
        elif isinstance(sub, OperatorIdentifier):
            c.eq(f"{q}op_id.type", sub.op_id_type, _int(node.get("mip6.acc_net_id.op_id.type")))
            c.eq(f"{q}op_id", sub.identifier, _bytes(node.get("mip6.acc_net_id.op_id")))
        else:  # pragma: no cover
            raise AssertionError(f"no tshark checks for {type(sub).__name__}")


def _option_field_checks(c: Checks, p: str, opt: MobilityOption, tree: Tree) -> None:
    """Compare one option's tshark fields (``tree``) with the dataclass."""

    def get(key: str) -> object:
        return tree.get(key)

    if isinstance(opt, MobileNodeIdentifier):
        c.eq(f"{p}mip6.mnid.subtype", int(opt.subtype), _int(get("mip6.mnid.subtype")))
        c.eq(f"{p}mip6.mnid.identifier", _text(opt.identifier), get("mip6.mnid.identifier"))
    elif isinstance(opt, VendorSpecific):
        c.eq(f"{p}mip6.vsm.vendorId", opt.vendor_id, _int(get("mip6.vsm.vendorId")))
        c.eq(f"{p}mip6.vsm.subtype", opt.subtype, _int(get("mip6.vsm.subtype")))
        if opt.vendor_id == PEN_3GPP:
            # TS 29.275: Reserved(7) + M(1), then the IE; sub-type 2 is an error code.
            assert opt.subtype == 2, "only 3GPP sub-type 2 is dissected without a Note"
            c.eq(f"{p}mip6.3gpp.reserved", opt.data[0] >> 1, _int(get("mip6.3gpp.reserved")))
            c.eq(f"{p}mip6.3gpp.flag.m", bool(opt.data[0] & 1), _flag(get("mip6.3gpp.flag.m")))
            code = _int(get("mip6.3gpp.spec_pmipv6_err_code"))
            c.eq(f"{p}mip6.3gpp.spec_pmipv6_err_code", opt.data[1], code)
        else:
            # Wireshark 4.0 shows only len-7 octets of the data: check it is a prefix.
            shown = _bytes(get("mip6.vsm.data"))
            ok = isinstance(shown, bytes) and len(shown) > 0 and opt.data.startswith(shown)
            c.eq(f"{p}mip6.vsm.data is a prefix of the data", True, ok)
    elif isinstance(opt, ServiceSelection):
        c.eq(f"{p}mip6.ss.identifier", _text(opt.identifier), get("mip6.ss.identifier"))
    elif isinstance(opt, HomeNetworkPrefix):
        c.eq(f"{p}mip6.nemo.mnp.pfl", opt.prefix_length, _int(get("mip6.nemo.mnp.pfl")))
        c.eq(f"{p}mip6.nemo.mnp.mnp", opt.prefix, _v6(get("mip6.nemo.mnp.mnp")))
    elif isinstance(opt, HandoffIndicatorOption):
        c.eq(f"{p}mip6.hi.reserved", 0, _int(get("mip6.hi.reserved")))
        c.eq(f"{p}mip6.hi", int(opt.indicator), _int(get("mip6.hi")))
    elif isinstance(opt, AccessTechnologyTypeOption):
        c.eq(f"{p}mip6.att.reserved", 0, _int(get("mip6.att.reserved")))
        c.eq(f"{p}mip6.att", int(opt.access_technology), _int(get("mip6.att")))
    elif isinstance(opt, MNLinkLayerIdentifier):
        c.eq(f"{p}mip6.mnlli.reserved", 0, _int(get("mip6.mnlli.reserved")))
        c.eq(f"{p}mip6.mnlli.lli", opt.link_layer_identifier, _bytes(get("mip6.mnlli.lli")))
    elif isinstance(opt, LinkLocalAddress):
        c.eq(f"{p}mip6.lila_lla", opt.address, _v6(get("mip6.lila_lla")))
    elif isinstance(opt, Timestamp):
        stamp = _abs_time(get("mip6.timestamp_tmp"))
        c.eq(f"{p}mip6.timestamp_tmp parses", True, stamp is not None)
        seconds, nanos = stamp or (-1, -1)
        c.eq(f"{p}mip6.timestamp_tmp seconds", opt.seconds, seconds)
        # 1/65536 s to ns: Wireshark may truncate or round, so allow one ns.
        c.eq(f"{p}mip6.timestamp_tmp ns", True, abs(nanos - opt.fraction * 1e9 / 65536) <= 1)
        c.eq(
            f"{p}mip6.timestamp_tmp ~ unix_time_s",
            True,
            abs(seconds + nanos / 1e9 - opt.unix_time_s) < 1e-6,
        )
    elif isinstance(opt, RestartCounter):
        c.eq(f"{p}mip6.rc", opt.counter, _int(get("mip6.rc")))
    elif isinstance(opt, IPv4CareOfAddress):
        c.eq(f"{p}mip6.ipv4coa.reserved", 0, _int(get("mip6.ipv4coa.reserved")))
        c.eq(f"{p}mip6.ipv4coa.addr", opt.address, _v4(get("mip6.ipv4coa.addr")))
    elif isinstance(opt, GREKey):
        c.eq(f"{p}mip6.ipv4dra.reserved (sic)", 0, _int(get("mip6.ipv4dra.reserved")))
        c.eq(f"{p}mip6.gre_key", opt.key, _int(get("mip6.gre_key")))
    elif isinstance(opt, IPv4HomeAddressRequest):
        c.eq(f"{p}mip6.ipv4ha.preflen", opt.prefix_length, _int(get("mip6.ipv4ha.preflen")))
        c.eq(f"{p}mip6.ipv4ha.reserved", 0, _int(get("mip6.ipv4ha.reserved")))
        c.eq(f"{p}mip6.ipv4ha.ha", opt.address, _v4(get("mip6.ipv4ha.ha")))
    elif isinstance(opt, IPv4HomeAddressReply):
        c.eq(f"{p}mip6.ipv4aa.sts", int(opt.status), _int(get("mip6.ipv4aa.sts")))
        c.eq(f"{p}mip6.ipv4ha.preflen", opt.prefix_length, _int(get("mip6.ipv4ha.preflen")))
        c.eq(f"{p}mip6.ipv4ha.ha", opt.address, _v4(get("mip6.ipv4ha.ha")))
    elif isinstance(opt, IPv4DefaultRouterAddress):
        c.eq(f"{p}mip6.ipv4dra.reserved", 0, _int(get("mip6.ipv4dra.reserved")))
        c.eq(f"{p}mip6.ipv4dra.dra", opt.address, _v4(get("mip6.ipv4dra.dra")))
    elif isinstance(opt, IPv4DHCPSupportMode):
        c.eq(f"{p}mip6.ipv4dsm.reserved", 0, _int(get("mip6.ipv4dsm.reserved")))
        c.eq(f"{p}mip6.ipv4dsm.s_flag", opt.s_flag, _flag(get("mip6.ipv4dsm.s_flag")))
    elif isinstance(opt, MobileNodeGroupIdentifier):
        c.eq(f"{p}mip6.mng.sub_type", opt.subtype, _int(get("mip6.mng.sub_type")))
        c.eq(f"{p}mip6.mng.reserved", 0, _int(get("mip6.mng.reserved")))
        c.eq(f"{p}mip6.mng.mng_id", opt.group_identifier, _int(get("mip6.mng.mng_id")))
    elif isinstance(opt, AccessNetworkIdentifier):
        _ani_checks(c, p, opt, tree)
    else:  # pragma: no cover - a new option class needs its checks here
        raise AssertionError(f"no tshark checks for {type(opt).__name__}")


def _placed(vec: Vector) -> list[tuple[WireOption, type[MobilityOption], MobilityOption | None]]:
    """Each wire option with the class and dataclass it came from (None for pads
    the encoder inserted). Non-pad options must appear on the wire in list order."""
    options = [o for o in vec.msg.options if not isinstance(o, Pad1 | PadN)]
    out: list[tuple[WireOption, type[MobilityOption], MobilityOption | None]] = []
    for w in _walk(vec.mh):
        if w.is_pad:
            out.append((w, Pad1 if w.type == 0 else PadN, None))
        else:
            assert options, f"{vec.id}: option type {w.type} at {w.offset} was not asked for"
            opt = options.pop(0)
            out.append((w, type(opt), opt))
    assert not options, f"{vec.id}: options missing on the wire: {options}"
    return out


def _option_checks(c: Checks, vec: Vector, mh: Tree) -> None:
    placed = _placed(vec)
    if isinstance(vec.msg, UpdateNotification | UpdateNotificationAcknowledgement):
        return  # tshark 4.0 does not parse the options of MH types 19/20
    if not placed:
        c.eq("Mobility Options", None, mh.get("Mobility Options"))
        return
    area = _as_tree(mh.get("Mobility Options"), "Mobility Options")
    names = sorted({TSHARK_OPTION[cls] for _, cls, _ in placed})
    shown = sorted(k.removeprefix("mip6.options.") for k in area if not k.endswith("_tree"))
    c.eq("option kinds", names, shown)
    raws = {n: _as_list(area.get(f"mip6.options.{n}")) for n in names}
    trees = {n: _as_list(area.get(f"mip6.options.{n}_tree")) for n in names}
    for name in names:
        want = sum(1 for _, cls, _ in placed if TSHARK_OPTION[cls] == name)
        c.eq(f"number of {name} options", want, len(raws[name]))

    seen: dict[str, int] = {}
    for w, cls, opt in placed:
        name = TSHARK_OPTION[cls]
        k = seen[name] = seen.get(name, -1) + 1
        p = f"{name}[{k}]."
        if k >= len(raws[name]):
            continue  # already reported by the count
        c.eq(f"{p}octets", w.raw, _bytes(raws[name][k]))
        if cls is Pad1:
            continue  # a single octet, no tree
        tree = _as_tree(trees[name][k], p)
        c.eq(f"{p}mip6.mobility_opt.len", len(w.raw) - 2, _int(tree.get("mip6.mobility_opt.len")))
        if opt is None:
            # PadN: Wireshark shows its (zero) octets, or nothing when len is 0.
            c.eq(f"{p}mip6.padn", w.raw[2:] or None, _bytes(tree.get("mip6.padn")))
        else:
            _option_field_checks(c, p, opt, tree)


def frame_checks(vec: Vector, layers: Tree) -> Checks:
    """Every comparison between ``vec`` and tshark's decode of its frame."""
    c = Checks()
    mh = _header_checks(c, vec, layers)
    _fixed_checks(c, vec, mh)
    _option_checks(c, vec, mh)
    return c


# --- tests -------------------------------------------------------------------

MESSAGE_CLASSES: tuple[type[MobilityMessage], ...] = (
    ProxyBindingUpdate,
    ProxyBindingAcknowledgement,
    BindingError,
    Heartbeat,
    BindingRevocationIndication,
    BindingRevocationAcknowledgement,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)


def test_vectors_cover_every_message_option_and_sub_option_class() -> None:
    messages = {type(v.msg) for v in VECTORS}
    assert set(MESSAGE_CLASSES) <= messages
    placed = {cls for v in VECTORS for _, cls, _ in _placed(v)}
    assert set(TSHARK_OPTION) - placed == set()
    subs = {
        type(s)
        for v in VECTORS
        for o in v.msg.options
        if isinstance(o, AccessNetworkIdentifier)
        for s in o.sub_options
    }
    assert {NetworkIdentifier, GeoLocation, OperatorIdentifier} <= subs
    heartbeats = {(v.msg.u, v.msg.r) for v in VECTORS if isinstance(v.msg, Heartbeat)}
    assert {(False, False), (False, True), (True, True)} <= heartbeats


@pytest.mark.parametrize("cls", list(RFC_ALIGN), ids=[c.__name__ for c in RFC_ALIGN])
def test_codec_alignment_matches_the_rfc(cls: type[MobilityOption]) -> None:
    assert RFC_ALIGN[cls] == cls.ALIGN


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: v.id)
def test_wire_layout_is_spec_correct(vec: Vector) -> None:
    """What tshark does not check: alignment, zero padding, 8-octet total, checksum."""
    mh = vec.mh
    assert len(mh) % 8 == 0 and mh[1] == len(mh) // 8 - 1
    assert mh[0] == 59 and mh[2] == vec.msg.mh_type and mh[3] == 0
    assert checksum_ok(vec.src, vec.dst, mh)
    assert not checksum_ok(vec.src, vec.dst, mh[:-1] + bytes([mh[-1] ^ 1]))
    for w, cls, _ in _placed(vec):
        if w.type == 1:
            assert w.raw[2:] == bytes(len(w.raw) - 2), f"PadN at {w.offset} is not zero"
        x, y = cls.ALIGN
        assert w.offset % x == y, f"{cls.__name__} at offset {w.offset}, wants {x}n+{y}"
        if cls in RFC_ALIGN:
            rx, ry = RFC_ALIGN[cls]
            assert w.offset % rx == ry, f"{cls.__name__} at {w.offset}, RFC wants {rx}n+{ry}"
    pads = [w for w, _, opt in _placed(vec) if opt is None]
    assert all(len(w.raw) < 8 for w in pads), "padding longer than any alignment needs"


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: v.id)
def test_tshark_decodes_every_field_as_encoded(capture: Capture, vec: Vector) -> None:
    layers = capture.frames[vec.id]
    assert list(_ws_keys(layers)) == [], "tshark reports expert info or a malformed packet"
    checks = frame_checks(vec, layers)
    assert len(checks.done) >= 10
    assert checks.mismatches() == []


def test_oracle_reports_a_corrupted_option_length(capture: Capture) -> None:
    """The oracle can fail: HNP length 17 (of 18) must raise tshark's expert info."""
    found = list(_ws_keys(capture.negative))
    assert any("mip6.options.hnp_tree" in path and "_ws.expert" in path for path in found), found
    assert any(path.endswith("/_ws.malformed") for path in found), found
    text = json.dumps(capture.negative)
    assert "mip6.opt.len.invalid" in text
    assert "Home Network Prefix (with option length = 17 bytes; should be 18)" in text


def test_oracle_reports_wrong_field_values(capture: Capture) -> None:
    """The field comparison can fail: a changed dataclass no longer matches the frame."""
    vec = BY_ID["pbu-reregistration"]
    msg = vec.msg
    assert isinstance(msg, ProxyBindingUpdate)
    options = tuple(
        replace(o, prefix=IPv6Address("2001:db8:1:3::"))
        if isinstance(o, HomeNetworkPrefix)
        else replace(o, seconds=o.seconds + 1)
        if isinstance(o, Timestamp)
        else o
        for o in msg.options
    )
    wrong = Vector(vec.id, replace(msg, sequence=msg.sequence + 1, l=True, options=options))
    failed = {m.split(":")[0] for m in frame_checks(wrong, capture.frames[vec.id]).mismatches()}
    for name in (
        "mip6.bu.seqnr",
        "mip6.bu.l_flag",
        "hnp[0].mip6.nemo.mnp.mnp",
        "ts[0].mip6.timestamp_tmp seconds",
    ):
        assert name in failed, failed
