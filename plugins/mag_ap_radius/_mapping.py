"""Pure RFC 6572 mapping: what the MAG asks (Access-Request attributes) and what an
Access-Accept grants (-> :class:`MobileNodeProfile`).

No socket, no clock, no randomness: the IO half (:mod:`._client_io`) passes those in.
Attribute numbers are the IANA RADIUS Attribute Types of RFC 6572 section 6
(145-162), RFC 2865 (8 Framed-IP-Address, 12 Framed-MTU, 27 Session-Timeout) and
RFC 3162 (97 Framed-IPv6-Prefix). A malformed attribute in an otherwise good
Accept is skipped and reported in :attr:`Authorization.problems`: one bad value
must not refuse a station the rest of the answer admits.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network
from typing import Final, TypeVar

from mag_ap.config import MAX_LIFETIME_S, Transport
from mag_ap.core.types import Address, MobileNodeProfile

from .packet import Packet, hide_password

# RADIUS attribute types used in the Access-Request
USER_NAME: Final = 1
USER_PASSWORD: Final = 2
NAS_IP_ADDRESS: Final = 4
SERVICE_TYPE: Final = 6
CALLING_STATION_ID: Final = 31
NAS_IDENTIFIER: Final = 32
NAS_IPV6_ADDRESS: Final = 95
MAX_VALUE_LEN: Final = 253
LIFETIME_UNIT_S: Final = 4

# Framed-IP-Address values that name no address (RFC 2865 section 5.8)
_NO_FRAMED_IP: Final = frozenset(
    {IPv4Address("0.0.0.0"), IPv4Address("255.255.255.255"), IPv4Address("255.255.255.254")}
)


def calling_station_id(mac: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` -> ``AA-BB-CC-DD-EE-FF`` (the RFC 3580 section 3.21 spelling)."""
    return mac.replace(":", "-").upper()


def request_attributes(
    *,
    mn_id: str,
    mac: str,
    nas_address: Address | None,
    nas_identifier: str | None,
    service_type: int,
    password: bytes | None,
    secret: bytes,
    authenticator: bytes,
) -> list[tuple[int, bytes]]:
    """The attributes of the Access-Request for one MN (Message-Authenticator excluded).

    :raises ValueError: the MN-ID does not fit in User-Name (253 octets).
    """
    user = mn_id.encode()
    if not 0 < len(user) <= MAX_VALUE_LEN:
        raise ValueError(f"MN-ID of {len(user)} octets does not fit in User-Name")
    attrs: list[tuple[int, bytes]] = [(USER_NAME, user)]
    if password is not None:
        attrs.append((USER_PASSWORD, hide_password(password, secret, authenticator)))
    attrs.append((CALLING_STATION_ID, calling_station_id(mac).encode()))
    if isinstance(nas_address, IPv4Address):
        attrs.append((NAS_IP_ADDRESS, nas_address.packed))
    elif isinstance(nas_address, IPv6Address):
        attrs.append((NAS_IPV6_ADDRESS, nas_address.packed))
    if nas_identifier is not None:
        attrs.append((NAS_IDENTIFIER, nas_identifier.encode()))
    attrs.append((SERVICE_TYPE, struct.pack("!I", service_type)))
    return attrs


# --- Access-Accept -> Authorization ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Authorization:
    """What an Access-Accept granted, decoded; Home values before Visited ones."""

    lma_ipv6: tuple[IPv6Address, ...] = ()
    lma_ipv4: tuple[IPv4Address, ...] = ()
    hnp: IPv6Network | None = None  # None: absent or all-zero (the LMA assigns)
    ipv4_hoa: IPv4Interface | None = None  # None: absent or 0.0.0.0 (the LMA assigns)
    interface_id: bytes | None = None  # PMIP6-*-Interface-ID, 8 octets
    service_selection: str | None = None
    dhcp4_server: IPv4Address | None = None
    dhcp6_server: IPv6Address | None = None
    ipv4_gateway: IPv4Address | None = None
    framed_mtu: int | None = None
    session_timeout_s: int | None = None
    problems: tuple[str, ...] = field(default=())  # malformed attributes, skipped


T = TypeVar("T")


class _BadValueError(ValueError):
    """One attribute's value does not have its RFC layout."""


def _ipv6(raw: bytes) -> IPv6Address:
    if len(raw) != 16:
        raise _BadValueError(f"{len(raw)} octets, not 16")
    return IPv6Address(raw)


def _ipv4(raw: bytes) -> IPv4Address:
    if len(raw) != 4:
        raise _BadValueError(f"{len(raw)} octets, not 4")
    return IPv4Address(raw)


def _ipv6_prefix(raw: bytes) -> IPv6Network | None:
    """Reserved(1) Prefix-Length(1) Prefix(0..16) (RFC 3162 section 2.3, RFC 6572 3.5)."""
    if not 2 <= len(raw) <= 18:
        raise _BadValueError(f"{len(raw)} octets, not 2..18")
    length = raw[1]
    prefix = raw[2:]
    if length > 128 or len(prefix) * 8 < length:
        raise _BadValueError(f"prefix length {length} with {len(prefix)} prefix octets")
    address = IPv6Address(prefix + bytes(16 - len(prefix)))
    if address == IPv6Address(0):
        return None  # all zeroes: "assign one" (RFC 6572 section 3.5)
    return IPv6Network((address, length), strict=False)


def _ipv4_hoa(raw: bytes) -> IPv4Interface | None:
    """Reserved(10 bits) Prefix-Len(6 bits) IPv4 HoA(4) (RFC 6572 section 3.9)."""
    if len(raw) != 6:
        raise _BadValueError(f"{len(raw)} octets, not 6")
    length = struct.unpack_from("!H", raw)[0] & 0x3F
    if length > 32:
        raise _BadValueError(f"prefix length {length} > 32")
    address = IPv4Address(raw[2:])
    if address == IPv4Address(0):
        return None
    return IPv4Interface((address, length))


def _interface_id(raw: bytes) -> bytes:
    if len(raw) != 8:
        raise _BadValueError(f"{len(raw)} octets, not 8")
    return raw


def _utf8(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadValueError("not UTF-8") from None
    if not text:
        raise _BadValueError("empty")
    return text


def parse_accept(packet: Packet) -> Authorization:
    """Decode the PMIPv6 attributes of an (authenticated) Access-Accept; never raises."""
    problems: list[str] = []

    def every(names: Sequence[str], parse: Callable[[bytes], T]) -> list[T]:
        out: list[T] = []
        for name in names:
            for raw in packet.all_raw(name):
                try:
                    out.append(parse(raw))
                except ValueError as exc:
                    problems.append(f"{name}: {exc}")
        return out

    def first(names: Sequence[str], parse: Callable[[bytes], T | None]) -> T | None:
        for value in every(names, parse):
            if value is not None:
                return value
        return None

    lma_ipv6 = every(("PMIP6-Home-LMA-IPv6-Address", "PMIP6-Visited-LMA-IPv6-Address"), _ipv6)
    lma_ipv4 = every(("PMIP6-Home-LMA-IPv4-Address", "PMIP6-Visited-LMA-IPv4-Address"), _ipv4)
    hnp = first(
        ("PMIP6-Home-HN-Prefix", "PMIP6-Visited-HN-Prefix", "Framed-IPv6-Prefix"), _ipv6_prefix
    )
    hoa = first(("PMIP6-Home-IPv4-HoA", "PMIP6-Visited-IPv4-HoA"), _ipv4_hoa)
    if hoa is None:
        framed = packet.get("Framed-IP-Address")
        if isinstance(framed, IPv4Address) and framed not in _NO_FRAMED_IP:
            hoa = IPv4Interface((framed, 32))
    service = first(("Service-Selection",), _utf8)
    mtu = packet.integer("Framed-MTU")
    timeout = packet.integer("Session-Timeout")
    return Authorization(
        lma_ipv6=tuple(dict.fromkeys(lma_ipv6)),
        lma_ipv4=tuple(dict.fromkeys(lma_ipv4)),
        hnp=hnp,
        ipv4_hoa=hoa,
        interface_id=first(
            ("PMIP6-Home-Interface-ID", "PMIP6-Visited-Interface-ID"), _interface_id
        ),
        service_selection=service,
        dhcp4_server=first(
            ("PMIP6-Home-DHCP4-Server-Address", "PMIP6-Visited-DHCP4-Server-Address"), _ipv4
        ),
        dhcp6_server=first(
            ("PMIP6-Home-DHCP6-Server-Address", "PMIP6-Visited-DHCP6-Server-Address"), _ipv6
        ),
        ipv4_gateway=first(("PMIP6-Home-IPv4-Gateway", "PMIP6-Visited-IPv4-Gateway"), _ipv4),
        framed_mtu=mtu,
        session_timeout_s=timeout,
        problems=tuple(problems),
    )


def lifetime_from_session_timeout(session_timeout_s: int | None) -> int | None:
    """Session-Timeout -> binding lifetime: whole 4-s units in 4..MAX_LIFETIME_S; 0 is none."""
    if not session_timeout_s:
        return None
    units = max(1, session_timeout_s // LIFETIME_UNIT_S)
    return min(MAX_LIFETIME_S, units * LIFETIME_UNIT_S)


def lma_candidates(
    auth: Authorization, transport: Transport, default_lma: Address | None
) -> list[Address]:
    """The LMAs of the transport's family, in the Accept's order; the default when none."""
    named: list[Address] = list(auth.lma_ipv4 if transport == "ipv4" else auth.lma_ipv6)
    if not named and default_lma is not None:
        named.append(default_lma)
    return named


def profile_from(
    auth: Authorization,
    mn_id: str,
    *,
    transport: Transport,
    default_lma: Address | None,
    gre_key: bool = False,
) -> MobileNodeProfile | None:
    """The profile an Accept grants; None when it names no LMA usable on ``transport``."""
    lmas = lma_candidates(auth, transport, default_lma)
    if not lmas:
        return None
    return MobileNodeProfile(
        mn_id=mn_id,
        lma_address=lmas[0],
        hnp=auth.hnp,
        ipv4_address=auth.ipv4_hoa.ip if auth.ipv4_hoa is not None else None,
        service_selection=auth.service_selection,
        gre_key=gre_key,
        lifetime_s=lifetime_from_session_timeout(auth.session_timeout_s),
        dns_servers=(),
    )
