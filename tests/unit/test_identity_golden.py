"""Survivorship rules per field, and a modelled value never overwriting a stated one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.errors import InputError
from epistola.identity.golden import RULES, Candidate, Modelled, Survivorship, build_golden

RULES_LIST = list(RULES)


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


# --- the fast paths (one record; most trusted first) against the rules written out plainly ------------


def _reference(members: list[Candidate], policy: Survivorship) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every field: all records that have it, most trusted first, then the field's rule."""
    from collections import Counter
    from datetime import date

    from epistola.identity.golden import ATTRIBUTE_FIELDS, GOLDEN_FIELDS, _street_line

    def trust(c: Candidate) -> tuple[Any, ...]:
        return (c.trust, c.observed_at, c.record_id)

    ranked = sorted(members, key=trust, reverse=True)
    values: dict[str, Any] = {}
    lineage: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name in (*GOLDEN_FIELDS, "street", *ATTRIBUTE_FIELDS):
        offered = [
            (c, v)
            for c in ranked
            if (v := _street_line(c.values) if name == "street" else c.values.get(name)) not in (None, "")
        ]
        if not offered:
            continue
        rule = policy.rule(name)
        if rule == "most_trusted":
            c, v = offered[0]
        elif rule == "most_recent":
            c, v = max(offered, key=lambda cv: (cv[0].observed_at, cv[0].trust, cv[0].record_id))
        elif rule == "most_complete":
            c, v = max(offered, key=lambda cv: (len(str(cv[1])), trust(cv[0])))
        else:
            votes = Counter(str(v).casefold() for _, v in offered)
            c, v = max(offered, key=lambda cv: (votes[str(cv[1]).casefold()], trust(cv[0])))
        if name in ATTRIBUTE_FIELDS:
            attributes[name] = v
            lineage[f"attributes.{name}"] = (c.record_id, c.observed_at)
        else:
            values[name] = date.fromisoformat(v) if name == "birth_date" else v
            lineage[name] = (c.record_id, c.observed_at)
    values["attributes"] = attributes
    return values, lineage


_VALUES = {
    "first_name": ["Bill", "William", "", None],
    "email": ["a@example.com", "b@example.com", "A@example.com", None],
    "phone": ["+14105550101", "", None],
    "birth_date": ["1980-02-03", "1980-02-04", None],
    "city": ["Baltimore", "BALTIMORE", None],
    "street": ["Pratt", "West Pratt Street", None],
    "house": ["1102", None],
    "country": ["US", "RU", None],
    "middle_name": ["J", "", None],
    "registered_at": ["2024-01-01", None],
}


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_the_fast_paths_pick_what_the_rules_say(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 4))
    members = [
        rec(
            rid + 1,
            data.draw(st.sampled_from([40, 50, 80])),
            data.draw(st.integers(1, 3)),
            **{k: v for k, options in _VALUES.items() if (v := data.draw(st.sampled_from(options))) is not None},
        )
        for rid in range(n)
    ]
    rules = data.draw(
        st.dictionaries(st.sampled_from(sorted(_VALUES)), st.sampled_from(RULES_LIST), max_size=4).map(
            lambda d: {k: v for k, v in d.items() if k != "house" and k != "country"}
        )
    )
    policy = Survivorship(rules=rules, default=data.draw(st.sampled_from(RULES_LIST)))  # type: ignore[arg-type]
    golden = build_golden(members, policy)
    values, lineage = _reference(members, policy)
    assert {k: v for k, v in golden.values.items() if k not in ("locale", "age_min", "age_max")} == values
    assert list(golden.values)[: len(values)] == list(values)  # the same fields in the same order
    assert {k: v for k, v in golden.lineage.items() if k != "age"} == lineage
