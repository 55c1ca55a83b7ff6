"""The per-IP token bucket, with a clock the test moves."""

from __future__ import annotations

import pytest

from epistola.web.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "burst", "script", "allowed"),
    [
        # (seconds to wait before the request) -> allowed?
        (1.0, 3, [0, 0, 0, 0], [True, True, True, False]),
        (1.0, 3, [0, 0, 0, 0, 1.0], [True, True, True, False, True]),
        (1.0, 3, [0, 0, 0, 0, 0.5], [True, True, True, False, False]),
        (2.0, 1, [0, 0.25, 0.25, 0.5], [True, False, True, True]),
        (10.0, 2, [0, 0, 0, 100, 0, 0], [True, True, False, True, True, False]),  # refills only up to the burst
        (0.0, 1, [0, 0, 0], [True, True, True]),  # rate 0: no limit
    ],
)
def test_token_bucket(rate: float, burst: int, script: list[float], allowed: list[bool]) -> None:
    clock = Clock()
    limiter = RateLimiter(rate=rate, burst=burst, clock=clock)
    seen = []
    for wait in script:
        clock.now += wait
        seen.append(limiter.check("192.0.2.1").allowed)
    assert seen == allowed


def test_clients_have_their_own_buckets_and_the_table_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=2, clock=clock)
    assert limiter.check("a").allowed and not limiter.check("a").allowed
    assert limiter.check("b").allowed, "another client is not affected"
    assert limiter.check("c").allowed  # evicts the idlest bucket ("a"), which comes back full
    assert limiter.check("a").allowed
    refused = limiter.check("a")
    assert not refused.allowed and limiter.retry_after_header(refused) == "1"
