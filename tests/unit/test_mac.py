"""The one MAC parser: every spelling the plugins meet, one canonical form, one refusal."""

from __future__ import annotations

import pytest

from mag_ap.config import ConfigError
from mag_ap.config import normalize_mac as config_mac
from mag_ap.mac import mac_bytes, mac_text, normalize_mac, parse_mac

GOOD = [
    "02-00-00-00-00-01",  # RADIUS Calling-Station-Id (RFC 3580)
    "02:00:00:00:00:01",  # hostapd, ubus, ip link
    "02:00:00:00:00:01".upper(),
    "0200.0000.0001",  # Cisco dots
    "020000000001",
    " 02-00-00-00-00-01 ",
]
BAD = ["", "02-00-00-00-00", "zz:00:00:00:00:01", "alice", "02:00-00:00:00:01", "0200.00000001",
       "02:00:00:00:00:01:02", "02:00:00:00:00:0"]  # fmt: skip


@pytest.mark.parametrize("text", GOOD)
def test_every_usual_spelling_is_one_mac(text: str) -> None:
    assert parse_mac(text) == normalize_mac(text) == "02:00:00:00:00:01"
    assert mac_bytes(text) == bytes.fromhex("020000000001")
    assert config_mac(text, "x.mac") == "02:00:00:00:00:01"


@pytest.mark.parametrize("text", BAD)
def test_anything_else_is_refused_alike(text: str) -> None:
    assert parse_mac(text) is None
    with pytest.raises(ValueError, match="not a MAC address"):
        normalize_mac(text)
    with pytest.raises(ValueError, match="not a 48-bit MAC address"):
        mac_bytes(text)
    with pytest.raises(ConfigError, match=r"x\.mac: .* is not a MAC address"):
        config_mac(text, "x.mac")


def test_non_text_is_no_mac() -> None:
    assert parse_mac(None) is None and parse_mac(0x020000000001) is None


def test_bytes_round_trip() -> None:
    assert mac_text(mac_bytes("02:00:00:00:00:AA")) == "02:00:00:00:00:aa"
