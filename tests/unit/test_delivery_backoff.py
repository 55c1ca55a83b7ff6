"""The retry schedule is a table: exponential, capped, jittered into [half, full], and reproducible."""

from __future__ import annotations

from datetime import timedelta

import pytest

from epistola.delivery import next_attempt_delay


@pytest.mark.parametrize(
    ("attempt", "kwargs", "low_s", "high_s"),
    [
        (1, {}, 15, 30),
        (2, {}, 30, 60),
        (3, {}, 60, 120),
        (7, {}, 960, 1920),
        (8, {}, 1800, 3600),  # 30 * 2**7 = 3840 is over the cap
        (50, {}, 1800, 3600),
        (10_000, {}, 1800, 3600),  # no overflow however long it has been failing
        (0, {}, 15, 30),  # nonsense attempt numbers count as the first
        (-3, {}, 15, 30),
        (1, {"base_s": 60}, 30, 60),
        (3, {"factor": 3}, 135, 270),
        (4, {"factor": 1}, 15, 30),  # constant delay
        (5, {"cap_s": 100}, 50, 100),
        (2000, {"factor": 1e10}, 1800, 3600),  # a float that overflows is capped, not an error
        (3, {"base_s": 0}, 0, 0),
    ],
)
def test_delay_table(attempt: int, kwargs: dict[str, float], low_s: float, high_s: float) -> None:
    for key in range(50):
        delay = next_attempt_delay(attempt, jitter_key=key, **kwargs)
        assert timedelta(seconds=low_s) <= delay <= timedelta(seconds=high_s)


def test_same_message_same_attempt_same_delay() -> None:
    assert next_attempt_delay(3, jitter_key=42) == next_attempt_delay(3, jitter_key=42)


def test_jitter_spreads_a_batch_that_failed_together() -> None:
    delays = {next_attempt_delay(1, jitter_key=message_id) for message_id in range(200)}
    assert len(delays) > 150
    seconds = sorted(d.total_seconds() for d in delays)
    assert seconds[0] < 17 and seconds[-1] > 28  # the whole [15, 30] band is used


def test_jitter_differs_between_attempts_of_one_message() -> None:
    ratios = {
        next_attempt_delay(n, jitter_key=7, cap_s=1e9) / timedelta(seconds=30 * 2 ** (n - 1)) for n in range(1, 9)
    }
    assert len(ratios) == 8
