"""The RADIUS policy client (IO half): UDP exchanges with the AAA servers.

``profile_for`` sends one Access-Request per server (its own ephemeral UDP
socket, so a reply can only come from that exchange), retransmits the same
bytes ``tries`` times (RFC 5080 section 2.2.1: same Identifier and
Authenticator), and fails over to the next server when one does not answer or
answers with an ICMP error. The server that last answered is asked first next
time. Replies that do not decode, carry another Identifier or fail the Response
Authenticator / Message-Authenticator check are counted and ignored: only a
genuine answer ends the wait. Access-Accept -> profile (:mod:`._mapping`),
Access-Reject / Challenge / no usable LMA / no answer -> None (no binding).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

from mag_ap.core.types import Address, MobileNodeProfile
from mag_ap.runtime import asyncio
from mag_ap.runtime.udp_queue import DatagramQueue
from mag_ap.ttl_cache import TtlCache
from mag_ap.wire import DecodeError

from ._mapping import Authorization, parse_accept, profile_from, request_attributes
from ._settings import RadiusServer, RadiusSettings
from .packet import Code, Packet, decode, encode_access_request, verify_response

log = logging.getLogger("mag_ap.radius")

COUNTERS = (
    "requests",  # profile_for calls that went to the network
    "cache_hits",
    "accepts",
    "rejects",
    "challenges",  # Access-Challenge: no EAP here, so refused
    "unusable_accepts",  # an Accept naming no LMA of the transport's family
    "bad_attributes",  # malformed attributes skipped in an Accept
    "retransmits",
    "timeouts",  # tries that got no genuine answer in timeout_s
    "unreachable",  # ICMP errors (port or host unreachable)
    "failovers",  # moved on to the next server
    "no_answer",  # no server answered: refused
    "bad_packets",  # did not decode
    "wrong_identifier",
    "bad_authenticator",  # Response Authenticator or Message-Authenticator wrong or missing
    "refused_mn_id",  # the MN-ID does not fit in User-Name
)


class RadiusPolicy:
    """PolicyProvider asking AAA servers (RFC 6572) for each mobile node's profile."""

    name = "radius"

    def __init__(
        self,
        settings: RadiusSettings,
        *,
        random: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._random = random
        self._clock = clock
        self._identifier = random(1)[0]
        self._preferred = 0  # index of the server that answered last
        self.cache: TtlCache[tuple[str, str], MobileNodeProfile] = TtlCache()
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.last: dict[str, Authorization] = {}  # by MN-ID, for status and for other plugins

    def status(self) -> dict[str, Any]:
        """Counters and cache size; no IO."""
        servers = [f"[{s.address}]:{s.port}" for s in self.settings.servers]
        return {
            **self.counters,
            "servers": servers,
            "preferred": servers[self._preferred],
            "cached": len(self.cache),
        }

    async def profile_for(self, mn_id: str, mac: str) -> MobileNodeProfile | None:
        key = (mn_id, mac)
        cached = self.cache.get(key, self._clock())
        if cached is not None:
            self.counters["cache_hits"] += 1
            return cached
        self.counters["requests"] += 1
        reply = await self._ask(mn_id, mac)
        if reply is None:
            return None
        if reply.code == Code.ACCESS_REJECT:
            self.counters["rejects"] += 1
            log.info("Access-Reject for %s (%s)", mn_id, mac)
            return None
        if reply.code == Code.ACCESS_CHALLENGE:
            self.counters["challenges"] += 1
            log.warning("Access-Challenge for %s: the MAG does no EAP, refused", mn_id)
            return None
        self.counters["accepts"] += 1
        auth = parse_accept(reply)
        if auth.problems:
            self.counters["bad_attributes"] += len(auth.problems)
            log.warning("Access-Accept for %s: skipped %s", mn_id, "; ".join(auth.problems))
        self.last[mn_id] = auth
        profile = profile_from(
            auth,
            mn_id,
            transport=self.settings.transport,
            default_lma=self.settings.lma_address,
            gre_key=self.settings.gre_key,
        )
        if profile is None:
            self.counters["unusable_accepts"] += 1
            log.warning("Access-Accept for %s names no %s LMA", mn_id, self.settings.transport)
            return None
        self.cache.put(key, profile, self.settings.cache_ttl_s, self._clock())
        return profile

    async def _ask(self, mn_id: str, mac: str) -> Packet | None:
        """The first genuine answer of any server, in failover order; None when none."""
        servers = self.settings.servers
        for step in range(len(servers)):
            index = (self._preferred + step) % len(servers)
            if step:
                self.counters["failovers"] += 1
                log.warning("RADIUS failover to %s", servers[index].address)
            try:
                reply = await self._exchange(servers[index], mn_id, mac)
            except ValueError as exc:
                self.counters["refused_mn_id"] += 1
                log.warning("cannot ask RADIUS for %r: %s", mn_id, exc)
                return None
            if reply is not None:
                self._preferred = index
                return reply
        self.counters["no_answer"] += 1
        log.warning("no RADIUS server answered for %s (%s)", mn_id, mac)
        return None

    def _next_identifier(self) -> int:
        self._identifier = (self._identifier + 1) & 0xFF
        return self._identifier

    async def _exchange(self, server: RadiusServer, mn_id: str, mac: str) -> Packet | None:
        loop = asyncio.get_running_loop()
        transport, replies = await loop.create_datagram_endpoint(
            DatagramQueue, remote_addr=(str(server.address), server.port)
        )
        try:
            nas_address = self.settings.nas_address or _own_address(transport)
            identifier = self._next_identifier()
            authenticator = self._random(16)
            attrs = request_attributes(
                mn_id=mn_id,
                mac=mac,
                nas_address=nas_address,
                nas_identifier=self.settings.nas_identifier,
                service_type=self.settings.service_type,
                password=self.settings.password,
                secret=server.secret,
                authenticator=authenticator,
            )
            request = encode_access_request(identifier, authenticator, attrs, server.secret)
            for attempt in range(self.settings.tries):
                if attempt:
                    self.counters["retransmits"] += 1
                transport.sendto(request)
                outcome = await self._await_reply(replies, identifier, authenticator, server)
                if isinstance(outcome, Packet):
                    return outcome
                if outcome == "unreachable":
                    return None  # ICMP says nobody listens: fail over at once
            return None
        finally:
            transport.close()

    async def _await_reply(
        self, replies: DatagramQueue, identifier: int, authenticator: bytes, server: RadiusServer
    ) -> Packet | str:
        """The genuine reply within timeout_s, or "timeout" / "unreachable"."""
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + self.settings.timeout_s
        while True:
            item = await replies.next_before(deadline_at)
            if item is None:
                self.counters["timeouts"] += 1
                return "timeout"
            if isinstance(item, OSError):
                self.counters["unreachable"] += 1
                log.warning("RADIUS server %s unreachable: %s", server.address, item)
                return "unreachable"
            reply = self._check(item, identifier, authenticator, server)
            if reply is not None:
                return reply

    def _check(
        self, data: bytes, identifier: int, authenticator: bytes, server: RadiusServer
    ) -> Packet | None:
        """A decoded, authenticated reply to this request; None (counted) otherwise."""
        try:
            packet = decode(data)
        except DecodeError as exc:
            self.counters["bad_packets"] += 1
            log.warning("bad RADIUS reply from %s: %s", server.address, exc)
            return None
        if packet.identifier != identifier:
            self.counters["wrong_identifier"] += 1
            return None
        problem = verify_response(
            packet,
            authenticator,
            server.secret,
            require_message_authenticator=self.settings.require_message_authenticator,
        )
        if problem is not None:
            self.counters["bad_authenticator"] += 1
            log.warning("RADIUS reply from %s refused: %s", server.address, problem)
            return None
        return packet


def _own_address(transport: asyncio.BaseTransport) -> Address | None:
    """The local address the kernel chose towards the server (for NAS-IP(v6)-Address)."""
    sockname = transport.get_extra_info("sockname")
    if not sockname:
        return None
    try:
        address = ip_address(str(sockname[0]).split("%", 1)[0])
    except ValueError:
        return None
    return None if address.is_unspecified else address
