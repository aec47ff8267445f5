"""`mag-ap mh decode` / `mag-ap mh encode`: the operator's view of a captured packet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.mh_vectors import MESSAGES, hex_bytes

MAG_AP = Path(sys.executable).parent / "mag-ap"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MAG_AP), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("wire", [m[1] for m in MESSAGES], ids=[m[0] for m in MESSAGES])
def test_decode_then_encode_gives_the_same_bytes(wire: str) -> None:
    hex_in = hex_bytes(wire).hex()
    decoded = run("mh", "decode", hex_in)
    assert decoded.returncode == 0, decoded.stderr
    view = json.loads(decoded.stdout)
    assert "message" in view
    encoded = run("mh", "encode", stdin=decoded.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.strip() == hex_in


def test_decode_shows_fields_in_operator_units() -> None:
    full_pbu = hex_bytes(MESSAGES[-1][1]).hex(":")  # pasted with colons, as tshark -x shows bytes
    out = run("mh", "decode", "-", stdin=full_pbu)
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["message"] == "ProxyBindingUpdate"
    assert view["lifetime_s"] == 3600
    opts = {o["option"]: o for o in view["options"]}
    assert opts["MobileNodeIdentifier"] == {
        "option": "MobileNodeIdentifier",
        "subtype": "NAI",
        "identifier": "mn1@ex.org",
    }
    assert opts["HomeNetworkPrefix"]["prefix"] == "2001:db8:1::"
    assert opts["GREKey"]["key"] == 42


def test_encode_from_a_hand_written_json_adds_the_padding() -> None:
    view = {
        "message": "ProxyBindingUpdate",
        "sequence": 1,
        "lifetime_s": 3600,
        "options": [
            {"option": "MobileNodeIdentifier", "identifier": "mn1@ex.org"},
            {"option": "HomeNetworkPrefix", "prefix_length": 64, "prefix": "2001:db8:1::"},
            {"option": "HandoffIndicatorOption", "indicator": "NEW_INTERFACE"},
            {"option": "AccessTechnologyTypeOption", "access_technology": 4},
            {"option": "Timestamp", "seconds": 1700000000, "fraction": 32768},
            {"option": "MNLinkLayerIdentifier", "link_layer_identifier": "020000000001"},
            {"option": "IPv4HomeAddressRequest"},
            {"option": "GREKey", "key": 42},
        ],
    }
    out = run("mh", "encode", stdin=json.dumps(view))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == hex_bytes(MESSAGES[-1][1]).hex()


def test_decode_error_names_the_offset() -> None:
    out = run("mh", "decode", "3b01050000000001c20000001605 0000")
    assert out.returncode == 1
    assert "offset 13" in out.stderr
    assert out.stdout == ""


def test_not_hex_is_refused() -> None:
    out = run("mh", "decode", "zz")
    assert out.returncode == 2
    assert "not hex" in out.stderr


@pytest.mark.parametrize(
    ("view", "path"),
    [
        ({"message": "Nope"}, "$.message"),
        ({"message": "Heartbeat", "sequence": "x"}, "$.sequence"),
        ({"message": "Heartbeat", "bogus": 1}, "bogus"),
        ({"message": "ProxyBindingUpdate", "options": [{"option": "GREKey", "key": -1}]}, ""),
        (
            {
                "message": "ProxyBindingUpdate",
                "options": [{"option": "LinkLocalAddress", "address": "x"}],
            },
            "$.options[0].address",
        ),
    ],
)
def test_bad_json_is_refused_with_its_path(view: dict[str, object], path: str) -> None:
    out = run("mh", "encode", stdin=json.dumps(view))
    assert out.returncode == 1
    assert path in out.stderr
    assert "Traceback" not in out.stderr


def test_stdin_not_json() -> None:
    out = run("mh", "encode", stdin="{")
    assert out.returncode == 2
    assert "not JSON" in out.stderr
