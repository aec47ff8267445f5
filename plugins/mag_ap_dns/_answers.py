"""Pure DNS message handling for LMA discovery (RFC 6097 section 3): queries and answers.

dnslib builds and parses the messages (this package is the only importer of
dnslib); no socket or clock here, so hostile answers are tested directly. An
answer counts only when it answers our query: QR set, our ID, our question.
CNAME chains inside the answer section are followed (bounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from dnslib import QTYPE, RCODE, DNSRecord

from mag_ap.core.types import Address

MAX_CNAME_HOPS: Final = 8
RCODE_NXDOMAIN: Final = int(RCODE.NXDOMAIN)
RCODE_NOERROR: Final = int(RCODE.NOERROR)


class AnswerError(ValueError):
    """An answer we cannot use: garbage, not ours, or a server failure."""


class ServerFailureError(AnswerError):
    """Our answer, but the server could not help (SERVFAIL, REFUSED, truncated): ask the next."""


@dataclass(frozen=True)
class Answer:
    """The addresses of one name (in the server's order) and how long they hold."""

    addresses: tuple[Address, ...]
    ttl_s: int  # the smallest TTL on the path (CNAMEs included); the negative TTL when empty
    nxdomain: bool = False


def qtype_for(transport: str) -> str:
    """AAAA for an IPv6 transport, A for IPv4 (RFC 5844: IPv4 transport)."""
    return "A" if transport == "ipv4" else "AAAA"


def normalize_fqdn(fqdn: str) -> str:
    """Lower case with the root dot: DNS names compare case-insensitively."""
    name = fqdn.strip().lower()
    return name if name.endswith(".") else name + "."


def build_query(fqdn: str, qtype: str, ident: int) -> bytes:
    """A recursive query for ``qtype`` records of ``fqdn`` with message ID ``ident``."""
    record = DNSRecord.question(normalize_fqdn(fqdn), qtype)
    record.header.id = ident
    packed: bytes = record.pack()
    return packed


def parse_answer(data: bytes, ident: int, fqdn: str, qtype: str) -> Answer:
    """Our answer -> :class:`Answer`; anything else raises :class:`AnswerError`."""
    try:
        record = DNSRecord.parse(data)
    except Exception as exc:  # dnslib raises DNSError, but also struct/index errors
        raise AnswerError(f"undecodable DNS message: {exc}") from None
    header = record.header
    if not header.qr:
        raise AnswerError("a query, not an answer")
    if header.id != ident:
        raise AnswerError(f"message ID {header.id} is not ours ({ident})")
    want = normalize_fqdn(fqdn)
    want_type = getattr(QTYPE, qtype)
    if len(record.questions) != 1:
        raise AnswerError(f"{len(record.questions)} questions, not 1")
    question = record.questions[0]
    if str(question.qname).lower() != want or question.qtype != want_type:
        raise AnswerError(f"answers another question ({question.qname})")
    if header.tc:
        raise ServerFailureError("truncated answer (no TCP fallback: too many LMA addresses)")
    rcode = header.rcode
    if rcode == RCODE_NXDOMAIN:
        return Answer((), _negative_ttl(record), nxdomain=True)
    if rcode != RCODE_NOERROR:
        raise ServerFailureError(f"server answered rcode {RCODE.get(rcode, rcode)}")
    return _follow(record, want, want_type)


def _follow(record: DNSRecord, name: str, want_type: int) -> Answer:
    addresses: list[Address] = []
    ttl_s: int | None = None
    for _ in range(MAX_CNAME_HOPS + 1):
        alias = None
        for rr in record.rr:
            if str(rr.rname).lower() != name:
                continue
            if rr.rtype == want_type:
                try:
                    raw = bytes(rr.rdata.data)
                    address: Address = (
                        IPv6Address(raw) if want_type == QTYPE.AAAA else IPv4Address(raw)
                    )
                except (ValueError, TypeError, AttributeError) as exc:
                    raise AnswerError(f"bad address record: {exc}") from None
                if address not in addresses:
                    addresses.append(address)
                ttl_s = rr.ttl if ttl_s is None else min(ttl_s, rr.ttl)
            elif rr.rtype == QTYPE.CNAME and alias is None:
                alias = str(rr.rdata.label).lower()
                ttl_s = rr.ttl if ttl_s is None else min(ttl_s, rr.ttl)
        if addresses or alias is None:
            break
        name = alias
    else:
        raise AnswerError("CNAME chain too long")
    if not addresses:
        return Answer((), _negative_ttl(record))
    return Answer(tuple(addresses), ttl_s or 0)


def _negative_ttl(record: DNSRecord) -> int:
    """RFC 2308 section 5: the SOA's MINIMUM, capped by the SOA record's own TTL."""
    for rr in record.auth:
        if rr.rtype == QTYPE.SOA:
            try:
                return int(min(rr.ttl, rr.rdata.times[-1]))
            except (AttributeError, IndexError, TypeError):
                return 0
    return 0
