"""The per-MN RA scheduler, driven only by handle_timer(get_timer()) and inputs with ``now``."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address, IPv6Network

from mag_ap.mac import mac_bytes
from mag_ap_ra._packet import (
    ALL_NODES,
    ALL_ROUTERS,
    Frame,
    LinkMtu,
    PrefixInformation,
    RouterAdvertisement,
    RouterSolicitation,
    SourceLinkLayerAddress,
    decode_frame,
    encode_frame,
    multicast_mac,
    station_signal,
)
from mag_ap_ra._schedule import RaScheduler, RaSettings

MAG_MAC = mac_bytes("02:00:00:00:00:aa")
MN = "02:00:00:00:00:01"
MN2 = "02:00:00:00:00:02"
LL = IPv6Address("fe80::200:5eff:fe00:5213")
HNP = IPv6Network("2001:db8:1::/64")
SETTINGS = RaSettings(mac=MAG_MAC, link_local=LL, mtu=1460, interval_s=600.0)


def run_until(s: RaScheduler, end: float) -> list[tuple[float, Frame]]:
    """Fire every timer up to ``end``; the frames with the time they left."""
    out: list[tuple[float, Frame]] = []
    while (t := s.get_timer()) is not None and t <= end:
        s.handle_timer(t)
        out.extend((t, decode_frame(f)) for f in s.frames_to_send())
    return out


def ra_of(frame: Frame) -> RouterAdvertisement:
    assert isinstance(frame.message, RouterAdvertisement)
    return frame.message


def pio_of(frame: Frame) -> PrefixInformation:
    (pio,) = ra_of(frame).prefixes()
    return pio


def rs_frame(mac: str) -> bytes:
    rs = RouterSolicitation((SourceLinkLayerAddress(mac_bytes(mac)),))
    src = IPv6Address("fe80::1:2")
    return encode_frame(Frame(multicast_mac(ALL_ROUTERS), mac_bytes(mac), src, ALL_ROUTERS, rs))


def test_binding_up_sends_three_initial_ras_then_periodic_ones() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 3600, now=100.0, refresh=False)
    sent = run_until(s, 100.0 + 1300)
    assert [t - 100.0 for t, _ in sent] == [0.0, 1.0, 4.0, 604.0, 1204.0]
    for t, frame in sent:
        assert frame.dst_mac == mac_bytes(MN) and frame.src_mac == MAG_MAC
        assert (frame.src, frame.dst, frame.hop_limit) == (LL, ALL_NODES, 255)
        ra = ra_of(frame)
        assert ra.router_lifetime_s == 1800
        assert LinkMtu(1460) in ra.options
        assert ra.source_link_layer_address() == MAG_MAC
        remaining = 3600 - int(t - 100.0)
        assert pio_of(frame) == PrefixInformation(
            HNP.network_address, 64, True, True, remaining, remaining
        )
    assert s.counters["ra_sent"] == 5


def test_router_lifetime_is_capped_by_the_remaining_binding_lifetime() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 100, now=0.0, refresh=False)
    (_, first), *_ = run_until(s, 0.0)
    assert ra_of(first).router_lifetime_s == 100


def test_refresh_sends_one_ra_at_once_with_the_new_lifetime() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    run_until(s, 10.0)
    s.binding_up(MN, HNP, 3600, now=3000.0, refresh=True)
    sent = run_until(s, 3000.0)
    assert len(sent) == 1
    assert pio_of(sent[0][1]).valid_lifetime_s == 3600
    assert s.get_timer() == 3600.0


def test_binding_down_sends_three_withdrawals_then_forgets_the_node() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    run_until(s, 5.0)
    s.binding_down(MN, now=50.0)
    sent = run_until(s, 10_000.0)
    assert [t for t, _ in sent] == [50.0, 51.0, 54.0]
    for _, frame in sent:
        assert ra_of(frame).router_lifetime_s == 0
        pio = pio_of(frame)
        assert (pio.prefix, pio.valid_lifetime_s, pio.preferred_lifetime_s) == (
            HNP.network_address,
            0,
            0,
        )
    assert s.get_timer() is None
    assert s.status(60.0)["nodes"] == {}
    assert s.counters["withdrawals_sent"] == 3


def test_solicitation_from_a_bound_mn_is_answered_after_the_random_delay() -> None:
    s = RaScheduler(SETTINGS, random=lambda: 0.5)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    run_until(s, 5.0)
    s.frame_received(rs_frame(MN), now=10.0)
    s.frame_received(rs_frame(MN), now=10.1)  # the pending answer covers it
    sent = run_until(s, 11.0)
    assert [(t, f.dst_mac) for t, f in sent] == [(10.25, mac_bytes(MN))]
    assert s.counters["rs_answered"] == 2
    assert s.next_unknown_station() is None


def test_solicitation_from_an_unknown_mac_reports_it_once_per_holdoff() -> None:
    s = RaScheduler(SETTINGS)
    s.frame_received(rs_frame(MN2), now=0.0)
    s.frame_received(rs_frame(MN2), now=5.0)
    assert s.next_unknown_station() == MN2
    assert s.next_unknown_station() is None
    s.frame_received(rs_frame(MN2), now=10.0)
    assert s.next_unknown_station() == MN2
    assert s.frames_to_send() == [] and s.get_timer() is None


def test_a_withdrawn_mn_soliciting_again_is_an_unknown_station() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    s.binding_down(MN, now=1.0)
    run_until(s, 10.0)
    s.frame_received(rs_frame(MN), now=20.0)
    assert s.next_unknown_station() == MN


def test_bad_frames_are_counted_not_raised() -> None:
    s = RaScheduler(SETTINGS)
    s.frame_received(b"\x00" * 10, now=0.0)
    s.frame_received(rs_frame(MN)[:-3], now=0.0)
    s.frame_received(rs_frame("03:00:00:00:00:01"), now=0.0)  # group MAC as source
    assert s.counters["bad_frames"] == 3
    assert s.last_error is not None
    assert s.next_unknown_station() is None


def test_only_the_mns_own_prefix_goes_to_its_mac() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    s.binding_up(MN2, IPv6Network("2001:db8:2::/64"), 3600, now=0.0, refresh=False)
    sent = run_until(s, 0.0)
    by_mac = {f.dst_mac: [p.prefix for p in ra_of(f).prefixes()] for _, f in sent}
    assert by_mac == {
        mac_bytes(MN): [IPv6Address("2001:db8:1::")],
        mac_bytes(MN2): [IPv6Address("2001:db8:2::")],
    }


def test_a_new_prefix_withdraws_the_old_one_first() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    run_until(s, 5.0)
    new = IPv6Network("2001:db8:9::/64")
    s.binding_up(MN, new, 3600, now=10.0, refresh=False)
    sent = [decode_frame(f) for f in s.frames_to_send()] + [f for _, f in run_until(s, 10.0)]
    assert [(pio_of(f).prefix, pio_of(f).valid_lifetime_s) for f in sent] == [
        (HNP.network_address, 0),
        (new.network_address, 3600),
    ]
    assert s.advertised(MN) == new


def test_no_prefix_means_no_ra_and_a_non_64_prefix_is_not_autonomous() -> None:
    s = RaScheduler(SETTINGS)
    s.binding_up(MN, None, 3600, now=0.0, refresh=False)
    assert s.get_timer() is None
    s.binding_up(MN2, IPv6Network("2001:db8:40::/48"), 3600, now=0.0, refresh=False)
    (_, frame), *_ = run_until(s, 0.0)
    assert pio_of(frame).autonomous is False and pio_of(frame).on_link is True


def test_mtu_option_can_be_left_out() -> None:
    s = RaScheduler(RaSettings(mac=MAG_MAC, link_local=LL, mtu=None))
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    (_, frame), *_ = run_until(s, 0.0)
    assert not any(isinstance(o, LinkMtu) for o in ra_of(frame).options)


# --- stations that never send an RS: MLDv2 reports and DAD ------------------------------


def _frame(mac: str, next_header: int, hop_limit: int, *, src: str, dst: str, body: bytes) -> bytes:
    dst_mac = b"\x33\x33" + IPv6Address(dst).packed[-4:]
    ip = struct.pack(
        "!IHBB16s16s",
        6 << 28,
        len(body),
        next_header,
        hop_limit,
        IPv6Address(src).packed,
        IPv6Address(dst).packed,
    )
    return dst_mac + mac_bytes(mac) + b"\x86\xdd" + ip + body


def mld_report(mac: str) -> bytes:
    hop_by_hop = bytes([58, 0, 5, 2, 0, 0, 1, 0])  # Router Alert, PadN
    report = bytes([143, 0, 0, 0, 0, 0, 0, 1]) + bytes([4, 0, 0, 0]) + bytes(16)
    return _frame(mac, 0, 1, src="fe80::1:2", dst="ff02::16", body=hop_by_hop + report)


def dad(mac: str, src: str = "::") -> bytes:
    ns = bytes([135, 0, 0, 0, 0, 0, 0, 0]) + IPv6Address("fe80::1:2").packed
    return _frame(mac, 58, 255, src=src, dst="ff02::1:ff01:2", body=ns)


def test_station_signal_spots_mld_reports_and_dad_only() -> None:
    assert station_signal(mld_report(MN)) == (mac_bytes(MN), "mld-report")
    assert station_signal(dad(MN)) == (mac_bytes(MN), "dad")
    assert station_signal(dad(MN, src="fe80::1:2")) is None  # address resolution, not DAD
    assert station_signal(rs_frame(MN)) is None
    assert station_signal(mld_report(MN)[:60]) is None  # cut short
    assert station_signal(b"") is None
    multicast_source = bytearray(dad(MN))
    multicast_source[6] |= 1
    assert station_signal(bytes(multicast_source)) is None


def test_mld_report_or_dad_from_an_unknown_mac_reports_the_station() -> None:
    s = RaScheduler(SETTINGS)
    s.frame_received(mld_report(MN2), now=0.0)
    s.frame_received(dad(MN2), now=0.1)  # same station, within the hold-off
    assert s.next_unknown_station() == MN2
    assert s.next_unknown_station() is None
    assert s.counters["station_signals"] == 2 and s.counters["station_signals_unknown"] == 1
    assert s.counters["bad_frames"] == 0
    s.frame_received(dad("02:00:00:00:00:aa"), now=0.2)  # our own MAC
    assert s.next_unknown_station() is None


def test_dad_from_a_bound_mn_brings_its_ra_forward() -> None:
    """It came back or re-configures: no waiting for the periodic RA."""
    s = RaScheduler(SETTINGS, random=lambda: 0.5)
    s.binding_up(MN, HNP, 3600, now=0.0, refresh=False)
    run_until(s, 5.0)
    s.frame_received(dad(MN), now=10.0)
    sent = run_until(s, 11.0)
    assert [(t, f.dst_mac) for t, f in sent] == [(10.25, mac_bytes(MN))]
    assert s.next_unknown_station() is None
