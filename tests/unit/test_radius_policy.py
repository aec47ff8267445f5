"""RADIUS policy (RFC 6572): codec, authenticators, mapping, cache, settings, fuzz.

Golden bytes are laid out by hand from RFC 2865 (section 3 header, 5.2
User-Password, the section 7.1 example) and RFC 6572 (attribute types 145-162
and their layouts), independent of the encoder under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network, ip_address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.core.types import MobileNodeProfile
from mag_ap.plugins import PluginHost
from mag_ap.ttl_cache import TtlCache
from mag_ap.wire import DecodeError
from mag_ap_radius import RadiusServer, RadiusSettings, parse_settings
from mag_ap_radius._client_io import RadiusPolicy
from mag_ap_radius._mapping import (
    Authorization,
    calling_station_id,
    lifetime_from_session_timeout,
    parse_accept,
    profile_from,
    request_attributes,
)
from mag_ap_radius.packet import (
    Code,
    Packet,
    decode,
    encode_access_request,
    encode_response,
    hide_password,
    verify_response,
)

SECRET = b"xyzzy5461"
REQ_AUTH = bytes(range(16))
MAG = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'

# RFC 2865 section 7.1: the Access-Request of "nemo" (password "arctangent")
RFC2865_REQUEST = bytes.fromhex(
    "0100 0038 0f40 3f94 7397 8057 bd83 d5cb 98f4 227a 0106 6e65 6d6f 0212 0dbe 708d"
    "93d4 13ce 3196 e43f 782a 0aee 0406 c0a8 0110 0506 0000 0003".replace(" ", "")
)

# An Access-Accept body laid out from RFC 6572 section 3 (type, length, value)
ACCEPT_ATTRS = bytes.fromhex(
    # PMIP6-Home-LMA-IPv6-Address (147), 18 octets: 2001:db8:1::1
    "93 12 20010db8000100000000000000000001"
    # PMIP6-Home-HN-Prefix (151): Reserved 0, Prefix-Length 64, 8 prefix octets
    "97 0c 00 40 20010db800ff0001"
    # PMIP6-Home-IPv4-HoA (155): 10 reserved bits + 6-bit Prefix-Len 24, 10.200.0.5
    "9b 08 0018 0ac80005"
    # Service-Selection (146): "internet"
    "92 0a 696e7465726e6574"
    # PMIP6-Home-Interface-ID (153): 8 octets
    "99 0a 0000000000000001"
    # PMIP6-Home-DHCP4-Server-Address (157): 10.200.0.1
    "9d 06 0ac80001"
    # PMIP6-Home-DHCP6-Server-Address (159): 2001:db8:1::53
    "9f 12 20010db8000100000000000000000053"
    # PMIP6-Home-IPv4-Gateway (161): 10.200.0.1
    "a1 06 0ac80001"
    # Framed-MTU (12): 1400; Session-Timeout (27): 3600
    "0c 06 00000578  1b 06 00000e10".replace(" ", "").replace(" ", "")
)


def _accept(attrs: bytes = ACCEPT_ATTRS, code: int = Code.ACCESS_ACCEPT, ident: int = 7) -> bytes:
    return encode_response(code, ident, REQ_AUTH, attrs, SECRET)


# --- codec and authenticators -------------------------------------------------------


def test_user_password_hiding_matches_the_rfc2865_example() -> None:
    request = decode(RFC2865_REQUEST)
    hidden = next(a.raw for a in request.attributes if a.type == 2)
    assert hide_password(b"arctangent", SECRET, request.authenticator) == hidden
    # two blocks chain: the second key is MD5(secret + first ciphertext block)
    long = hide_password(b"p" * 20, SECRET, REQ_AUTH)
    key1 = hashlib.md5(SECRET + REQ_AUTH).digest()
    key2 = hashlib.md5(SECRET + long[:16]).digest()
    padded = b"p" * 20 + bytes(12)
    assert long == bytes(a ^ b for a, b in zip(padded, key1 + key2, strict=True))
    assert len(hide_password(b"", SECRET, REQ_AUTH)) == 16
    with pytest.raises(ValueError):
        hide_password(b"x" * 129, SECRET, REQ_AUTH)


def test_access_request_golden_layout_and_message_authenticator() -> None:
    attrs = [(1, b"mn1@example.net"), (31, b"02-00-00-00-00-01"), (6, struct.pack("!I", 2))]
    data = encode_access_request(0x2A, REQ_AUTH, attrs, SECRET)
    body = (
        b"\x50\x12"
        + bytes(16)  # Message-Authenticator first, zeroed for the HMAC
        + b"\x01\x11mn1@example.net"
        + b"\x1f\x1302-00-00-00-00-01"
        + b"\x06\x06\x00\x00\x00\x02"
    )
    head = bytes([1, 0x2A]) + struct.pack("!H", 20 + len(body))
    mac = hmac.new(SECRET, head + REQ_AUTH + body, hashlib.md5).digest()
    assert data == head + REQ_AUTH + body[:2] + mac + body[18:]
    packet = decode(data)
    assert packet.text("User-Name") == "mn1@example.net"
    assert packet.integer("Service-Type") == 2
    with pytest.raises(ValueError):
        encode_access_request(1, b"short", attrs, SECRET)


def test_response_authenticator_and_message_authenticator_checks() -> None:
    good = decode(_accept())
    assert verify_response(good, REQ_AUTH, SECRET) is None
    assert "Response Authenticator" in str(verify_response(good, REQ_AUTH, b"other"))
    assert "Response Authenticator" in str(verify_response(good, bytes(16), SECRET))
    tampered = bytearray(_accept())
    tampered[-1] ^= 1
    assert verify_response(decode(bytes(tampered)), REQ_AUTH, SECRET) is not None
    missing = verify_response(good, REQ_AUTH, SECRET, require_message_authenticator=True)
    assert missing == "no Message-Authenticator (required)"

    # a reply with a Message-Authenticator: HMAC over the packet carrying the Request Authenticator
    body = ACCEPT_ATTRS + b"\x50\x12" + bytes(16)
    head = bytes([2, 7]) + struct.pack("!H", 20 + len(body))
    mac = hmac.new(SECRET, head + REQ_AUTH + body, hashlib.md5).digest()
    signed = encode_response(2, 7, REQ_AUTH, body[:-16] + mac, SECRET)
    assert (
        verify_response(decode(signed), REQ_AUTH, SECRET, require_message_authenticator=True)
        is None
    )
    forged = encode_response(2, 7, REQ_AUTH, body[:-16] + bytes(16), SECRET)
    assert verify_response(decode(forged), REQ_AUTH, SECRET) == "bad Message-Authenticator"
    acct = encode_response(Code.ACCOUNTING_RESPONSE, 7, REQ_AUTH, b"", SECRET)
    assert "answers no Access-Request" in str(verify_response(decode(acct), REQ_AUTH, SECRET))


# --- mapping -----------------------------------------------------------------------


def test_accept_maps_every_rfc6572_attribute() -> None:
    auth = parse_accept(decode(_accept()))
    assert auth == Authorization(
        lma_ipv6=(IPv6Address("2001:db8:1::1"),),
        hnp=IPv6Network("2001:db8:ff:1::/64"),
        ipv4_hoa=IPv4Interface("10.200.0.5/24"),
        interface_id=bytes(7) + b"\x01",
        service_selection="internet",
        dhcp4_server=IPv4Address("10.200.0.1"),
        dhcp6_server=IPv6Address("2001:db8:1::53"),
        ipv4_gateway=IPv4Address("10.200.0.1"),
        framed_mtu=1400,
        session_timeout_s=3600,
    )
    profile = profile_from(auth, "mn1@example.net", transport="ipv6", default_lma=None)
    assert profile == MobileNodeProfile(
        mn_id="mn1@example.net",
        lma_address=IPv6Address("2001:db8:1::1"),
        hnp=IPv6Network("2001:db8:ff:1::/64"),
        ipv4_address=IPv4Address("10.200.0.5"),
        service_selection="internet",
        lifetime_s=3600,
    )
    # IPv4 transport: no IPv4 LMA named and no default -> no usable LMA
    assert profile_from(auth, "mn1@example.net", transport="ipv4", default_lma=None) is None
    v4 = profile_from(
        auth, "x", transport="ipv4", default_lma=IPv4Address("198.51.100.1"), gre_key=True
    )
    assert v4 is not None and v4.lma_address == IPv4Address("198.51.100.1") and v4.gre_key


def test_visited_framed_and_zero_values() -> None:
    attrs = bytes.fromhex(
        "96 06 c6336401"  # PMIP6-Visited-LMA-IPv4-Address (150): 198.51.100.1
        "95 06 c6336402"  # PMIP6-Home-LMA-IPv4-Address (149): 198.51.100.2 (Home first)
        "97 04 00 80"  # PMIP6-Home-HN-Prefix all zero (2 octets of header only): assign one
        "61 0c 00 38 20010db800000100"  # Framed-IPv6-Prefix (97): 2001:db8:0:100::/56
        "08 06 fffffffe"  # Framed-IP-Address 255.255.255.254: the NAS picks
        "1b 06 0000000a".replace(" ", "")  # Session-Timeout 10 s -> 8 s lifetime
    )
    auth = parse_accept(decode(_accept(attrs)))
    assert auth.lma_ipv4 == (IPv4Address("198.51.100.2"), IPv4Address("198.51.100.1"))
    assert auth.hnp == IPv6Network("2001:db8:0:100::/56")  # the zero HNP left it open
    assert auth.ipv4_hoa is None
    profile = profile_from(auth, "a", transport="ipv4", default_lma=None)
    assert profile is not None
    assert profile.lma_address == IPv4Address("198.51.100.2")
    assert profile.lifetime_s == 8
    framed = parse_accept(decode(_accept(bytes.fromhex("0806c0000207"))))
    assert framed.ipv4_hoa == IPv4Interface("192.0.2.7/32")


def test_malformed_attributes_are_skipped_and_reported() -> None:
    attrs = bytes.fromhex(
        "93 11 20010db80001000000000000000000"  # 15-octet IPv6 LMA: skipped
        "93 12 20010db8000100000000000000000002"  # the next one is used
        "97 05 00 81 20"  # prefix length 129: skipped
        "9b 07 0018 0ac800"  # 5-octet IPv4 HoA: skipped
        "92 04 fffe"  # Service-Selection not UTF-8: skipped
        "99 04 0001".replace(" ", "")  # short Interface-ID: skipped
    )
    auth = parse_accept(decode(_accept(attrs)))
    assert auth.lma_ipv6 == (IPv6Address("2001:db8:1::2"),)
    assert (auth.hnp, auth.ipv4_hoa, auth.service_selection, auth.interface_id) == (
        None,
        None,
        None,
        None,
    )
    assert len(auth.problems) == 5
    assert auth.problems[0].startswith("PMIP6-Home-LMA-IPv6-Address: 15 octets")


@pytest.mark.parametrize(
    ("session_timeout_s", "lifetime_s"),
    [(None, None), (0, None), (1, 4), (10, 8), (3600, 3600), (2**32 - 1, 0xFFFF * 4)],
)
def test_session_timeout_to_lifetime(session_timeout_s: int | None, lifetime_s: int | None) -> None:
    assert lifetime_from_session_timeout(session_timeout_s) == lifetime_s


def test_request_attributes() -> None:
    common: dict[str, Any] = {
        "mn_id": "mn1@example.net",
        "mac": "02:00:5e:00:00:0a",
        "nas_identifier": "ap-17",
        "service_type": 10,
        "secret": SECRET,
        "authenticator": REQ_AUTH,
    }
    v6 = request_attributes(nas_address=IPv6Address("2001:db8::10"), password=None, **common)
    assert v6 == [
        (1, b"mn1@example.net"),
        (31, b"02-00-5E-00-00-0A"),
        (95, IPv6Address("2001:db8::10").packed),
        (32, b"ap-17"),
        (6, struct.pack("!I", 10)),
    ]
    v4 = request_attributes(nas_address=IPv4Address("192.0.2.1"), password=b"pw", **common)
    assert v4[1] == (2, hide_password(b"pw", SECRET, REQ_AUTH))
    assert (4, IPv4Address("192.0.2.1").packed) in v4
    assert calling_station_id("aa:bb:cc:dd:ee:ff") == "AA-BB-CC-DD-EE-FF"
    with pytest.raises(ValueError):
        request_attributes(nas_address=None, password=None, **{**common, "mn_id": "x" * 254})


# --- the provider without sockets: reply checks and cache -----------------------------


def _policy(**kw: Any) -> RadiusPolicy:
    s = RadiusSettings(enabled=True, servers=(RadiusServer(ip_address("192.0.2.9"), SECRET),), **kw)
    return RadiusPolicy(s, random=bytes, clock=lambda: 0.0)


def test_reply_checks_count_every_kind_of_bad_reply() -> None:
    policy = _policy()
    server = policy.settings.servers[0]
    assert policy._check(b"\x02\x07\x00", 7, REQ_AUTH, server) is None
    assert policy._check(_accept(ident=8), 7, REQ_AUTH, server) is None
    assert policy._check(_accept(), 7, bytes(16), server) is None
    good = policy._check(_accept(), 7, REQ_AUTH, server)
    assert isinstance(good, Packet)
    c = policy.counters
    assert (c["bad_packets"], c["wrong_identifier"], c["bad_authenticator"]) == (1, 1, 1)


def test_profile_cache_honours_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    """The network exchange is replaced by a canned, decoded Accept (sockets: netns tests)."""
    now = [100.0]
    s = RadiusSettings(
        enabled=True, servers=(RadiusServer(ip_address("192.0.2.9"), SECRET),), cache_ttl_s=30
    )
    policy = RadiusPolicy(s, random=bytes, clock=lambda: now[0])
    asked: list[str] = []

    async def canned(mn_id: str, mac: str) -> Packet:
        asked.append(mn_id)
        return decode(_accept())

    monkeypatch.setattr(policy, "_ask", canned)
    first = asyncio.run(policy.profile_for("mn1@example.net", "02:00:00:00:00:01"))
    now[0] = 129.9
    again = asyncio.run(policy.profile_for("mn1@example.net", "02:00:00:00:00:01"))
    assert first == again and asked == ["mn1@example.net"]
    now[0] = 130.0
    asyncio.run(policy.profile_for("mn1@example.net", "02:00:00:00:00:01"))
    assert len(asked) == 2 and policy.counters["cache_hits"] == 1


def test_ttl_cache() -> None:
    cache: TtlCache[str, int] = TtlCache(max_entries=2)
    cache.put("a", 1, 10, now=0)
    cache.put("zero", 9, 0, now=0)  # ttl 0: not kept
    assert cache.get("a", 9.9) == 1 and cache.get("a", 10) is None and len(cache) == 0
    cache.put("a", 1, 10, now=0)
    cache.put("b", 2, 5, now=0)
    cache.put("c", 3, 10, now=6)  # full: the expired "b" goes
    assert (cache.get("a", 6), cache.get("b", 6), cache.get("c", 6)) == (1, None, 3)
    cache.put("d", 4, 10, now=7)  # full of live entries: the oldest ("a") goes
    assert cache.get("a", 7) is None and cache.get("d", 7) == 4


# --- settings and hooks ---------------------------------------------------------------


def test_settings_refusals_name_the_key_path() -> None:
    assert not parse_settings({}).enabled
    base: dict[str, Any] = {"servers": [{"address": "192.0.2.9", "secret": "s"}]}
    s = parse_settings(base)
    assert s.enabled and s.servers == (RadiusServer(ip_address("192.0.2.9"), b"s", 1812),)
    with pytest.raises(ConfigError, match=r"plugin\.radius\.servers"):
        parse_settings({"timeout_s": 1})
    with pytest.raises(ConfigError, match=r"plugin\.radius\.servers\[0\]\.secret"):
        parse_settings({"servers": [{"address": "192.0.2.9"}]})
    with pytest.raises(ConfigError, match=r"plugin\.radius\.servers\[0\]\.port"):
        parse_settings({"servers": [{"address": "192.0.2.9", "secret": "s", "port": 0}]})
    with pytest.raises(ConfigError, match=r"plugin\.radius\.timeout_s.*exceeds"):
        parse_settings({**base, "timeout_s": 2, "tries": 3})
    with pytest.raises(ConfigError, match=r"plugin\.radius\.lma_address"):
        parse_settings({**base, "lma_address": "192.0.2.1"}, "ipv6")
    with pytest.raises(ConfigError, match=r"plugin\.radius\.pasword"):
        parse_settings({**base, "pasword": "x"})


def test_radius_overrides_the_local_policy_only_when_configured() -> None:
    plain = parse_config_text(MAG + '[plugin.localpolicy]\nlma_address = "2001:db8::1"\n')
    host = PluginHost.from_config(plain, entry_points=False)
    policy = host.policy_provider()
    assert policy is not None and policy.name == "localpolicy"
    assert "mag_ap_radius" not in host.status_extra()
    text = MAG + '[plugin.radius]\nservers = [{address = "192.0.2.9", secret = "s"}]\n'
    config = parse_config_text(text)
    host = PluginHost.from_config(config, entry_points=False)
    policy = host.policy_provider()
    assert isinstance(policy, RadiusPolicy)
    assert host.status_extra()["mag_ap_radius"]["requests"] == 0


# --- hostile replies ---------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_replies_never_crash_the_client(data: bytes) -> None:
    policy = _policy()
    result = policy._check(data, 7, REQ_AUTH, policy.settings.servers[0])
    assert result is None
    assert sum(policy.counters.values()) == 1


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=40)), max_size=12))
def test_fuzz_authenticated_attributes_never_crash_the_mapping(
    attrs: list[tuple[int, bytes]],
) -> None:
    body = b"".join(bytes([t, len(v) + 2]) + v for t, v in attrs)
    try:
        packet = decode(_accept(body))
    except DecodeError:
        return  # a fixed-length standard attribute with a wrong length: the whole reply drops
    auth = parse_accept(packet)
    profile_from(auth, "a", transport="ipv6", default_lma=IPv6Address("2001:db8::1"))
