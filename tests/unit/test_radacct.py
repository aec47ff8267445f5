"""RADIUS accounting plugin, pure parts: codec (RFC 2865/2866 layouts), identity map, hooks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.plugins import PluginHost
from mag_ap.wire import DecodeError
from mag_ap_macnai import eui48_of
from mag_ap_radacct import listener_for, parse_settings
from mag_ap_radacct._identities import IdentityMap
from mag_ap_radacct._listener_io import RadAcctListener
from mag_ap_radius.packet import (
    Code,
    accounting_response,
    decode,
    encode_request,
    encode_response,
    verify_request,
)

SECRET = b"xyzzy5461"
MAG = '[daemon]\nrole = "mag"\n[mag]\nown_address = "2001:db8::10"\n'

# RFC 2865 section 7.1: Access-Request of "nemo" and its Access-Accept, secret "xyzzy5461"
RFC2865_REQUEST = bytes.fromhex(
    "0100 0038 0f40 3f94 7397 8057 bd83 d5cb 98f4 227a 0106 6e65 6d6f 0212 0dbe 708d"
    "93d4 13ce 3196 e43f 782a 0aee 0406 c0a8 0110 0506 0000 0003".replace(" ", "")
)
RFC2865_ACCEPT = bytes.fromhex(
    "0200 0026 86fe 220e 7624 ba2a 1005 f6bf 9b55 e0b2 0606 0000 0001 0f06 0000 0000"
    "0e06 c0a8 0103".replace(" ", "")
)


def test_rfc2865_example_decodes_and_its_response_authenticator_matches() -> None:
    req = decode(RFC2865_REQUEST)
    assert (req.code, req.identifier) == (Code.ACCESS_REQUEST, 0)
    assert req.text("User-Name") == "nemo"
    assert req.get("NAS-IP-Address") == IPv4Address("192.168.1.16")
    assert req.integer("NAS-Port") == 3
    assert [a.name for a in req.attributes][1] == "Attr-2"  # User-Password: kept raw
    decode(RFC2865_ACCEPT)
    ours = encode_response(Code.ACCESS_ACCEPT, 0, req.authenticator, RFC2865_ACCEPT[20:], SECRET)
    assert ours == RFC2865_ACCEPT


def _start(
    mac: str = "02-00-00-00-00-01", user: bytes = b"alice@example.net"
) -> list[tuple[int, bytes]]:
    return [(40, struct.pack("!I", 1)), (1, user), (31, mac.encode()), (44, b"3E73EB11")]


def test_accounting_request_golden_layout() -> None:
    # RFC 2866 section 3 layout built by hand: header, three attributes, MD5 authenticator
    attrs = (
        bytes([40, 6, 0, 0, 0, 1])
        + bytes([1, 19]) + b"alice@example.net"
        + bytes([31, 19]) + b"02-00-00-00-00-01"
    )  # fmt: skip
    head = bytes([4, 0x2A, 0, 20 + len(attrs)])
    auth = hashlib.md5(head + bytes(16) + attrs + b"s3cret").digest()
    wire = head + auth + attrs
    assert encode_request(0x2A, _start()[:3], b"s3cret") == wire
    packet = decode(wire)
    assert verify_request(packet, b"s3cret") is None
    assert verify_request(packet, b"other") == "bad Request Authenticator (wrong shared secret?)"
    assert packet.text("Calling-Station-Id") == "02-00-00-00-00-01"
    response = accounting_response(packet, b"s3cret")
    assert response[:4] == bytes([5, 0x2A, 0, 20])
    assert response[4:] == hashlib.md5(response[:4] + auth + b"s3cret").digest()


def test_message_authenticator_is_checked() -> None:
    wire = encode_request(1, _start(), SECRET, message_authenticator=True)
    assert verify_request(decode(wire), SECRET) is None
    tampered = bytearray(wire)
    tampered[-1] ^= 1  # MA last: the Request Authenticator no longer matches either
    assert verify_request(decode(bytes(tampered)), SECRET) is not None
    # a right Request Authenticator over a wrong MA: the MA check must catch it
    body = bytes(tampered[20:])
    fixed = (
        bytes(tampered[:4])
        + hashlib.md5(bytes(tampered[:4]) + bytes(16) + body + SECRET).digest()
        + body
    )
    assert verify_request(decode(fixed), SECRET) == "bad Message-Authenticator"


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"\x04\x01\x00", 0),  # shorter than a header
        (bytes([4, 1, 0, 19]) + bytes(16), 2),  # Length below 20
        (bytes([4, 1, 0, 40]) + bytes(16), 2),  # Length past the datagram
        (bytes([4, 1, 0, 21]) + bytes(16) + b"\x01", 20),  # half an attribute header
        (bytes([4, 1, 0, 22]) + bytes(16) + b"\x01\x01", 21),  # attribute length 1
        (bytes([4, 1, 0, 24]) + bytes(16) + b"\x01\x09ab", 21),  # runs past the packet
        (bytes([4, 1, 0, 25]) + bytes(16) + b"\x28\x05abc", 20),  # integer of 3 octets
        (bytes([4, 1, 0, 24]) + bytes(16) + b"\x01\x04\xff\xfe", 20),  # User-Name not UTF-8
    ],
)
def test_truncated_and_malformed_packets(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.offset == offset


@given(st.binary(max_size=200))
def test_fuzz_only_decode_error(data: bytes) -> None:
    try:
        packet = decode(data)
    except DecodeError:
        return
    verify_request(packet, SECRET)


@given(st.binary(min_size=20, max_size=120))
def test_fuzz_with_valid_length_only_decode_error(data: bytes) -> None:
    data = data[:2] + struct.pack("!H", len(data)) + data[4:]
    with contextlib.suppress(DecodeError):
        decode(data)


def _packet(status: int, user: bytes = b"alice@example.net", mac: str = "02-00-00-00-00-01"):  # type: ignore[no-untyped-def]
    attrs = [(40, struct.pack("!I", status)), (31, mac.encode())]
    if user:
        attrs.append((1, user))
    return decode(encode_request(1, attrs, SECRET))


def test_identity_map_start_interim_stop_and_nas_restart() -> None:
    m = IdentityMap()
    assert m.apply(_packet(1), "192.0.2.1").kind == "start"
    assert m.get("02:00:00:00:00:01") == "alice@example.net"
    assert m.apply(_packet(3, b"alice2@example.net"), "192.0.2.1").kind == "interim"
    assert m.get("02:00:00:00:00:01") == "alice2@example.net"
    stop = m.apply(_packet(2), "192.0.2.1")
    assert (stop.kind, stop.detach) == ("stop", True)
    assert not m.apply(_packet(2), "192.0.2.1").detach  # a repeated Stop detaches nothing
    m.apply(_packet(1), "192.0.2.1")
    m.apply(_packet(1, mac="02-00-00-00-00-02"), "192.0.2.9")
    assert m.apply(_packet(7, b""), "192.0.2.1").kind == "accounting-on-off"
    assert list(m.entries) == ["02:00:00:00:00:02"]  # only the restarted NAS's stations go
    assert m.apply(_packet(1, b""), "192.0.2.1").kind == "no-user-name"
    assert m.apply(_packet(1, mac="bogus"), "192.0.2.1").kind == "no-mac"
    assert m.apply(_packet(1, b"020000000003", "02-00-00-00-00-03"), "x").kind == "mac-user-name"
    assert m.apply(_packet(9), "192.0.2.1").kind == "ignored-status"


class _Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    def station_attached(self, mac: str, mn_id: str | None = None) -> None:
        self.calls.append(("attached", mac, mn_id))

    def station_detached(self, mac: str, reason: str = "trigger") -> None:
        self.calls.append(("detached", mac, reason))


@pytest.mark.parametrize("stop_between", [False, True])
def test_a_change_of_user_re_binds_the_station(stop_between: bool) -> None:
    """Re-authenticated as another user (Interim, or Stop then Start): new MN-ID."""
    settings = parse_settings({"address": "127.0.0.1", "secret": SECRET.decode()})
    listener = RadAcctListener(settings)
    sink = _Sink()
    listener._sink = sink
    mac = "02:00:00:00:00:01"

    def send(status: int, user: bytes) -> None:
        attrs = [(40, struct.pack("!I", status)), (31, b"02-00-00-00-00-01"), (1, user)]
        assert listener.handle(encode_request(3, attrs, SECRET), "127.0.0.1") is not None

    send(1, b"alice@example.net")
    send(3, b"alice@example.net")  # the same user again: nothing to do
    assert sink.calls == []
    if stop_between:
        send(2, b"alice@example.net")
        send(1, b"bob@example.net")
    else:
        send(3, b"bob@example.net")
    assert sink.calls == [
        ("detached", mac, "radius-accounting-identity-changed"),
        ("attached", mac, "bob@example.net"),
    ]
    assert asyncio.run(listener.identity_for(mac)) == "bob@example.net"
    assert listener.counters["identity_changes"] == 1


def test_listener_counts_and_answers_without_sockets() -> None:
    settings = parse_settings(
        {"address": "127.0.0.1", "secret": SECRET.decode(), "identity_wait_s": 0}
    )
    listener = RadAcctListener(settings)
    good = encode_request(9, _start(), SECRET)
    reply = listener.handle(good, "127.0.0.1")
    assert reply is not None and reply[:2] == bytes([5, 9])
    assert listener.handle(b"junk", "127.0.0.1") is None
    assert listener.handle(encode_request(9, _start(), b"wrong"), "127.0.0.1") is None
    assert listener.handle(RFC2865_REQUEST, "127.0.0.1") is None
    assert listener.counters["malformed"] == listener.counters["bad_authenticator"] == 1
    assert listener.counters["not_accounting"] == 1
    assert asyncio.run(listener.identity_for("02:00:00:00:00:01")) == "alice@example.net"
    assert asyncio.run(listener.identity_for("02:00:00:00:00:07")) is None  # declined
    assert listener.counters["fallback"] == 1
    assert asyncio.run(listener.identity_for("nonsense")) is None


def test_identity_waits_for_a_late_accounting_start() -> None:
    settings = parse_settings({"address": "127.0.0.1", "secret": "x", "identity_wait_s": 4})
    listener = RadAcctListener(settings)

    async def scenario() -> str | None:
        ask = asyncio.create_task(listener.identity_for("02:00:00:00:00:01"))
        await asyncio.sleep(0)
        listener.handle(encode_request(1, _start(), b"x"), "127.0.0.1")
        return await ask

    assert asyncio.run(scenario()) == "alice@example.net"


def test_settings_and_hooks() -> None:
    assert not parse_settings({}).enabled
    with pytest.raises(ConfigError, match=r"plugin\.radacct\.address"):
        parse_settings({"secret": "x"})
    with pytest.raises(ConfigError, match=r"plugin\.radacct\.secret"):
        parse_settings({"address": "192.0.2.1"})
    with pytest.raises(ConfigError, match=r"plugin\.radacct\.port"):
        parse_settings({"address": "192.0.2.1", "secret": "x", "port": 70000})
    config = parse_config_text(
        MAG + '[plugin.radacct]\naddress = "192.0.2.1"\nsecret = "s"\n'
        '[plugin.macnai]\nformat = "eui48"\n'
    )
    host = PluginHost.from_config(config, entry_points=False)
    listener = listener_for(config)
    assert [p.name for p in host.identity_providers()] == ["radacct", "macnai"]
    assert host.identity_providers()[0] is listener
    assert listener in host.trigger_providers()
    chain = host.identity_provider()
    assert chain is not None  # radacct declines a MAC it never saw: the MAC-based NAI answers
    assert asyncio.run(chain.identity_for("02:00:00:00:00:01")) == "5:020000000001"
    assert eui48_of("5:020000000001") == bytes.fromhex("020000000001")
    assert eui48_of("020000000001@mag-ap.invalid") is None
    assert eui48_of("5:02000000000g") is None
