"""The segment language: nested all / any / not over profiles, consent, behaviour, scores and samples.

Definitions are plain data (JSON or YAML), parsed here into immutable condition objects; two compilers
turn those into queries (`sql.py` on the operational store, `duck.py` on the analytical mart) with the
same meaning. Every mistake is reported with its path in the definition, all at once, e.g.
``all[2].event.within_days: must be a positive whole number``::

    all:
      - {field: gender, eq: m}
      - {field: age, gte: 30}
      - {consent: email}
      - event: {type: purchase, category: business_clothes, within_days: 180}
        count: {gte: 2}
      - {birthday: {within_days: 7}}
      - {rfm: {recency: {gte: 4}, frequency: {gte: 4}}}
      - {model: churn, score: {gte: 0.7}}
      - not: {segment: recent-complainers}

Logic is two-valued: every leaf is true or false for every customer (unknown data makes a leaf false),
so ``not`` is always the exact complement and ``not: {segment: x}`` excludes exactly x's members.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from epistola.errors import InputError, Problem

PROFILE_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "gender",
        "country",
        "region",
        "city",
        "postcode",
        "locale",
        "timezone",
        "age",
        "birth_date",
        "created_at",
    }
)
DATE_FIELDS = frozenset({"birth_date", "created_at"})
FIELD_OPS = frozenset(
    {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "within_days", "older_than_days"}
)
AGE_OPS = frozenset({"eq", "gt", "gte", "lt", "lte", "exists"})
CREATED_OPS = frozenset({"within_days", "older_than_days", "exists"})
COMPARE_OPS = frozenset({"eq", "gt", "gte", "lt", "lte"})
COUNT_OPS = COMPARE_OPS  # kept for callers of the first version
MEASURES = ("count", "sum", "avg", "recency")
RFM_PARTS = ("recency", "frequency", "monetary")
CHANNELS = frozenset({"email", "sms", "post", "phone", "push", "web"})
PURPOSES = frozenset({"marketing", "service", "profiling"})
MAX_BIRTHDAY_DAYS = 366
NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")  # attribute and property names: safe inside JSON paths
KINDS = "all, any, not, field, consent, event, birthday, rfm, model, sample, segment"

Test = tuple[str, float]  # (comparison, value), e.g. ("gte", 2)


@dataclass(frozen=True, kw_only=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True, kw_only=True)
class Any_:
    items: tuple[Condition, ...]


@dataclass(frozen=True, kw_only=True)
class Not:
    item: Condition


@dataclass(frozen=True, kw_only=True)
class FieldCond:
    field: str  # a profile field, or attributes.<name>
    op: str
    value: Any


@dataclass(frozen=True, kw_only=True)
class ConsentCond:
    """Reachable on a channel: the contact exists and the consent in force is `granted`."""

    channel: str
    purpose: str = "marketing"


@dataclass(frozen=True, kw_only=True)
class EventCond:
    """An aggregate of a customer's events of one type (optionally a category, property values and a
    window of the last N days) compared with a number: count, sum or average amount, or the days
    since the latest one (recency)."""

    type: str
    category: str | None = None
    within_days: int | None = None
    measure: str = "count"  # count | sum | avg | recency
    op: str = "gte"
    value: float = 1
    properties: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class BirthdayCond:
    """The birthday falls on one of the next N days, today included, in the customer's time zone."""

    within_days: int


@dataclass(frozen=True, kw_only=True)
class RfmCond:
    """RFM scores 1-5 (5 best) among customers with at least one event of the type in the window."""

    recency: Test | None = None
    frequency: Test | None = None
    monetary: Test | None = None
    event_type: str = "purchase"
    within_days: int = 365


@dataclass(frozen=True, kw_only=True)
class ScoreCond:
    """A model's score for the customer (the insight work writes them into `model_scores`)."""

    model: str
    op: str
    value: float


@dataclass(frozen=True, kw_only=True)
class SampleCond:
    """A stable share of customers: hash buckets [offset, offset + percent) of 100; disjoint offsets
    with the same seed split a base into non-overlapping groups."""

    percent: float
    seed: int = 0
    offset: float = 0


@dataclass(frozen=True, kw_only=True)
class SegmentRef:
    name: str


Condition = (
    All
    | Any_
    | Not
    | FieldCond
    | ConsentCond
    | EventCond
    | BirthdayCond
    | RfmCond
    | ScoreCond
    | SampleCond
    | SegmentRef
)


def _numbers(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _numbers(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Parser:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(message=message, field=path or "(top)"))

    def parse(self, node: Any, path: str) -> Condition | None:
        if not isinstance(node, Mapping):
            self.fail(path, f"expected a condition (a mapping), found {type(node).__name__}")
            return None
        keys = set(node)
        for group, cls in (("all", All), ("any", Any_)):
            if group in keys:
                self._only(node, path, {group})
                items = node[group]
                if not isinstance(items, list) or not items:
                    self.fail(_join(path, group), "expected a non-empty list of conditions")
                    return None
                parsed = [self.parse(x, f"{_join(path, group)}[{i}]") for i, x in enumerate(items)]
                return cls(items=tuple(p for p in parsed if p is not None))
        if "not" in keys:
            self._only(node, path, {"not"})
            inner = self.parse(node["not"], _join(path, "not"))
            return Not(item=inner) if inner is not None else None
        for key, method in (
            ("field", self._field),
            ("consent", self._consent),
            ("event", self._event),
            ("birthday", self._birthday),
            ("rfm", self._rfm),
            ("model", self._model),
            ("sample", self._sample),
            ("segment", self._segment),
        ):
            if key in keys:
                return method(node, path)
        self.fail(path, f"unknown condition with keys {sorted(map(str, keys))}; expected one of {KINDS}")
        return None

    def _only(self, node: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        extra = sorted(map(str, set(node) - allowed))
        if extra:
            self.fail(path, f"unexpected key(s) {extra} beside {sorted(allowed)}")

    def _test(self, node: Any, path: str, ops: frozenset[str] = COMPARE_OPS) -> Test | None:
        if not isinstance(node, Mapping) or len(node) != 1 or not set(node) <= ops:
            self.fail(path, f"expected one comparison of {sorted(ops)}, e.g. {{gte: 2}}")
            return None
        ((op, value),) = node.items()
        if not _numbers(value):
            self.fail(_join(path, op), "expected a number")
            return None
        return op, value

    def _days(self, value: Any, path: str, *, upper: int | None = None) -> int | None:
        if not _whole(value) or value <= 0 or (upper is not None and value > upper):
            bound = f" of at most {upper}" if upper else ""
            self.fail(path, f"must be a positive whole number{bound} (days)")
            return None
        return int(value)

    def _field(self, node: Mapping[str, Any], path: str) -> FieldCond | None:
        name = node["field"]
        attribute = isinstance(name, str) and name.startswith("attributes.")
        if attribute and not NAME.match(name.split(".", 1)[1]):
            self.fail(_join(path, "field"), "attribute names use letters, digits and _ only")
            return None
        if not isinstance(name, str) or not (name in PROFILE_FIELDS or attribute):
            self.fail(
                _join(path, "field"), f"unknown field {name!r}; known: {sorted(PROFILE_FIELDS)} or attributes.<name>"
            )
            return None
        ops = set(node) - {"field"}
        allowed = {"age": AGE_OPS, "created_at": CREATED_OPS}.get(name, FIELD_OPS)
        if len(ops) != 1 or not ops <= allowed:
            self.fail(path, f"give exactly one operator of {sorted(allowed)}")
            return None
        op = ops.pop()
        value = node[op]
        here = _join(path, op)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                self.fail(here, "expected a non-empty list of values")
                return None
            if not attribute and not all(isinstance(v, str) for v in value):
                self.fail(here, f"{name} compares with texts")
                return None
            if attribute and not (all(isinstance(v, str) for v in value) or all(_numbers(v) for v in value)):
                self.fail(here, "give all texts or all numbers")
                return None
            if name == "birth_date" and not all(_iso_date(v) for v in value):
                self.fail(here, "birth_date compares with ISO dates, e.g. 1980-05-17")
                return None
            value = tuple(value)
        elif op == "exists":
            if not isinstance(value, bool):
                self.fail(here, "expected true or false")
                return None
        elif op in ("within_days", "older_than_days"):
            if self._days(value, here) is None:
                return None
            if name not in DATE_FIELDS and not attribute:
                self.fail(here, f"{op} applies to dates: birth_date, created_at or attributes.* (ISO dates)")
                return None
        elif name == "age":
            if not _numbers(value):
                self.fail(here, "age compares with a number of years")
                return None
        elif not _scalar(value):
            self.fail(here, "expected a text, number or true/false")
            return None
        elif isinstance(value, bool) and (not attribute or op not in ("eq", "ne")):
            self.fail(here, "true/false compares only attributes, with eq or ne")
            return None
        elif not attribute and not isinstance(value, str):
            self.fail(here, f"{name} compares with a text")
            return None
        elif name == "birth_date" and not _iso_date(value):
            self.fail(here, "birth_date compares with an ISO date, e.g. 1980-05-17")
            return None
        return FieldCond(field=name, op=op, value=value)

    def _consent(self, node: Mapping[str, Any], path: str) -> ConsentCond | None:
        self._only(node, path, {"consent", "purpose"})
        channel, purpose = node["consent"], node.get("purpose", "marketing")
        if channel not in CHANNELS:
            self.fail(_join(path, "consent"), f"unknown channel {channel!r}; known: {sorted(CHANNELS)}")
            return None
        if purpose not in PURPOSES:
            self.fail(_join(path, "purpose"), f"unknown purpose {purpose!r}; known: {sorted(PURPOSES)}")
            return None
        return ConsentCond(channel=channel, purpose=purpose)

    def _event(self, node: Mapping[str, Any], path: str) -> EventCond | None:
        self._only(node, path, {"event", *MEASURES})
        spec = node["event"]
        here = _join(path, "event")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str) or not spec["type"]:
            self.fail(here, "expected {type: <event type>, category?: …, within_days?: N, properties?: {…}}")
            return None
        extra = sorted(map(str, set(spec) - {"type", "category", "within_days", "properties"}))
        if extra:
            self.fail(here, f"unexpected key(s) {extra}")
        days = spec.get("within_days")
        if days is not None and self._days(days, f"{here}.within_days") is None:
            return None
        category = spec.get("category")
        if category is not None and not isinstance(category, str):
            self.fail(f"{here}.category", "expected a category name")
            return None
        properties = self._properties(spec.get("properties", {}), f"{here}.properties")
        if properties is None:
            return None
        measures = [m for m in MEASURES if m in node]
        if len(measures) > 1:
            self.fail(path, f"give one of {', '.join(MEASURES)}, not {' and '.join(measures)}")
            return None
        measure = measures[0] if measures else "count"
        test = self._test(node.get(measure, {"gte": 1}), _join(path, measure))
        if test is None:
            return None
        if measure == "recency" and (not _whole(test[1]) or test[1] < 0):
            self.fail(_join(path, f"recency.{test[0]}"), "recency is a whole number of days (0 = today)")
            return None
        return EventCond(
            type=spec["type"],
            category=category,
            within_days=days,
            measure=measure,
            op=test[0],
            value=test[1],
            properties=properties,
        )

    def _properties(self, spec: Any, path: str) -> tuple[tuple[str, Any], ...] | None:
        if not isinstance(spec, Mapping):
            self.fail(path, "expected a mapping of property name to value, e.g. {channel: online}")
            return None
        out = []
        for key, value in spec.items():
            if not isinstance(key, str) or not NAME.match(key) or key.startswith("_"):
                self.fail(path, f"property name {key!r} must use letters, digits and _ only (not first)")
                return None
            if not _scalar(value):
                self.fail(f"{path}.{key}", "expected a text, number or true/false")
                return None
            out.append((key, value))
        return tuple(sorted(out, key=lambda kv: kv[0]))

    def _birthday(self, node: Mapping[str, Any], path: str) -> BirthdayCond | None:
        self._only(node, path, {"birthday"})
        spec = node["birthday"]
        here = _join(path, "birthday")
        if not isinstance(spec, Mapping) or set(spec) != {"within_days"}:
            self.fail(here, "expected {within_days: N}: the birthday is today or in the N-1 days after")
            return None
        days = self._days(spec["within_days"], f"{here}.within_days", upper=MAX_BIRTHDAY_DAYS)
        return None if days is None else BirthdayCond(within_days=days)

    def _rfm(self, node: Mapping[str, Any], path: str) -> RfmCond | None:
        self._only(node, path, {"rfm"})
        spec = node["rfm"]
        here = _join(path, "rfm")
        allowed = {*RFM_PARTS, "event", "within_days"}
        if not isinstance(spec, Mapping) or not set(spec) & set(RFM_PARTS) or set(spec) - allowed:
            self.fail(here, "expected {recency?: {gte: 4}, frequency?: …, monetary?: …, event?: …, within_days?: N}")
            return None
        tests: dict[str, Test | None] = {}
        for part in RFM_PARTS:
            if part in spec:
                test = self._test(spec[part], f"{here}.{part}")
                if test is None:
                    return None
                if not 1 <= test[1] <= 5:
                    self.fail(f"{here}.{part}.{test[0]}", "scores run from 1 to 5")
                    return None
                tests[part] = test
        event = spec.get("event", "purchase")
        if not isinstance(event, str) or not event:
            self.fail(f"{here}.event", "expected an event type")
            return None
        days = self._days(spec.get("within_days", 365), f"{here}.within_days")
        if days is None:
            return None
        return RfmCond(
            recency=tests.get("recency"),
            frequency=tests.get("frequency"),
            monetary=tests.get("monetary"),
            event_type=event,
            within_days=days,
        )

    def _model(self, node: Mapping[str, Any], path: str) -> ScoreCond | None:
        self._only(node, path, {"model", "score"})
        model = node["model"]
        if not isinstance(model, str) or not NAME.match(model):
            self.fail(_join(path, "model"), "expected a model name (letters, digits, _)")
            return None
        test = self._test(node.get("score"), _join(path, "score"))
        return None if test is None else ScoreCond(model=model, op=test[0], value=test[1])

    def _sample(self, node: Mapping[str, Any], path: str) -> SampleCond | None:
        self._only(node, path, {"sample"})
        spec = node["sample"]
        here = _join(path, "sample")
        if (
            not isinstance(spec, Mapping)
            or set(spec) - {"percent", "seed", "offset"}
            or not _numbers(spec.get("percent"))
            or not 0 < spec["percent"] <= 100
        ):
            self.fail(here, "expected {percent: 0 < p <= 100, seed?: N, offset?: 0 <= o < 100}")
            return None
        seed, offset = spec.get("seed", 0), spec.get("offset", 0)
        if not _whole(seed):
            self.fail(f"{here}.seed", "expected a whole number")
            return None
        if not _numbers(offset) or not 0 <= offset or offset + spec["percent"] > 100:
            self.fail(f"{here}.offset", "expected 0 <= offset and offset + percent <= 100")
            return None
        return SampleCond(percent=float(spec["percent"]), seed=int(seed), offset=float(offset))

    def _segment(self, node: Mapping[str, Any], path: str) -> SegmentRef | None:
        self._only(node, path, {"segment"})
        if not isinstance(node["segment"], str) or not node["segment"]:
            self.fail(_join(path, "segment"), "expected a segment name")
            return None
        return SegmentRef(name=node["segment"])


def _iso_date(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None


def parse_definition(definition: Any, *, source: str = "segment") -> Condition:
    """Parse a segment definition or raise `InputError` listing every problem with its path."""
    parser = _Parser()
    condition = parser.parse(definition, "")
    if parser.problems or condition is None:
        raise InputError(f"{source} definition is invalid", problems=parser.problems)
    return condition


def referenced_segments(condition: Condition) -> set[str]:
    """Names of the segments a condition includes or excludes (directly)."""
    if isinstance(condition, SegmentRef):
        return {condition.name}
    if isinstance(condition, All | Any_):
        return set().union(*(referenced_segments(c) for c in condition.items))
    if isinstance(condition, Not):
        return referenced_segments(condition.item)
    return set()
