"""Rate and concurrency limits per provider (channel) and per recipient domain, applied by each worker.

Providers cap how fast they accept (an SMS aggregator's 30 messages a second) and mailbox providers
throttle or defer senders that open too many connections or send too fast to their domain. A limit is
kept by the worker just before a message is handed over: `TokenBucket` is a pure reservation
calculator (time is passed in, so it is a table test), `Limiter` applies the buckets and per-domain
semaphores on the event loop and gives up at once when the worker is told to stop.

Limits are per worker process: with N workers, each gets its own allowance (documented in
docs/delivery.md). Sharing a budget across machines would need a round trip to the database per
message, which costs more than the limits are worth at these rates.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from epistola.config import Settings
from epistola.errors import ConfigError, Problem

_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*([a-z]+)\s*$")
ANY_DOMAIN = "@*"


@dataclass(frozen=True, kw_only=True)
class Rate:
    """`count` messages per `per_s` seconds; bursts of up to `count` (at least 1) are allowed."""

    count: float
    per_s: float

    @property
    def per_second(self) -> float:
        return self.count / self.per_s

    @property
    def burst(self) -> float:
        return max(1.0, self.count)


class TokenBucket:
    """A reservation-style token bucket: `reserve(now)` takes a token and says how long to wait for it.

    Tokens may go negative: each reservation queues behind the earlier ones, so concurrent callers are
    spaced evenly instead of all waking at the same instant.
    """

    def __init__(self, rate: Rate, *, now: float = 0.0) -> None:
        self.rate = rate.per_second
        self.burst = rate.burst
        self.tokens = self.burst
        self.stamp = now

    def reserve(self, now: float) -> float:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def parse_rate(text: str) -> Rate:
    """``500/s``, ``20/min``, ``1000/h``, ``5/10s`` -> Rate; ValueError with the accepted forms otherwise."""
    match = _RATE.match(text.lower())
    if not match or match.group(3) not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate like 500/s, 20/min, 1000/h or 5/10s")
    count, multiple, unit = match.groups()
    per_s = _UNITS[unit] * (int(multiple) if multiple else 1)
    if per_s <= 0:
        raise ValueError(f"{text!r} has a zero time window")
    return Rate(count=float(count), per_s=per_s)


def _pairs(value: str, setting: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        key, sep, limit = item.partition("=")
        key = key.strip().lower()
        if not sep or not key or key == "@" or not limit.strip():
            raise ConfigError(
                f"{setting}: {item!r} is not `target=limit`",
                hint="Targets are a channel (email, sms, …) or a recipient domain (@gmail.com; @* for every other).",
            )
        pairs.append((key, limit.strip()))
    return pairs


def parse_rates(value: str, *, setting: str = "EPISTOLA_RATE_LIMITS") -> dict[str, Rate]:
    """``email=500/s,@gmail.com=50/s,@*=100/s`` -> {target: Rate}; every bad item is named."""
    rates: dict[str, Rate] = {}
    problems = []
    for key, limit in _pairs(value, setting):
        try:
            rates[key] = parse_rate(limit)
        except ValueError as exc:
            problems.append(Problem(message=str(exc), field=f"{setting} ({key})"))
    if problems:
        raise ConfigError(f"{setting} has {len(problems)} bad rate(s)", problems=problems)
    return rates


def parse_concurrency(value: str, *, setting: str = "EPISTOLA_DOMAIN_CONCURRENCY") -> dict[str, int]:
    """``@gmail.com=4,@*=16`` -> {domain: limit}."""
    limits: dict[str, int] = {}
    for key, limit in _pairs(value, setting):
        if not key.startswith("@") or not limit.isdigit() or int(limit) < 1:
            raise ConfigError(
                f"{setting}: {key}={limit} must be `@domain=N` with N ≥ 1",
                hint="Example: EPISTOLA_DOMAIN_CONCURRENCY=@gmail.com=4,@*=16",
            )
        limits[key] = int(limit)
    return limits


def recipient_domain(recipient: str) -> str | None:
    """``@example.org`` for an e-mail address; None for recipients without a domain (phone numbers)."""
    local, at, domain = recipient.rpartition("@")
    return f"@{domain.lower()}" if at and local and domain else None


class Limiter:
    """Applies the configured limits on one event loop; one instance per worker."""

    def __init__(
        self,
        rates: Mapping[str, Rate] | None = None,
        concurrency: Mapping[str, int] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rates = dict(rates or {})
        self.concurrency = dict(concurrency or {})
        self.monotonic = monotonic
        self._buckets: dict[str, TokenBucket] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiter:
        return cls(parse_rates(settings.rate_limits), parse_concurrency(settings.domain_concurrency))

    @property
    def active(self) -> bool:
        return bool(self.rates or self.concurrency)

    def _bucket(self, key: str, rate_key: str) -> TokenBucket | None:
        rate = self.rates.get(rate_key)
        if rate is None:
            return None
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(rate, now=self.monotonic())
        return self._buckets[key]

    def _semaphore(self, domain: str) -> asyncio.Semaphore | None:
        limit = self.concurrency.get(domain, self.concurrency.get(ANY_DOMAIN))
        if limit is None:
            return None
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # semaphores belong to one loop; a new `run` starts afresh
            self._semaphores, self._loop = {}, loop
        if domain not in self._semaphores:
            self._semaphores[domain] = asyncio.Semaphore(limit)
        return self._semaphores[domain]

    def reserve(self, channel: str, recipient: str) -> float:
        """Take a token from every bucket that applies; the seconds to wait before sending."""
        wait = 0.0
        now = self.monotonic()
        buckets = [self._bucket(channel, channel)]
        domain = recipient_domain(recipient)
        if domain is not None:
            buckets.append(self._bucket(domain, domain if domain in self.rates else ANY_DOMAIN))
        for bucket in buckets:
            if bucket is not None:
                wait = max(wait, bucket.reserve(now))
        return wait

    @asynccontextmanager
    async def slot(self, channel: str, recipient: str, stop: asyncio.Event) -> AsyncIterator[bool]:
        """Hold the domain's concurrency slot and wait for the rate; yields False if `stop` came first."""
        domain = recipient_domain(recipient)
        semaphore = self._semaphore(domain) if domain is not None else None
        if semaphore is not None:
            await semaphore.acquire()
        try:
            wait = self.reserve(channel, recipient)
            if wait > 0:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except TimeoutError:
                    pass
            yield not stop.is_set()
        finally:
            if semaphore is not None:
                semaphore.release()
