"""Survey definitions and answer validation: pure rules as tables."""

from __future__ import annotations

from datetime import date
from importlib import resources
from typing import Any

import pytest
import yaml

from epistola.errors import InputError
from epistola.feedback.survey_texts import ERRORS, UI, error_text
from epistola.feedback.surveys import (
    LOCALES,
    AnswerError,
    changed_answers,
    parse_survey,
    pick,
    profile_updates,
    validate_answers,
)

TODAY = date(2026, 11, 2)
YES_NO = [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]


def survey(*questions: dict[str, Any]) -> dict[str, Any]:
    return {"name": "s", "title": "Survey", "questions": list(questions)}


def test_the_life_changes_assessment_is_valid_in_every_language() -> None:
    raw = yaml.safe_load(resources.files("epistola.feedback").joinpath("examples/life-changes.yaml").read_text("utf-8"))
    parsed = parse_survey(raw)
    for q in parsed.questions:
        assert set(q.label) == set(LOCALES), q.id
        for o in q.options:
            assert set(o.label) == set(LOCALES), (q.id, o.value)
    assert parse_survey(parsed.definition()) == parsed, "the stored definition reads back the same"


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        (survey({"id": "a", "type": "single", "label": "A", "options": YES_NO[:1]}), "questions[0]", "at least two"),
        (survey({"id": "a", "type": "single", "label": "A", "options": YES_NO * 2}), "questions[0]", "unique"),
        (survey({"id": "a", "type": "text", "label": "A", "options": YES_NO}), "questions[0]", "only apply"),
        (survey({"id": "a", "type": "number", "label": "A", "min": 5, "max": 1}), "questions[0]", "min is larger"),
        (survey({"id": "a", "type": "text", "label": "A", "min": 1}), "questions[0]", "only apply to number"),
        (survey({"id": "a", "type": "consent", "label": "A"}), "questions[0]", "needs the text"),
        (
            survey({"id": "a", "type": "consent", "label": "A", "text": "I agree", "consent": {"channel": "fax"}}),
            "questions[0].consent.channel",
            "must be one of",
        ),
        (
            survey(
                {
                    "id": "a",
                    "type": "consent",
                    "label": "A",
                    "text": "I agree",
                    "consent": {"channel": "sms"},
                    "profile": "attributes.x",
                }
            ),
            "questions[0]",
            "consent ledger",
        ),
        (survey({"id": "a", "type": "text", "label": "A", "profile": "email"}), "questions[0].profile", "attributes."),
        (survey({"id": "a", "type": "text", "label": {"ru": "А"}}), "questions[0].label", "English text"),
        (survey({"id": "a", "type": "text", "label": {"en": "A", "de": "A"}}), "questions[0].label", "unknown locale"),
        (survey({"id": "A b", "type": "text", "label": "A"}), "questions[0].id", "pattern"),
        (survey({"id": "a", "type": "essay", "label": "A"}), "questions[0].type", "single"),
        (survey({"id": "a", "type": "text", "label": "A", "colour": "red"}), "questions[0].colour", "not permitted"),
        (survey({"id": "a", "type": "text", "label": "A"}, {"id": "a", "type": "text", "label": "B"}), None, "unique"),
        ({"name": "s", "title": "T", "questions": []}, "questions", "at least 1"),
    ],
)
def test_mistakes_in_a_definition_name_their_path(definition: dict[str, Any], field: str | None, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_survey(definition, source="s.yaml")
    problems = caught.value.problems
    assert any(message in p.message and (field is None or p.field == field) for p in problems), problems
    assert all(p.file == "s.yaml" for p in problems)


QUESTIONS = survey(
    {"id": "one", "type": "single", "label": "One", "options": YES_NO, "required": True},
    {
        "id": "many",
        "type": "multiple",
        "label": "Many",
        "options": [*YES_NO, {"value": "maybe", "label": "Maybe"}],
        "max_choices": 2,
    },
    {"id": "n", "type": "number", "label": "N", "min": 0, "max": 10, "integer": True},
    {"id": "x", "type": "number", "label": "X"},
    {"id": "d", "type": "date", "label": "D", "min_date": "2000-01-01"},
    {"id": "t", "type": "text", "label": "T", "max_length": 10},
    {"id": "ok", "type": "consent", "label": "OK", "text": "I agree", "consent": {"channel": "email"}},
)


@pytest.mark.parametrize(
    ("submitted", "answers", "errors"),
    [
        ({"one": ["yes"]}, {"one": "yes", "ok": False}, []),
        ({"one": "yes", "ok": "on", "_lang": ["ru"]}, {"one": "yes", "ok": True}, []),
        ({"one": ["yes"], "ok": True}, {"one": "yes", "ok": True}, []),
        ({}, {"ok": False}, [("one", "required")]),
        ({"one": ["   "]}, {"ok": False}, [("one", "required")]),
        ({"one": ["perhaps"]}, {"ok": False}, [("one", "choice")]),
        ({"one": ["yes", "no"]}, {"ok": False}, [("one", "one_value")]),
        ({"one": "yes", "many": ["no", "yes", "no"]}, {"one": "yes", "many": ["yes", "no"], "ok": False}, []),
        ({"one": "yes", "many": ["yes", "no", "maybe"]}, {"one": "yes", "ok": False}, [("many", "too_many")]),
        ({"one": "yes", "many": ["never"]}, {"one": "yes", "ok": False}, [("many", "choice")]),
        ({"one": "yes", "n": "7"}, {"one": "yes", "n": 7, "ok": False}, []),
        ({"one": "yes", "n": "7.5"}, {"one": "yes", "ok": False}, [("n", "integer")]),
        ({"one": "yes", "n": "11"}, {"one": "yes", "ok": False}, [("n", "max")]),
        ({"one": "yes", "n": "-1"}, {"one": "yes", "ok": False}, [("n", "min")]),
        ({"one": "yes", "n": "seven"}, {"one": "yes", "ok": False}, [("n", "number")]),
        ({"one": "yes", "n": "NaN"}, {"one": "yes", "ok": False}, [("n", "number")]),
        ({"one": "yes", "n": "1e999"}, {"one": "yes", "ok": False}, [("n", "max")]),
        ({"one": "yes", "x": "3,25"}, {"one": "yes", "x": 3.25, "ok": False}, []),
        ({"one": "yes", "x": "1 000"}, {"one": "yes", "x": 1000, "ok": False}, []),
        ({"one": "yes", "d": "2026-02-30"}, {"one": "yes", "ok": False}, [("d", "date")]),
        ({"one": "yes", "d": "1999-12-31"}, {"one": "yes", "ok": False}, [("d", "min_date")]),
        ({"one": "yes", "d": "2030-05-01"}, {"one": "yes", "d": "2030-05-01", "ok": False}, []),
        ({"one": "yes", "t": "  hi  "}, {"one": "yes", "t": "hi", "ok": False}, []),
        ({"one": "yes", "t": "x" * 11}, {"one": "yes", "ok": False}, [("t", "too_long")]),
        ({"one": "yes", "t": "a\x00b"}, {"one": "yes", "ok": False}, [("t", "text")]),
        ({"one": "yes", "sneaky": "1"}, {"one": "yes", "ok": False}, [("sneaky", "unknown")]),
    ],
)
def test_answers_are_normalised_or_refused(
    submitted: dict[str, Any], answers: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    checked = validate_answers(parse_survey(QUESTIONS), submitted, today=TODAY)
    assert checked.answers == answers
    assert [(e.question, e.code) for e in checked.errors] == errors
    assert checked.ok == (not errors)


def test_every_interface_text_and_error_exists_in_every_language() -> None:
    for table in (UI, ERRORS):
        for locale in LOCALES:
            assert set(table[locale]) == set(table["en"]), locale
    assert error_text("pl-PL", AnswerError(question="n", code="max", params={"max": 10})) == "Wpisz 10 lub mniej."
    assert error_text("de", AnswerError(question="n", code="required")) == "Please answer this question."


@pytest.mark.parametrize(
    ("locale", "expected"), [("ru", "Привет"), ("ru-RU", "Привет"), ("pl", "Hello"), ("", "Hello"), ("EN", "Hello")]
)
def test_texts_fall_back_to_english(locale: str, expected: str) -> None:
    assert pick({"en": "Hello", "ru": "Привет"}, locale) == expected


def test_changes_and_profile_updates() -> None:
    parsed = parse_survey(survey({"id": "a", "type": "text", "label": "A", "profile": "attributes.alpha"}))
    assert changed_answers({"a": "x", "b": 1}, {"a": "y"}) == {"a": "y", "b": None}
    assert changed_answers({"a": "x"}, {"a": "x"}) == {}
    assert profile_updates(parsed, {"a": "y"}) == {"alpha": "y"}
    assert profile_updates(parsed, {}) == {"alpha": None}
