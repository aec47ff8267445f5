"""Pure collocated DHCPv4 server of the MAG (RFC 5844 sections 3.2 and 4, RFC 2131).

Sans-IO: every entry point takes ``now`` (monotonic seconds) and the server
queues actions (:class:`SendReply`, :class:`StationAttached`,
:class:`StationDetached`, ``LogEvent``) that the IO module drains.

The MAG does not own an address pool: the LMA assigns the IPv4 home address in
the PBA. So a DISCOVER (or an init-reboot/renewing REQUEST) from a MAC with no
binding is not answered; it becomes a "station attached" trigger and waits in
``pending``. The matching ``BindingUp`` answers it (OFFER, or ACK/NAK for a
REQUEST) with the HoA, a mask from the HoA's prefix length, the PBA's default
router and a lease no longer than the binding lifetime.

Policies worth knowing:

- Leases are keyed by client (option 61 when sent, else chaddr); the address
  belongs to the MAC's binding, so one MAC holds one lease: a new client id on
  the same MAC replaces the old lease.
- Renewing/rebinding from a MAC this MAG never saw (a handover: the client
  kept its address and its server id, the shared default router) is not NAKed:
  it triggers an attach and is ACKed once the LMA confirms the same HoA. A MAC
  whose binding went down here is NAKed, so it restarts with DISCOVER.
- RELEASE forgets the lease and sends a detach trigger. DECLINE means the HoA
  is in use on the link; the MAG cannot choose another, so it logs, forgets the
  lease and detaches; the client's next DISCOVER (RFC 2131 3.1: after at least
  10 s) attaches again and the LMA decides.
- A bound lease that is neither renewed nor rebound by its expiry means the
  station left: the lease is forgotten and a detach trigger sent.
- A MAC whose binding has no IPv4 home address (an IPv6-only profile) gets no
  answer and triggers no further attach: its requests are only counted
  (``no_ipv4_hoa``) until the binding goes down or comes up with a HoA.
- Hostile input: token buckets per MAC (every packet) and global (packets from
  MACs without a binding, i.e. what can cause attach triggers: the
  :class:`mag_ap.admission.NewcomerGate`, whose second chance lets a real
  client's retransmission through a flood of forged MACs), bounded tables of
  pending stations, of buckets and of MACs remembered for the second chance;
  every drop is counted, and summed up in one log line per 10 s.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv4Interface
from typing import Any, Final

from mag_ap.admission import GateSettings, NewcomerGate, TokenBucket
from mag_ap.core.types import BindingDown, BindingUp, LogEvent
from mag_ap.wire import DecodeError

from ._packet import (
    BOOTREQUEST,
    BROADCAST,
    CLIENT_PORT,
    SERVER_PORT,
    UNSPECIFIED,
    DhcpMessage,
    MessageType,
    OptionCode,
    decode,
    make_reply,
)
from ._settings import ServerSettings

BROADCAST_MAC: Final = b"\xff" * 6
MIN_LEASE_TIME_S: Final = 60
DOWN_MEMORY: Final = 1024  # how many "binding went down here" MACs are remembered


@dataclass(frozen=True, kw_only=True)
class ReplyDestination:
    """Where a reply goes (RFC 2131 4.1): link-layer and IP destination, UDP port.

    ``via_relay`` means "send to giaddr through the kernel", everything else is
    put on the access link by the packet socket, as the client cannot ARP yet.
    """

    mac: bytes
    ip: IPv4Address
    port: int = CLIENT_PORT
    via_relay: bool = False


@dataclass(frozen=True, kw_only=True)
class SendReply:
    """Put ``message`` on the wire from ``server_ip`` to ``destination``."""

    message: DhcpMessage
    server_ip: IPv4Address
    destination: ReplyDestination


@dataclass(frozen=True, kw_only=True)
class StationAttached:
    """A station asked for an address and has no binding: let the MAG attach it."""

    mac: str


@dataclass(frozen=True, kw_only=True)
class StationDetached:
    """A station released (or declined, or let expire) its lease: let the MAG detach it."""

    mac: str
    reason: str


ServerAction = SendReply | StationAttached | StationDetached | LogEvent


class LeaseState(Enum):
    OFFERED = "offered"
    BOUND = "bound"


@dataclass
class _Binding:
    """What a BindingUp told us about one MAC."""

    hoa: IPv4Interface
    router: IPv4Address
    lifetime_s: int


@dataclass
class _Lease:
    key: bytes
    mac: str
    address: IPv4Address
    state: LeaseState
    expires_at: float


@dataclass
class _Pending:
    """A station waiting for its binding, with the last request to answer."""

    request: DhcpMessage
    triggered_at: float
    expires_at: float


COUNTERS: Final = (
    "received",
    "decode_errors",
    "not_a_request",
    "bad_hardware",
    "no_message_type",
    "rate_limited_mac",
    "rate_limited_global",
    "admitted_on_retry",
    "discover",
    "request",
    "decline",
    "release",
    "inform",
    "unknown_type",
    "offers",
    "acks",
    "naks",
    "attach_triggers",
    "detach_triggers",
    "pending_evicted",
    "pending_expired",
    "for_other_server",
    "ignored",
    "no_ipv4_hoa",
    "leases_expired",
)


def client_key(msg: DhcpMessage) -> bytes:
    """Lease key: the client identifier when sent (RFC 2131 4.2), else the chaddr."""
    if msg.client_id is not None:
        return b"id:" + msg.client_id
    return b"hw:" + msg.chaddr[: msg.hlen]


def reply_destination(request: DhcpMessage, reply: DhcpMessage) -> ReplyDestination:
    """RFC 2131 4.1: relay, then NAK broadcast, then ciaddr, then the B flag, else chaddr."""
    if request.giaddr != UNSPECIFIED:
        return ReplyDestination(
            mac=BROADCAST_MAC, ip=request.giaddr, port=SERVER_PORT, via_relay=True
        )
    chaddr = request.chaddr[:6]
    if reply.message_type == MessageType.DHCPNAK:
        return ReplyDestination(mac=BROADCAST_MAC, ip=BROADCAST)
    if request.ciaddr != UNSPECIFIED:
        return ReplyDestination(mac=chaddr, ip=request.ciaddr)
    if request.broadcast or reply.yiaddr == UNSPECIFIED:
        return ReplyDestination(mac=BROADCAST_MAC, ip=BROADCAST)
    return ReplyDestination(mac=chaddr, ip=reply.yiaddr)


class Dhcp4Server:
    """The server: feed it packets and binding actions, drain its actions."""

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        s = self.settings
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._actions: list[ServerAction] = []
        self._bindings: dict[str, _Binding] = {}
        self._leases: dict[bytes, _Lease] = {}
        self._lease_by_mac: dict[str, bytes] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._down: OrderedDict[str, None] = OrderedDict()
        self._without_hoa: set[str] = set()  # bound MACs whose binding has no IPv4 HoA
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._newcomers = NewcomerGate(
            GateSettings(
                rate_per_s=s.global_rate_per_s, burst=s.global_burst, memory=4 * s.max_stations
            )
        )

    # --- outputs -----------------------------------------------------------------

    def drain(self) -> list[ServerAction]:
        """Every queued action, oldest first."""
        out, self._actions = self._actions, []
        return out

    def _log(self, level: str, message: str, **fields: Any) -> None:
        self._actions.append(LogEvent(level=level, message=message, fields=fields))

    # --- timers --------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next deadline (lease or pending expiry), None when nothing waits."""
        deadlines = [lease.expires_at for lease in self._leases.values()]
        deadlines += [p.expires_at for p in self._pending.values()]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        for key, lease in list(self._leases.items()):
            if lease.expires_at > now:
                continue
            self._forget_lease(key)
            if lease.state is LeaseState.BOUND:
                self.counters["leases_expired"] += 1
                self._log("info", "dhcp4 lease expired", mac=lease.mac, address=str(lease.address))
                if self.settings.detach_on_lease_expiry and lease.mac in self._bindings:
                    self._detach(lease.mac, "dhcp lease expired")
        for mac, pending in list(self._pending.items()):
            if pending.expires_at <= now:
                del self._pending[mac]
                self.counters["pending_expired"] += 1

    # --- binding actions ----------------------------------------------------------

    def binding_up(self, action: BindingUp, now: float) -> None:
        """The LMA confirmed a binding: remember it and answer a waiting request."""
        mac = action.mac
        if action.ipv4_hoa is None:
            self._bindings.pop(mac, None)
            self._without_hoa.add(mac)
            if self._pending.pop(mac, None) is not None:
                self.counters["no_ipv4_hoa"] += 1
                self._log("info", "dhcp4: binding has no IPv4 home address", mac=mac)
            return
        router = action.ipv4_default_router or action.ipv4_hoa.network.network_address
        binding = _Binding(hoa=action.ipv4_hoa, router=router, lifetime_s=action.lifetime_s)
        self._bindings[mac] = binding
        self._without_hoa.discard(mac)
        self._down.pop(mac, None)
        key = self._lease_by_mac.get(mac)
        if key is not None and self._leases[key].address != binding.hoa.ip:
            self._forget_lease(key)  # the LMA moved the MN: its next renewal gets a NAK
        pending = self._pending.pop(mac, None)
        if pending is not None:
            self._handle(pending.request, mac, now)

    def binding_down(self, action: BindingDown, now: float) -> None:
        """The binding is gone: forget the lease; later requests get a NAK."""
        del now
        mac = action.mac
        self._bindings.pop(mac, None)
        self._without_hoa.discard(mac)
        self._pending.pop(mac, None)
        key = self._lease_by_mac.get(mac)
        if key is not None:
            self._forget_lease(key)
        self._down[mac] = None
        self._down.move_to_end(mac)
        while len(self._down) > DOWN_MEMORY:
            self._down.popitem(last=False)

    # --- packets ---------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """One UDP payload that arrived on port 67 of the access link."""
        self.counters["received"] += 1
        try:
            msg = decode(data)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            self._log("debug", "dhcp4: malformed packet dropped", error=str(exc))
            return
        if msg.op != BOOTREQUEST:
            self.counters["not_a_request"] += 1
            return
        mac = msg.client_mac
        if mac is None:
            self.counters["bad_hardware"] += 1
            return
        if msg.message_type is None:
            self.counters["no_message_type"] += 1
            return
        if not self._bucket(mac).take(now):
            self.counters["rate_limited_mac"] += 1
            return
        if mac not in self._bindings and not self._admit_newcomer(mac, now):
            return
        self._handle(msg, mac, now)

    def _admit_newcomer(self, mac: str, now: float) -> bool:
        """The shared gate for MACs without a binding (mag_ap.admission): counted, summed up."""
        gate = self._newcomers
        retries = gate.counters["admitted_on_retry"]
        admitted = gate.admit(mac, now)
        if not admitted:
            self.counters["rate_limited_global"] += 1
        elif gate.counters["admitted_on_retry"] != retries:
            self.counters["admitted_on_retry"] += 1
        dropped = gate.summary(now)
        if dropped is not None:
            self._log(
                "warning",
                "dhcp4: requests from stations without a binding dropped (rate limit)",
                dropped=dropped,
                interval_s=gate.settings.summary_interval_s,
                remembered_for_retry=gate.remembered,
            )
        return admitted

    def _bucket(self, mac: str) -> TokenBucket:
        bucket = self._buckets.get(mac)
        if bucket is None:
            s = self.settings
            bucket = TokenBucket(s.per_mac_rate_per_s, s.per_mac_burst)
            self._buckets[mac] = bucket
            while len(self._buckets) > s.max_stations:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(mac)
        return bucket

    def _handle(self, msg: DhcpMessage, mac: str, now: float) -> None:
        handlers: dict[int, Callable[[DhcpMessage, str, float], None]] = {
            MessageType.DHCPDISCOVER: self._on_discover,
            MessageType.DHCPREQUEST: self._on_request,
            MessageType.DHCPDECLINE: self._on_decline,
            MessageType.DHCPRELEASE: self._on_release,
            MessageType.DHCPINFORM: self._on_inform,
        }
        handler = handlers.get(msg.message_type or 0)
        if handler is None:
            self.counters["unknown_type"] += 1
            return
        self.counters[MessageType(msg.message_type or 0).name.removeprefix("DHCP").lower()] += 1
        handler(msg, mac, now)

    def _server_id(self, binding: _Binding) -> IPv4Address:
        return self.settings.server_address or binding.router

    def _lease_time_s(self, binding: _Binding) -> int:
        return max(MIN_LEASE_TIME_S, min(self.settings.lease_time_s, binding.lifetime_s))

    def _wait_for_binding(self, msg: DhcpMessage, mac: str, now: float) -> None:
        """Keep the request until BindingUp; trigger the attach (again when it is old)."""
        s = self.settings
        if mac in self._without_hoa:
            # attached already, without IPv4: another attach would change nothing
            self.counters["no_ipv4_hoa"] += 1
            return
        pending = self._pending.get(mac)
        if pending is None:
            pending = _Pending(request=msg, triggered_at=now, expires_at=0.0)
            self._pending[mac] = pending
            self._trigger_attach(mac)
        else:
            pending.request = msg
            if now - pending.triggered_at >= s.retrigger_after_s:
                pending.triggered_at = now
                self._trigger_attach(mac)
        pending.expires_at = now + s.pending_timeout_s
        self._pending.move_to_end(mac)
        while len(self._pending) > s.max_stations:
            self._pending.popitem(last=False)
            self.counters["pending_evicted"] += 1

    def _trigger_attach(self, mac: str) -> None:
        self.counters["attach_triggers"] += 1
        self._actions.append(StationAttached(mac=mac))

    def _detach(self, mac: str, reason: str) -> None:
        self.counters["detach_triggers"] += 1
        self._actions.append(StationDetached(mac=mac, reason=reason))

    def _forget_lease(self, key: bytes) -> None:
        lease = self._leases.pop(key, None)
        if lease is not None and self._lease_by_mac.get(lease.mac) == key:
            del self._lease_by_mac[lease.mac]

    def _set_lease(
        self, msg: DhcpMessage, mac: str, address: IPv4Address, state: LeaseState, until: float
    ) -> None:
        key = client_key(msg)
        old = self._lease_by_mac.get(mac)
        if old is not None and old != key:
            self._forget_lease(old)  # one lease per MAC: the newest client id wins
        self._leases[key] = _Lease(key, mac, address, state, until)
        self._lease_by_mac[mac] = key

    def _send(self, request: DhcpMessage, reply: DhcpMessage, server_ip: IPv4Address) -> None:
        counters = {MessageType.DHCPOFFER: "offers", MessageType.DHCPACK: "acks"}
        counter = counters.get(MessageType(reply.message_type or MessageType.DHCPNAK), "naks")
        self.counters[counter] += 1
        destination = reply_destination(request, reply)
        self._actions.append(SendReply(message=reply, server_ip=server_ip, destination=destination))

    def _address_options(self, msg: DhcpMessage, binding: _Binding) -> dict[str, Any]:
        options: dict[str, Any] = {
            "subnet_mask": binding.hoa.netmask,
            "routers": (binding.router,),
            "dns_servers": self.settings.dns_servers,
        }
        mtu = self.settings.interface_mtu
        if mtu is not None and OptionCode.InterfaceMTU in msg.parameter_request_list:
            options["interface_mtu"] = mtu
        return options

    def _lease_options(self, binding: _Binding) -> dict[str, Any]:
        lease_s = self._lease_time_s(binding)
        return {
            "lease_time_s": lease_s,
            "renewal_time_s": lease_s // 2,
            "rebinding_time_s": lease_s * 7 // 8,
        }

    def _nak(self, msg: DhcpMessage, server_id: IPv4Address, why: str) -> None:
        reply = make_reply(
            msg, MessageType.DHCPNAK, server_id=server_id, message=why.encode("ascii")
        )
        self._log("info", "dhcp4 NAK", mac=msg.client_mac, reason=why)
        self._send(msg, reply, server_id)

    # --- per message type ---------------------------------------------------------

    def _on_discover(self, msg: DhcpMessage, mac: str, now: float) -> None:
        binding = self._bindings.get(mac)
        if binding is None:
            self._wait_for_binding(msg, mac, now)
            return
        server_id = self._server_id(binding)
        reply = make_reply(
            msg,
            MessageType.DHCPOFFER,
            server_id=server_id,
            yiaddr=binding.hoa.ip,
            **self._lease_options(binding),
            **self._address_options(msg, binding),
        )
        key = client_key(msg)
        lease = self._leases.get(key)
        if lease is None or lease.state is not LeaseState.BOUND:
            until = now + self.settings.offer_hold_s
            self._set_lease(msg, mac, binding.hoa.ip, LeaseState.OFFERED, until)
        self._send(msg, reply, server_id)

    def _on_request(self, msg: DhcpMessage, mac: str, now: float) -> None:
        binding = self._bindings.get(mac)
        selecting = msg.server_id is not None
        if binding is not None and selecting and msg.server_id != self._server_id(binding):
            self.counters["for_other_server"] += 1  # the client chose another server
            key = self._lease_by_mac.get(mac)
            if key is not None and self._leases[key].state is LeaseState.OFFERED:
                self._forget_lease(key)
            return
        asked = msg.requested_ip if msg.ciaddr == UNSPECIFIED else msg.ciaddr
        if binding is None:
            if selecting and msg.server_id is not None and mac not in self._down:
                # selecting an OFFER we never made (or made before a restart): start over
                self._wait_for_binding(msg, mac, now)
            elif mac in self._down or asked is None:
                self._nak(msg, msg.server_id or self._fallback_server_id(), "no binding")
            else:
                self._wait_for_binding(msg, mac, now)  # init-reboot/renew after a handover
            return
        server_id = self._server_id(binding)
        if asked != binding.hoa.ip:
            self._forget_lease(client_key(msg))
            self._nak(msg, server_id, f"address {asked} is not yours")
            return
        lease_s = self._lease_time_s(binding)
        self._set_lease(msg, mac, binding.hoa.ip, LeaseState.BOUND, now + lease_s)
        reply = make_reply(
            msg,
            MessageType.DHCPACK,
            server_id=server_id,
            yiaddr=binding.hoa.ip,
            **self._lease_options(binding),
            **self._address_options(msg, binding),
        )
        self._log("info", "dhcp4 ACK", mac=mac, address=str(binding.hoa), lease_s=lease_s)
        self._send(msg, reply, server_id)

    def _fallback_server_id(self) -> IPv4Address:
        """Server id of a NAK to a station with no binding: configured, else any we serve."""
        if self.settings.server_address is not None:
            return self.settings.server_address
        for binding in self._bindings.values():
            return binding.router
        return UNSPECIFIED

    def _ours(self, msg: DhcpMessage, mac: str) -> _Binding | None:
        """The binding when ``msg`` (RELEASE/DECLINE) is for us and about its HoA."""
        binding = self._bindings.get(mac)
        if binding is None or msg.server_id != self._server_id(binding):
            self.counters["ignored"] += 1
            return None
        return binding

    def _on_decline(self, msg: DhcpMessage, mac: str, now: float) -> None:
        del now
        binding = self._ours(msg, mac)
        if binding is None or msg.requested_ip != binding.hoa.ip:
            return
        self._forget_lease(client_key(msg))
        self._log(
            "warning",
            "dhcp4 DECLINE: the home address is in use on the access link",
            mac=mac,
            address=str(binding.hoa.ip),
        )
        self._detach(mac, "dhcp decline")

    def _on_release(self, msg: DhcpMessage, mac: str, now: float) -> None:
        del now
        binding = self._ours(msg, mac)
        if binding is None or msg.ciaddr != binding.hoa.ip:
            return
        self._forget_lease(client_key(msg))
        self._log("info", "dhcp4 RELEASE", mac=mac, address=str(binding.hoa.ip))
        self._detach(mac, "dhcp release")

    def _on_inform(self, msg: DhcpMessage, mac: str, now: float) -> None:
        del now
        binding = self._bindings.get(mac)
        if binding is None:
            self.counters["ignored"] += 1
            return
        server_id = self._server_id(binding)
        reply = make_reply(
            msg, MessageType.DHCPACK, server_id=server_id, **self._address_options(msg, binding)
        )
        self._send(msg, reply, server_id)

    # --- status ----------------------------------------------------------------------

    def status(self, now: float) -> dict[str, Any]:
        """JSON-ready counters and tables, for ``mag-ap status``."""
        leases = [
            {
                "mac": lease.mac,
                "address": str(lease.address),
                "state": lease.state.value,
                "expires_in_s": round(lease.expires_at - now, 1),
            }
            for lease in self._leases.values()
        ]
        return {
            "counters": dict(self.counters),
            "bindings": len(self._bindings),
            "pending": len(self._pending),
            "newcomers_remembered": self._newcomers.remembered,
            "leases": leases,
        }

    def lease_for(self, mac: str) -> IPv4Address | None:
        """The bound address of ``mac``, if any (for tests and status)."""
        key = self._lease_by_mac.get(mac)
        if key is None:
            return None
        lease = self._leases[key]
        return lease.address if lease.state is LeaseState.BOUND else None

    def routers(self) -> set[IPv4Address]:
        """Every default-router address a binding names (the IO side answers ARP for them)."""
        return {b.router for b in self._bindings.values()}
