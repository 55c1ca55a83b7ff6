"""Compile segment conditions to DuckDB SQL over the mart, with the same meaning as `sql.py`.

The outer query reads the mart's ``customers`` as ``c``; a condition becomes a boolean expression with
``?`` parameters. Event aggregates become semi-joins on the events table, grouped per customer: when a
test holds for a customer with no events at all (``count: {lt: 2}``, ``sum: {lte: 100}``), the compiler
keeps everyone except the customers whose events fail it, so customers without events are counted
exactly as the operational-store compiler counts them. Calendar arithmetic comes from `semantics.py`.
"""

# ruff: noqa: S608 - values always travel as ? parameters; only validated names and constants are formatted in

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from epistola.audience import semantics
from epistola.audience.language import (
    All,
    Any_,
    BirthdayCond,
    Condition,
    ConsentCond,
    EventCond,
    FieldCond,
    Not,
    RfmCond,
    SampleCond,
    ScoreCond,
    SegmentRef,
)
from epistola.errors import InputError

SegmentLoader = Callable[[str], Condition]
SYMBOLS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
FALSE = "FALSE"


@dataclass
class Sql:
    """A fragment of SQL and its parameters, in order."""

    text: str
    params: list[Any] = field(default_factory=list)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _marks(values: Any) -> str:
    return ", ".join("?" for _ in values)


def _compare(column: str, op: str, value: Any) -> Sql:
    if op in SYMBOLS:
        return Sql(f"{column} {SYMBOLS[op]} ?", [value])
    if op == "ne":
        return Sql(f"({column} IS NOT NULL AND {column} <> ?)", [value])
    if op == "in":
        return Sql(f"{column} IN ({_marks(value)})", list(value))
    if op == "not_in":
        return Sql(f"({column} IS NOT NULL AND {column} NOT IN ({_marks(value)}))", list(value))
    raise InputError(f"unknown comparison {op!r}")


def _known(part: Sql) -> Sql:
    return Sql(f"coalesce({part.text}, FALSE)", part.params)


def _and(parts: list[Sql]) -> Sql:
    if not parts:
        return Sql("TRUE")
    return Sql("(" + " AND ".join(p.text for p in parts) + ")", [x for p in parts for x in p.params])


class DuckCompiler:
    """One compilation at `now`; `load` resolves references to other segments."""

    def __init__(self, *, now: datetime, load: SegmentLoader | None = None) -> None:
        self.now = now
        self.moment = _naive(now)
        self.today = now.astimezone(UTC).date()
        self.load = load
        self._stack: list[str] = []

    def where(self, condition: Condition) -> Sql:
        return self.compile(condition)

    def count(self, condition: Condition) -> Sql:
        part = self.compile(condition)
        return Sql(f"SELECT count(*) FROM customers c WHERE {part.text}", part.params)

    def members(self, condition: Condition) -> Sql:
        part = self.compile(condition)
        return Sql(f"SELECT c.id FROM customers c WHERE {part.text} ORDER BY c.id", part.params)

    def compile(self, c: Condition) -> Sql:
        if isinstance(c, All | Any_):
            parts = [self.compile(x) for x in c.items]
            joiner = " AND " if isinstance(c, All) else " OR "
            if not parts:
                return Sql("TRUE" if isinstance(c, All) else FALSE)
            return Sql("(" + joiner.join(p.text for p in parts) + ")", [x for p in parts for x in p.params])
        if isinstance(c, Not):
            inner = self.compile(c.item)
            return Sql(f"(NOT {inner.text})", inner.params)
        if isinstance(c, SegmentRef):
            return self._segment(c)
        if isinstance(c, FieldCond):
            return _known(self._field(c))
        if isinstance(c, ConsentCond):
            return self._consent(c)
        if isinstance(c, EventCond):
            return self._event(c)
        if isinstance(c, BirthdayCond):
            return _known(self._birthday(c))
        if isinstance(c, RfmCond):
            return self._rfm(c)
        if isinstance(c, ScoreCond):
            test = _compare("score", c.op, c.value)
            return Sql(
                f"c.id IN (SELECT customer_id FROM scores WHERE model = ? AND {test.text})", [c.model, *test.params]
            )
        if not isinstance(c, SampleCond):
            raise InputError(f"cannot compile {type(c).__name__}")
        low, high = semantics.sample_bounds(c.percent, c.offset)
        bucket = (
            f"((c.id * {semantics.SAMPLE_MULTIPLIER} + {int(c.seed)} * {semantics.SEED_MULTIPLIER}) "
            f"% {semantics.SAMPLE_BUCKETS})"
        )
        return Sql(f"({bucket} >= ? AND {bucket} < ?)", [low, high])

    # --- profile --------------------------------------------------------------------------------------------

    def _field(self, c: FieldCond) -> Sql:
        if c.field == "age":
            return self._age(c)
        if c.field.startswith("attributes."):
            return self._attribute(c, c.field.split(".", 1)[1])
        column = f"c.{c.field}"
        if c.op == "exists":
            return Sql(f"{column} IS {'NOT ' if c.value else ''}NULL")
        if c.field == "created_at":
            edge = self.moment - timedelta(days=int(c.value))
            if c.op == "within_days":
                return Sql(f"({column} >= ? AND {column} <= ?)", [edge, self.moment])
            return Sql(f"{column} < ?", [edge])
        if c.field == "birth_date":
            if c.op in ("within_days", "older_than_days"):
                first, last = semantics.day_window(self.today, int(c.value))
                if c.op == "within_days":
                    return Sql(f"({column} >= ? AND {column} <= ?)", [first, last])
                return Sql(f"{column} < ?", [first])
            value: Any = (
                tuple(map(date.fromisoformat, c.value)) if isinstance(c.value, tuple) else date.fromisoformat(c.value)
            )
            return _compare(column, c.op, value)
        return _compare(column, c.op, c.value)

    def _attribute(self, c: FieldCond, key: str) -> Sql:
        if c.op == "exists":
            present = Sql("c.id IN (SELECT customer_id FROM attributes WHERE name = ?)", [key])
            return present if c.value else Sql(f"(NOT {present.text})", present.params)
        if c.op in ("within_days", "older_than_days"):
            first, last = semantics.day_window(self.today, int(c.value))
            day = "substr(text_value, 1, 10)"
            test = (
                Sql(f"{day} >= ? AND {day} <= ?", [first.isoformat(), last.isoformat()])
                if c.op == "within_days"
                else Sql(f"{day} < ?", [first.isoformat()])
            )
            return Sql(
                "c.id IN (SELECT customer_id FROM attributes WHERE name = ? AND text_value LIKE '____-__-__%' "
                f"AND {test.text})",
                [key, *test.params],
            )
        sample = c.value[0] if isinstance(c.value, tuple) else c.value
        column = "bool_value" if isinstance(sample, bool) else "text_value" if isinstance(sample, str) else "num_value"
        test = _compare(column, c.op, c.value)
        return Sql(f"c.id IN (SELECT customer_id FROM attributes WHERE name = ? AND {test.text})", [key, *test.params])

    def _age(self, c: FieldCond) -> Sql:
        if c.op == "exists":
            known = "(c.birth_date IS NOT NULL OR c.age_min IS NOT NULL)"
            return Sql(known if c.value else f"(NOT {known})")
        interval = semantics.age_interval(c.op, c.value)
        if interval is None:
            return Sql(FALSE)
        low, high = interval
        by_date = [Sql("c.birth_date IS NOT NULL")]
        by_range = [Sql("c.birth_date IS NULL")]
        if low is not None:
            by_date.append(Sql("c.birth_date <= ?", [semantics.born_on_or_before(self.today, low)]))
            by_range.append(Sql("c.age_min >= ?", [low]))
        if high is not None:
            by_date.append(Sql("c.birth_date > ?", [semantics.born_after(self.today, high)]))
            by_range.append(Sql("c.age_max <= ?", [high]))
        a, b = _and(by_date), _and(by_range)
        return Sql(f"({a.text} OR {b.text})", a.params + b.params)

    def _birthday(self, c: BirthdayCond) -> Sql:
        plan = semantics.birthday_plan(self.now, c.within_days)
        default = sorted(plan.days[0])
        branches, params = [], []
        for zones, offset in ((plan.behind, -1), (plan.ahead, 1)):
            if zones:
                days = sorted(plan.days[offset])
                branches.append(f"WHEN c.timezone IN ({_marks(zones)}) THEN c.birth_mmdd IN ({_marks(days)})")
                params += [*sorted(zones), *days]
        choice = f"CASE {' '.join(branches)} ELSE c.birth_mmdd IN ({_marks(default)}) END" if branches else None
        if choice is None:
            return Sql(f"c.birth_mmdd IN ({_marks(default)})", default)
        return Sql(f"(c.birth_mmdd IS NOT NULL AND {choice})", [*params, *default])

    # --- consent ------------------------------------------------------------------------------------------

    def _consent(self, c: ConsentCond) -> Sql:
        granted = Sql(
            "c.id IN (SELECT customer_id FROM consents WHERE channel = ? AND purpose = ? AND status = 'granted' "
            "AND recorded_at <= ? AND (expires_at IS NULL OR expires_at > ?))",
            [c.channel, c.purpose, self.moment, self.moment],
        )
        contact = semantics.CONTACT_OF_CHANNEL.get(c.channel)
        if contact is None:
            return granted
        column = "c.has_street" if contact == "street" else f"c.{contact} IS NOT NULL"
        return Sql(f"({column} AND {granted.text})", granted.params)

    # --- behaviour ----------------------------------------------------------------------------------------

    def event_filter(self, c: EventCond, *, until_now: bool) -> Sql:
        parts = [Sql("customer_id IS NOT NULL"), Sql("type = ?", [c.type])]
        if c.category is not None:
            parts.append(Sql("category = ?", [c.category]))
        if c.within_days is not None:
            parts.append(Sql("occurred_at >= ?", [self.moment - timedelta(days=c.within_days)]))
        if c.within_days is not None or until_now:
            parts.append(Sql("occurred_at <= ?", [self.moment]))
        for key, value in c.properties:
            path = f"'$.\"{key}\"'"  # keys are validated: letters, digits and _
            kind = f"json_type(properties, {path})"
            if isinstance(value, bool):
                parts.append(
                    Sql(f"({kind} = 'BOOLEAN' AND json_extract_string(properties, {path}) = ?)", [str(value).lower()])
                )
            elif isinstance(value, str):
                parts.append(Sql(f"({kind} = 'VARCHAR' AND json_extract_string(properties, {path}) = ?)", [value]))
            else:
                parts.append(
                    Sql(
                        f"(CASE WHEN {kind} IN ('BIGINT', 'UBIGINT', 'DOUBLE') "
                        f"THEN CAST(json_extract(properties, {path}) AS DOUBLE) END) = ?",
                        [value],
                    )
                )
        return _and(parts)

    def _event(self, c: EventCond) -> Sql:
        where = self.event_filter(c, until_now=c.measure == "recency")
        empty_passes = False
        if c.measure == "count":
            test = _compare("count(*)", c.op, c.value)
            empty_passes = _holds(c.op, 0, c.value)
        elif c.measure == "sum":
            threshold = semantics.cents(c.value)
            test = _compare("coalesce(sum(amount_cents), 0)", c.op, threshold)
            empty_passes = _holds(c.op, 0, threshold)
        elif c.measure == "avg":
            threshold = semantics.cents(c.value)
            test = Sql(
                f"count(amount_cents) > 0 AND sum(amount_cents) {SYMBOLS[c.op]} ? * count(amount_cents)", [threshold]
            )
        else:
            after, until = semantics.recency_bounds(self.now, c.op, int(c.value))
            test = Sql("max(occurred_at) <= ?", [_naive(until)])
            if after is not None:
                test = Sql(f"{test.text} AND max(occurred_at) > ?", [*test.params, _naive(after)])
        if c.measure == "count" and _any_event(c.op, c.value) is not None:
            # "at least one" / "none": a semi-join, no counting per customer
            negate = "NOT " if _any_event(c.op, c.value) is False else ""
            return Sql(f"c.id {negate}IN (SELECT customer_id FROM events WHERE {where.text})", where.params)
        groups = f"SELECT customer_id FROM events WHERE {where.text} GROUP BY customer_id HAVING "
        if empty_passes:
            return Sql(f"c.id NOT IN ({groups}NOT ({test.text}))", where.params + test.params)
        return Sql(f"c.id IN ({groups}{test.text})", where.params + test.params)

    def _rfm(self, c: RfmCond) -> Sql:
        n = semantics.RFM_SCORES
        scored = (
            "SELECT customer_id, "
            f"1 + ({n} * (rank() OVER (ORDER BY last) - 1)) // count(*) OVER () AS r, "
            f"1 + ({n} * (rank() OVER (ORDER BY n) - 1)) // count(*) OVER () AS f, "
            f"1 + ({n} * (rank() OVER (ORDER BY spend) - 1)) // count(*) OVER () AS m "
            "FROM (SELECT customer_id, max(occurred_at) AS last, count(*) AS n, "
            "coalesce(sum(amount_cents), 0) AS spend FROM events "
            "WHERE type = ? AND occurred_at >= ? AND occurred_at <= ? "
            "AND customer_id IN (SELECT id FROM customers) GROUP BY customer_id)"
        )
        params: list[Any] = [c.event_type, self.moment - timedelta(days=c.within_days), self.moment]
        tests = [
            _compare(col, test[0], test[1])
            for col, test in (("r", c.recency), ("f", c.frequency), ("m", c.monetary))
            if test is not None
        ]
        cond = _and(tests)
        return Sql(f"c.id IN (SELECT customer_id FROM ({scored}) WHERE {cond.text})", params + cond.params)

    # --- references ---------------------------------------------------------------------------------------

    def _segment(self, c: SegmentRef) -> Sql:
        if self.load is None:
            raise InputError(f"segment {c.name!r} is referenced but segments cannot be looked up here")
        if c.name in self._stack:
            raise InputError(f"segment {c.name!r} refers to itself through {' -> '.join(self._stack)}")
        self._stack.append(c.name)
        try:
            return self.compile(self.load(c.name))
        finally:
            self._stack.pop()


def _holds(op: str, left: float, right: float) -> bool:
    return {
        "eq": left == right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def _any_event(op: str, value: float) -> bool | None:
    """True when a count test means "at least one", False when it means "none", else None."""
    if (op == "gte" and 0 < value <= 1) or (op == "gt" and 0 <= value < 1):
        return True
    if (op == "eq" and value == 0) or (op == "lt" and 0 < value <= 1) or (op == "lte" and 0 <= value < 1):
        return False
    return None
