"""The pure consent rules: replaying a history, merging customers, the policy table and its syntax."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from epistola.consent.model import (
    ConsentEntry,
    LedgerRow,
    Standing,
    check_entry,
    is_narrower_or_equal,
    merge_standing,
    replay,
    scrub_proof,
)
from epistola.consent.policy import ConsentPolicy, parse_policy
from epistola.errors import InputError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(
    id_: int, status: str, day: int, *, expires: int | None = None, customer: int = 1, channel: str = "email"
) -> LedgerRow:
    return LedgerRow(
        id=id_,
        entry=ConsentEntry(
            customer_id=customer,
            channel=channel,
            purpose="marketing",
            status=status,  # type: ignore[arg-type]
            source="test",
            recorded_at=T0 + timedelta(days=day),
            expires_at=None if expires is None else T0 + timedelta(days=expires),
        ),
    )


@pytest.mark.parametrize(
    ("rows", "now_day", "expected"),
    [
        ([], 10, None),
        ([row(1, "granted", 1)], 10, "granted"),
        ([row(1, "granted", 1), row(2, "withdrawn", 2)], 10, "withdrawn"),
        ([row(2, "withdrawn", 2), row(1, "granted", 3)], 10, "granted"),  # recorded later wins, not inserted later
        ([row(1, "granted", 2), row(2, "denied", 2)], 10, "denied"),  # same moment: the later id
        ([row(2, "denied", 2), row(1, "granted", 2)], 10, "denied"),
        ([row(1, "granted", 1), row(2, "withdrawn", 20)], 10, "granted"),  # the future does not count yet
        ([row(1, "granted", 1, expires=5)], 10, "withdrawn"),  # an expired grant is no consent
        ([row(1, "granted", 1, expires=5)], 4, "granted"),
        ([row(1, "granted", 1, expires=5)], 5, "withdrawn"),  # expired at that very moment
        ([row(1, "granted", 1), row(2, "granted", 3, expires=5)], 10, "withdrawn"),  # the latest grant replaced it
        ([row(1, "denied", 1, expires=5)], 10, "denied"),  # only grants expire
    ],
)
def test_replay_takes_the_latest_entry_in_force(rows: list[LedgerRow], now_day: int, expected: str | None) -> None:
    state = replay(rows, T0 + timedelta(days=now_day))
    assert state.get((1, "email", "marketing")) == expected


def test_replay_keeps_customers_channels_and_purposes_apart() -> None:
    rows = [row(1, "granted", 1), row(2, "withdrawn", 2, customer=2), row(3, "denied", 3, channel="sms")]
    assert replay(rows, T0 + timedelta(days=9)) == {
        (1, "email", "marketing"): "granted",
        (2, "email", "marketing"): "withdrawn",
        (1, "sms", "marketing"): "denied",
    }


G, W, D = Standing(status="granted"), Standing(status="withdrawn"), Standing(status="denied")
EXP = T0 + timedelta(days=30)


@pytest.mark.parametrize(
    ("parts", "merged"),
    [
        ([], None),
        ([None, None], None),
        ([G, None], G),
        ([G, G], G),
        ([G, W], W),
        ([W, G], W),
        ([G, D], D),
        ([D, W], W),  # withdrawn is the stronger word
        ([None, D], D),
        ([G, Standing(status="granted", expires_at=EXP)], Standing(status="granted", expires_at=EXP)),
        (
            [
                Standing(status="granted", expires_at=EXP + timedelta(days=1)),
                Standing(status="granted", expires_at=EXP),
            ],
            Standing(status="granted", expires_at=EXP),
        ),
    ],
)
def test_merging_never_widens(parts: list[Standing | None], merged: Standing | None) -> None:
    result = merge_standing(parts)
    assert result == merged
    assert is_narrower_or_equal(result, dict(enumerate(parts)))


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("consent.channel", {"channel": "fax"}),
        ("consent.purpose", {"purpose": "gossip"}),
        ("consent.status", {"status": "maybe"}),
        ("consent.source", {"source": " "}),
        ("consent.recorded_at", {"recorded_at": datetime(2026, 1, 1)}),
        ("consent.expires_at", {"expires_at": T0 - timedelta(days=1)}),
    ],
)
def test_bad_entries_are_refused_naming_the_field(field: str, entry: dict[str, object]) -> None:
    base: dict[str, object] = {
        "customer_id": 1,
        "channel": "email",
        "purpose": "marketing",
        "status": "granted",
        "source": "api",
        "recorded_at": T0,
    }
    with pytest.raises(InputError) as caught:
        check_entry(ConsentEntry(**{**base, **entry}))  # type: ignore[arg-type]
    assert [p.field for p in caught.value.problems] == [field]


def test_scrubbing_a_proof_keeps_what_was_agreed_and_drops_who() -> None:
    proof = {"kind": "form", "text_version": "2026-01", "text_hash": "ab", "ip": "203.0.113.9", "user_agent": "UA"}
    assert scrub_proof(proof) == {"kind": "form", "text_version": "2026-01", "text_hash": "ab", "erased": True}


@pytest.mark.parametrize(
    ("channel", "purpose", "country", "expected"),
    [
        ("email", "marketing", "PL", "opt_in"),
        ("sms", "marketing", None, "opt_in"),
        ("post", "marketing", "RU", "opt_out"),
        ("web", "marketing", "US", "opt_out"),
        ("email", "service", "US", "opt_out"),
        ("push", "profiling", "PL", "opt_in"),
    ],
)
def test_default_policy(channel: str, purpose: str, country: str | None, expected: str) -> None:
    assert ConsentPolicy().requirement(channel, purpose, country) == expected


@pytest.mark.parametrize(
    ("rules", "channel", "purpose", "country", "expected"),
    [
        ("email:marketing:US=opt_out", "email", "marketing", "US", "opt_out"),
        ("email:marketing:US=opt_out", "email", "marketing", "us", "opt_out"),
        ("email:marketing:US=opt_out", "email", "marketing", "PL", "opt_in"),
        ("email:marketing:US=opt_out", "email", "marketing", None, "opt_in"),
        ("post:marketing=opt_in", "post", "marketing", "PL", "opt_in"),
        ("*:marketing:RU=opt_out", "sms", "marketing", "RU", "opt_out"),
        ("*:marketing:RU=opt_out; sms:marketing:RU=opt_in", "sms", "marketing", "RU", "opt_in"),  # named beats *
        ("*:*:DE=opt_in", "post", "marketing", "DE", "opt_in"),  # any country rule beats the general ones
        ("sms:*=opt_in", "sms", "service", "PL", "opt_in"),  # a named channel beats a named purpose
    ],
)
def test_policy_rules_most_specific_wins(
    rules: str, channel: str, purpose: str, country: str | None, expected: str
) -> None:
    assert parse_policy(rules).requirement(channel, purpose, country) == expected


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("email=opt_in", "rule 1 'email=opt_in' is not channel:purpose"),
        ("email:marketing=opt_in; fax:marketing=opt_in", "rule 2: unknown channel 'fax'"),
        ("email:spam=opt_out", "rule 1: unknown purpose 'spam'"),
        ("email:marketing=yes_please", "rule 1: 'yes_please' must be opt_in or opt_out"),
        ("email:marketing:USA=opt_out", "is not channel:purpose"),
    ],
)
def test_bad_policy_rules_say_which(rules: str, message: str) -> None:
    with pytest.raises(ValueError, match="rule") as caught:
        parse_policy(rules)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("requirement", "status", "allowed", "reason"),
    [
        ("opt_in", "granted", True, ""),
        ("opt_in", None, False, "email marketing needs opt-in: no consent recorded"),
        ("opt_in", "withdrawn", False, "email marketing consent withdrawn"),
        ("opt_out", None, True, ""),
        ("opt_out", "granted", True, ""),
        ("opt_out", "denied", False, "email marketing consent denied"),
        ("opt_out", "withdrawn", False, "email marketing consent withdrawn"),
    ],
)
def test_decisions(requirement: str, status: str | None, allowed: bool, reason: str) -> None:
    policy = parse_policy(f"email:marketing={requirement}")
    decision = policy.decide("email", "marketing", "PL", status)
    assert (decision.allowed, decision.reason) == (allowed, reason)
