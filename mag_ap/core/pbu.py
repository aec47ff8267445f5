"""Building the Proxy Binding Update for a binding-update-list entry (RFC 5213 6.9.1)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

from mag_ap.core.bul import BindingUpdateListEntry
from mag_ap.core.mn_id import mn_identifier_option
from mag_ap.core.types import Address
from mag_ap.mh.constants import LIFETIME_UNIT_S, MAX_LIFETIME_S, AccessTechnologyType, OptionType
from mag_ap.mh.messages import ProxyBindingUpdate
from mag_ap.mh.options import (
    AccessTechnologyTypeOption,
    GREKey,
    HandoffIndicatorOption,
    HomeNetworkPrefix,
    IPv4CareOfAddress,
    IPv4HomeAddressRequest,
    MNLinkLayerIdentifier,
    MobilityOption,
    ServiceSelection,
    Timestamp,
)

ALL_ZERO_HNP = IPv6Network("::/0")  # "assign me a prefix" (RFC 5213 section 6.9.1.1)


def wire_lifetime_s(lifetime_s: int) -> int:
    """A lifetime the 4-second wire field can carry: rounded down, at least 4 s."""
    return max(LIFETIME_UNIT_S, min(MAX_LIFETIME_S, lifetime_s - lifetime_s % LIFETIME_UNIT_S))


def build_pbu(
    entry: BindingUpdateListEntry,
    *,
    sequence: int,
    deregistration: bool,
    own_address: Address,
    timestamp_unix_s: float | None,
    access_technology: AccessTechnologyType = AccessTechnologyType.IEEE_802_11,
) -> ProxyBindingUpdate:
    """The PBU for the entry's current transaction.

    Refreshes and de-registrations carry what the LMA assigned (RFC 5213
    6.9.1.2/6.9.1.3); an initial registration carries the profile's wishes or
    the all-zero "assign one" values.
    """
    profile = entry.policy  # its mn_id is not this MN's: entry.mn_id is
    assert entry.transaction is not None
    options: list[MobilityOption] = [
        mn_identifier_option(entry.mn_id),
        HandoffIndicatorOption(indicator=entry.transaction.handoff),
        AccessTechnologyTypeOption(access_technology=access_technology),
        MNLinkLayerIdentifier(link_layer_identifier=entry.mac_int.to_bytes(6, "big")),
    ]
    if profile.ipv6:
        granted = entry.hnp_packed  # prefix << 8 | length, no IPv6Network built
        if granted is not None:
            hnp_option = HomeNetworkPrefix(
                prefix_length=granted & 0xFF, prefix=IPv6Address(granted >> 8)
            )
        else:
            hnp_option = HomeNetworkPrefix.of(profile.hnp or ALL_ZERO_HNP)
        options.append(hnp_option)
    if timestamp_unix_s is not None:
        options.append(Timestamp.at_unix_time(timestamp_unix_s))
    if profile.ipv4:
        hoa = entry.ipv4_hoa_int
        if hoa is not None:
            request = IPv4HomeAddressRequest(
                prefix_length=entry.ipv4_hoa_plen, address=IPv4Address(hoa)
            )
        else:
            request = IPv4HomeAddressRequest(address=profile.ipv4_address or IPv4Address(0))
        options.append(request)
    if isinstance(profile.lma_address, IPv4Address) and isinstance(own_address, IPv4Address):
        options.append(IPv4CareOfAddress(address=own_address))  # RFC 5844 section 4
    if entry.gre_key_from_lma is not None:
        options.append(GREKey(key=entry.gre_key_from_lma))
    if profile.service_selection:
        options.append(ServiceSelection(identifier=profile.service_selection))
    return ProxyBindingUpdate(
        sequence=sequence,
        lifetime_s=0 if deregistration else wire_lifetime_s(entry.lifetime_requested_s),
        options=tuple(options),
    )


_PBU_OPTIONS_AT = 12  # MH header (6) + sequence, flags, lifetime (6)


def timestamp_value_offset(data: bytes) -> int:
    """Offset of the Timestamp option's 8-byte value in an encoded PBU, -1 if none."""
    pos, end = _PBU_OPTIONS_AT, len(data)
    while pos + 1 < end:
        kind = data[pos]
        if kind == 0:  # Pad1
            pos += 1
            continue
        if kind == OptionType.TIMESTAMP and data[pos + 1] == 8 and pos + 10 <= end:
            return pos + 2
        pos += 2 + data[pos + 1]
    return -1
