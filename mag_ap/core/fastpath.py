"""The MAG's fast path for refreshes, on bytes: the PBA that changes nothing, the PBU template.

With 40,000 bindings nearly every PBA is the answer to a refresh that grants
exactly what the binding already holds (same prefix, home address, router, GRE
key and lifetime). Decoding it into option objects and re-running every
``pba_checks`` check was most of the MAG's refresh CPU, although those values
were checked when they were first granted and are held as ints. So:

* :func:`parse_refresh_pba` reads an accepted (status 0) PBA's fields as ints
  in one walk of the option area, and only for options whose layout it knows
  exactly (anything else: None, and the general codec decides);
* :func:`matches_held` says whether those ints are the ones the entry holds,
  so that accepting them is the same as re-granting checked values (DESIGN.md
  rule 8: nothing unchecked reaches the kernel, and nothing new does here);
* :class:`PbuTemplates` writes a refresh PBU into a copy of the bytes encoded
  for the first binding of the same shape, filling in the per-binding fields.

Anything unusual falls back to the general path before any visible change;
``tests/unit/test_mag_fastpath.py`` compares both paths over shapes and
single-field differences (actions, entry state, counters, bytes sent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from mag_ap.core.bul import BindingUpdateListEntry
from mag_ap.core.mn_id import is_nai
from mag_ap.core.pbu import timestamp_value_offset
from mag_ap.mh.constants import MHType, OptionType
from mag_ap.mh.options import Timestamp

_OPTIONS_AT = 12  # MH header (6) + status, flags, sequence, lifetime (6)
_LIFETIME_UNIT_S = 4
_PAD1, _PADN = int(OptionType.PAD1), int(OptionType.PADN)
_MN_ID, _HNP = int(OptionType.MOBILE_NODE_IDENTIFIER), int(OptionType.HOME_NETWORK_PREFIX)
_TIMESTAMP, _GRE = int(OptionType.TIMESTAMP), int(OptionType.GRE_KEY)
_HOA_REPLY = int(OptionType.IPV4_HOME_ADDRESS_REPLY)
_ROUTER = int(OptionType.IPV4_DEFAULT_ROUTER_ADDRESS)
_HOA_REQUEST = int(OptionType.IPV4_HOME_ADDRESS_REQUEST)
_LLID = int(OptionType.MN_LINK_LAYER_IDENTIFIER)
# Options the general path decodes and then ignores in an accepted PBA: body lengths
# the codec accepts (exact, or at least for the link-layer identifier).
_IGNORED_EXACT = {
    int(OptionType.HANDOFF_INDICATOR): 2,
    int(OptionType.ACCESS_TECHNOLOGY_TYPE): 2,
}
_PBA_TYPE = int(MHType.BINDING_ACKNOWLEDGEMENT)
_NAI = 1
MAX_TEMPLATES = 1024  # shapes kept; more: the table starts over


class RefreshPba(NamedTuple):
    """The fields of an accepted PBA, as the entry keeps them (None: option absent)."""

    sequence: int
    lifetime_s: int
    mn_id: str
    hnp_packed: int | None  # prefix << 8 | length, as BindingUpdateListEntry.hnp_packed
    ipv4_hoa: tuple[int, int] | None  # (address, prefix length), reply status 0 only
    ipv4_router: int | None
    gre_key: int | None
    timestamped: bool


def parse_refresh_pba(data: bytes) -> RefreshPba | None:
    """An accepted (status 0) PBA with an NAI MN-ID and options of known layout, else None.

    Never more lenient than ``decode_message``: every option it reads has the body
    length the codec insists on, each interpreted option appears once, and any
    other option type (or HoA Reply status) makes it decline.
    """
    end = len(data)
    if end < 16 or (data[1] + 1) * 8 != end or data[2] != _PBA_TYPE:
        return None
    if data[6] != 0:  # status: plain ACCEPTED only (1 and 2 carry meanings of their own)
        return None
    mn_id: str | None = None
    hnp: int | None = None
    hoa: tuple[int, int] | None = None
    router: int | None = None
    gre: int | None = None
    timestamped = False
    pos = _OPTIONS_AT
    while pos < end:
        kind = data[pos]
        if kind == _PAD1:
            pos += 1
            continue
        if pos + 2 > end:
            return None
        size = data[pos + 1]
        body = pos + 2
        pos = body + size
        if pos > end:
            return None
        if kind == _PADN:
            continue
        if kind == _MN_ID:
            if mn_id is not None or size < 2 or data[body] != _NAI:
                return None
            raw = bytes(data[body + 1 : pos])
            try:
                mn_id = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
        elif kind == _HNP:
            if hnp is not None or size != 18 or data[body + 1] > 128:
                return None
            hnp = int.from_bytes(data[body + 2 : pos], "big") << 8 | data[body + 1]
        elif kind == _HOA_REPLY:
            if hoa is not None or size != 6 or data[body] != 0 or data[body + 1] >> 2 > 32:
                return None
            hoa = (int.from_bytes(data[body + 2 : pos], "big"), data[body + 1] >> 2)
        elif kind == _ROUTER:
            if router is not None or size != 6:
                return None
            router = int.from_bytes(data[body + 2 : pos], "big")
        elif kind == _GRE:
            if gre is not None or size != 6:
                return None
            gre = int.from_bytes(data[body + 2 : pos], "big")
        elif kind == _TIMESTAMP:
            if size != 8:
                return None
            timestamped = True
        elif kind == _LLID:
            if size < 3:
                return None
        elif _IGNORED_EXACT.get(kind) != size:
            return None
    if mn_id is None:
        return None
    sequence = data[8] << 8 | data[9]
    lifetime_s = (data[10] << 8 | data[11]) * _LIFETIME_UNIT_S
    return RefreshPba(sequence, lifetime_s, mn_id, hnp, hoa, router, gre, timestamped)


def matches_held(pba: RefreshPba, entry: BindingUpdateListEntry) -> bool:
    """Every value the PBA grants is the one the entry holds, and nothing else is granted.

    Then ``check_pba`` would return exactly the entry's values with no notes (they
    passed it when granted, against the same policy and settings), and the bind
    step would keep the datapath as it is: a plain refresh.
    """
    if not entry.datapath_up or pba.lifetime_s != entry.lifetime_s or pba.lifetime_s <= 0:
        return False
    policy = entry.policy
    if policy.ipv6:
        if entry.hnp_packed is None or pba.hnp_packed != entry.hnp_packed:
            return False
    elif pba.hnp_packed is not None:
        return False
    if policy.ipv4:
        hoa = entry.ipv4_hoa_int
        if hoa is None or pba.ipv4_hoa != (hoa, entry.ipv4_hoa_plen):
            return False
        if pba.ipv4_router != entry.ipv4_router_int:
            return False
    elif pba.ipv4_hoa is not None or pba.ipv4_router is not None:
        return False
    if entry.gre_key_from_lma is None:
        return pba.gre_key is None
    return entry.gre_key_to_lma is not None and pba.gre_key == entry.gre_key_to_lma


class _Layout(NamedTuple):
    template: bytes
    mn_id_at: int
    mac_at: int
    hnp_at: int  # the prefix length octet; the prefix follows it
    hoa_at: int  # the prefix length octet (<< 2); the address two octets on
    gre_at: int
    timestamp_at: int


def _layout(data: bytes) -> _Layout | None:
    """Where the per-binding fields of an encoded PBU are (-1: absent)."""
    found: dict[int, int] = dict.fromkeys((_MN_ID, _LLID, _HNP, _HOA_REQUEST, _GRE, _TIMESTAMP), -1)
    pos, end = _OPTIONS_AT, len(data)
    while pos < end:
        kind = data[pos]
        if kind == _PAD1:
            pos += 1
            continue
        if kind in found:
            if found[kind] != -1:
                return None
            found[kind] = pos + 2
        pos += 2 + data[pos + 1]
    if found[_MN_ID] == -1 or found[_LLID] == -1:
        return None
    return _Layout(
        data,
        found[_MN_ID] + 1,
        found[_LLID] + 2,
        -1 if found[_HNP] == -1 else found[_HNP] + 1,
        found[_HOA_REQUEST],
        -1 if found[_GRE] == -1 else found[_GRE] + 2,
        found[_TIMESTAMP],
    )


class PbuTemplates:
    """Refresh PBUs written into the bytes of the first PBU of the same shape.

    The shape is everything that decides the PBU's layout and the values shared by
    its bindings: the policy, the MN-ID's length, the handoff indicator and which
    of prefix, home address, GRE key and timestamp are carried. The first PBU of a
    shape is built and encoded the general way and becomes the template.
    """

    def __init__(self) -> None:
        self._layouts: dict[tuple[object, ...], _Layout | None] = {}

    def encode(
        self,
        entry: BindingUpdateListEntry,
        handoff: int,
        sequence: int,
        lifetime_s: int,
        *,
        timestamp_unix_s: float | None,
        general: Callable[[], bytes],
    ) -> tuple[bytes, int]:
        """The PBU's bytes and its Timestamp value's offset (-1: none).

        ``general()`` encodes it the general way (the first PBU of a shape).
        """
        mn_id = entry.mn_id.encode("utf-8")
        hnp, hoa, gre = entry.hnp_packed, entry.ipv4_hoa_int, entry.gre_key_from_lma
        key = (
            entry.policy,
            len(mn_id),
            entry.mn_id[1:2] != ":" or is_nai(entry.mn_id),  # no regex for a plain NAI
            handoff,
            hnp is None,
            hoa is None,
            gre is None,
            timestamp_unix_s is None,
        )
        layout = self._layouts.get(key)
        if layout is None:
            data = general()
            if key not in self._layouts:
                if len(self._layouts) >= MAX_TEMPLATES:
                    self._layouts.clear()
                self._layouts[key] = _layout(data) if self._fits(data, mn_id) else None
            return data, timestamp_value_offset(data)
        out = bytearray(layout.template)
        out[6:8] = sequence.to_bytes(2, "big")
        out[10:12] = (lifetime_s // _LIFETIME_UNIT_S).to_bytes(2, "big")
        at = layout.mn_id_at
        out[at : at + len(mn_id)] = mn_id
        at = layout.mac_at
        out[at : at + 6] = entry.mac_int.to_bytes(6, "big")
        if hnp is not None and layout.hnp_at >= 0:
            at = layout.hnp_at
            out[at] = hnp & 0xFF
            out[at + 1 : at + 17] = (hnp >> 8).to_bytes(16, "big")
        if hoa is not None and layout.hoa_at >= 0:
            at = layout.hoa_at
            out[at] = entry.ipv4_hoa_plen << 2
            out[at + 2 : at + 6] = hoa.to_bytes(4, "big")
        if gre is not None and layout.gre_at >= 0:
            at = layout.gre_at
            out[at : at + 4] = gre.to_bytes(4, "big")
        if timestamp_unix_s is not None:
            at = layout.timestamp_at
            out[at : at + 8] = Timestamp.at_unix_time(timestamp_unix_s).encode_body()
        return bytes(out), layout.timestamp_at

    @staticmethod
    def _fits(data: bytes, mn_id: bytes) -> bool:
        """A template only from a PBU whose MN-ID option is this NAI (not a raw subtype)."""
        layout = _layout(data)
        if layout is None:
            return False
        at = layout.mn_id_at
        return (
            data[at - 1] == _NAI
            and data[at - 2] == len(mn_id) + 1
            and (data[at : at + len(mn_id)] == mn_id)
        )


__all__ = ["MAX_TEMPLATES", "PbuTemplates", "RefreshPba", "matches_held", "parse_refresh_pba"]
