"""Checks of what an LMA grants in an accepted PBA, before it reaches the kernel or a station.

DESIGN.md rule 8: the Home Network Prefix becomes a route on the access link and
the prefix of the station's router advertisement, the IPv4 home address and
default router go into DHCP answers and routes, the GRE keys into the tunnel and
the lifetime into our timers. An LMA that answers ``::/0`` (echoing our "please
assign"), a link-local or multicast prefix, a prefix covering the AP's own
networks or an IPv4 address that cannot be a host would take the AP's routing
over. Every field is checked here, in one pure function, against what the MAG
asked for and what its settings allow; the first failure names the field and
why, and the MAG treats the PBA as a rejection (nothing installed).

Values the MAG did not ask for (an HNP when the profile is IPv4-only, a GRE key
when it asked for none) are dropped, not installed, and noted.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network

from mag_ap.core.types import Address
from mag_ap.mh.constants import IPv4HoAReplyStatus, enum_or_int
from mag_ap.mh.messages import ProxyBindingAcknowledgement
from mag_ap.mh.options import (
    GREKey,
    HomeNetworkPrefix,
    IPv4DefaultRouterAddress,
    IPv4HomeAddressReply,
)

# Prefixes that are never a home network: they would shadow the AP's own routes.
_IPV6_NEVER: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("::ffff:0:0/96"), "IPv4-mapped"),
    (IPv6Network("::/8"), "unspecified, loopback or IPv4-compatible"),
    (IPv6Network("fe80::/10"), "link-local"),
    (IPv6Network("fec0::/10"), "site-local (deprecated)"),
    (IPv6Network("ff00::/8"), "multicast"),
)
_IPV4_NEVER: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("0.0.0.0/8"), "'this network' (0/8)"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved or broadcast"),
)
IPV4_HOA_MIN_PREFIX_LENGTH = 8  # a shorter on-link prefix would cover much of the Internet

# The checks run on every refresh of every binding: on plain ints (network int, length),
# not on ipaddress objects, whose construction and cached views were most of the MAG's
# refresh CPU. (version, network int, prefix length) per network.
_IntNet = tuple[int, int, int]


def _int_net(net: IPv4Network | IPv6Network) -> _IntNet:
    return net.version, int(net.network_address), net.prefixlen


def _overlap(a: _IntNet, b: _IntNet) -> bool:
    """Same version and one prefix contains the other."""
    if a[0] != b[0]:
        return False
    bits = 128 if a[0] == 6 else 32
    shift = bits - min(a[2], b[2])
    return a[1] >> shift == b[1] >> shift


_V6_NEVER_INT = tuple((_int_net(net), what) for net, what in _IPV6_NEVER)
_V4_NEVER_INT = tuple((_int_net(net), what) for net, what in _IPV4_NEVER)


@lru_cache(maxsize=64)
def _own_networks(
    local_networks: tuple[IPv4Network | IPv6Network, ...], own_address: Address, lma: Address
) -> tuple[tuple[_IntNet, IPv4Network | IPv6Network], ...]:
    """The AP's own networks and the MAG's and LMA's addresses, as ints (computed once)."""
    own: list[IPv4Network | IPv6Network] = list(local_networks)
    for addr in (own_address, lma):
        own.append(IPv6Network(addr) if isinstance(addr, IPv6Address) else IPv4Network(addr))
    return tuple((_int_net(net), net) for net in own)


@dataclass(frozen=True, kw_only=True)
class PbaRequest:
    """What the MAG asked for in the PBU this PBA answers, and what it must not get."""

    lma: Address
    own_address: Address
    ipv6: bool  # an HNP option was sent
    hnp: IPv6Network | None  # the prefix the policy asked for, None: "assign"
    ipv4: bool  # an IPv4 HoA Request was sent
    ipv4_address: IPv4Address | None  # the address the policy asked for, None: "assign"
    gre_key_from_lma: int | None  # our GRE key in the PBU; None: no GRE asked for
    gre_not_required: bool  # status 2: the LMA declined GRE (any key it sends is ignored)
    lifetime_requested_s: int
    hnp_prefix_lengths: tuple[int, int]  # inclusive range the MAG accepts
    local_networks: Sequence[IPv4Network | IPv6Network] = ()  # the AP's own networks
    hnps_in_use: Container[IPv6Network] = ()  # by the MAG's other bindings
    ipv4_in_use: Container[IPv4Address] = ()  # home addresses of the MAG's other bindings


@dataclass(frozen=True, kw_only=True)
class Grant:
    """The checked values, safe to install."""

    hnp: IPv6Network | None
    ipv4_hoa: IPv4Interface | None
    ipv4_default_router: IPv4Address | None
    gre_key_to_lma: int | None
    lifetime_s: int
    notes: tuple[str, ...] = ()  # values dropped or adjusted, for the log
    ipv4_refused: str | None = None  # the LMA refused the IPv4 part (HoA Reply status)


@dataclass(frozen=True)
class Refusal:
    """Why the PBA cannot be used: the field and the reason, for the log and status."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def _one(pba: ProxyBindingAcknowledgement, cls: type) -> tuple[object | None, int]:
    found = [opt for opt in pba.options if isinstance(opt, cls)]
    return (found[0] if found else None), len(found)


def _local_clash(net: _IntNet, request: PbaRequest) -> IPv4Network | IPv6Network | None:
    """The first of the AP's own networks (or own/LMA address) ``net`` overlaps."""
    for local, original in _own_networks(
        tuple(request.local_networks), request.own_address, request.lma
    ):
        if _overlap(net, local):
            return original
    return None


def check_hnp(pba: ProxyBindingAcknowledgement, request: PbaRequest) -> IPv6Network | Refusal:
    """The granted Home Network Prefix, or why it cannot be one."""
    option, count = _one(pba, HomeNetworkPrefix)
    if count > 1:
        return Refusal("hnp", f"{count} Home Network Prefix options for one requested")
    if option is None:
        return Refusal("hnp", "missing (an IPv6 home prefix was requested)")
    assert isinstance(option, HomeNetworkPrefix)
    plen, prefix = option.prefix_length, int(option.prefix)
    if plen == 0 or not prefix:
        return Refusal("hnp", f"{option.prefix}/{plen} is the 'please assign' value, not a prefix")
    if prefix & ((1 << (128 - plen)) - 1):
        return Refusal("hnp", f"{option.prefix}/{plen} has bits set beyond the prefix length")
    net_int = (6, prefix, plen)
    for never, what in _V6_NEVER_INT:
        if _overlap(net_int, never):
            return Refusal("hnp", f"{option.prefix}/{plen} is {what}")
    low, high = request.hnp_prefix_lengths
    if not low <= plen <= high:
        return Refusal(
            "hnp",
            f"{option.prefix}/{plen}: prefix length must be {low}..{high} "
            "(mag.hnp_prefix_length_*)",
        )
    wanted = request.hnp
    if wanted is not None and (prefix, plen) != (int(wanted.network_address), wanted.prefixlen):
        return Refusal("hnp", f"{option.prefix}/{plen} differs from the {wanted} requested")
    clash = _local_clash(net_int, request)
    if clash is not None:
        return Refusal("hnp", f"{option.prefix}/{plen} overlaps the MAG's own network {clash}")
    net = IPv6Network((prefix, plen))
    if net in request.hnps_in_use:
        return Refusal("hnp", f"{net} is already another station's prefix on this MAG")
    return net


def _ipv4_unicast(address: int) -> str | None:
    for never, what in _V4_NEVER_INT:
        if _overlap((4, address, 32), never):
            return what
    return None


def check_ipv4(
    pba: ProxyBindingAcknowledgement, request: PbaRequest
) -> tuple[IPv4Interface | None, IPv4Address | None, str | None] | Refusal:
    """(home address, default router, refusal text of the IPv4 part) or why they are unusable."""
    reply, count = _one(pba, IPv4HomeAddressReply)
    if count > 1:
        return Refusal("ipv4_hoa", f"{count} IPv4 Home Address Reply options")
    router_option, routers = _one(pba, IPv4DefaultRouterAddress)
    if routers > 1:
        return Refusal("ipv4_default_router", f"{routers} IPv4 Default-Router options")
    if reply is None:
        return None, None, None
    assert isinstance(reply, IPv4HomeAddressReply)
    if reply.status != IPv4HoAReplyStatus.SUCCESS:
        known = enum_or_int(IPv4HoAReplyStatus, reply.status)
        name = known.name if isinstance(known, IPv4HoAReplyStatus) else str(known)
        return None, None, name
    address, plen = reply.address, reply.prefix_length
    if not IPV4_HOA_MIN_PREFIX_LENGTH <= plen <= 32:
        return Refusal("ipv4_hoa", f"{address}/{plen}: prefix length must be 8..32")
    addr = int(address)
    what = _ipv4_unicast(addr)
    if what is not None:
        return Refusal("ipv4_hoa", f"{address}/{plen} is {what}")
    host_bits = (1 << (32 - plen)) - 1
    network = addr & ~host_bits
    edges = (network, network | host_bits)  # network and broadcast address
    if plen <= 30 and addr in edges:
        return Refusal(
            "ipv4_hoa", f"{address}/{plen} is the network or broadcast address of its prefix"
        )
    if request.ipv4_address is not None and address != request.ipv4_address:
        return Refusal("ipv4_hoa", f"{address} differs from the {request.ipv4_address} requested")
    clash = _local_clash((4, network, plen), request)
    if clash is not None:
        return Refusal("ipv4_hoa", f"{address}/{plen} overlaps the MAG's own network {clash}")
    if address in request.ipv4_in_use:
        return Refusal("ipv4_hoa", f"{address} is already another station's address on this MAG")
    router: IPv4Address | None = None
    if router_option is not None:
        assert isinstance(router_option, IPv4DefaultRouterAddress)
        router = router_option.address
        router_int = int(router)
        what = _ipv4_unicast(router_int)
        if what is not None:
            return Refusal("ipv4_default_router", f"{router} is {what}")
        if router_int == addr:
            return Refusal("ipv4_default_router", f"{router} is the home address itself")
        if plen <= 30:
            if router_int & ~host_bits != network:
                return Refusal(
                    "ipv4_default_router", f"{router} is outside the home prefix {address}/{plen}"
                )
            if router_int in edges:
                return Refusal(
                    "ipv4_default_router", f"{router} is the network or broadcast address"
                )
    return IPv4Interface((addr, plen)), router, None


def check_pba(pba: ProxyBindingAcknowledgement, request: PbaRequest) -> Grant | Refusal:
    """Every value of an accepted (status < 128) registration PBA, checked.

    The first failure is returned as a ``Refusal``; otherwise the values to
    install, with notes on what was dropped or adjusted.
    """
    notes: list[str] = []
    if pba.lifetime_s <= 0:
        return Refusal("lifetime", "0 s granted for a registration")
    lifetime_s = pba.lifetime_s
    if lifetime_s > request.lifetime_requested_s:
        # RFC 6275 6.1.8: never more than requested. Keep ours: we refresh earlier, no harm.
        notes.append(f"lifetime {lifetime_s} s above the {request.lifetime_requested_s} s asked")
        lifetime_s = request.lifetime_requested_s

    hnp: IPv6Network | None = None
    if request.ipv6:
        checked = check_hnp(pba, request)
        if isinstance(checked, Refusal):
            if checked.reason.startswith("missing") and request.ipv4:
                notes.append("no Home Network Prefix granted (IPv4 only)")
            else:
                return checked
        else:
            hnp = checked
    elif _one(pba, HomeNetworkPrefix)[0] is not None:
        notes.append("Home Network Prefix not asked for: ignored")

    hoa: IPv4Interface | None = None
    router: IPv4Address | None = None
    ipv4_refused: str | None = None
    if request.ipv4:
        ipv4 = check_ipv4(pba, request)
        if isinstance(ipv4, Refusal):
            return ipv4
        hoa, router, ipv4_refused = ipv4
        if hoa is None and ipv4_refused is None:
            notes.append("no IPv4 Home Address Reply (IPv4 home address asked for)")
    elif _one(pba, IPv4HomeAddressReply)[0] is not None:
        notes.append("IPv4 home address not asked for: ignored")
    if hnp is None and hoa is None:
        return Refusal("hnp", "neither a Home Network Prefix nor an IPv4 home address granted")

    key_option, keys = _one(pba, GREKey)
    gre_key_to_lma: int | None = None
    if keys > 1:
        return Refusal("gre_key", f"{keys} GRE Key options")
    if key_option is not None:
        assert isinstance(key_option, GREKey)
        if request.gre_key_from_lma is None or request.gre_not_required:
            notes.append("GRE key not asked for (or declined by status 2): ignored")
        else:
            gre_key_to_lma = key_option.key
    return Grant(
        hnp=hnp,
        ipv4_hoa=hoa,
        ipv4_default_router=router,
        gre_key_to_lma=gre_key_to_lma,
        lifetime_s=lifetime_s,
        notes=tuple(notes),
        ipv4_refused=ipv4_refused,
    )


__all__ = ["Grant", "PbaRequest", "Refusal", "check_hnp", "check_ipv4", "check_pba"]
