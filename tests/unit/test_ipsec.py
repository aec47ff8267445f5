"""[ipsec] config, the SA/policy plan (RFC 5213 section 4) and the NETLINK_XFRM codec."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest

from mag_ap.config import ConfigError, parse_config_text
from mag_ap.ipsec import (
    IPPROTO_ESP,
    IPPROTO_UDP,
    XFRM_TAG,
    IpsecPeer,
    IpsecSettings,
    plan,
)
from mag_ap.mh.constants import IPPROTO_MH, PMIP6_UDP_CONTROL_PORT
from mag_ap.wire import DecodeError
from mag_ap.xfrm import (
    NLMSGHDR,
    USERPOLICY_INFO,
    USERSA_INFO,
    XFRM_MSG_DELPOLICY,
    XFRM_MSG_DELSA,
    XFRM_MSG_GETSA,
    XFRM_MSG_NEWPOLICY,
    XFRM_MSG_NEWSA,
    Ack,
    PolicyRecord,
    SaRecord,
    del_policy,
    del_sa,
    dump_request,
    new_policy,
    new_sa,
    parse_dump,
)

KEY_IN = "00112233445566778899aabbccddeeff01020304"  # 16-byte AES key + 4-byte salt
KEY_OUT = "ffeeddccbbaa99887766554433221100a0b0c0d0"
MAG = """
[daemon]
role = "mag"
[mag]
own_address = "2001:db8:ffff::10"
"""


def _ipsec(peer: str) -> str:
    return f"""
[ipsec]
mode = "static"
[[ipsec.peer]]
address = "2001:db8:ffff::1"
spi_in = 0x1001
spi_out = 0x1002
{peer}
"""


def test_static_peer_is_read_with_hex_keys() -> None:
    cfg = parse_config_text(MAG + _ipsec(f'key_in = "{KEY_IN}"\nkey_out = "0x{KEY_OUT}"'))
    assert cfg.ipsec.mode == "static"
    assert cfg.ipsec.algorithm == "aes-gcm-128"
    (peer,) = cfg.ipsec.peers
    assert (peer.address, peer.spi_in, peer.spi_out) == (
        ip_address("2001:db8:ffff::1"),
        0x1001,
        0x1002,
    )
    assert (peer.key_in, peer.key_out) == (bytes.fromhex(KEY_IN), bytes.fromhex(KEY_OUT))
    assert KEY_IN not in repr(cfg)  # keys never reach a log through repr


def test_ipsec_is_off_without_the_section() -> None:
    assert parse_config_text(MAG).ipsec == IpsecSettings()


@pytest.mark.parametrize(
    ("peer", "where", "reason"),
    [
        (f'key_in = "{KEY_IN[:-2]}"\nkey_out = "{KEY_OUT}"', "ipsec.peer[0].key_in", "is 19 bytes"),
        (f'key_in = "{KEY_IN}"\nkey_out = "zz{KEY_OUT[2:]}"', "ipsec.peer[0].key_out", "not hex"),
        (f'key_out = "{KEY_OUT}"', "ipsec.peer[0].key_in", "give either"),
        (
            f'key_in = "{KEY_IN}"\nkey_in_file = "/k"\nkey_out = "{KEY_OUT}"',
            "ipsec.peer[0].key_in",
            "give either",
        ),
        (f'key_in = "{KEY_IN}"\nkey_out = "{KEY_OUT}"\nspi = 5', "ipsec.peer[0].spi", "unknown"),
    ],
)
def test_bad_keys_are_refused_naming_the_key(peer: str, where: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(MAG + _ipsec(peer))
    assert info.value.key_path == where
    assert reason in info.value.reason
    assert KEY_IN not in str(info.value) and KEY_OUT not in str(info.value)


def test_reserved_spi_and_duplicate_inbound_spi_are_refused() -> None:
    keys = f'key_in = "{KEY_IN}"\nkey_out = "{KEY_OUT}"'
    with pytest.raises(ConfigError, match="at least 256") as info:
        parse_config_text(MAG + _ipsec(keys).replace("0x1001", "255"))
    assert info.value.key_path == "ipsec.peer[0].spi_in"
    second = (
        f'[[ipsec.peer]]\naddress = "2001:db8:ffff::2"\nspi_in = 0x1001\nspi_out = 9999\n{keys}'
    )
    with pytest.raises(ConfigError, match="also the spi_in of 2001:db8:ffff::1") as info:
        parse_config_text(MAG + _ipsec(keys) + second)
    assert info.value.key_path == "ipsec.peer[1].spi_in"


def test_static_mode_needs_a_peer_and_aes_256_needs_36_bytes() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        parse_config_text(MAG + '[ipsec]\nmode = "static"\n')
    keys = f'key_in = "{KEY_IN}"\nkey_out = "{KEY_OUT}"'
    text = MAG + _ipsec(keys).replace(
        'mode = "static"', 'mode = "static"\nalgorithm = "aes-gcm-256"'
    )
    with pytest.raises(ConfigError, match="needs 36") as info:
        parse_config_text(text)
    assert info.value.key_path == "ipsec.peer[0].key_in"


def test_peer_address_family_follows_the_transport() -> None:
    keys = f'key_in = "{KEY_IN}"\nkey_out = "{KEY_OUT}"'
    text = MAG.replace('role = "mag"', 'role = "mag"\ntransport = "ipv4"').replace(
        "2001:db8:ffff::10", "192.0.2.10"
    )
    with pytest.raises(ConfigError, match="IPv4") as info:
        parse_config_text(text + _ipsec(keys))
    assert info.value.key_path == "ipsec.peer[0].address"


def test_key_files_must_be_root_only(tmp_path: Path) -> None:
    key = tmp_path / "in.key"
    key.write_text(KEY_IN + "\n")
    key.chmod(0o600)
    text = MAG + _ipsec(f'key_in_file = "{key}"\nkey_out = "{KEY_OUT}"')
    assert parse_config_text(text).ipsec.peers[0].key_in == bytes.fromhex(KEY_IN)
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by nobody else") as info:
        parse_config_text(text)
    assert info.value.key_path == "ipsec.peer[0].key_in_file"
    assert "chmod 600" in info.value.reason
    key.unlink()
    with pytest.raises(ConfigError, match="cannot read key file"):
        parse_config_text(text)


# --- the plan ---------------------------------------------------------------------------


def _settings(*addresses: str) -> IpsecSettings:
    peers = tuple(
        IpsecPeer(
            address=ip_address(a),
            spi_in=0x100 + 2 * i,
            spi_out=0x101 + 2 * i,
            key_in=bytes([i]) * 20,
            key_out=bytes([0x80 + i]) * 20,
        )
        for i, a in enumerate(addresses)
    )
    return IpsecSettings(mode="static", peers=peers)


def test_lma_plan_has_two_sas_and_an_out_policy_per_mag_and_one_in_policy() -> None:
    own = IPv6Address("2001:db8::1")
    p = plan(_settings("2001:db8::10", "2001:db8::11"), own)
    assert [(s.src, s.dst, s.spi) for s in p.states] == [
        (own, IPv6Address("2001:db8::10"), 0x101),
        (IPv6Address("2001:db8::10"), own, 0x100),
        (own, IPv6Address("2001:db8::11"), 0x103),
        (IPv6Address("2001:db8::11"), own, 0x102),
    ]
    # the inbound SA's selector names the peer: its key cannot vouch for another source
    inbound = p.states[1].selector
    assert (inbound.src, inbound.src_len, inbound.dst, inbound.proto) == (
        IPv6Address("2001:db8::10"), 128, own, 0,
    )  # fmt: skip
    assert [p.direction for p in p.policies] == ["out", "out", "in"]
    incoming = p.policies[-1].selector
    assert (incoming.src, incoming.src_len, incoming.dst, incoming.proto) == (
        IPv6Address(0), 0, own, IPPROTO_MH,
    )  # fmt: skip
    assert all(s.reqid == XFRM_TAG for s in p.states)
    assert all(q.priority == XFRM_TAG and q.reqid == XFRM_TAG for q in p.policies)


def test_ipv4_transport_protects_udp_5436() -> None:
    own = IPv4Address("192.0.2.1")
    p = plan(_settings("192.0.2.10"), own)
    for policy in p.policies:
        assert (policy.selector.proto, policy.selector.dport) == (
            IPPROTO_UDP, PMIP6_UDP_CONTROL_PORT,
        )  # fmt: skip
    assert p.policies[-1].selector.src == IPv4Address(0)


def test_mode_off_plans_nothing() -> None:
    assert plan(IpsecSettings(), IPv6Address("2001:db8::1")).states == ()


# --- the codec --------------------------------------------------------------------------


def test_new_sa_layout() -> None:
    own, peer = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")
    sa = plan(_settings(str(peer)), own).states[0]
    msg = new_sa(sa, 7)
    length, kind, _flags, seq, _pid = NLMSGHDR.unpack_from(msg)
    assert (length, kind, seq) == (len(msg), XFRM_MSG_NEWSA, 7)
    body = msg[16:]
    assert body[56:72] == peer.packed  # id.daddr
    assert body[72:76] == (0x101).to_bytes(4, "big")  # id.spi, network order
    assert body[76] == IPPROTO_ESP
    assert body[80:96] == own.packed  # saddr
    reqid, family, mode, window = struct.unpack_from("=IHBB", body, 208)
    assert (reqid, family, mode, window) == (XFRM_TAG, socket.AF_INET6, 0, 0)
    attr_len, attr_type = struct.unpack_from("=HH", body, USERSA_INFO.size)
    assert (attr_len, attr_type) == (4 + 72 + 20, 18)  # XFRMA_ALG_AEAD
    algo = body[USERSA_INFO.size + 4 :]
    assert algo[:17] == b"rfc4106(gcm(aes))" and algo[17:64] == bytes(47)
    assert struct.unpack_from("=II", algo, 64) == (160, 128)
    assert algo[72:92] == bytes([0x80]) * 20


# `ip xfrm policy add src 2001:db8:77::1/128 dst 2001:db8:77::2/128 proto 135 dir out
# priority 27969 tmpl src 2001:db8:77::1 dst 2001:db8:77::2 proto esp reqid 27969 mode
# transport`, read back from the kernel (index and the kernel's extra attribute cut off).
IPROUTE2_POLICY_BODY = bytes.fromhex(
    "20010db8007700000000000000000002" "20010db8007700000000000000000001"
    "0000000000000000" "0a008080870000000000000000000000"
    + "ff" * 32 + "00" * 32 + "00" * 32
    + "416d0000" "00000000" "01000000" "00000000"
    + "4400" "0500"
    "20010db8007700000000000000000002" "00000000" "32000000"
    "0a000000" "20010db8007700000000000000000001" "416d0000"
    "00000000" "ffffffff" "ffffffff" "ffffffff"
)  # fmt: skip


def test_new_policy_matches_what_iproute2_installs() -> None:
    own, peer = IPv6Address("2001:db8:77::1"), IPv6Address("2001:db8:77::2")
    out = plan(_settings(str(peer)), own).policies[0]
    msg = new_policy(out, 5)
    assert NLMSGHDR.unpack_from(msg)[1] == XFRM_MSG_NEWPOLICY
    assert msg[16:] == IPROUTE2_POLICY_BODY


def test_udp_selector_matches_destination_port_5436() -> None:
    own = IPv4Address("192.0.2.1")
    out = plan(_settings("192.0.2.10"), own).policies[0]
    sel = new_policy(out, 1)[16 : 16 + 56]
    assert sel[:4] == IPv4Address("192.0.2.10").packed and sel[4:16] == bytes(12)
    assert struct.unpack_from("!HHHH", sel, 32) == (5436, 0xFFFF, 0, 0)
    assert struct.unpack_from("=HBBB", sel, 40) == (socket.AF_INET, 32, 32, IPPROTO_UDP)


def test_delete_and_dump_requests() -> None:
    msg = del_sa(IPv6Address("2001:db8::2"), 0x1234, 3)
    assert NLMSGHDR.unpack_from(msg)[1:4:2] == (XFRM_MSG_DELSA, 3)
    assert msg[16:] == IPv6Address("2001:db8::2").packed + bytes.fromhex("00001234") + struct.pack(
        "=HBx", socket.AF_INET6, IPPROTO_ESP
    )
    msg = del_policy(1, 4, index=0x99)
    assert NLMSGHDR.unpack_from(msg)[1] == XFRM_MSG_DELPOLICY
    assert struct.unpack_from("=IB", msg, 16 + 56) == (0x99, 1)
    assert dump_request(XFRM_MSG_GETSA, 8) == NLMSGHDR.pack(16, XFRM_MSG_GETSA, 0x301, 8, 0)


def _reply(kind: int, body: bytes, seq: int = 1) -> bytes:
    return NLMSGHDR.pack(16 + len(body), kind, 2, seq, 0) + body + b"\0" * (-len(body) % 4)


def test_dump_answers_are_read_back() -> None:
    own, peer = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")
    p = plan(_settings(str(peer)), own)
    sa_body = bytearray(new_sa(p.states[1], 1)[16:])
    struct.pack_into("=Q", sa_body, 96 + 64 + 8, 12)  # curlft.packets
    struct.pack_into("=I", sa_body, 192 + 8, 3)  # stats.integrity_failed
    pol_body = bytearray(new_policy(p.policies[1], 1)[16:])
    struct.pack_into("=I", pol_body, 156, 0x48)  # index
    data = (
        _reply(XFRM_MSG_NEWSA, bytes(sa_body))
        + _reply(XFRM_MSG_NEWPOLICY, bytes(pol_body))
        + _reply(2, struct.pack("=i", -17) + bytes(16), seq=9)
        + _reply(3, b"\0\0\0\0")
    )
    assert list(parse_dump(data)) == [
        SaRecord(peer, own, 0x100, IPPROTO_ESP, XFRM_TAG, 12, 3),
        PolicyRecord(0x48, 0, XFRM_TAG, IPv6Address(0), own),
        Ack(9, 17),
        None,
    ]


@pytest.mark.parametrize(
    "data",
    [
        NLMSGHDR.pack(15, 3, 0, 0, 0),  # length below the header
        NLMSGHDR.pack(40, 3, 0, 0, 0),  # overruns the read
        _reply(XFRM_MSG_NEWSA, bytes(100)),  # truncated xfrm_usersa_info
        _reply(XFRM_MSG_NEWPOLICY, bytes(USERPOLICY_INFO.size)),  # family 0
        _reply(2, b"\0\0"),
    ],
)
def test_malformed_kernel_answers_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        list(parse_dump(data))


def test_uci_sections_become_the_ipsec_table(tmp_path: Path) -> None:
    from mag_ap.openwrt.uci import UciError, parse_export, uci_to_config

    key = tmp_path / "out.key"
    key.write_text(KEY_OUT)
    key.chmod(0o600)
    text = (
        "package mag-ap\n\nconfig daemon 'daemon'\n\toption role 'mag'\n\n"
        "config mag 'main'\n\toption own_address '2001:db8:ffff::10'\n\n"
        "config ipsec 'ipsec'\n\toption mode 'static'\n\n"
        "config ipsec_peer\n\toption address '2001:db8:ffff::1'\n\toption spi_in '0x1001'\n"
        f"\toption spi_out '4098'\n\toption key_in '{KEY_IN}'\n\toption key_out_file '{key}'\n"
    )
    _tr, config = uci_to_config(parse_export(text))
    (peer,) = config.ipsec.peers
    assert (peer.spi_in, peer.spi_out) == (0x1001, 0x1002)
    assert (peer.key_in, peer.key_out) == (bytes.fromhex(KEY_IN), bytes.fromhex(KEY_OUT))
    with pytest.raises(UciError) as info:
        uci_to_config(parse_export(text.replace(KEY_IN, KEY_IN[:-1])))
    assert str(info.value).startswith("mag-ap.@ipsec_peer[0].key_in:")
