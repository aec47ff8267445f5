"""Shared value types of the pure core: settings, profiles, datagrams and actions.

These are the contract between the pure protocol objects (MAG binding engine,
reference LMA), the runtime that drives them and the plugins that act on their
actions. Pure: no IO imports (a test enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network
from typing import Any, Protocol

Address = IPv4Address | IPv6Address

# --- settings (built by mag_ap.config from TOML, or by tests directly) ----------


@dataclass(frozen=True, kw_only=True)
class MagSettings:
    """Protocol knobs of the MAG, with RFC 5213/6275/5847 defaults."""

    own_address: Address  # the MAG's Proxy-CoA on the transport network
    use_timestamps: bool = True  # TimestampBasedApproachInUse; else sequence numbers
    lifetime_s: int = 3600  # requested binding lifetime (multiple of 4)
    refresh_before_s: float = 300.0  # re-register this long before the lifetime ends
    # Refresh at least this often (0: only before the lifetime ends). With an LMA without
    # revocation (RFC 5846) a refresh refused after a handover (154...) is how the old
    # MAG learns the station moved: this bounds how long it keeps a stale binding. On by
    # default because nothing on the wire says whether an LMA revokes: 300 s costs one
    # PBU per station per 5 minutes (40,000 stations: 133 PBU/s; an AP's 100: 0.33/s).
    max_refresh_interval_s: float = 300.0
    initial_bindack_timeout_first_reg_s: float = 1.5  # InitialBindackTimeoutFirstReg
    initial_bindack_timeout_s: float = 1.0  # INITIAL_BINDACK_TIMEOUT (re-registration)
    max_bindack_timeout_s: float = 32.0  # MAX_BINDACK_TIMEOUT: give up after this
    heartbeat_interval_s: float = 60.0  # HEARTBEAT_INTERVAL (RFC 5847), 0 disables
    missing_heartbeats_allowed: int = 3  # MISSING_HEARTBEATS_ALLOWED
    restart_counter: int = 0  # bumped and persisted by the runtime on every start
    # What the MAG accepts from an LMA (pba_checks.py): HNP lengths, and the AP's own
    # networks (filled by the runtime from its interfaces) no granted prefix may overlap.
    hnp_prefix_length_min: int = 32
    hnp_prefix_length_max: int = 64
    local_networks: tuple[IPv4Network | IPv6Network, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LmaSettings:
    """Knobs of the reference LMA, with RFC 5213 section 9 defaults."""

    own_address: Address
    hnp_pool: IPv6Network | None = IPv6Network("2001:db8:100::/48")
    hnp_length: int = 64
    ipv4_pool: IPv4Interface | None = IPv4Interface("10.200.0.1/16")  # .ip is the default router
    authorized_mags: tuple[IPv4Network | IPv6Network, ...] = ()  # empty: any MAG may register
    max_lifetime_s: int = 3600
    min_delay_before_bce_delete_s: float = 10.0  # MinDelayBeforeBCEDelete
    max_delay_before_new_bce_assign_s: float = 1.5  # MaxDelayBeforeNewBCEAssign
    timestamp_validity_window_s: float = 0.3  # TimestampValidityWindow
    use_timestamps: bool = True
    gre_keys: bool = True  # allocate GRE keys when a MAG asks for them
    heartbeat_interval_s: float = 60.0
    missing_heartbeats_allowed: int = 3
    restart_counter: int = 0
    # Interop switches: behave like common minimal LMAs, to test MAGs against them.
    pba_timestamps: bool = True  # False: no Timestamp option in any PBA
    echo_requested_hnp: bool = False  # True: the PBA echoes the PBU's HNP (::/0!), a known bug
    heartbeats: str = "answer"  # "answer" (RFC 5847), "drop" or "binding_error" (no 5847)
    revocation: bool = True  # False: no Binding Revocation (RFC 5846) at all


# --- what the policy plugin says about a mobile node -----------------------------


@dataclass(frozen=True, kw_only=True)
class MobileNodeProfile:
    """Policy profile of one MN: which LMA, which services, which wishes."""

    mn_id: str  # NAI
    lma_address: Address
    ipv6: bool = True  # request an HNP
    ipv4: bool = True  # request an IPv4 home address
    hnp: IPv6Network | None = None  # a specific prefix to request, else all-zero
    ipv4_address: IPv4Address | None = None  # a specific IPv4 HoA, else 0.0.0.0
    service_selection: str | None = None  # APN (RFC 5149)
    gre_key: bool = False  # ask for GRE encapsulation with per-MN keys (RFC 5845)
    lifetime_s: int | None = None  # override MagSettings.lifetime_s
    dns_servers: tuple[Address, ...] = ()
    # LMA named by FQDN (RFC 6097): the MAG resolves it and fills ``lma_address``
    # (which then holds the first answer; the policy may put a placeholder there)
    lma_fqdn: str | None = None


# --- IO the protocol objects ask for ------------------------------------------------


@dataclass(frozen=True)
class Datagram:
    """A Mobility Header to send. IPv6 peer: raw protocol-135 socket; IPv4 peer:
    UDP port 5436 (RFC 5844 section 4)."""

    data: bytes
    peer: Address
    #: Offset of a Timestamp option's 8-byte value the runtime writes as the datagram
    #: leaves (-1: none), and what to add to the protocol clock to get Unix time. A burst
    #: built in one event (SIGTERM: every de-registration) leaves over a while; stamped
    #: when built, its tail would reach the LMA past TimestampValidityWindow.
    timestamp_at: int = -1
    unix_offset_s: float = 0.0

    def at_departure(self, now: float) -> bytes:
        """``data`` with its Timestamp (if any) set to protocol time ``now`` (RFC 5213 8.8)."""
        at = self.timestamp_at
        if at < 0:
            return self.data
        ticks = round((now + self.unix_offset_s) * 65536)
        return self.data[:at] + ticks.to_bytes(8, "big") + self.data[at + 8 :]


# --- actions: what changed, for the datapath, address services and logs ------------


@dataclass(frozen=True, kw_only=True)
class BindingUp:
    """MAG: a binding is (newly or again) acknowledged; install or refresh the datapath."""

    mn_id: str
    mac: str
    lma: Address
    hnp: IPv6Network | None
    ipv4_hoa: IPv4Interface | None  # address/prefix length from the IPv4 HoA Reply
    ipv4_default_router: IPv4Address | None
    gre_key_to_lma: int | None  # key the LMA asked us to use (its GRE Key option)
    gre_key_from_lma: int | None  # key we asked the LMA to use
    lifetime_s: int
    refresh: bool = False  # True when only the lifetime was extended


@dataclass(frozen=True, kw_only=True)
class BindingDown:
    """MAG: a binding ended (detach, revocation, expiry, give-up); remove its datapath."""

    mn_id: str
    mac: str
    lma: Address
    hnp: IPv6Network | None
    ipv4_hoa: IPv4Interface | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class BindingRejected:
    """MAG: the LMA refused (or never answered) a registration; nothing to install."""

    mn_id: str
    mac: str
    lma: Address
    status: int | None  # PBA status, None when no answer came
    reason: str


_UNREAD: Any = object()  # a route's HNP or IPv4 HoA not turned into an object yet


class _LmaRoute:
    """What the LMA's route actions share: the HNP and IPv4 HoA kept as integers.

    An LMA registers thousands of MNs a second and building an ``IPv6Network`` and an
    ``IPv4Interface`` per route action was a sixth of its CPU. The objects are made
    on first read (a datapath that installs the route reads them; the null datapath
    never does) and then kept. Immutable and compared by value, like the dataclass
    actions; ``fields()`` is what ``dataclasses.fields`` gives for those.
    """

    __slots__ = ("_hnp", "_hnp_at", "_hnp_len", "_v4", "_v4_at", "_v4_len", "mag", "mn_id")
    _NAMES: tuple[str, ...] = ()

    mn_id: str
    mag: Address
    _hnp: Any  # IPv6Network | None, or _UNREAD
    _hnp_at: int | None
    _hnp_len: int
    _v4: Any  # IPv4Interface | None, or _UNREAD
    _v4_at: int | None
    _v4_len: int

    def _init(
        self,
        *,
        mn_id: str,
        mag: Address,
        hnp: IPv6Network | None,
        ipv4_hoa: IPv4Interface | None,
        hnp_address: int | None,
        hnp_length: int,
        ipv4_address: int | None,
        ipv4_length: int,
    ) -> None:
        put = object.__setattr__
        put(self, "mn_id", mn_id)
        put(self, "mag", mag)
        put(self, "_hnp", _UNREAD if hnp is None and hnp_address is not None else hnp)
        put(self, "_hnp_at", hnp_address)
        put(self, "_hnp_len", hnp_length)
        put(self, "_v4", _UNREAD if ipv4_hoa is None and ipv4_address is not None else ipv4_hoa)
        put(self, "_v4_at", ipv4_address)
        put(self, "_v4_len", ipv4_length)

    @property
    def hnp(self) -> IPv6Network | None:
        value: IPv6Network | None = self._hnp
        if value is _UNREAD:
            value = IPv6Network((self._hnp_at, self._hnp_len))
            object.__setattr__(self, "_hnp", value)
        return value

    @property
    def ipv4_hoa(self) -> IPv4Interface | None:
        value: IPv4Interface | None = self._v4
        if value is _UNREAD:
            value = IPv4Interface((self._v4_at, self._v4_len))
            object.__setattr__(self, "_v4", value)
        return value

    def fields(self) -> dict[str, Any]:
        """Name -> value, in declaration order (the dataclass actions' fields)."""
        return {name: getattr(self, name) for name in self._NAMES}

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _LmaRoute)
        return self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self.fields().values()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.fields().items())
        return f"{type(self).__name__}({inner})"


class MobileRouteUp(_LmaRoute):
    """LMA: route the MN's prefixes into the tunnel to ``mag`` (moves them on handover)."""

    __slots__ = ("gre_key_from_mag", "gre_key_to_mag")
    _NAMES = ("mn_id", "mag", "hnp", "ipv4_hoa", "gre_key_to_mag", "gre_key_from_mag")

    gre_key_to_mag: int | None
    gre_key_from_mag: int | None

    def __init__(
        self,
        *,
        mn_id: str,
        mag: Address,
        hnp: IPv6Network | None,
        ipv4_hoa: IPv4Interface | None,
        gre_key_to_mag: int | None,
        gre_key_from_mag: int | None,
        hnp_address: int | None = None,
        hnp_length: int = 0,
        ipv4_address: int | None = None,
        ipv4_length: int = 0,
    ) -> None:
        """``hnp_address``/``ipv4_address`` (integers, with ``hnp=None``/``ipv4_hoa=None``)
        give the prefix and address without making their objects now."""
        self._init(
            mn_id=mn_id,
            mag=mag,
            hnp=hnp,
            ipv4_hoa=ipv4_hoa,
            hnp_address=hnp_address,
            hnp_length=hnp_length,
            ipv4_address=ipv4_address,
            ipv4_length=ipv4_length,
        )
        object.__setattr__(self, "gre_key_to_mag", gre_key_to_mag)
        object.__setattr__(self, "gre_key_from_mag", gre_key_from_mag)


class MobileRouteDown(_LmaRoute):
    """LMA: the binding cache entry is gone; remove the MN's routes."""

    __slots__ = ("reason",)
    _NAMES = ("mn_id", "mag", "hnp", "ipv4_hoa", "reason")

    reason: str

    def __init__(
        self,
        *,
        mn_id: str,
        mag: Address,
        hnp: IPv6Network | None,
        ipv4_hoa: IPv4Interface | None,
        reason: str,
        hnp_address: int | None = None,
        hnp_length: int = 0,
        ipv4_address: int | None = None,
        ipv4_length: int = 0,
    ) -> None:
        """As :class:`MobileRouteUp` for the integer forms."""
        self._init(
            mn_id=mn_id,
            mag=mag,
            hnp=hnp,
            ipv4_hoa=ipv4_hoa,
            hnp_address=hnp_address,
            hnp_length=hnp_length,
            ipv4_address=ipv4_address,
            ipv4_length=ipv4_length,
        )
        object.__setattr__(self, "reason", reason)


def action_fields(action: object) -> dict[str, Any]:
    """An action's fields by name (dataclass actions and the LMA's route actions alike)."""
    if isinstance(action, _LmaRoute):
        return action.fields()
    return dict(vars(action))


@dataclass(frozen=True, kw_only=True)
class PeerRestarted:
    """A peer's restart counter changed (RFC 5847) or it stopped answering heartbeats."""

    peer: Address
    reason: str


@dataclass(frozen=True, kw_only=True)
class LogEvent:
    """Something an operator wants in the log (bad packet dropped, status refused...)."""

    level: str  # "debug" | "info" | "warning" | "error"
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


Action = (
    BindingUp
    | BindingDown
    | BindingRejected
    | MobileRouteUp
    | MobileRouteDown
    | PeerRestarted
    | LogEvent
)


class SansIOEndpoint(Protocol):
    """What the runtime driver needs of the MAG and of the LMA protocol objects."""

    def receive_datagram(
        self, data: bytes, src: Address, now: float, *, received_at: float | None = None
    ) -> None: ...

    def datagrams_to_send(self, now: float) -> list[Datagram]: ...

    def next_action(self) -> Action | None: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def status(self, now: float) -> dict[str, Any]:
        """JSON-ready state for the control socket (bindings and counters)."""
        ...
