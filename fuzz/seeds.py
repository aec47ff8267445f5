"""Write the seed corpus ``fuzz/corpus/<target>/`` from the golden vectors and examples.

``python -m fuzz.seeds`` rewrites it (files named by content hash); the seeds are
committed so ``make fuzz`` and ``tests/unit/test_fuzz_corpus.py`` start from the same
bytes. Regression inputs of fixed findings live beside them as ``regress-*``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path

from fuzz import TARGETS

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def _mh() -> Iterator[bytes]:
    from tests.unit.mh_vectors import MESSAGES

    for _, wire, _msg in MESSAGES:
        yield bytes.fromhex(wire.replace("|", "").replace(" ", ""))


def _dhcp4() -> Iterator[bytes]:
    from tests.unit.test_dhcp4_packet import DISCOVER, _offer_frame

    yield DISCOVER
    yield _offer_frame()


def _nd() -> Iterator[bytes]:
    from tests.unit.test_ra_packet import GOLDEN_RA, GOLDEN_RS

    yield GOLDEN_RA
    yield GOLDEN_RS


def _radius() -> Iterator[bytes]:
    from tests.unit.test_radius_policy import RFC2865_REQUEST, _accept

    yield RFC2865_REQUEST
    yield _accept()


def _netlink() -> Iterator[bytes]:
    from ipaddress import IPv4Address, IPv6Address

    from tests.unit.test_access_triggers import _nlmsg, link_msg, neigh_msg

    mac = bytes.fromhex("020000000001")
    yield link_msg(5, "mapA-mag", 2)
    yield neigh_msg(5, 2, IPv6Address("fe80::1").packed, mac)
    yield neigh_msg(5, 32, IPv4Address("10.0.0.2").packed, None)
    yield _nlmsg(2, struct.pack("=i", -22) + bytes(16)) + _nlmsg(3, struct.pack("=i", 0))


def _hostapd() -> Iterator[bytes]:
    from tests.unit.test_hostapd_events import MAC, STA_REPLY

    for event in ("AP-STA-CONNECTED", "AP-STA-DISCONNECTED", "CTRL-EVENT-EAP-SUCCESS"):
        yield f"<3>{event} {MAC}".encode()
    yield f"IFNAME=wlan0 <3>CTRL-EVENT-EAP-FAILURE {MAC}".encode()
    yield b"<3>CTRL-EVENT-TERMINATING "
    yield STA_REPLY.encode()


def _ubus() -> Iterator[bytes]:
    from tests.unit.test_ubus_notify import GET_CLIENTS, RECORDED

    yield "\n".join(RECORDED).encode()
    yield GET_CLIENTS.encode()


def _uci() -> Iterator[bytes]:
    yield (ROOT / "openwrt/net/mag-ap/files/mag-ap.config").read_bytes()


def _control() -> Iterator[bytes]:
    for request in ({"cmd": "status"}, {"cmd": "detach", "mac": "02:00:00:00:00:01"}):
        yield json.dumps(request).encode() + b"\n"
    yield b'{"cmd": "attach", "mac": 1}\n'


def _config() -> Iterator[bytes]:
    for name in ("mag.toml", "lma.toml"):  # without comments: they fit in max_len
        text = (ROOT / "examples" / name).read_text()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        yield "\n".join(lines).encode() + b"\n"


SOURCES = {
    "mh": _mh,
    "dhcp4": _dhcp4,
    "nd": _nd,
    "radius": _radius,
    "netlink": _netlink,
    "hostapd": _hostapd,
    "ubus": _ubus,
    "uci": _uci,
    "control": _control,
    "config": _config,
}


def main() -> None:
    """(Re)write the seeds; regression inputs (``regress-*``) are left alone."""
    assert SOURCES.keys() == TARGETS.keys()
    for name, source in SOURCES.items():
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for data in source():
            (folder / f"seed-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)


if __name__ == "__main__":
    main()
