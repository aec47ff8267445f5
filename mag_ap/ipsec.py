"""IPsec ESP for the signalling (RFC 5213 section 4, RFC 3776/4877): settings and the plan.

PBUs and PBAs between a MAG and its LMA must be protected by ESP in transport
mode with a non-null payload protection. This module says, from the
configuration alone, which kernel xfrm states (SAs) and policies that takes;
:mod:`mag_ap.runtime.xfrm_io` installs and removes them over NETLINK_XFRM with
the codec in :mod:`mag_ap.xfrm`. Pure: no sockets, no files.

Per peer (the LMA for a MAG; each configured MAG for the LMA):

- an outbound SA own -> peer (``spi_out``, ``key_out``) and an inbound SA
  peer -> own (``spi_in``, ``key_in``), whose selector names the peer so a
  packet decrypted with one peer's SA cannot claim another peer's source;
- an ``out`` policy own -> peer for the signalling that requires ESP.

Per own address, once: an ``in`` policy *any* -> own for the signalling that
requires ESP, so the kernel drops an unprotected PBU (or PBA, or Heartbeat)
from anyone before the daemon reads it. The signalling is the Mobility Header
(IPv6 next header 135) on an IPv6 transport, and UDP port 5436 (RFC 5844
section 4; both ends send to 5436) on an IPv4 transport.

Every object carries :data:`XFRM_TAG` (SA reqid, policy priority and template
reqid) so a restart after SIGKILL finds and removes its leftovers (DESIGN.md
rule 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Final, Literal

from .core.types import Address
from .mh.constants import IPPROTO_MH, PMIP6_UDP_CONTROL_PORT

IPPROTO_UDP: Final = 17
IPPROTO_ESP: Final = 50
# reqid of every SA and policy template, and priority of every policy we install: how a
# restart tells ours from an administrator's or strongSwan's ("mA" in ASCII).
XFRM_TAG: Final = 0x6D41
SPI_MIN: Final = 0x100  # 1..255 are reserved by IANA (RFC 4303 section 2.1)
SPI_MAX: Final = 0xFFFFFFFF

IpsecMode = Literal["off", "static"]
Direction = Literal["in", "out"]


@dataclass(frozen=True)
class Aead:
    """An AEAD transform as the kernel names it, and its key size with the salt."""

    name: str  # the config value
    kernel_name: str  # crypto API name (XFRMA_ALG_AEAD alg_name)
    key_bytes: int  # AES key plus the 4-byte salt of RFC 4106 section 8.1
    icv_bits: int


# RFC 4106 AES-GCM with a 16-octet ICV (RFC 8221: MUST for ESP); the key is AES key + salt.
AEADS: Final = {
    a.name: a
    for a in (
        Aead("aes-gcm-128", "rfc4106(gcm(aes))", 16 + 4, 128),
        Aead("aes-gcm-256", "rfc4106(gcm(aes))", 32 + 4, 128),
    )
}


@dataclass(frozen=True, kw_only=True)
class IpsecPeer:
    """One peer's manual keying: what we send with (``*_out``) and what it sends with (``*_in``)."""

    address: Address
    spi_in: int
    spi_out: int
    key_in: bytes = field(repr=False)
    key_out: bytes = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class IpsecSettings:
    """The ``[ipsec]`` section: ``mode = "static"`` with one entry per peer."""

    mode: IpsecMode = "off"
    algorithm: str = "aes-gcm-128"
    peers: tuple[IpsecPeer, ...] = ()

    @property
    def aead(self) -> Aead:
        return AEADS[self.algorithm]


@dataclass(frozen=True, kw_only=True)
class Selector:
    """Which packets: addresses with prefix lengths, protocol and UDP destination port."""

    src: Address
    src_len: int
    dst: Address
    dst_len: int
    proto: int = 0  # 0: any
    dport: int = 0  # 0: any


@dataclass(frozen=True, kw_only=True)
class SaSpec:
    """One ESP transport-mode SA (kernel xfrm state)."""

    src: Address
    dst: Address
    spi: int
    aead: Aead
    key: bytes = field(repr=False)
    selector: Selector
    reqid: int = XFRM_TAG


@dataclass(frozen=True, kw_only=True)
class PolicySpec:
    """One xfrm policy that requires ESP transport for ``selector`` in ``direction``."""

    selector: Selector
    direction: Direction
    src: Address  # template addresses (informational in transport mode)
    dst: Address
    priority: int = XFRM_TAG
    reqid: int = XFRM_TAG


@dataclass(frozen=True, kw_only=True)
class IpsecPlan:
    """Everything the kernel must hold for the signalling to be protected."""

    states: tuple[SaSpec, ...] = ()
    policies: tuple[PolicySpec, ...] = ()


def _host_len(address: Address) -> int:
    return 32 if isinstance(address, IPv4Address) else 128


def _any(address: Address) -> Address:
    return IPv4Address(0) if isinstance(address, IPv4Address) else IPv6Address(0)


def signalling(src: Address, src_len: int, dst: Address) -> Selector:
    """The selector of PMIPv6 signalling from ``src/src_len`` to ``dst``."""
    if isinstance(dst, IPv4Address):
        return Selector(
            src=src,
            src_len=src_len,
            dst=dst,
            dst_len=32,
            proto=IPPROTO_UDP,
            dport=PMIP6_UDP_CONTROL_PORT,
        )
    return Selector(src=src, src_len=src_len, dst=dst, dst_len=128, proto=IPPROTO_MH)


def plan(settings: IpsecSettings, own: Address) -> IpsecPlan:
    """The SAs and policies ``settings`` ask for at ``own`` (empty when the mode is off)."""
    if settings.mode != "static":
        return IpsecPlan()
    aead = settings.aead
    states: list[SaSpec] = []
    policies: list[PolicySpec] = []
    host = _host_len(own)
    for peer in settings.peers:
        out_sel = Selector(src=own, src_len=host, dst=peer.address, dst_len=host)
        in_sel = Selector(src=peer.address, src_len=host, dst=own, dst_len=host)
        states.append(
            SaSpec(
                src=own, dst=peer.address, spi=peer.spi_out, aead=aead, key=peer.key_out,
                selector=out_sel,
            )
        )  # fmt: skip
        states.append(
            SaSpec(
                src=peer.address, dst=own, spi=peer.spi_in, aead=aead, key=peer.key_in,
                selector=in_sel,
            )
        )  # fmt: skip
        policies.append(
            PolicySpec(
                selector=signalling(own, host, peer.address),
                direction="out",
                src=own,
                dst=peer.address,
            )
        )
    if settings.peers:
        policies.append(
            PolicySpec(
                selector=signalling(_any(own), 0, own), direction="in", src=_any(own), dst=own
            )
        )
    return IpsecPlan(states=tuple(states), policies=tuple(policies))


__all__ = [
    "AEADS",
    "IPPROTO_ESP",
    "IPPROTO_UDP",
    "SPI_MAX",
    "SPI_MIN",
    "XFRM_TAG",
    "Aead",
    "IpsecMode",
    "IpsecPeer",
    "IpsecPlan",
    "IpsecSettings",
    "PolicySpec",
    "SaSpec",
    "Selector",
    "plan",
    "signalling",
]
