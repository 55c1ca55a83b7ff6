"""When to try again: a pure function, so a retry schedule is a table you can read and test."""

from __future__ import annotations

import hashlib
from datetime import timedelta


def next_attempt_delay(
    attempt: int,
    *,
    base_s: float = 30,
    factor: float = 2,
    cap_s: float = 3600,
    jitter_key: int = 0,
) -> timedelta:
    """Delay after failed attempt number `attempt` (1 = the first): exponential, capped, jittered.

    The un-jittered delay is ``min(cap_s, base_s * factor ** (attempt - 1))``; the result lies between
    half of it and all of it. The jitter spreads a batch that failed together (a server outage) so it
    does not come back as one wave, and it is derived from `jitter_key` (the message id) and the attempt
    instead of `random`, so the same message always waits the same time: reproducible, and testable.
    """
    n = max(attempt, 1)
    base = max(base_s, 0.0)
    cap = max(cap_s, 0.0)
    try:
        raw = min(cap, base * factor ** min(n - 1, 10_000))
    except OverflowError:
        raw = cap
    digest = hashlib.blake2b(f"{jitter_key}:{n}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64  # uniform in [0, 1)
    return timedelta(seconds=raw * (0.5 + 0.5 * fraction))
