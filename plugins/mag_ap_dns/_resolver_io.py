"""LMA discovery over DNS (IO half): UDP queries, retries, server failover, TTL cache.

Each query goes out from its own ephemeral UDP socket with a random message ID
(RFC 5452: spoofed answers must guess both); answers that are not ours, do not
decode, or come from a failing server are counted and ignored until the try
times out. An answer (even NXDOMAIN) is cached for its TTL.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mag_ap.core.types import Address
from mag_ap.runtime import asyncio
from mag_ap.runtime.udp_queue import DatagramQueue

from ._answers import (
    Answer,
    AnswerError,
    ServerFailureError,
    build_query,
    normalize_fqdn,
    parse_answer,
    qtype_for,
)
from ._cache import AnswerCache
from ._settings import COUNTERS, DnsSettings, nameservers_of

log = logging.getLogger("mag_ap.dns")


class DnsLmaDiscovery:
    """LmaDiscoveryProvider: AAAA (IPv6 transport) or A (IPv4 transport) of an LMA FQDN."""

    name = "dns"

    def __init__(
        self,
        settings: DnsSettings,
        *,
        random: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._random = random
        self._clock = clock
        self.cache = AnswerCache(
            min_ttl_s=settings.min_ttl_s,
            max_ttl_s=settings.max_ttl_s,
            negative_ttl_s=settings.negative_ttl_s,
        )
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)

    def status(self) -> dict[str, Any]:
        return {**self.counters, "cached": len(self.cache)}

    def servers(self) -> tuple[Address, ...]:
        if self.settings.servers:
            return self.settings.servers
        try:
            return nameservers_of(Path(self.settings.resolv_conf).read_text())
        except OSError:
            return ()

    async def resolve(self, fqdn: str, transport: str) -> list[Address]:
        self.counters["lookups"] += 1
        qtype = qtype_for(transport)
        key = (normalize_fqdn(fqdn), qtype)
        cached = self.cache.get(key, self._clock())
        if cached is not None:
            self.counters["cache_hits"] += 1
            return list(cached)
        for server in self.servers():
            answer = await self._query(server, fqdn, qtype)
            if answer is None:
                continue
            if answer.nxdomain:
                self.counters["nxdomain"] += 1
            elif not answer.addresses:
                self.counters["empty"] += 1
            self.cache.put(key, answer.addresses, answer.ttl_s, self._clock())
            log.info("%s %s -> %s (TTL %d s)", fqdn, qtype, answer.addresses, answer.ttl_s)
            return list(answer.addresses)
        self.counters["failed"] += 1
        log.warning("no DNS server answered %s %s", fqdn, qtype)
        return []

    async def _query(self, server: Address, fqdn: str, qtype: str) -> Answer | None:
        loop = asyncio.get_running_loop()
        transport, answers = await loop.create_datagram_endpoint(
            DatagramQueue, remote_addr=(str(server), self.settings.port)
        )
        try:
            ident = int.from_bytes(self._random(2), "big")
            query = build_query(fqdn, qtype, ident)
            for _ in range(self.settings.tries):
                self.counters["queries"] += 1
                transport.sendto(query)
                deadline_at = loop.time() + self.settings.timeout_s
                while True:
                    item = await answers.next_before(deadline_at)
                    if item is None:
                        self.counters["timeouts"] += 1
                        break
                    if isinstance(item, OSError):
                        self.counters["unreachable"] += 1
                        return None
                    try:
                        answer = parse_answer(item, ident, fqdn, qtype)
                    except ServerFailureError as exc:
                        self.counters["server_failures"] += 1
                        log.warning("DNS server %s failed: %s", server, exc)
                        return None
                    except AnswerError as exc:
                        self.counters["bad_answers"] += 1
                        log.warning("DNS answer from %s ignored: %s", server, exc)
                        continue
                    self.counters["answers"] += 1
                    return answer
            return None
        finally:
            transport.close()
