"""LMA discovery via DNS (RFC 6097): answer parsing, TTL cache, settings, hooks, fuzz.

Answers are built with dnslib's own record classes (the encoder is not under
test: the plugin only parses) plus hand-made hostile bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from ipaddress import IPv4Address, IPv6Address

import pytest
from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, SOA, A, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.plugins import PluginHost
from mag_ap_dns import DiscoveryOnDemand, parse_settings
from mag_ap_dns._answers import AnswerError, build_query, parse_answer, qtype_for
from mag_ap_dns._cache import AnswerCache
from mag_ap_dns._resolver_io import DnsLmaDiscovery
from mag_ap_dns._settings import COUNTERS, nameservers_of

NAME = "lma.example.net"
MAG = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'


def _reply(ident: int = 0x1234, qtype: str = "AAAA", name: str = NAME) -> DNSRecord:
    query = DNSRecord.parse(build_query(name, qtype, ident))
    return query.reply()


def test_query_layout() -> None:
    query = DNSRecord.parse(build_query("LMA.Example.Net", "AAAA", 0xBEEF))
    assert query.header.id == 0xBEEF and query.header.rd and not query.header.qr
    assert str(query.q.qname) == "lma.example.net." and query.q.qtype == QTYPE.AAAA
    assert (qtype_for("ipv6"), qtype_for("ipv4")) == ("AAAA", "A")


def test_aaaa_answers_in_order_with_the_smallest_ttl() -> None:
    reply = _reply()
    reply.add_answer(RR(NAME, QTYPE.AAAA, rdata=AAAA("2001:db8::1"), ttl=300))
    reply.add_answer(RR(NAME, QTYPE.AAAA, rdata=AAAA("2001:db8::2"), ttl=60))
    reply.add_answer(RR("other.example.net", QTYPE.AAAA, rdata=AAAA("2001:db8::9"), ttl=1))
    answer = parse_answer(reply.pack(), 0x1234, NAME.upper(), "AAAA")
    assert answer.addresses == (IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2"))
    assert answer.ttl_s == 60 and not answer.nxdomain


def test_a_records_through_a_cname_chain() -> None:
    reply = _reply(qtype="A")
    reply.add_answer(RR(NAME, QTYPE.CNAME, rdata=CNAME("pool.example.net"), ttl=120))
    reply.add_answer(RR("pool.example.net", QTYPE.A, rdata=A("198.51.100.1"), ttl=600))
    answer = parse_answer(reply.pack(), 0x1234, NAME, "A")
    assert answer.addresses == (IPv4Address("198.51.100.1"),)
    assert answer.ttl_s == 120  # the CNAME's TTL bounds the whole answer


def test_nxdomain_and_nodata_carry_the_negative_ttl() -> None:
    reply = _reply()
    reply.header.rcode = RCODE.NXDOMAIN
    soa = SOA("ns.example.net", "admin.example.net", (1, 3600, 600, 86400, 45))
    reply.add_auth(RR("example.net", QTYPE.SOA, rdata=soa, ttl=300))
    answer = parse_answer(reply.pack(), 0x1234, NAME, "AAAA")
    assert answer.nxdomain and answer.addresses == () and answer.ttl_s == 45
    empty = parse_answer(_reply().pack(), 0x1234, NAME, "AAAA")
    assert (empty.addresses, empty.nxdomain, empty.ttl_s) == ((), False, 0)


def test_answers_that_are_not_ours_are_refused() -> None:
    good = _reply()
    good.add_answer(RR(NAME, QTYPE.AAAA, rdata=AAAA("2001:db8::1"), ttl=60))
    with pytest.raises(AnswerError, match="message ID"):
        parse_answer(good.pack(), 0x4321, NAME, "AAAA")
    with pytest.raises(AnswerError, match="another question"):
        parse_answer(good.pack(), 0x1234, "evil.example.net", "AAAA")
    with pytest.raises(AnswerError, match="another question"):
        parse_answer(good.pack(), 0x1234, NAME, "A")
    with pytest.raises(AnswerError, match="not an answer"):
        parse_answer(build_query(NAME, "AAAA", 0x1234), 0x1234, NAME, "AAAA")
    failing = _reply()
    failing.header.rcode = RCODE.SERVFAIL
    with pytest.raises(AnswerError, match="SERVFAIL"):
        parse_answer(failing.pack(), 0x1234, NAME, "AAAA")
    truncated = _reply()
    truncated.header.tc = 1
    with pytest.raises(AnswerError, match="truncated"):
        parse_answer(truncated.pack(), 0x1234, NAME, "AAAA")
    loop = _reply()
    loop.add_answer(RR(NAME, QTYPE.CNAME, rdata=CNAME(NAME), ttl=60))
    with pytest.raises(AnswerError, match="CNAME chain"):
        parse_answer(loop.pack(), 0x1234, NAME, "AAAA")
    with pytest.raises(AnswerError, match="undecodable"):
        parse_answer(b"\x12\x34\x81", 0x1234, NAME, "AAAA")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_garbage_only_raises_answer_error(data: bytes) -> None:
    with contextlib.suppress(AnswerError):
        parse_answer(data, 0x1234, NAME, "AAAA")


@settings(max_examples=300, deadline=None)
@given(st.integers(12, 80), st.binary(min_size=1, max_size=8))
def test_fuzz_corrupted_real_answers_only_raise_answer_error(pos: int, noise: bytes) -> None:
    reply = _reply()
    reply.add_answer(RR(NAME, QTYPE.AAAA, rdata=AAAA("2001:db8::1"), ttl=60))
    data = bytearray(reply.pack())
    data[pos : pos + len(noise)] = noise
    with contextlib.suppress(AnswerError):
        parse_answer(bytes(data), 0x1234, NAME, "AAAA")


def test_cache_respects_ttl_and_clamps() -> None:
    cache = AnswerCache(min_ttl_s=10, max_ttl_s=100, negative_ttl_s=5)
    key = (NAME + ".", "AAAA")
    addrs = (IPv6Address("2001:db8::1"),)
    assert cache.put(key, addrs, 60, now=0) == 60
    assert cache.get(key, 59.9) == addrs and cache.get(key, 60) is None
    assert cache.put(key, addrs, 1, now=0) == 10  # raised to min_ttl_s
    assert cache.put(key, addrs, 10**6, now=0) == 100  # capped at max_ttl_s
    assert cache.put(key, (), 3600, now=0) == 5  # negative answers: negative_ttl_s at most
    assert cache.get(key, 4.9) == () and cache.get(key, 5) is None
    plain = AnswerCache(min_ttl_s=0, max_ttl_s=100, negative_ttl_s=5)
    assert plain.put(key, addrs, 0, now=0) == 0 and plain.get(key, 0) is None  # TTL 0: not kept


def test_resolver_answers_from_its_cache_without_network() -> None:
    """A cached name is answered with no socket at all (sockets: tests/netns)."""
    now = [0.0]
    provider = DnsLmaDiscovery(parse_settings({"servers": ["192.0.2.53"]}), clock=lambda: now[0])
    addrs = (IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2"))
    provider.cache.put((NAME + ".", "AAAA"), addrs, 30, now=0)
    assert asyncio.run(provider.resolve(NAME, "ipv6")) == list(addrs)  # order kept: failover
    assert provider.counters["cache_hits"] == 1 and provider.counters["queries"] == 0


def test_settings_and_resolv_conf() -> None:
    s = parse_settings({})
    assert s.servers == () and s.port == 53
    assert parse_settings({"servers": ["2001:db8::53"]}).servers == (IPv6Address("2001:db8::53"),)
    with pytest.raises(ConfigError, match=r"plugin\.dns\.servers\[0\]"):
        parse_settings({"servers": ["nope"]})
    with pytest.raises(ConfigError, match=r"plugin\.dns\.min_ttl_s"):
        parse_settings({"min_ttl_s": 10, "max_ttl_s": 5})
    with pytest.raises(ConfigError, match=r"plugin\.dns\.timeout_s"):
        parse_settings({"servers": ["192.0.2.1", "192.0.2.2"], "timeout_s": 2, "tries": 2})
    text = "# c\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver bad\nsearch x\n"
    assert nameservers_of(text) == (IPv4Address("192.0.2.53"),)


def test_hook_gives_the_mag_a_discovery_provider() -> None:
    host = PluginHost.from_config(
        parse_config_text(MAG + '[plugin.dns]\nservers = ["192.0.2.53"]\n'), entry_points=False
    )
    provider = host.lma_discovery_provider()
    assert isinstance(provider, DiscoveryOnDemand)
    assert host.status_extra()["mag_ap_dns"] == {**dict.fromkeys(COUNTERS, 0), "cached": 0}
    assert isinstance(provider.resolver(), DnsLmaDiscovery)  # built on the first lookup
    assert provider.resolver() is provider.resolver()
    assert host.status_extra()["mag_ap_dns"] == {**dict.fromkeys(COUNTERS, 0), "cached": 0}
