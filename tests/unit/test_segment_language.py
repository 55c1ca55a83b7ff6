"""The segment language parses nested definitions and reports each mistake with its path."""

from __future__ import annotations

import pytest

from epistola.audience.language import (
    All,
    BirthdayCond,
    EventCond,
    FieldCond,
    Not,
    RfmCond,
    SampleCond,
    ScoreCond,
    parse_definition,
)
from epistola.errors import InputError


def test_nested_definition_parses() -> None:
    cond = parse_definition(
        {
            "all": [
                {"field": "gender", "eq": "m"},
                {"field": "age", "gte": 30},
                {
                    "event": {"type": "purchase", "category": "business_clothes", "within_days": 180},
                    "count": {"gte": 2},
                },
                {"not": {"segment": "complainers"}},
            ]
        }
    )
    assert isinstance(cond, All) and len(cond.items) == 4
    assert cond.items[0] == FieldCond(field="gender", op="eq", value="m")
    assert cond.items[2] == EventCond(type="purchase", category="business_clothes", within_days=180, op="gte", value=2)
    assert isinstance(cond.items[3], Not)


@pytest.mark.parametrize(
    ("definition", "path", "words"),
    [
        ({"all": []}, "all", "non-empty list"),
        ({"all": [{"field": "shoe", "eq": 1}]}, "all[0].field", "unknown field"),
        ({"any": [{"field": "age", "gte": "thirty"}]}, "any[0].gte", "number of years"),
        ({"all": [{"field": "city", "eq": "Riga", "ne": "Oslo"}]}, "all[0]", "exactly one operator"),
        ({"all": [{"consent": "fax"}]}, "all[0].consent", "unknown channel"),
        ({"event": {"type": "purchase", "within_days": -3}}, "event.within_days", "positive whole number"),
        ({"event": {"type": "purchase"}, "count": {"atleast": 2}}, "count", "one comparison"),
        ({"sample": {"percent": 150}}, "sample", "percent"),
        ({"frobnicate": 1}, "(top)", "unknown condition"),
        ([1, 2], "(top)", "expected a condition"),
    ],
)
def test_errors_name_the_path(definition: object, path: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_definition(definition)
    assert any(p.field == path and words in p.message for p in caught.value.problems), caught.value.problems


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(InputError) as caught:
        parse_definition({"all": [{"field": "shoe", "eq": 1}, {"consent": "fax"}]})
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({"birthday": {"within_days": 7}}, BirthdayCond(within_days=7)),
        (
            {"rfm": {"recency": {"gte": 4}, "monetary": {"eq": 5}}},
            RfmCond(recency=("gte", 4), monetary=("eq", 5)),
        ),
        ({"model": "churn", "score": {"gte": 0.7}}, ScoreCond(model="churn", op="gte", value=0.7)),
        ({"sample": {"percent": 50, "offset": 50, "seed": 3}}, SampleCond(percent=50, offset=50, seed=3)),
        (
            {"event": {"type": "purchase", "properties": {"channel": "online"}}, "recency": {"lte": 30}},
            EventCond(type="purchase", measure="recency", op="lte", value=30, properties=(("channel", "online"),)),
        ),
        (
            {"event": {"type": "purchase", "within_days": 365}, "avg": {"gte": 50}},
            EventCond(type="purchase", within_days=365, measure="avg", op="gte", value=50),
        ),
        (
            {"field": "created_at", "older_than_days": 365},
            FieldCond(field="created_at", op="older_than_days", value=365),
        ),
        (
            {"field": "attributes.tier", "in": ["gold", "silver"]},
            FieldCond(field="attributes.tier", op="in", value=("gold", "silver")),
        ),
        ({"field": "attributes.vip", "eq": True}, FieldCond(field="attributes.vip", op="eq", value=True)),
    ],
)
def test_new_conditions_parse(definition: object, expected: object) -> None:
    assert parse_definition(definition) == expected


@pytest.mark.parametrize(
    ("definition", "path", "words"),
    [
        ({"birthday": {"within_days": 0}}, "birthday.within_days", "positive whole number"),
        ({"birthday": {"within_days": 400}}, "birthday.within_days", "at most 366"),
        ({"birthday": 7}, "birthday", "within_days"),
        ({"rfm": {"recency": {"gte": 6}}}, "rfm.recency.gte", "1 to 5"),
        ({"rfm": {"within_days": 30}}, "rfm", "recency"),
        ({"model": "churn"}, "score", "one comparison"),
        ({"model": "bad name", "score": {"gte": 1}}, "model", "model name"),
        ({"sample": {"percent": 60, "offset": 50}}, "sample.offset", "offset + percent"),
        ({"event": {"type": "purchase"}, "recency": {"lte": 1.5}}, "recency.lte", "whole number of days"),
        ({"event": {"type": "purchase"}, "count": {"gte": 1}, "sum": {"gte": 2}}, "(top)", "give one of"),
        ({"event": {"type": "purchase", "properties": {"_ident": "x"}}}, "event.properties", "property name"),
        ({"event": {"type": "purchase", "properties": {"a": [1]}}}, "event.properties.a", "text, number"),
        ({"field": "age", "in": [30]}, "(top)", "exactly one operator"),
        ({"field": "created_at", "gte": "2020-01-01"}, "(top)", "exactly one operator"),
        ({"field": "gender", "eq": 1}, "eq", "compares with a text"),
        ({"field": "birth_date", "lt": "soon"}, "lt", "ISO date"),
        ({"field": "country", "within_days": 3}, "within_days", "applies to dates"),
        ({"field": "attributes.a-b", "eq": "x"}, "field", "letters, digits"),
        ({"field": "attributes.tier", "in": ["a", 1]}, "in", "all texts or all numbers"),
        ({"field": "city", "eq": True}, "eq", "true/false"),
    ],
)
def test_new_errors_name_the_path(definition: object, path: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_definition(definition)
    assert any(p.field == path and words in p.message for p in caught.value.problems), caught.value.problems
