"""The pure ubus mapping: status answers survive blobmsg unchanged; the rest is made safe."""

from __future__ import annotations

import json
import math

import pytest

from mag_ap.openwrt.ubus_status import INT64_MAX, INT64_MIN, LIST_REPLY, error_reply, to_ubus


def test_a_status_answer_is_unchanged() -> None:
    answer = {
        "ok": True,
        "role": "mag",
        "status": {"bindings": [{"mac": "02:00:00:00:00:01", "lifetime_s": 3600,
                                 "hnp": None, "gre": False, "left_s": 12.5}], "peers": []},
        "runtime": {"pid": 1, "plugins": ["mag_ap_localpolicy"]},
    }  # fmt: skip
    assert to_ubus(answer) == answer
    assert json.dumps(to_ubus(answer)) == json.dumps(answer)  # same key order too


def test_values_blobmsg_cannot_hold_are_made_safe() -> None:
    answer = {
        "big": INT64_MAX + 1,
        "small": INT64_MIN - 1,
        "edge": INT64_MAX,
        "nan": math.nan,
        "inf": [math.inf],
        "tuple": (1, 2),
        "obj": object.__new__(type("Odd", (), {"__str__": lambda self: "odd"})),
    }
    safe = to_ubus(answer)
    assert safe["big"] == str(INT64_MAX + 1) and safe["small"] == str(INT64_MIN - 1)
    assert safe["edge"] == INT64_MAX
    assert safe["nan"] is None and safe["inf"] == [None]
    assert safe["tuple"] == [1, 2]
    assert safe["obj"] == "odd"  # default=str, as `mag-ap status --json` prints it
    json.dumps(safe, allow_nan=False)


def test_non_object_answers_and_errors() -> None:
    assert to_ubus([1, 2]) == {"ok": False, "error": "daemon answered a list, not an object"}
    assert error_reply("x") == {"ok": False, "error": "x"}
    assert json.loads(json.dumps(LIST_REPLY)) == {"status": {"lma": True}}


def test_one_walk_no_json_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """rpcd decodes the socket's answer once and encodes the reply once; to_ubus adds no pass."""
    rows = [{"mac": f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}", "lifetime_s": 3600, "left_s": 1.5}
            for i in range(2000)]  # fmt: skip
    answer = {"ok": True, "status": {"bindings": rows, 2: "two", None: "none", False: "no"}}
    expected = json.loads(json.dumps(answer))

    def no_json(*args: object, **kwargs: object) -> None:
        raise AssertionError("to_ubus must not go through JSON")

    monkeypatch.setattr(json, "dumps", no_json)
    monkeypatch.setattr(json, "loads", no_json)
    safe = to_ubus(answer)
    monkeypatch.undo()
    assert safe == expected  # keys spelt as json.dumps spells them
