"""Wire numbers of the Mobility Header (IANA mobility-parameters registry).

IntEnums are used only for values that travel on the wire. Decoded fields hold
the enum member when the number is known and the plain int otherwise, so an
unknown value from a peer never raises.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

E = TypeVar("E", bound=IntEnum)

IPPROTO_MH = 135
IPPROTO_NONE = 59
PMIP6_UDP_CONTROL_PORT = 5436  # RFC 5844 section 4, "pmip6-cntl"
PMIP6_UDP_DATA_PORT = 5437  # "pmip6-data"
LIFETIME_UNIT_S = 4  # BU/BA lifetime field counts units of 4 seconds
MAX_LIFETIME_S = 0xFFFF * LIFETIME_UNIT_S


class MHType(IntEnum):
    BINDING_REFRESH_REQUEST = 0
    HOME_TEST_INIT = 1
    CARE_OF_TEST_INIT = 2
    HOME_TEST = 3
    CARE_OF_TEST = 4
    BINDING_UPDATE = 5
    BINDING_ACKNOWLEDGEMENT = 6
    BINDING_ERROR = 7
    HEARTBEAT = 13
    BINDING_REVOCATION = 16
    LOCALIZED_ROUTING_INIT = 17
    LOCALIZED_ROUTING_ACK = 18
    UPDATE_NOTIFICATION = 19
    UPDATE_NOTIFICATION_ACK = 20


class OptionType(IntEnum):
    PAD1 = 0
    PADN = 1
    MOBILE_NODE_IDENTIFIER = 8
    VENDOR_SPECIFIC = 19
    SERVICE_SELECTION = 20
    HOME_NETWORK_PREFIX = 22
    HANDOFF_INDICATOR = 23
    ACCESS_TECHNOLOGY_TYPE = 24
    MN_LINK_LAYER_IDENTIFIER = 25
    LINK_LOCAL_ADDRESS = 26
    TIMESTAMP = 27
    RESTART_COUNTER = 28
    IPV4_CARE_OF_ADDRESS = 32
    GRE_KEY = 33
    IPV4_HOME_ADDRESS_REQUEST = 36
    IPV4_HOME_ADDRESS_REPLY = 37
    IPV4_DEFAULT_ROUTER_ADDRESS = 38
    IPV4_DHCP_SUPPORT_MODE = 39
    MOBILE_NODE_GROUP_IDENTIFIER = 50
    ACCESS_NETWORK_IDENTIFIER = 52


class MNIdentifierSubtype(IntEnum):
    NAI = 1  # RFC 4283
    IPV6_ADDRESS = 2  # RFC 8371 and following
    IMSI = 3
    P_TMSI = 4
    EUI_48 = 5
    EUI_64 = 6
    GUTI = 7
    DUID = 8


class HandoffIndicator(IntEnum):
    """RFC 5213 section 8.4 (6 from RFC 7864)."""

    NEW_INTERFACE = 1
    DIFFERENT_INTERFACE = 2
    MAG_CHANGE = 3
    UNKNOWN = 4
    NOT_CHANGED = 5
    NEW_INTERFACE_SHARED_PREFIXES = 6


class AccessTechnologyType(IntEnum):
    """RFC 5213 section 8.5."""

    VIRTUAL = 1
    PPP = 2
    IEEE_802_3 = 3
    IEEE_802_11 = 4
    IEEE_802_16E = 5
    GERAN = 6
    UTRAN = 7
    E_UTRAN = 8
    EHRPD = 9
    HRPD = 10
    ONE_X_RTT = 11
    UMB = 12


class BindingAckStatus(IntEnum):
    """Status of a (Proxy) Binding Acknowledgement; below 128 means accepted."""

    ACCEPTED = 0
    ACCEPTED_PREFIX_DISCOVERY_NECESSARY = 1
    GRE_KEY_OPTION_NOT_REQUIRED = 2
    REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    NOT_HOME_SUBNET = 132
    NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE = 133
    DUPLICATE_ADDRESS_DETECTION_FAILED = 134
    SEQUENCE_NUMBER_OUT_OF_WINDOW = 135
    REGISTRATION_TYPE_CHANGE_DISALLOWED = 139
    SERVICE_AUTHORIZATION_FAILED = 151
    PROXY_REG_NOT_ENABLED = 152
    NOT_LMA_FOR_THIS_MOBILE_NODE = 153
    MAG_NOT_AUTHORIZED_FOR_PROXY_REG = 154
    NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX = 155
    TIMESTAMP_MISMATCH = 156
    TIMESTAMP_LOWER_THAN_PREV_ACCEPTED = 157
    MISSING_HOME_NETWORK_PREFIX_OPTION = 158
    BCE_PBU_PREFIX_SET_DO_NOT_MATCH = 159
    MISSING_MN_IDENTIFIER_OPTION = 160
    MISSING_HANDOFF_INDICATOR_OPTION = 161
    MISSING_ACCESS_TECH_TYPE_OPTION = 162
    GRE_KEY_OPTION_REQUIRED = 163
    NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE = 170
    NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS = 171
    NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE = 172
    MULTIPLE_IPV4_HOA_ASSIGNMENT_NOT_SUPPORTED = 173
    INVALID_MOBILE_NODE_GROUP_IDENTIFIER = 175
    CANNOT_MEET_QOS_SERVICE_REQUEST = 179


class BindingErrorStatus(IntEnum):
    """RFC 6275 section 6.1.9."""

    UNKNOWN_BINDING_FOR_HOME_ADDRESS = 1
    UNRECOGNIZED_MH_TYPE = 2


class IPv4HoAReplyStatus(IntEnum):
    """RFC 5844 section 3.1.2."""

    SUCCESS = 0
    FAILURE_REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INCORRECT_IPV4_HOME_ADDRESS = 130
    INVALID_IPV4_ADDRESS = 131
    DYNAMIC_IPV4_HOME_ADDRESS_NOT_AVAILABLE = 132


class BindingRevocationType(IntEnum):
    """RFC 5846 section 8.1: one MH type, two messages."""

    INDICATION = 1
    ACKNOWLEDGEMENT = 2


class RevocationTrigger(IntEnum):
    """RFC 5846 section 8.1.2 (values 128+ are per-MN triggers)."""

    UNSPECIFIED = 0
    ADMINISTRATIVE_REASON = 1
    INTER_MAG_HANDOVER_SAME_ATT = 2
    INTER_MAG_HANDOVER_DIFFERENT_ATT = 3
    INTER_MAG_HANDOVER_UNKNOWN = 4
    USER_INITIATED_SESSION_TERMINATION = 5
    ACCESS_NETWORK_SESSION_TERMINATION = 6
    POSSIBLE_OUT_OF_SYNC_BCE_STATE = 7
    GLOBAL_REVOCATION = 250  # revokes every binding of the peer
    PER_PEER_POLICY = 251
    REVOKING_MN_LOCAL_POLICY = 252


class RevocationStatus(IntEnum):
    """RFC 5846 section 8.2 (Binding Revocation Acknowledgement status)."""

    SUCCESS = 0
    PARTIAL_SUCCESS = 1
    BINDING_DOES_NOT_EXIST = 128
    IPV4_HOA_BINDING_DOES_NOT_EXIST = 129
    GLOBAL_REVOCATION_NOT_AUTHORIZED = 130
    CANNOT_IDENTIFY_BINDING = 131
    REVOCATION_FAILED_MN_ATTACHED = 132


class NotificationReason(IntEnum):
    """RFC 7077 section 4.1."""

    FORCE_REREGISTRATION = 1
    UPDATE_SESSION_PARAMETERS = 2
    VENDOR_SPECIFIC = 3
    ANCHOR_RELOCATE = 4


class NotificationAckStatus(IntEnum):
    """RFC 7077 section 4.2."""

    SUCCESS = 0
    CANNOT_REREGISTER = 128
    REASON_UNSPECIFIED = 129
    MN_NOT_ATTACHED = 130
    NOT_SUPPORTED = 131


class ANISubOptionType(IntEnum):
    """Access Network Identifier sub-options, RFC 6757 section 3."""

    NETWORK_IDENTIFIER = 1
    GEO_LOCATION = 2
    OPERATOR_IDENTIFIER = 3


def enum_or_int(enum_cls: type[E], value: int) -> E | int:
    """Return the enum member for a known wire value, else the int itself."""
    try:
        return enum_cls(value)
    except ValueError:
        return value
