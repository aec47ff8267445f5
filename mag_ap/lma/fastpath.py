"""The LMA's fast path: an accepted PBU of the common shape, handled on its bytes.

Nearly every PBU an LMA sees is a registration or a refresh from a MAG it
knows that passes every check: decoding it into frozen option objects and
encoding the PBA from objects was most of the LMA's CPU. This module walks
the option area once with precompiled structs, runs the same checks on plain
integers, updates the binding cache and pools through their own methods, and
writes the PBA by appending option bodies at their alignment.

It only ever handles what it is sure ends in an accepted PBA. Anything else
(an unknown or unusual option, a failing check, a handover, a
de-registration, a binding being revoked or deleted, a refused address, a MAG
heard for the first time) returns False *before* any visible change, and
:class:`~mag_ap.lma.protocol.LmaProtocol` runs its general path on the same
bytes: the general codec stays the reference. Pool allocations done before
such a decline are idempotent for the same MN, so the general path redoes
them with the same result. ``tests/unit/test_lma_fastpath.py`` checks the two
paths byte for byte (datagrams, actions, counters, status).
"""

from __future__ import annotations

import math
import struct
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ..core.sequence import sequence_newer
from ..core.types import Address, Datagram, LmaSettings, MobileRouteUp
from ..mh.constants import IPPROTO_NONE, LIFETIME_UNIT_S, MHType, OptionType
from ..mh.options import MobileNodeIdentifier
from .cache import (
    EMPTY_RECORD,
    FLAGS,
    GRE_FROM_MAG,
    GRE_TO_MAG,
    HANDOVERS,
    HAS_GRE_FROM,
    HAS_GRE_TO,
    HAS_HNP,
    HAS_IPV4,
    HNP,
    HNP_LENGTH,
    IPV4,
    IPV4_LENGTH,
    RECORD,
    REGISTRATIONS,
    SEQUENCE,
    TIMER_AT,
    TIMESTAMP_TICKS,
    BceState,
    BindingCacheEntry,
)
from .pbu_checks import timestamp_outside_window

if TYPE_CHECKING:
    from .peers import PeerState
    from .protocol import LmaProtocol

_FIXED = struct.Struct("!HHH")  # PBU: sequence, flags, lifetime (4 s units)
_PBA_HEAD = struct.Struct("!BBBBHBBHH")  # MH header + PBA fixed part
_U32 = struct.Struct("!I")
_SEQ_LIFE = struct.Struct("!HH")  # PBA sequence and lifetime (4 s units), at offset 8
_GRANT, _ECHO = 1, 2  # how the PBA's HNP option is filled: the grant, or the PBU's as sent
#: A PBA template and the offsets of mnid, hnp, hi, att, llid, ts, gre and v4 values (-1: none).
_Layout = tuple[bytes, int, int, int, int, int, int, int, int]
_HEAD_LEN = 12  # MH header (6) + PBU/PBA fixed part (6): where options start
_FLAG_P = 0x0200  # PBU Proxy Registration flag
_FLAG_T = 0x0080  # PBU TLV-header format flag (RFC 5845), echoed on accept
_PBA_P = 0x20
_PBA_T = 0x10
_NAI = 1  # MN-ID subtype
_PADS = (b"", b"\x00", *(bytes((1, n - 2)) + bytes(n - 2) for n in range(2, 8)))  # Pad1/PadN
_ZERO16 = bytes(16)
_NAN = float("nan")
_NEW_RECORD = RECORD.unpack(EMPTY_RECORD)

_T_MNID = OptionType.MOBILE_NODE_IDENTIFIER.value
_T_HNP = OptionType.HOME_NETWORK_PREFIX.value
_T_HI = OptionType.HANDOFF_INDICATOR.value
_T_ATT = OptionType.ACCESS_TECHNOLOGY_TYPE.value
_T_LLID = OptionType.MN_LINK_LAYER_IDENTIFIER.value
_T_TS = OptionType.TIMESTAMP.value
_T_GRE = OptionType.GRE_KEY.value
_T_V4REQ = OptionType.IPV4_HOME_ADDRESS_REQUEST.value
_T_V4REP = OptionType.IPV4_HOME_ADDRESS_REPLY.value
_T_V4DR = OptionType.IPV4_DEFAULT_ROUTER_ADDRESS.value
_T_SSEL = OptionType.SERVICE_SELECTION.value
_T_V4COA = OptionType.IPV4_CARE_OF_ADDRESS.value
_T_PADN = OptionType.PADN.value
_MH_PBU = MHType.BINDING_UPDATE.value
_MH_PBA = MHType.BINDING_ACKNOWLEDGEMENT.value


#: LmaSettings fields whose effect on accepting a PBU this path reproduces (or which do not
#: change it). A knob added later turns the fast path off until it is reviewed here and
#: added to the settings the byte-for-byte test runs with (a unit test notices).
KNOWN_SETTINGS = frozenset(
    {
        "own_address",
        "hnp_pool",
        "hnp_length",
        "ipv4_pool",
        "authorized_mags",
        "max_lifetime_s",
        "min_delay_before_bce_delete_s",
        "max_delay_before_new_bce_assign_s",
        "timestamp_validity_window_s",
        "use_timestamps",
        "gre_keys",
        "heartbeat_interval_s",
        "missing_heartbeats_allowed",
        "restart_counter",
        "pba_timestamps",  # honoured when the PBA is written
        "echo_requested_hnp",  # honoured when the PBA is written
        "heartbeats",  # honoured by LmaProtocol._start_heartbeats
        "revocation",  # revocation only: no effect on accepting a PBU
    }
)


def supports(settings: LmaSettings) -> bool:
    """Has every knob of ``settings`` been reviewed for the fast path?"""
    return {f.name for f in fields(settings)} <= KNOWN_SETTINGS


def _mask6(length: int) -> int:
    """The netmask of an IPv6 prefix length, as an integer."""
    return ((1 << length) - 1) << (128 - length)


def _append(out: bytearray, opt_type: int, body: bytes, x: int, y: int) -> int:
    """One option at MH offset ``len(out)``, after the padding its ``xn+y`` rule needs;
    the offset of its body."""
    out += _PADS[(y - len(out)) % x]
    out.append(opt_type)
    out.append(len(body))
    at = len(out)
    out += body
    return at


class FastPbuPath:
    """Accepted registrations and same-MAG refreshes of one :class:`LmaProtocol`."""

    __slots__ = ("_layouts", "_lma", "_peer", "_src", "_v4_len", "_v4_router", "handled")

    def __init__(self, lma: LmaProtocol) -> None:
        self._lma = lma
        pool = lma._ipv4_pool
        self._v4_router = b"" if pool is None else pool.default_router.packed
        self._v4_len = 0 if pool is None else pool.prefix_length
        self._src: Address | None = None  # the last PBU's source and its PeerState:
        self._peer: PeerState | None = None  # (hashing an address object costs ~1 us)
        self.handled = 0  # PBUs this path answered (the rest went the general way)
        self._layouts: dict[tuple[int, ...], _Layout] = {}  # PBA templates by shape

    def _layout(self, shape: tuple[int, ...]) -> _Layout:
        """The PBA of one shape with every variable byte zero, and where those bytes go.

        Options in the order and alignment of the general encoder; a shape is the
        sizes and presence of the options (a handful per LMA), so this runs rarely.
        """
        mnid_size, hnp_mode, hnp_len, llid_size, stamp, gre, v4_len, t_flag = shape
        out = bytearray(_HEAD_LEN)
        at_mnid = _append(out, _T_MNID, bytes(mnid_size), 1, 0)
        at_hnp = -1
        if hnp_mode:
            at_hnp = _append(out, _T_HNP, bytes((0, hnp_len)) + _ZERO16, 8, 4) + 1
        at_hi = _append(out, _T_HI, bytes(2), 1, 0) + 1
        at_att = _append(out, _T_ATT, bytes(2), 1, 0) + 1
        at_llid = -1
        if llid_size >= 0:
            at_llid = _append(out, _T_LLID, bytes(llid_size), 1, 0) + 2
        at_ts = _append(out, _T_TS, bytes(8), 8, 2) if stamp else -1
        at_gre = _append(out, _T_GRE, bytes(6), 4, 0) + 2 if gre else -1
        at_v4 = -1
        if v4_len >= 0:
            at_v4 = _append(out, _T_V4REP, bytes((0, v4_len << 2)) + bytes(4), 4, 0) + 2
            _append(out, _T_V4DR, b"\x00\x00" + self._v4_router, 4, 0)
        out += _PADS[-len(out) % 8]
        pba_flags = _PBA_P | (_PBA_T if t_flag else 0)
        _PBA_HEAD.pack_into(
            out, 0, IPPROTO_NONE, len(out) // 8 - 1, _MH_PBA, 0, 0, 0, pba_flags, 0, 0
        )
        layout = (bytes(out), at_mnid, at_hnp, at_hi, at_att, at_llid, at_ts, at_gre, at_v4)
        self._layouts[shape] = layout
        return layout

    def handle(self, data: bytes, src: Address, now: float, received_at: float) -> bool:
        """Answer ``data`` if it is a PBU this path is sure to accept; False leaves no trace.

        The Timestamp is judged at ``received_at`` (arrival) with the general path's
        own check, so both paths accept and refuse the same PBUs.
        """
        n = len(data)
        if n < 16 or data[2] != _MH_PBU or (data[1] + 1) * 8 != n:
            return False
        sequence, flags, life = _FIXED.unpack_from(data, 6)
        if not flags & _FLAG_P or not life:
            return False  # not proxy, or a de-registration: the general path
        mnid = hnp = hi = att = llid = ts = gre = v4 = -1
        mnid_end = llid_end = 0
        pos = _HEAD_LEN
        while pos < n:
            t = data[pos]
            if not t:  # Pad1
                pos += 1
                continue
            if pos + 2 > n:
                return False
            body = pos + 2
            end = body + data[pos + 1]
            if end > n:
                return False
            size = end - body
            if t == _T_MNID:
                if size < 2:
                    return False
                if mnid < 0:
                    mnid, mnid_end = body, end
            elif t == _T_HNP:
                if size != 18 or data[body + 1] > 128:
                    return False
                if hnp < 0:
                    hnp = body
            elif t == _T_HI:
                if size != 2:
                    return False
                if hi < 0:
                    hi = body
            elif t == _T_ATT:
                if size != 2:
                    return False
                if att < 0:
                    att = body
            elif t == _T_LLID:
                if size < 3:
                    return False
                if llid < 0:
                    llid, llid_end = body, end
            elif t == _T_TS:
                if size != 8:
                    return False
                if ts < 0:
                    ts = body
            elif t == _T_GRE:
                if size != 6:
                    return False
                if gre < 0:
                    gre = body
            elif t == _T_V4REQ:
                if size != 6 or data[body] >> 2 > 32:
                    return False
                if v4 < 0:
                    v4 = body
            elif t == _T_PADN or (t == _T_SSEL and size) or (t == _T_V4COA and size == 6):
                pass  # decoded and ignored by the LMA
            else:
                return False  # anything else (Link-local Address too): the general path
            pos = end
        if mnid < 0 or hi < 0 or att < 0 or (hnp < 0 and v4 < 0):
            return False
        lma = self._lma
        if src is self._src:  # peers are never removed: the same object is the same peer
            peer = self._peer
        else:
            peer = lma._peers.get(src)
            if peer is not None:
                self._src, self._peer = src, peer
        if peer is None or not peer.authorized:
            return False
        raw_id = data[mnid + 1 : mnid_end]
        subtype = data[mnid]
        if subtype == _NAI:
            try:
                mn_id = raw_id.decode("utf-8")
            except UnicodeDecodeError:
                return False
        else:
            mn_id = f"{subtype}:{raw_id.hex()}"
        entry = lma._cache.get(mn_id)
        # The entry's numbers, unpacked once (see cache.RECORD); None fields as None.
        held_hnp: int | None = None
        held_v4: int | None = None
        held_key_from: int | None = None
        held_key_to: int | None = None
        held_ticks: int | None = None
        rec: tuple[Any, ...] = _NEW_RECORD
        if entry is not None:
            if entry.state is not BceState.REGISTERED or entry.mag != src:
                return False  # handover, de-registered or being revoked: the general path
            mn_id = entry.mn_id  # one string per MN, kept by the cache and the pools
            rec = RECORD.unpack(entry.record)
            has = rec[FLAGS]
            if has & HAS_HNP:
                held_hnp = int.from_bytes(rec[HNP], "big")
            if has & HAS_IPV4:
                held_v4 = rec[IPV4]
            if has & HAS_GRE_FROM:
                held_key_from = rec[GRE_FROM_MAG]
            if has & HAS_GRE_TO:
                held_key_to = rec[GRE_TO_MAG]
            if rec[TIMESTAMP_TICKS] >= 0:
                held_ticks = rec[TIMESTAMP_TICKS]
        settings = lma.settings
        ticks = -1
        if ts >= 0:
            ticks = int.from_bytes(data[ts : ts + 8], "big")
        if settings.use_timestamps:
            if ticks < 0:
                return False
            unix_s = (ticks >> 16) + (ticks & 0xFFFF) / 65536
            window_s = settings.timestamp_validity_window_s
            if timestamp_outside_window(unix_s, lma.unix_time_s(received_at), window_s):
                return False
            if held_ticks is not None and ticks < held_ticks:
                return False
        elif entry is not None and not sequence_newer(sequence, rec[SEQUENCE]):
            return False

        # Grant: the pools' own methods, each idempotent for this MN if we decline after it.
        # Prefixes and addresses stay integers; objects are made for route actions only.
        hnp_at: int | None = None  # network address of the granted HNP
        hnp_len = 0
        if hnp >= 0:
            pool = lma._hnp_pool
            if pool is None:
                return False
            hnp_len = pool.prefix_length
            prefix = data[hnp + 2 : hnp + 18]
            if prefix == _ZERO16:
                hnp_at = pool.allocate_address(mn_id, held_hnp)
                if hnp_at is None:
                    return False
            else:
                held = held_hnp
                if held is None:
                    return False  # a wish for a given prefix: the general path claims it
                wanted6 = int.from_bytes(prefix, "big") & _mask6(hnp_len)
                if data[hnp + 1] != hnp_len or wanted6 != held or not pool.holds(mn_id, held):
                    return False
                hnp_at = held
        v4_at: int | None = None  # the granted IPv4 home address
        v4_len = 0
        if v4 >= 0:
            v4_pool = lma._ipv4_pool
            if v4_pool is None:
                return False
            v4_len = self._v4_len
            wanted = int.from_bytes(data[v4 + 2 : v4 + 6], "big")
            if not wanted:
                v4_at = v4_pool.allocate_address(mn_id, held_v4)
            elif held_v4 == wanted and v4_pool.holds(mn_id, wanted):
                v4_at = held_v4
            if v4_at is None:
                return False  # refused or a specific wish: the general path says so
        key_from: int | None = None
        key_to: int | None = None
        if gre >= 0 and settings.gre_keys:
            key_from = lma._gre_keys.allocate(mn_id)
            key_to = _U32.unpack_from(data, gre + 2)[0]
        if entry is not None and (
            (held_hnp is not None and held_hnp != hnp_at)
            or (held_v4 is not None and held_v4 != v4_at)
            or (held_key_from is not None and held_key_from != key_from)
        ):
            return False  # the refresh gives something back: the general path releases it

        # Commit: from here on this path answers the PBU.
        counters = lma.counters
        counters["pbu_received"] += 1
        peer.last_seen_at = now
        if entry is None:
            option = (
                None
                if subtype == _NAI
                else MobileNodeIdentifier.decode_body(data[mnid:mnid_end], mnid)
            )
            entry = BindingCacheEntry(mn_id, option, src)
            lma._cache.add(entry)
            counters["registrations"] += 1
            route_changed = True
        else:
            counters["refreshes"] += 1
            route_changed = (
                (held_hnp is None) != (hnp_at is None)
                or (held_v4 is None) != (v4_at is None)
                or held_key_from != key_from
                or held_key_to != key_to
            )
        lifetime_s = life * LIFETIME_UNIT_S
        # min() returns its first argument on a tie: one int object, not one per binding
        lifetime_s = min(lma._max_lifetime_s, lifetime_s)
        expires_at = now + lifetime_s
        flags_out = (
            (HAS_HNP if hnp_at is not None else 0)
            | (HAS_IPV4 if v4_at is not None else 0)
            | (HAS_GRE_FROM if key_from is not None else 0)
            | (HAS_GRE_TO if key_to is not None else 0)
        )
        # One record for every number this registration sets (the general path's fields).
        entry.record = RECORD.pack(
            expires_at,
            _NAN,  # deregistered_at
            expires_at,  # timer_at: the wheel learns it below
            ticks if ticks >= 0 else rec[TIMESTAMP_TICKS],
            rec[HNP] if hnp_at is None else hnp_at.to_bytes(16, "big"),
            v4_at if v4_at is not None else rec[IPV4],
            key_to if key_to is not None else rec[GRE_TO_MAG],
            key_from if key_from is not None else rec[GRE_FROM_MAG],
            lifetime_s,
            rec[REGISTRATIONS] + 1,
            rec[HANDOVERS],
            sequence,
            hnp_len if hnp_at is not None else rec[HNP_LENGTH],
            v4_len if v4_at is not None else rec[IPV4_LENGTH],
            data[att + 1],
            data[hi + 1],
            flags_out,
        )
        if llid >= 0:
            entry.link_layer_id = data[llid + 2 : llid_end]
        old_deadline = rec[TIMER_AT]
        lma._expiry.moved(entry, None if math.isnan(old_deadline) else old_deadline, expires_at)
        lma._start_heartbeats(peer, now)
        if route_changed:
            lma._actions.append(
                MobileRouteUp(
                    mn_id=mn_id,
                    mag=src,
                    hnp=None,
                    ipv4_hoa=None,
                    gre_key_to_mag=key_to,
                    gre_key_from_mag=key_from,
                    hnp_address=hnp_at,
                    hnp_length=hnp_len,
                    ipv4_address=v4_at,
                    ipv4_length=v4_len,
                )
            )

        # The PBA: the template of its shape (options, padding, header constants), filled in.
        hnp_mode = (
            (_ECHO if settings.echo_requested_hnp else _GRANT)
            if hnp >= 0 and (hnp_at is not None or settings.echo_requested_hnp)
            else 0
        )
        stamp = ts >= 0 and settings.pba_timestamps
        shape = (
            mnid_end - mnid,
            hnp_mode,
            hnp_len,
            llid_end - llid if llid >= 0 else -1,
            stamp,
            key_from is not None,
            v4_len if v4_at is not None else -1,
            flags & _FLAG_T,
        )
        layout = self._layouts.get(shape)
        if layout is None:
            layout = self._layout(shape)
        template, at_mnid, at_hnp, at_hi, at_att, at_llid, at_ts, at_gre, at_v4 = layout
        out = bytearray(template)
        out[at_mnid : at_mnid + shape[0]] = data[mnid:mnid_end]
        if hnp_mode == _ECHO:
            out[at_hnp : at_hnp + 17] = data[hnp + 1 : hnp + 18]
        elif hnp_mode:
            assert hnp_at is not None
            out[at_hnp + 1 : at_hnp + 17] = hnp_at.to_bytes(16, "big")
        out[at_hi] = data[hi + 1]
        out[at_att] = data[att + 1]
        if at_llid >= 0:
            out[at_llid : llid_end - llid - 2 + at_llid] = data[llid + 2 : llid_end]
        if stamp:
            out[at_ts : at_ts + 8] = data[ts : ts + 8]
        if key_from is not None:
            _U32.pack_into(out, at_gre, key_from)
        if v4_at is not None:
            _U32.pack_into(out, at_v4, v4_at)
        _SEQ_LIFE.pack_into(out, 8, sequence, lifetime_s // LIFETIME_UNIT_S)
        counters["pba_sent_accepted"] += 1
        lma._outbox.append(Datagram(bytes(out), src))
        self.handled += 1
        return True


__all__ = ["FastPbuPath"]
