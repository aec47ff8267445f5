"""MN-ID text <-> option, and an EUI-48 MN-ID registered end to end (in memory)."""

from __future__ import annotations

from ipaddress import IPv6Address

from lab.simdomain import Domain
from mag_ap.core.mn_id import mn_identifier_option, mn_key
from mag_ap.core.types import BindingUp, MobileNodeProfile
from mag_ap.mh import MNIdentifierSubtype, MobileNodeIdentifier, ProxyBindingUpdate, decode_message
from mag_ap_macnai import MacNaiSettings, mac_nai


def test_an_nai_stays_an_nai() -> None:
    opt = mn_identifier_option("alice@example.net")
    assert opt == MobileNodeIdentifier.nai("alice@example.net")
    assert mn_key(opt) == "alice@example.net"


def test_the_eui48_spelling_becomes_subtype_5() -> None:
    opt = mn_identifier_option("5:020000000001")
    assert opt.subtype == MNIdentifierSubtype.EUI_48
    assert opt.identifier == bytes.fromhex("020000000001")
    assert mn_key(opt) == "5:020000000001"


def test_text_that_is_not_subtype_colon_octets_is_an_nai() -> None:
    for text in ("9:0200", "5:02000000000", "5:ZZ", "user@5:0200", "5:"):
        assert mn_identifier_option(text) == MobileNodeIdentifier.nai(text)


def test_eui48_identity_registers_as_subtype_5_and_the_pba_matches() -> None:
    mn_id = mac_nai("02:00:00:00:00:01", MacNaiSettings(format="eui48"))
    assert mn_id == "5:020000000001"
    d = Domain()
    lma = d.add_lma("2001:db8:ff::1")
    mag = d.add_mag("2001:db8:ff::11")
    profile = MobileNodeProfile(mn_id=mn_id, lma_address=IPv6Address("2001:db8:ff::1"))
    mag.attach("02:00:00:00:00:01", profile, d.now)
    d.run_for(1)
    pbu = decode_message(d.sent[0][3])
    assert isinstance(pbu, ProxyBindingUpdate)
    sent_id = pbu.find(MobileNodeIdentifier)
    assert sent_id is not None and sent_id.subtype == MNIdentifierSubtype.EUI_48
    assert [
        a.mn_id for a in d.actions[IPv6Address("2001:db8:ff::11")] if isinstance(a, BindingUp)
    ] == [mn_id]
    assert [b["mn_id"] for b in lma.status(d.now)["bindings"]] == [mn_id]
