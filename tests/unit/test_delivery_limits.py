"""Rate limits as tables: parsing, the token bucket's waits, which buckets apply to a recipient."""

from __future__ import annotations

import pytest

from epistola.delivery.limits import (
    Limiter,
    Rate,
    TokenBucket,
    parse_concurrency,
    parse_rate,
    parse_rates,
    recipient_domain,
)
from epistola.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "count", "per_s"),
    [("500/s", 500, 1), ("20/min", 20, 60), ("1000/h", 1000, 3600), ("5/10s", 5, 10), (" 2.5 / sec ", 2.5, 1)],
)
def test_rates_parse(text: str, count: float, per_s: float) -> None:
    assert parse_rate(text) == Rate(count=count, per_s=per_s)


@pytest.mark.parametrize("text", ["", "fast", "10", "10/day", "0/s", "-1/s", "5/0s"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a rate|zero time window"):
        parse_rate(text)


@pytest.mark.parametrize(
    # rate 2/s, burst 2: reservation times -> expected waits
    ("times", "waits"),
    [
        ([0, 0, 0, 0], [0, 0, 0.5, 1.0]),  # a burst of two, then one every half second
        ([0, 0, 1, 1], [0, 0, 0, 0]),  # a second later the bucket has refilled
        ([0, 0, 0, 10], [0, 0, 0.5, 0]),  # refills only up to the burst
        ([0, 0, 0, 0.25], [0, 0, 0.5, 0.75]),  # queued reservations space out evenly
    ],
)
def test_token_bucket_waits(times: list[float], waits: list[float]) -> None:
    bucket = TokenBucket(Rate(count=2, per_s=1))
    assert [pytest.approx(bucket.reserve(t)) for t in times] == waits


def test_slow_rates_have_a_burst_of_one() -> None:
    bucket = TokenBucket(Rate(count=1, per_s=60))
    assert [bucket.reserve(0), bucket.reserve(0)] == [0, 60]


@pytest.mark.parametrize(
    ("recipient", "domain"),
    [("Anna@Example.ORG", "@example.org"), ("+48600100200", None), ("a@", None), ("@x.org", None)],
)
def test_recipient_domain(recipient: str, domain: str | None) -> None:
    assert recipient_domain(recipient) == domain


def test_channel_domain_and_default_domain_buckets_all_apply() -> None:
    now = [0.0]
    limiter = Limiter(parse_rates("email=10/s,@slow.test=1/s,@*=2/s"), monotonic=lambda: now[0])
    assert limiter.reserve("email", "a@slow.test") == 0
    assert limiter.reserve("email", "b@slow.test") == pytest.approx(1.0)  # the domain's own rate
    assert [limiter.reserve("email", f"{i}@other.test") for i in range(3)] == [0, 0, pytest.approx(0.5)]
    assert limiter.reserve("email", "c@third.test") == 0  # `@*` is a rate per domain, not one shared budget
    assert limiter.reserve("sms", "+48600100200") == 0  # no limit for SMS configured


def test_settings_errors_name_each_bad_target() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rates("email=fast,@gmail.com=50/s,sms=0/s")
    fields = [p.field for p in caught.value.problems]
    assert fields == ["EPISTOLA_RATE_LIMITS (email)", "EPISTOLA_RATE_LIMITS (sms)"]
    with pytest.raises(ConfigError, match="is not `target=limit`"):
        parse_rates("email")


@pytest.mark.parametrize(("value", "expected"), [("@gmail.com=4,@*=16", {"@gmail.com": 4, "@*": 16}), ("", {})])
def test_concurrency_parses(value: str, expected: dict[str, int]) -> None:
    assert parse_concurrency(value) == expected


@pytest.mark.parametrize("value", ["gmail.com=4", "@gmail.com=0", "@gmail.com=many"])
def test_bad_concurrency_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="EPISTOLA_DOMAIN_CONCURRENCY"):
        parse_concurrency(value)
