"""Golden records: one customer's best values from the source records clustered together.

Survivorship is a rule per field (`Survivorship`): the most trusted source (then the most recent), the most
recent observation, the most complete value (the longest: '1102 West Pratt Street, Apt 4' over 'Pratt'),
or the most frequent value among the records. A value a model inferred (`Modelled`) never overwrites one a
source stated: it only fills a field no record has. An age range is the intersection of what the sources
said (a web form's 26–40 and a birth date agree only on one age), falling back to the most trusted range
when they contradict. Each chosen value remembers the source record that supplied it (lineage).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

from epistola.errors import InputError

# Canonical field -> customers column. Address parts are joined into one street line.
GOLDEN_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "gender",
    "birth_date",
    "locale",
    "country",
    "region",
    "city",
    "postcode",
    "timezone",
)
ATTRIBUTE_FIELDS = ("middle_name", "card_issued", "store", "registered_at")
# Every customers column a golden record sets (absent values are written as NULL, so they clear).
GOLDEN_COLUMNS = (*GOLDEN_FIELDS, "street", "attributes", "age_min", "age_max")
SURVIVING_FIELDS = (*GOLDEN_FIELDS, "street", *ATTRIBUTE_FIELDS)
# Every field a golden record's lineage can name, in the order build_golden sets them.
LINEAGE_FIELDS = (*GOLDEN_FIELDS, "street", *(f"attributes.{name}" for name in ATTRIBUTE_FIELDS), "age")

Rule = Literal["most_trusted", "most_recent", "most_complete", "most_frequent"]
RULES: tuple[str, ...] = get_args(Rule)


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One source record as identity resolution sees it."""

    record_id: int
    customer_id: int | None
    values: dict[str, Any]
    observed_at: datetime
    source: str
    trust: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Modelled:
    """A value a model inferred for a customer (never a source's statement)."""

    value: Any
    model: str
    observed_at: datetime


@dataclass(frozen=True, kw_only=True)
class Survivorship:
    """Which value survives, per field; fields not listed follow `default`."""

    rules: Mapping[str, Rule] = field(default_factory=dict)
    default: Rule = "most_trusted"

    def __post_init__(self) -> None:
        problems = [f"{f}: unknown rule {r!r}" for f, r in self.rules.items() if r not in RULES]
        problems += [f"{f}: not a field a golden record keeps" for f in self.rules if f not in SURVIVING_FIELDS]
        if self.default not in RULES:
            problems.append(f"default: unknown rule {self.default!r}")
        if problems:
            raise InputError(
                "survivorship rules are invalid: " + "; ".join(problems),
                hint=f"rules are {', '.join(RULES)}; fields are {', '.join(SURVIVING_FIELDS)}",
            )

    def rule(self, name: str) -> Rule:
        return self.rules.get(name, self.default)

    def as_json(self) -> dict[str, Any]:
        return {"default": self.default, "rules": dict(self.rules)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Survivorship:
        data = data or {}
        if not isinstance(data, Mapping):
            raise InputError("survivorship must be a mapping like {default: most_trusted, rules: {email: most_recent}}")
        return cls(rules=dict(data.get("rules") or {}), default=data.get("default", "most_trusted"))


@dataclass(kw_only=True)
class Golden:
    values: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # field -> (record, observed)
    modelled: dict[str, str] = field(default_factory=dict)  # field -> model, for values no source stated


def _by_trust(c: Candidate) -> tuple[int, datetime, int]:
    return (c.trust, c.observed_at, c.record_id)


def _by_recency(c: Candidate) -> tuple[datetime, int, int]:
    return (c.observed_at, c.trust, c.record_id)


def _present(value: Any) -> bool:
    return value not in (None, "")


def _pick(rule: Rule, offered: list[tuple[Candidate, Any]]) -> tuple[Candidate, Any] | None:
    """`offered` is (candidate, value) for every record that has the field, most trusted first."""
    if not offered:
        return None
    if rule == "most_trusted":
        return offered[0]
    if rule == "most_recent":
        return max(offered, key=lambda cv: _by_recency(cv[0]))
    if rule == "most_complete":
        return max(offered, key=lambda cv: (len(str(cv[1])), _by_trust(cv[0])))
    counts = Counter(str(v).casefold() for _, v in offered)
    return max(offered, key=lambda cv: (counts[str(cv[1]).casefold()], _by_trust(cv[0])))


def build_golden(
    members: Sequence[Candidate],
    policy: Survivorship | None = None,
    modelled: Mapping[str, Modelled] | None = None,
) -> Golden:
    policy = policy or Survivorship()
    if len(members) == 1:  # most customers have one record: every rule picks its values
        golden = _single(members[0])
        ranked: Sequence[Candidate] = members
    else:
        ranked = sorted(members, key=_by_trust, reverse=True)
        golden = _surviving(ranked, policy)
    for name, guess in (modelled or {}).items():
        if name in GOLDEN_FIELDS and not _present(golden.values.get(name)) and _present(guess.value):
            golden.values[name] = date.fromisoformat(guess.value) if name == "birth_date" else guess.value
            golden.modelled[name] = guess.model
    golden.values["locale"] = golden.values.get("locale") or "en"
    low, high, source = _age_range(ranked)
    golden.values["age_min"], golden.values["age_max"] = low, high
    if source is not None:
        golden.lineage["age"] = source
    return golden


def _surviving(ranked: Sequence[Candidate], policy: Survivorship) -> Golden:
    """Each field's value by its rule among `ranked` (most trusted first)."""
    trusted, others = _plan(policy)
    found: dict[str, tuple[Candidate, Any]] = {}
    # most_trusted (the usual rule): the first record that has the field, so each record only fills
    # what the records before it left empty
    pending: Sequence[str] = trusted
    for c in ranked:
        own = c.values
        missing = []
        for name in pending:
            value = own.get(name) if name != "street" else _street_line(own)
            if value is not None and value != "":
                found[name] = (c, value)
            else:
                missing.append(name)
        if not missing:
            break
        pending = missing
    for name, rule in others:
        if name == "street":
            offered = [(c, v) for c in ranked if _present(v := _street_line(c.values))]
        else:
            offered = [(c, v) for c in ranked if _present(v := c.values.get(name))]
        chosen = _pick(rule, offered)
        if chosen is not None:
            found[name] = chosen
    golden = Golden()
    values, lineage = golden.values, golden.lineage
    for name in (*GOLDEN_FIELDS, "street"):  # in the order a golden record lists them
        if name in found:
            c, value = found[name]
            values[name] = date.fromisoformat(value) if name == "birth_date" else value
            lineage[name] = (c.record_id, c.observed_at)
    attributes: dict[str, Any] = {}
    for name in ATTRIBUTE_FIELDS:
        if name in found:
            c, value = found[name]
            attributes[name] = value
            lineage[f"attributes.{name}"] = (c.record_id, c.observed_at)
    values["attributes"] = attributes
    return golden


_PLANS: dict[int, tuple[Survivorship, tuple[str, ...], tuple[tuple[str, Rule], ...]]] = {}


def _plan(policy: Survivorship) -> tuple[tuple[str, ...], tuple[tuple[str, Rule], ...]]:
    """The fields a policy keeps by trust, and the others with their rules (worked out once per policy)."""
    plan = _PLANS.get(id(policy))
    if plan is None or plan[0] is not policy:
        if len(_PLANS) > 64:
            _PLANS.clear()
        rules = [(name, policy.rule(name)) for name in SURVIVING_FIELDS]
        trusted = tuple(name for name, rule in rules if rule == "most_trusted")
        plan = _PLANS[id(policy)] = (policy, trusted, tuple((n, r) for n, r in rules if r != "most_trusted"))
    return plan[1], plan[2]


def _single(c: Candidate) -> Golden:
    """`_surviving` for one record, whatever the rules: its own values."""
    golden = Golden()
    values, lineage = golden.values, golden.lineage
    source = (c.record_id, c.observed_at)
    own = c.values
    for name in GOLDEN_FIELDS:
        value: Any = own.get(name)
        if _present(value):
            values[name] = date.fromisoformat(value) if name == "birth_date" else value
            lineage[name] = source
    street = _street_line(own)
    if _present(street):
        values["street"] = street
        lineage["street"] = source
    attributes: dict[str, Any] = {}
    for name in ATTRIBUTE_FIELDS:
        value = own.get(name)
        if _present(value):
            attributes[name] = value
            lineage[f"attributes.{name}"] = source
    values["attributes"] = attributes
    return golden


def _street_line(values: dict[str, Any]) -> str | None:
    """One street line as the country writes it: '1102 West Pratt Street, Apt 4', 'улица Ленина, д. 5, кв. 12'."""
    street = values.get("street")
    if not street:
        return None
    house, flat, country = values.get("house"), values.get("flat"), values.get("country")
    if country == "US":
        line = f"{house} {street}" if house else str(street)
        return f"{line}, Apt {flat}" if flat else line
    if country == "RU":
        return ", ".join([str(street), *([f"д. {house}"] if house else []), *([f"кв. {flat}"] if flat else [])])
    if house and flat:
        return f"{street} {house}/{flat}"
    return f"{street} {house}" if house else str(street)


def _age_range(ranked: Sequence[Candidate]) -> tuple[int | None, int | None, tuple[int, datetime] | None]:
    ranges: list[tuple[int, int | None, tuple[int, datetime]]] = [
        (int(c.values["age_min"]), c.values.get("age_max"), (c.record_id, c.observed_at))
        for c in ranked
        if c.values.get("age_min") is not None
    ]
    if not ranges:
        return None, None, None
    low = max(r[0] for r in ranges)
    highs = [r[1] for r in ranges if r[1] is not None]
    high = min(highs) if highs else None
    if high is not None and low > high:  # the sources contradict each other: trust the most trusted
        return ranges[0]
    return low, high, ranges[0][2]
