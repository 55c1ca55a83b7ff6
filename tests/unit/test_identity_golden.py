"""Survivorship rules per field, and a modelled value never overwriting a stated one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from epistola.errors import InputError
from epistola.identity.golden import Candidate, Modelled, Survivorship, build_golden


def rec(rid: int, trust: int, day: int, **values: Any) -> Candidate:
    return Candidate(
        record_id=rid,
        customer_id=None,
        values=values,
        observed_at=datetime(2025, 1, day, tzinfo=UTC),
        source=f"s{trust}",
        trust=trust,
    )


RECORDS = [
    rec(1, 80, 1, email="old@example.com", city="Baltimore", street="Pratt", phone="+14105550101"),
    rec(2, 40, 20, email="new@example.com", city="BALTIMORE", street="West Pratt Street", house="1102", country="US"),
    rec(3, 50, 10, email="new@example.com", city="Baltimore", phone="+14105550199"),
]


@pytest.mark.parametrize(
    ("rule", "field", "value", "record"),
    [
        ("most_trusted", "email", "old@example.com", 1),
        ("most_recent", "email", "new@example.com", 2),
        ("most_frequent", "email", "new@example.com", 3),  # two records say it; the more trusted one supplies it
        ("most_complete", "street", "1102 West Pratt Street", 2),
        ("most_trusted", "street", "Pratt", 1),
        ("most_frequent", "city", "Baltimore", 1),  # case does not split a vote
        ("most_recent", "phone", "+14105550199", 3),
    ],
)
def test_a_rule_per_field(rule: str, field: str, value: str, record: int) -> None:
    golden = build_golden(RECORDS, Survivorship(rules={field: rule}))  # type: ignore[dict-item]
    assert golden.values[field] == value
    assert golden.lineage[field][0] == record


def test_the_default_rule_is_the_most_trusted_source() -> None:
    golden = build_golden(RECORDS)
    assert golden.values["email"] == "old@example.com"
    assert golden.values["phone"] == "+14105550101"


def test_a_modelled_value_only_fills_a_gap() -> None:
    guesses = {
        "email": Modelled(value="guess@example.com", model="m1", observed_at=datetime(2025, 2, 1, tzinfo=UTC)),
        "gender": Modelled(value="m", model="gender-from-name", observed_at=datetime(2025, 2, 1, tzinfo=UTC)),
    }
    golden = build_golden(RECORDS, Survivorship(default="most_recent"), guesses)
    assert golden.values["email"] == "new@example.com"  # stated beats modelled, whatever the rule
    assert golden.values["gender"] == "m"  # no record says it: the model may
    assert golden.modelled == {"gender": "gender-from-name"}
    assert "gender" not in golden.lineage  # lineage points at records; modelled values are marked instead


@pytest.mark.parametrize(
    "bad",
    [{"rules": {"email": "loudest"}}, {"rules": {"shoe_size": "most_recent"}}, {"default": "newest"}],
)
def test_bad_rules_are_refused_with_the_field(bad: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        Survivorship.from_json(bad)
