"""Pure RADIUS codec: authentication (RFC 2865) and accounting (RFC 2866).

The one home of RADIUS wire code in mag-ap, a public module: the policy client (this package)
and the accounting listener (``mag_ap_radacct``, which imports it from here)
share it. No socket here: every byte a hostile sender can put in a datagram is tested
directly. Packet: Code(1) Identifier(1) Length(2) Authenticator(16) then
attributes Type(1) Length(1) Value. Attribute types are table-driven
(:data:`ATTRIBUTES`); unknown ones are kept raw. Every fault is a
:class:`DecodeError` carrying the byte offset.

Authenticators (RFC 2866 section 3): an Accounting-Request carries
``MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret)``; the
Accounting-Response carries ``MD5(Code+Identifier+Length+RequestAuth+Attributes+Secret)``.
A Message-Authenticator (RFC 3579 section 3.2, type 80), when present, is
HMAC-MD5 over the packet with that attribute's value zeroed and, for accounting,
the authenticator field zeroed; for Access-Request the field holds the random
Request Authenticator, for a response the Request Authenticator of its request.
User-Password is hidden as RFC 2865 section 5.2 says.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address
from typing import Final, Literal

from mag_ap.imports import hiding
from mag_ap.wire import DecodeError

# MD5 and HMAC-MD5 from CPython's own _md5 (hashlib's and hmac's fallbacks when OpenSSL
# is absent, as on OpenWrt without python3-openssl): _hashlib would map libcrypto,
# 3.5 MB of an idle MAG's RSS (bench/idle.py), for a few digests per exchange.
with hiding("_hashlib"):
    import hashlib
    import hmac
if not hasattr(hashlib, "md5"):  # a Python built without its own MD5: OpenSSL's, then
    del sys.modules["hmac"], sys.modules["hashlib"]
    import hashlib
    import hmac

__all__ = [
    "ATTRIBUTES",
    "AcctStatusType",
    "Attribute",
    "Code",
    "Packet",
    "accounting_response",
    "decode",
    "encode_access_request",
    "encode_request",
    "encode_response",
    "hide_password",
    "verify_request",
    "verify_response",
]

HEADER_LEN: Final = 20
MIN_LEN: Final = 20  # RFC 2865 section 3
MAX_LEN: Final = 4096
AUTH_LEN: Final = 16
MESSAGE_AUTHENTICATOR: Final = 80


class Code(IntEnum):
    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11


class AcctStatusType(IntEnum):
    """Acct-Status-Type values (RFC 2866 section 5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


Kind = Literal["text", "string", "integer", "ipaddr"]

# type -> (name, kind, fixed length or None); RFC 2865 section 5 and RFC 2866 section 5
ATTRIBUTES: Final[Mapping[int, tuple[str, Kind, int | None]]] = {
    1: ("User-Name", "text", None),
    4: ("NAS-IP-Address", "ipaddr", 4),
    5: ("NAS-Port", "integer", 4),
    6: ("Service-Type", "integer", 4),
    8: ("Framed-IP-Address", "ipaddr", 4),
    12: ("Framed-MTU", "integer", 4),
    18: ("Reply-Message", "string", None),
    25: ("Class", "string", None),
    27: ("Session-Timeout", "integer", 4),
    30: ("Called-Station-Id", "text", None),
    31: ("Calling-Station-Id", "text", None),
    32: ("NAS-Identifier", "text", None),
    40: ("Acct-Status-Type", "integer", 4),
    41: ("Acct-Delay-Time", "integer", 4),
    42: ("Acct-Input-Octets", "integer", 4),
    43: ("Acct-Output-Octets", "integer", 4),
    44: ("Acct-Session-Id", "text", None),
    45: ("Acct-Authentic", "integer", 4),
    46: ("Acct-Session-Time", "integer", 4),
    47: ("Acct-Input-Packets", "integer", 4),
    48: ("Acct-Output-Packets", "integer", 4),
    49: ("Acct-Terminate-Cause", "integer", 4),
    50: ("Acct-Multi-Session-Id", "text", None),
    55: ("Event-Timestamp", "integer", 4),
    61: ("NAS-Port-Type", "integer", 4),
    80: ("Message-Authenticator", "string", 16),
    95: ("NAS-IPv6-Address", "string", 16),  # RFC 3162
    97: ("Framed-IPv6-Prefix", "string", None),  # RFC 3162; parsed by the policy mapping
    # RFC 6572 section 6 (IANA RADIUS Attribute Types 145-162): values stay raw
    # octets here and are parsed by ._mapping, so a malformed one costs that
    # attribute only, not the whole Access-Accept.
    145: ("Mobile-Node-Identifier", "string", None),
    146: ("Service-Selection", "string", None),
    147: ("PMIP6-Home-LMA-IPv6-Address", "string", None),
    148: ("PMIP6-Visited-LMA-IPv6-Address", "string", None),
    149: ("PMIP6-Home-LMA-IPv4-Address", "string", None),
    150: ("PMIP6-Visited-LMA-IPv4-Address", "string", None),
    151: ("PMIP6-Home-HN-Prefix", "string", None),
    152: ("PMIP6-Visited-HN-Prefix", "string", None),
    153: ("PMIP6-Home-Interface-ID", "string", None),
    154: ("PMIP6-Visited-Interface-ID", "string", None),
    155: ("PMIP6-Home-IPv4-HoA", "string", None),
    156: ("PMIP6-Visited-IPv4-HoA", "string", None),
    157: ("PMIP6-Home-DHCP4-Server-Address", "string", None),
    158: ("PMIP6-Visited-DHCP4-Server-Address", "string", None),
    159: ("PMIP6-Home-DHCP6-Server-Address", "string", None),
    160: ("PMIP6-Visited-DHCP6-Server-Address", "string", None),
    161: ("PMIP6-Home-IPv4-Gateway", "string", None),
    162: ("PMIP6-Visited-IPv4-Gateway", "string", None),
}
BY_NAME: Final = {name: number for number, (name, _, _) in ATTRIBUTES.items()}

Value = str | int | bytes | IPv4Address


@dataclass(frozen=True)
class Attribute:
    """One attribute; ``value`` is typed by :data:`ATTRIBUTES`, raw bytes when unknown."""

    type: int
    value: Value
    raw: bytes
    offset: int  # of the attribute's first byte in the packet

    @property
    def name(self) -> str:
        known = ATTRIBUTES.get(self.type)
        return known[0] if known else f"Attr-{self.type}"


@dataclass(frozen=True)
class Packet:
    """A decoded RADIUS packet (authenticators not yet checked: see :func:`verify_request`)."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[Attribute, ...]
    data: bytes = field(repr=False)

    def get(self, name: str) -> Value | None:
        """The first value of the attribute ``name``, or None."""
        number = BY_NAME[name]
        for attr in self.attributes:
            if attr.type == number:
                return attr.value
        return None

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return value if isinstance(value, str) else None

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        return value if isinstance(value, int) else None

    def all_raw(self, name: str) -> list[bytes]:
        """The raw values of every ``name`` attribute, in packet order."""
        number = BY_NAME[name]
        return [attr.raw for attr in self.attributes if attr.type == number]


def _value(number: int, raw: bytes, offset: int) -> Value:
    known = ATTRIBUTES.get(number)
    if known is None:
        return raw
    name, kind, fixed = known
    if fixed is not None and len(raw) != fixed:
        raise DecodeError(f"{name} must be {fixed} octets, not {len(raw)}", offset)
    if kind == "integer":
        return int(struct.unpack("!I", raw)[0])
    if kind == "ipaddr":
        return IPv4Address(raw)
    if kind == "text":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{name} is not UTF-8", offset) from None
    return raw


def decode(data: bytes) -> Packet:
    """Bytes -> :class:`Packet`; trailing octets past Length are ignored (RFC 2865 section 3)."""
    if len(data) < MIN_LEN:
        raise DecodeError(f"{len(data)} octets is shorter than a RADIUS header", 0)
    code, identifier, length = struct.unpack_from("!BBH", data)
    if length < MIN_LEN or length > MAX_LEN:
        raise DecodeError(f"Length {length} outside {MIN_LEN}..{MAX_LEN}", 2)
    if length > len(data):
        raise DecodeError(f"Length {length} but only {len(data)} octets arrived", 2)
    data = data[:length]
    attributes: list[Attribute] = []
    pos = HEADER_LEN
    while pos < length:
        if pos + 2 > length:
            raise DecodeError("truncated attribute header", pos)
        number, attr_len = data[pos], data[pos + 1]
        if attr_len < 2:
            raise DecodeError(f"attribute length {attr_len} < 2", pos + 1)
        if pos + attr_len > length:
            raise DecodeError(f"attribute of {attr_len} octets runs past the packet", pos + 1)
        raw = data[pos + 2 : pos + attr_len]
        attributes.append(Attribute(number, _value(number, raw, pos), raw, pos))
        pos += attr_len
    return Packet(code, identifier, data[4:HEADER_LEN], tuple(attributes), data)


def _message_authenticator(
    data: bytes, attr: Attribute, secret: bytes, authenticator: bytes = bytes(AUTH_LEN)
) -> bytes:
    zeroed = bytearray(data)
    zeroed[4:HEADER_LEN] = authenticator
    start = attr.offset + 2
    zeroed[start : start + AUTH_LEN] = bytes(AUTH_LEN)
    return hmac.new(secret, bytes(zeroed), hashlib.md5).digest()


def verify_request(packet: Packet, secret: bytes) -> str | None:
    """Check an Accounting-Request's authenticators; None when good, else the reason."""
    if packet.code != Code.ACCOUNTING_REQUEST:
        return f"code {packet.code} is no Accounting-Request"
    data = packet.data
    expected = hashlib.md5(data[:4] + bytes(AUTH_LEN) + data[HEADER_LEN:] + secret).digest()
    if not hmac.compare_digest(expected, packet.authenticator):
        return "bad Request Authenticator (wrong shared secret?)"
    for attr in packet.attributes:
        if attr.type == MESSAGE_AUTHENTICATOR:
            good = _message_authenticator(data, attr, secret)
            if not hmac.compare_digest(good, attr.raw):
                return "bad Message-Authenticator"
    return None


def encode_attributes(attributes: Sequence[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for number, raw in attributes:
        if not 0 < number < 256 or len(raw) > 253:
            raise ValueError(f"attribute {number} with {len(raw)} octets cannot be encoded")
        out += bytes([number, len(raw) + 2]) + raw
    return bytes(out)


def encode_request(
    identifier: int,
    attributes: Sequence[tuple[int, bytes]],
    secret: bytes,
    *,
    message_authenticator: bool = False,
) -> bytes:
    """An Accounting-Request with its Request Authenticator (for tests and tools)."""
    attrs = list(attributes)
    if message_authenticator:
        attrs.append((MESSAGE_AUTHENTICATOR, bytes(AUTH_LEN)))
    body = encode_attributes(attrs)
    length = HEADER_LEN + len(body)
    head = struct.pack("!BBH", Code.ACCOUNTING_REQUEST, identifier, length)
    if message_authenticator:
        mac = hmac.new(secret, head + bytes(AUTH_LEN) + body, hashlib.md5).digest()
        body = body[:-AUTH_LEN] + mac
    auth = hashlib.md5(head + bytes(AUTH_LEN) + body + secret).digest()
    return head + auth + body


def encode_response(
    code: int, identifier: int, request_authenticator: bytes, attributes: bytes, secret: bytes
) -> bytes:
    """A response: ``MD5(Code+Identifier+Length+RequestAuth+Attributes+Secret)`` as its
    authenticator (RFC 2865 section 3, RFC 2866 section 3)."""
    head = struct.pack("!BBH", code, identifier, HEADER_LEN + len(attributes))
    auth = hashlib.md5(head + request_authenticator + attributes + secret).digest()
    return head + auth + attributes


def accounting_response(request: Packet, secret: bytes) -> bytes:
    """The Accounting-Response (no attributes) answering ``request`` (RFC 2866 section 4.2)."""
    return encode_response(
        Code.ACCOUNTING_RESPONSE, request.identifier, request.authenticator, b"", secret
    )


# --- authentication (RFC 2865) ---------------------------------------------------


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password hiding (RFC 2865 section 5.2): pad to 16, XOR with chained MD5."""
    if len(password) > 128:
        raise ValueError("User-Password is at most 128 octets")
    padded = password + bytes(-len(password) % AUTH_LEN) if password else bytes(AUTH_LEN)
    out = bytearray()
    previous = authenticator
    for start in range(0, len(padded), AUTH_LEN):
        key = hashlib.md5(secret + previous).digest()
        block = bytes(a ^ b for a, b in zip(padded[start : start + AUTH_LEN], key, strict=True))
        out += block
        previous = block
    return bytes(out)


def encode_access_request(
    identifier: int,
    authenticator: bytes,
    attributes: Sequence[tuple[int, bytes]],
    secret: bytes,
) -> bytes:
    """An Access-Request with a Message-Authenticator as its first attribute.

    ``authenticator`` is the random Request Authenticator (16 octets, from the
    IO side: this module draws no randomness). The Message-Authenticator comes
    first, as the BlastRADIUS advisory (CVE-2024-3596) recommends; it is
    HMAC-MD5 over the packet with its own value zeroed (RFC 3579 section 3.2).
    """
    if len(authenticator) != AUTH_LEN:
        raise ValueError("the Request Authenticator is 16 octets")
    body = encode_attributes([(MESSAGE_AUTHENTICATOR, bytes(AUTH_LEN)), *attributes])
    length = HEADER_LEN + len(body)
    if length > MAX_LEN:
        raise ValueError(f"an Access-Request of {length} octets is too long")
    head = struct.pack("!BBH", Code.ACCESS_REQUEST, identifier, length)
    mac = hmac.new(secret, head + authenticator + body, hashlib.md5).digest()
    return head + authenticator + body[:2] + mac + body[2 + AUTH_LEN :]


def verify_response(
    packet: Packet,
    request_authenticator: bytes,
    secret: bytes,
    *,
    require_message_authenticator: bool = False,
) -> str | None:
    """Check an Access-Accept/Reject/Challenge against its request; None when good.

    Response Authenticator: ``MD5(Code+Identifier+Length+RequestAuth+Attributes+Secret)``
    (RFC 2865 section 3). A Message-Authenticator is checked over the packet
    with the Request Authenticator in place (RFC 3579 section 3.2).
    """
    if packet.code not in (Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE):
        return f"code {packet.code} answers no Access-Request"
    data = packet.data
    expected = hashlib.md5(data[:4] + request_authenticator + data[HEADER_LEN:] + secret).digest()
    if not hmac.compare_digest(expected, packet.authenticator):
        return "bad Response Authenticator (wrong shared secret?)"
    found = False
    for attr in packet.attributes:
        if attr.type == MESSAGE_AUTHENTICATOR:
            good = _message_authenticator(data, attr, secret, request_authenticator)
            if not hmac.compare_digest(good, attr.raw):
                return "bad Message-Authenticator"
            found = True
    if require_message_authenticator and not found:
        return "no Message-Authenticator (required)"
    return None
