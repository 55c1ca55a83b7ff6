"""Rate limits for public endpoints: a token bucket per client IP, kept in this process's memory.

Each bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one or is
refused with 429 and a Retry-After. Buckets live in one process: with several API processes behind a
load balancer each keeps its own, so a client can make up to N times the rate (documented in
docs/feedback.md). The table is bounded: when it is full, the buckets idle longest are dropped (a dropped
bucket is a full one, so that errs towards letting people in).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until one token is back


class RateLimiter:
    """Token buckets by key (a client IP). Not thread-safe: one per event loop, as uvicorn runs it."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, key: str) -> Verdict:
        """Take one token for `key` if there is one."""
        if not self.enabled:
            return Verdict(allowed=True)
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            allowed, wait = True, 0.0
        else:
            self._buckets[key] = (tokens, now)
            allowed, wait = False, (1.0 - tokens) / self.rate
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return Verdict(allowed=allowed, retry_after=wait)

    def retry_after_header(self, verdict: Verdict) -> str:
        return str(max(1, math.ceil(verdict.retry_after)))
