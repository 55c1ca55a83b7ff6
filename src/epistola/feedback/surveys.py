"""Surveys declared as data, and the validation of one customer's answers against them (pure core).

A survey is YAML or JSON, validated with pydantic so a mistake names its path in the definition
(``questions[2].options: a single-choice question needs at least two options``)::

    name: life-changes
    title: {en: Life Changes Assessment, ru: Оценка жизненных перемен, pl: Ocena zmian życiowych}
    questions:
      - id: life_events
        type: multiple            # single | multiple | text | number | date | consent
        label: {en: What has changed in the last year?, ru: …, pl: …}
        options:
          - {value: new_child, label: {en: A new child, ru: Рождение ребёнка, pl: Narodziny dziecka}}
          - {value: new_home, label: {en: A new home, ru: Новое жильё, pl: Nowy dom}}
        profile: attributes.life_events   # where the answer lands in the customer profile
      - id: agent_call
        type: consent
        label: {en: May your agent call you?}
        text: {en: I agree that my agent may call me about my cover.}   # the exact text is the proof
        consent: {channel: phone, purpose: marketing}

Texts are given per locale (`en` is required and is the fallback) or as one string for every locale.
Answers arrive as a form (every value a list of strings) or as JSON; `validate_answers` normalises them
to one JSON-ready value per question and reports each problem as a code the page shows localised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from epistola.errors import InputError, Problem

LOCALES = ("en", "ru", "pl")
QuestionType = Literal["single", "multiple", "text", "number", "date", "consent"]
CHOICE_TYPES = frozenset({"single", "multiple"})
_SLUG = r"^[a-z][a-z0-9_-]{0,99}$"
_QUESTION_ID = r"^[a-z][a-z0-9_]{0,49}$"
_PROFILE_FIELD = re.compile(r"^attributes\.[a-z][a-z0-9_]{0,59}$")
CONSENT_CHANNELS = frozenset({"email", "sms", "post", "phone", "push", "web"})
CONSENT_PURPOSES = frozenset({"marketing", "service", "profiling"})


def localised(value: Any) -> dict[str, str]:
    """One string for all locales, or {locale: text} with at least `en`; nothing empty."""
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, Mapping):
        raise ValueError("expected a text or a mapping of locale to text")
    unknown = sorted(set(value) - set(LOCALES))
    if unknown:
        raise ValueError(f"unknown locale(s) {', '.join(map(str, unknown))}; known: {', '.join(LOCALES)}")
    if not isinstance(value.get("en"), str) or not value["en"].strip():
        raise ValueError("an English text (en) is required: it is shown where a translation is missing")
    out: dict[str, str] = {}
    for locale, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the {locale} text is empty")
        out[str(locale)] = text.strip()
    return out


Localised = Annotated[dict[str, str], BeforeValidator(localised)]


def pick(texts: Mapping[str, str] | None, locale: str) -> str:
    """The text for `locale` (``ru-RU`` counts as ``ru``), else English."""
    if not texts:
        return ""
    return texts.get(locale.split("-")[0].lower()) or texts["en"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    value: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$", description="Stored and emitted; not shown.")
    label: Localised


class ConsentTarget(_Strict):
    channel: str
    purpose: str = "marketing"

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in CONSENT_CHANNELS:
            raise ValueError(f"must be one of {', '.join(sorted(CONSENT_CHANNELS))}")
        return value

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        if value not in CONSENT_PURPOSES:
            raise ValueError(f"must be one of {', '.join(sorted(CONSENT_PURPOSES))}")
        return value


class Question(_Strict):
    id: str = Field(pattern=_QUESTION_ID)
    type: QuestionType
    label: Localised
    help: Localised | None = None
    required: bool = False
    options: tuple[Option, ...] = ()
    min_choices: int | None = Field(None, ge=0)
    max_choices: int | None = Field(None, ge=1)
    min: float | None = None
    max: float | None = None
    integer: bool = False
    max_length: int = Field(500, ge=1, le=5000)
    multiline: bool = False
    min_date: date | None = None
    max_date: date | None = None
    text: Localised | None = None  # consent: the statement the customer agrees to
    consent: ConsentTarget | None = None
    profile: str | None = Field(None, description="attributes.<name>: where the answer lands in the profile.")

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        if value is not None and not _PROFILE_FIELD.match(value):
            raise ValueError("must be attributes.<name> (lower-case letters, digits and _)")
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> Question:
        kind = self.type
        if kind in CHOICE_TYPES:
            if len(self.options) < 2:
                raise ValueError(f"a {kind}-choice question needs at least two options")
            values = [o.value for o in self.options]
            if len(set(values)) != len(values):
                raise ValueError("option values must be unique")
        elif self.options:
            raise ValueError(f"options only apply to single and multiple choice, not {kind}")
        if kind != "multiple" and (self.min_choices is not None or self.max_choices is not None):
            raise ValueError("min_choices and max_choices only apply to multiple choice")
        if self.min_choices is not None and self.max_choices is not None and self.min_choices > self.max_choices:
            raise ValueError("min_choices is larger than max_choices")
        if kind != "number" and (self.min is not None or self.max is not None or self.integer):
            raise ValueError("min, max and integer only apply to number questions")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        if kind != "date" and (self.min_date or self.max_date):
            raise ValueError("min_date and max_date only apply to date questions")
        if self.min_date and self.max_date and self.min_date > self.max_date:
            raise ValueError("min_date is after max_date")
        if kind == "consent":
            if self.text is None or self.consent is None:
                raise ValueError("a consent question needs the text agreed to and consent: {channel, purpose}")
            if self.profile is not None:
                raise ValueError("a consent answer goes to the consent ledger, not to a profile field")
        elif self.text is not None or self.consent is not None:
            raise ValueError("text and consent only apply to consent questions")
        return self


class Survey(_Strict):
    name: str = Field(pattern=_SLUG)
    title: Localised
    intro: Localised | None = None
    thanks: Localised | None = None
    questions: tuple[Question, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _unique_ids(self) -> Survey:
        ids = [q.id for q in self.questions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"question ids must be unique; repeated: {', '.join(duplicates)}")
        targets = [q.profile for q in self.questions if q.profile]
        if len(set(targets)) != len(targets):
            raise ValueError("two questions write the same profile field")
        return self

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def definition(self) -> dict[str, Any]:
        """The JSON that is stored, and that `parse_survey` reads back."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def parse_survey(raw: Any, *, source: str | None = None) -> Survey:
    """Validate a survey definition; every problem names its path (and the file, if given)."""
    if not isinstance(raw, Mapping):
        raise InputError("a survey must be a mapping at the top level", problems=[Problem(message="", file=source)])
    try:
        return Survey.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        locs = [tuple(err["loc"]) for err in errors]
        problems = [
            Problem(
                message=err["msg"].removeprefix("Value error, "),
                file=source,
                field=_path(err["loc"]) or None,
            )
            for err, loc in zip(errors, locs, strict=True)
            # a list emptied by its own invalid items is not a further mistake
            if not any(other[: len(loc)] == loc and len(other) > len(loc) for other in locs)
        ]
        raise InputError(f"survey {raw.get('name', '?')!s} is invalid", problems=problems) from None


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_survey(path: Path) -> Survey:
    """Read a survey from a YAML (or JSON) file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"survey file not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"survey {path.name} is not valid YAML",
            problems=[Problem(message=str(exc), file=str(path), row=mark.line + 1 if mark else None)],
        ) from None
    return parse_survey(raw, source=str(path))


# --- answers --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AnswerError:
    """One problem with one answer, as a code the page localises (see `survey_texts.error_text`)."""

    question: str
    code: str  # required | choice | too_many | too_few | number | integer | min | max | date | ...
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Validated:
    answers: dict[str, Any]  # question id -> str | list[str] | int | float | bool (ISO text for dates)
    errors: tuple[AnswerError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def problems(self) -> list[Problem]:
        return [Problem(message=f"{e.code} {dict(e.params) or ''}".strip(), field=e.question) for e in self.errors]


def _as_strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["on"] if value else []
    if isinstance(value, str | int | float | Decimal):
        return [str(value)]
    if isinstance(value, Sequence):
        return [str(v) for v in value if v is not None and not isinstance(v, Mapping | list)]
    return [repr(value)]


def _number(raw: str, q: Question) -> tuple[int | float | None, AnswerError | None]:
    text = raw.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, AnswerError(question=q.id, code="number")
    if not number.is_finite() or len(text) > 30:
        return None, AnswerError(question=q.id, code="number")
    if q.integer and number != number.to_integral_value():
        return None, AnswerError(question=q.id, code="integer")
    if q.min is not None and number < Decimal(str(q.min)):
        return None, AnswerError(question=q.id, code="min", params={"min": _plain(q.min)})
    if q.max is not None and number > Decimal(str(q.max)):
        return None, AnswerError(question=q.id, code="max", params={"max": _plain(q.max)})
    return (int(number) if number == number.to_integral_value() else float(number)), None


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _one(q: Question, values: list[str], today: date) -> tuple[Any, AnswerError | None]:
    """The normalised answer to `q` (None when unanswered), or the problem with it."""
    values = [v.strip() for v in values if v.strip()] if q.type != "text" else [v for v in values if v.strip()]
    if q.type == "consent":
        return bool(values) and values[-1].lower() in ("on", "true", "1", "yes"), None
    if not values:
        if q.required:
            return None, AnswerError(question=q.id, code="required")
        return ([] if q.type == "multiple" else None), None
    allowed = {o.value for o in q.options}
    if q.type == "multiple":
        chosen = list(dict.fromkeys(values))
        if any(v not in allowed for v in chosen):
            return None, AnswerError(question=q.id, code="choice")
        if q.min_choices is not None and len(chosen) < q.min_choices:
            return None, AnswerError(question=q.id, code="too_few", params={"min": q.min_choices})
        if q.max_choices is not None and len(chosen) > q.max_choices:
            return None, AnswerError(question=q.id, code="too_many", params={"max": q.max_choices})
        return [o.value for o in q.options if o.value in chosen], None  # declaration order: stable
    if len(values) > 1:
        return None, AnswerError(question=q.id, code="one_value")
    value = values[0]
    if q.type == "single":
        return (value, None) if value in allowed else (None, AnswerError(question=q.id, code="choice"))
    if q.type == "text":
        if len(value) > q.max_length:
            return None, AnswerError(question=q.id, code="too_long", params={"max": q.max_length})
        if any(not ch.isprintable() and ch not in "\n\r\t" for ch in value):
            return None, AnswerError(question=q.id, code="text")
        return value.strip().replace("\r\n", "\n"), None
    if q.type == "number":
        return _number(value, q)
    try:  # date: what <input type="date"> sends
        day = date.fromisoformat(value)
    except ValueError:
        return None, AnswerError(question=q.id, code="date")
    if q.min_date and day < q.min_date:
        return None, AnswerError(question=q.id, code="min_date", params={"min": q.min_date.isoformat()})
    if q.max_date and day > q.max_date:
        return None, AnswerError(question=q.id, code="max_date", params={"max": q.max_date.isoformat()})
    if day.year < 1900 or day.year > today.year + 100:
        return None, AnswerError(question=q.id, code="date")
    return day.isoformat(), None


def validate_answers(survey: Survey, submitted: Mapping[str, Any], *, today: date) -> Validated:
    """Check every answer; unknown fields are errors unless they start with `_` (form plumbing)."""
    answers: dict[str, Any] = {}
    errors: list[AnswerError] = []
    for name in submitted:
        if not name.startswith("_") and survey.question(name) is None:
            errors.append(AnswerError(question=name, code="unknown"))
    for q in survey.questions:
        value, error = _one(q, _as_strings(submitted.get(q.id)), today)
        if error is not None:
            errors.append(error)
        elif value not in (None, []) or q.type == "consent":
            answers[q.id] = value
    return Validated(answers=answers, errors=tuple(errors))


def changed_answers(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Answers that are new or different (a cleared answer maps to None)."""
    out = {qid: value for qid, value in after.items() if before.get(qid) != value}
    out.update({qid: None for qid in before if qid not in after})
    return out


def profile_updates(survey: Survey, answers: Mapping[str, Any]) -> dict[str, Any]:
    """{'life_events': [...], ...}: the attributes the declared answers set (None clears one)."""
    return {q.profile.split(".", 1)[1]: answers.get(q.id) for q in survey.questions if q.profile}
