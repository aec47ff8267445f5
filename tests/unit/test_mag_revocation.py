"""Binding revocation responder (RFC 5846) and the answers to unknown MH types."""

from __future__ import annotations

from mag_ap.core.types import BindingDown, BindingRejected
from mag_ap.mh import (
    BindingError,
    BindingErrorStatus,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    HandoffIndicator,
    HandoffIndicatorOption,
    MobileNodeIdentifier,
    ProxyBindingUpdate,
    RevocationStatus,
    RevocationTrigger,
    UnknownMessage,
    UpdateNotification,
    encode_message,
)
from tests.unit.mag_harness import (
    LMA,
    MAC,
    MAC2,
    MN_ID,
    MN_ID2,
    OTHER_HNP,
    OTHER_HOA,
    OTHER_LMA,
    Harness,
)


def bri(
    sequence: int = 77,
    mn_id: str | None = MN_ID,
    *,
    g: bool = False,
    trigger: RevocationTrigger = RevocationTrigger.ADMINISTRATIVE_REASON,
) -> bytes:
    options = (MobileNodeIdentifier.nai(mn_id),) if mn_id is not None else ()
    return encode_message(
        BindingRevocationIndication(trigger=trigger, sequence=sequence, g=g, options=options)
    )


def _last_handoff(h: Harness) -> HandoffIndicator:
    pbu = h.pbus()[-1].msg
    assert isinstance(pbu, ProxyBindingUpdate)
    hi = pbu.find(HandoffIndicatorOption)
    assert hi is not None
    return HandoffIndicator(hi.indicator)


def test_station_back_after_a_handover_bri_registers_with_hi_3() -> None:
    """The LMA said the MN moved to another MAG: when it comes back, that is a MAG change."""
    h = Harness.create()
    h.bind(0.0)
    h.receive(bri(5, trigger=RevocationTrigger.INTER_MAG_HANDOVER_SAME_ATT), 1.0)
    [down] = h.actions_of(BindingDown)
    assert down.reason == "revoked"
    assert h.mag.status(1.0)["bindings"] == []
    h.mag.detach(MAC, 2.0)  # the late departure (inactivity) finds nothing to de-register
    assert not [p for p in h.pbus() if isinstance(p.msg, ProxyBindingUpdate) and p.at == 2.0]
    h.attach(30.0)
    assert _last_handoff(h) == HandoffIndicator.MAG_CHANGE
    h.mag.detach(MAC, 31.0)
    h.attach(40.0)  # remembered once: a second visit is unknown again
    assert _last_handoff(h) == HandoffIndicator.UNKNOWN


def test_administrative_revocation_does_not_make_hi_3() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.receive(bri(5), 1.0)
    h.attach(30.0)
    assert _last_handoff(h) == HandoffIndicator.UNKNOWN


def test_bri_removes_the_binding_and_is_acknowledged() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.attach(0.0, mac=MAC2, mn_id=MN_ID2)
    h.accept(0.2)
    h.receive(bri(77), 5.0)
    [down] = h.actions_of(BindingDown)
    assert down.mac == MAC and down.reason == "revoked"
    [bra] = h.sent_of(BindingRevocationAcknowledgement)
    assert bra.sequence == 77 and bra.status == RevocationStatus.SUCCESS and bra.p
    assert bra.find(MobileNodeIdentifier) == MobileNodeIdentifier.nai(MN_ID)
    assert h.sent[-1].peer == LMA and h.sent[-1].at == 5.0
    assert [b["mac"] for b in h.mag.status(5.0)["bindings"]] == [MAC2]
    assert h.counter("bindings_revoked") == 1


def test_global_bri_removes_every_binding_of_that_lma_only() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.attach(0.0, mac=MAC2, mn_id=MN_ID2, lma_address=OTHER_LMA)
    h.accept(0.1, hnp=OTHER_HNP, hoa=OTHER_HOA)
    h.receive(bri(9, mn_id=None, g=True), 1.0)
    [bra] = h.sent_of(BindingRevocationAcknowledgement)
    assert bra.g and bra.status == RevocationStatus.SUCCESS
    assert [d.mac for d in h.actions_of(BindingDown)] == [MAC]
    assert [(b["mac"], b["state"]) for b in h.mag.status(1.0)["bindings"]] == [(MAC2, "bound")]


def test_bri_for_an_unknown_mn_is_answered_binding_does_not_exist() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.receive(bri(3, mn_id="stranger@example.net"), 1.0)
    [bra] = h.sent_of(BindingRevocationAcknowledgement)
    assert bra.status == RevocationStatus.BINDING_DOES_NOT_EXIST and bra.sequence == 3
    assert h.actions_of(BindingDown) == []


def test_bri_from_another_lma_does_not_remove_our_binding() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.receive(bri(4), 1.0, src=OTHER_LMA)
    [bra] = h.sent_of(BindingRevocationAcknowledgement)
    assert bra.status == RevocationStatus.BINDING_DOES_NOT_EXIST
    assert h.binding()["state"] == "bound"


def test_bri_without_an_identity_asks_for_one() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.receive(bri(5, mn_id=None), 1.0)
    [bra] = h.sent_of(BindingRevocationAcknowledgement)
    assert bra.status == RevocationStatus.REVOKED_MN_IDENTITY_REQUIRED
    assert h.binding()["state"] == "bound"


def test_bri_during_registration_ends_it_as_rejected() -> None:
    h = Harness.create()
    h.attach(0.0)
    h.receive(bri(6), 0.5)
    [rejected] = h.actions_of(BindingRejected)
    assert rejected.status is None and "revoked" in rejected.reason
    assert h.mag.get_timer() is None


def test_unknown_mh_type_is_answered_with_binding_error_2() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.receive(encode_message(UnknownMessage(type_number=99, data=bytes(2))), 1.0)
    [error] = h.sent_of(BindingError)
    assert error.status == BindingErrorStatus.UNRECOGNIZED_MH_TYPE
    assert h.sent[-1].peer == LMA
    assert h.counter("mh_unknown_type") == 1 and h.counter("binding_errors_sent") == 1
    assert h.binding()["state"] == "bound"


def test_known_messages_a_mag_does_not_handle_are_counted() -> None:
    h = Harness.create()
    h.bind(0.0)
    h.receive(encode_message(UpdateNotification(sequence=1)), 1.0)
    h.receive(encode_message(BindingError(status=1)), 1.0)
    assert h.counter("mh_unexpected") == 1 and h.counter("binding_errors_received") == 1
    assert h.sent_of(BindingError) == []
    assert h.binding()["state"] == "bound"
