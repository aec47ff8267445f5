"""Admission of stations nobody vouched for: token buckets and a second chance (pure).

A DHCP DISCOVER or a Router Solicitation from a MAC without a binding is an
attach trigger, and each admitted one costs an identity lookup, a policy
lookup, a PBU and a binding at the LMA. Anyone on the access link can forge
such packets from thousands of MACs, so those triggers pass a token bucket.
A plain bucket starves the real station during a flood (its DISCOVER wins a
token with the odds rate/flood), so a MAC refused once is remembered (a
bounded LRU) and, when it asks again at least ``retry_gap_s`` later, is
admitted from a second bucket that first-time MACs never touch: a real client
retransmits within seconds, while forged MACs that do not repeat never reach
that bucket, and ones that cycle through more MACs than ``memory`` are
forgotten before they come back. The limit: a flood faster than ``memory``
per retransmission interval (4,096 entries, ~160 B each: 1,000 forged MACs/s
against the kernel's 4 s Router Solicitation interval, 4,000/s against
udhcpc's 1 s DISCOVERs) forgets the real station too before it retries.
Drops are counted and summed up in one log line per ``summary_interval_s``
(:meth:`NewcomerGate.summary`), never one per packet.

Sans-IO: every call takes ``now`` (monotonic seconds).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

__all__ = ["GATE_COUNTERS", "GateSettings", "NewcomerGate", "TokenBucket"]


@dataclass
class TokenBucket:
    """Classic token bucket; ``take`` spends one token when there is one."""

    rate_per_s: float
    burst: float
    tokens: float = -1.0
    updated_at: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated_at = self.burst, now
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    """Rates of newcomers admitted; the retry bucket has the same rate and burst."""

    rate_per_s: float = 20.0
    burst: int = 50
    memory: int = 4096  # refused MACs remembered for their second chance (~100 B each)
    retry_gap_s: float = 0.5  # a retry sooner than this is the same burst, not a retry
    summary_interval_s: float = 10.0


GATE_COUNTERS: Final = ("admitted", "admitted_on_retry", "dropped_rate", "dropped_retry_rate")


class NewcomerGate:
    """Say yes or no to a trigger from a station without a binding; count and summarise."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.settings = s = settings or GateSettings()
        self._first = TokenBucket(s.rate_per_s, s.burst)
        self._retry = TokenBucket(s.rate_per_s, s.burst)
        self._refused: OrderedDict[Hashable, float] = OrderedDict()
        self.counters: dict[str, int] = dict.fromkeys(GATE_COUNTERS, 0)
        self._dropped_since_summary = 0
        self._summary_at: float | None = None

    def admit(self, key: Hashable, now: float) -> bool:
        """True: go ahead and trigger the attach of ``key`` (a MAC); False: dropped."""
        refused_at = self._refused.get(key)
        if refused_at is not None and now - refused_at >= self.settings.retry_gap_s:
            # Kept (restamped) after a second chance: a station whose attach is turned
            # away further on (the daemon's backlog) keeps its place here on its next try.
            self._remember(key, now)
            if self._retry.take(now):
                self.counters["admitted_on_retry"] += 1
                return True
            self.counters["dropped_retry_rate"] += 1
            return self._dropped(now)
        if self._first.take(now):
            self.counters["admitted"] += 1
            self._refused.pop(key, None)
            return True
        self.counters["dropped_rate"] += 1
        if refused_at is None:
            self._remember(key, now)
        return self._dropped(now)

    def summary(self, now: float) -> int | None:
        """Drops since the last summary, once per interval while there are any; else None."""
        if self._summary_at is None or now < self._summary_at:
            return None
        dropped, self._dropped_since_summary = self._dropped_since_summary, 0
        self._summary_at = now + self.settings.summary_interval_s if dropped else None
        return dropped or None

    @property
    def remembered(self) -> int:
        """Refused MACs waiting for their second chance (bounded by ``memory``)."""
        return len(self._refused)

    def _remember(self, key: Hashable, now: float) -> None:
        self._refused[key] = now
        self._refused.move_to_end(key)
        while len(self._refused) > self.settings.memory:
            self._refused.popitem(last=False)

    def _dropped(self, now: float) -> bool:
        self._dropped_since_summary += 1
        if self._summary_at is None:
            self._summary_at = now  # the first drop is reported at once
        return False
