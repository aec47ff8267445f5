"""What the MAG does with each PBA status (RFC 5213 section 6.9.1.2 and 8.9)."""

from __future__ import annotations

from enum import Enum

from mag_ap.mh.constants import BindingAckStatus, enum_or_int

S = BindingAckStatus


class PbaOutcome(Enum):
    ACCEPTED = "accepted"
    RESYNC_SEQUENCE = "resync sequence"  # 135: jump past the LMA's number, send again
    RETRY_ONCE = "retry once"  # 156/157: timestamp trouble, send again once
    REJECTED = "rejected"


PBA_STATUS_TABLE: dict[BindingAckStatus, tuple[PbaOutcome, str]] = {
    S.ACCEPTED: (PbaOutcome.ACCEPTED, "binding accepted"),
    S.ACCEPTED_PREFIX_DISCOVERY_NECESSARY: (PbaOutcome.ACCEPTED, "accepted, prefix discovery"),
    S.GRE_KEY_OPTION_NOT_REQUIRED: (PbaOutcome.ACCEPTED, "accepted without GRE keys"),
    S.REASON_UNSPECIFIED: (PbaOutcome.REJECTED, "LMA refused without a reason"),
    S.ADMINISTRATIVELY_PROHIBITED: (PbaOutcome.REJECTED, "LMA policy forbids this MN"),
    S.INSUFFICIENT_RESOURCES: (PbaOutcome.REJECTED, "LMA is out of resources"),
    S.HOME_REGISTRATION_NOT_SUPPORTED: (PbaOutcome.REJECTED, "LMA does no home registration"),
    S.NOT_HOME_SUBNET: (PbaOutcome.REJECTED, "prefix is not of the LMA's home subnet"),
    S.NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE: (PbaOutcome.REJECTED, "LMA is not this MN's anchor"),
    S.DUPLICATE_ADDRESS_DETECTION_FAILED: (PbaOutcome.REJECTED, "duplicate address"),
    S.SEQUENCE_NUMBER_OUT_OF_WINDOW: (
        PbaOutcome.RESYNC_SEQUENCE,
        "sequence number still out of window after a resync",
    ),
    S.REGISTRATION_TYPE_CHANGE_DISALLOWED: (
        PbaOutcome.REJECTED,
        "LMA holds a non-proxy binding for this MN",
    ),
    S.SERVICE_AUTHORIZATION_FAILED: (PbaOutcome.REJECTED, "service selection not authorized"),
    S.PROXY_REG_NOT_ENABLED: (PbaOutcome.REJECTED, "proxy registration not enabled for this MN"),
    S.NOT_LMA_FOR_THIS_MOBILE_NODE: (PbaOutcome.REJECTED, "wrong LMA for this MN"),
    S.MAG_NOT_AUTHORIZED_FOR_PROXY_REG: (PbaOutcome.REJECTED, "this MAG is not authorized"),
    S.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX: (
        PbaOutcome.REJECTED,
        "MN is not authorized for the requested prefix",
    ),
    S.TIMESTAMP_MISMATCH: (PbaOutcome.RETRY_ONCE, "timestamp outside the LMA's window"),
    S.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED: (
        PbaOutcome.RETRY_ONCE,
        "timestamp older than one the LMA accepted",
    ),
    S.MISSING_HOME_NETWORK_PREFIX_OPTION: (PbaOutcome.REJECTED, "LMA wants an HNP option"),
    S.BCE_PBU_PREFIX_SET_DO_NOT_MATCH: (PbaOutcome.REJECTED, "prefixes differ from the BCE's"),
    S.MISSING_MN_IDENTIFIER_OPTION: (PbaOutcome.REJECTED, "LMA wants an MN-ID option"),
    S.MISSING_HANDOFF_INDICATOR_OPTION: (PbaOutcome.REJECTED, "LMA wants a Handoff Indicator"),
    S.MISSING_ACCESS_TECH_TYPE_OPTION: (PbaOutcome.REJECTED, "LMA wants an Access Tech Type"),
    S.GRE_KEY_OPTION_REQUIRED: (PbaOutcome.REJECTED, "LMA requires GRE keys (set gre_key)"),
    S.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE: (
        PbaOutcome.REJECTED,
        "MN is not authorized for IPv4 mobility",
    ),
    S.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS: (
        PbaOutcome.REJECTED,
        "MN is not authorized for the requested IPv4 address",
    ),
    S.NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE: (
        PbaOutcome.REJECTED,
        "MN is not authorized for IPv6 mobility",
    ),
    S.MULTIPLE_IPV4_HOA_ASSIGNMENT_NOT_SUPPORTED: (
        PbaOutcome.REJECTED,
        "LMA assigns only one IPv4 address",
    ),
    S.INVALID_MOBILE_NODE_GROUP_IDENTIFIER: (PbaOutcome.REJECTED, "invalid MN group id"),
    S.CANNOT_MEET_QOS_SERVICE_REQUEST: (PbaOutcome.REJECTED, "LMA cannot meet the QoS request"),
}


# Refusals that say "not now" rather than "never": while the station stays attached the
# MAG holds down for MAX_BINDACK_TIMEOUT and registers afresh (the retry-once cases
# 135/156/157 land here when the one retry was refused too, e.g. LMA queueing delay
# beyond TimestampValidityWindow under load).
TRANSIENT_STATUSES: frozenset[int] = frozenset(
    {
        S.REASON_UNSPECIFIED,
        S.INSUFFICIENT_RESOURCES,
        S.SEQUENCE_NUMBER_OUT_OF_WINDOW,
        S.TIMESTAMP_MISMATCH,
        S.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
    }
)


def classify_pba_status(status: int) -> tuple[PbaOutcome, str]:
    """Outcome and readable reason ("NAME (number): text") for a PBA status.

    Numbers the table lacks follow RFC 6275: below 128 accepted, else rejected.
    """
    known = enum_or_int(BindingAckStatus, status)
    if isinstance(known, BindingAckStatus):
        outcome, text = PBA_STATUS_TABLE[known]
        return outcome, f"{known.name} ({status}): {text}"
    if status < 128:
        return PbaOutcome.ACCEPTED, f"status {status}: accepted (unknown code)"
    return PbaOutcome.REJECTED, f"status {status}: rejected (unknown code)"


def status_name(status: int) -> str:
    known = enum_or_int(BindingAckStatus, status)
    return known.name if isinstance(known, BindingAckStatus) else str(status)
