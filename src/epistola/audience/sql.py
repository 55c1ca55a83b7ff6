"""Compile segment conditions to SQL on the operational store (SQLite and PostgreSQL alike).

This is the reference compiler: small bases count here directly, and the mart compiler (`duck.py`) is
proven against it on generated data. Semantics are conservative and two-valued: a leaf holds only when
the data shows it (an unknown age is not "over 30"; a source's age range counts only when the whole
range satisfies the test), every leaf is wrapped so that unknown is false, and ``not`` is the exact
complement. Every constant that needs calendar arithmetic comes from `semantics.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import Boolean, Float, Integer, String, TypeEngine

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
from epistola.store.schema import consents, customers, events, model_scores

SegmentLoader = Callable[[str], Condition]


# --- dialect-specific pieces ---------------------------------------------------------------------------


class JsonValue(ColumnElement[Any]):
    """A typed value from a JSON column: ``kind`` text (JSON strings only), num (numbers only), bool
    (true/false only) or present (any non-null value, as a boolean). Anything else reads as NULL."""

    inherit_cache = False

    def __init__(self, column: ColumnElement[Any], key: str, kind: str) -> None:
        self.column, self.key, self.kind = column, key, kind
        types: dict[str, TypeEngine[Any]] = {"text": String(), "num": Float(), "bool": Boolean(), "present": Boolean()}
        self.type = types[kind]


@compiles(JsonValue, "sqlite")
def _json_sqlite(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    path = f"'$.\"{element.key}\"'"  # keys are validated: letters, digits and _
    kind = f"json_type({col}, {path})"
    value = f"json_extract({col}, {path})"
    return {
        "text": f"(CASE WHEN {kind} = 'text' THEN {value} END)",
        "num": f"(CASE WHEN {kind} IN ('integer', 'real') THEN {value} END)",
        "bool": f"(CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)",
        "present": f"({kind} IS NOT NULL AND {kind} != 'null')",
    }[element.kind]


@compiles(JsonValue, "postgresql")
def _json_pg(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    node = f"({col} -> '{element.key}')"
    kind = f"jsonb_typeof({node})"
    text = f"({col} ->> '{element.key}')"
    return {
        "text": f"(CASE WHEN {kind} = 'string' THEN {text} END)",
        "num": f"(CASE WHEN {kind} = 'number' THEN CAST({text} AS DOUBLE PRECISION) END)",
        "bool": f"(CASE WHEN {kind} = 'boolean' THEN CAST({text} AS BOOLEAN) END)",
        "present": f"({kind} IS NOT NULL AND {kind} != 'null')",
    }[element.kind]


class BirthMonthDay(ColumnElement[int]):
    """month * 100 + day of a date column."""

    inherit_cache = False
    type = Integer()

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column


@compiles(BirthMonthDay, "sqlite")
def _mmdd_sqlite(element: BirthMonthDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%m%d', {compiler.process(element.column, **kw)}) AS INTEGER)"


@compiles(BirthMonthDay, "postgresql")
def _mmdd_pg(element: BirthMonthDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(to_char({compiler.process(element.column, **kw)}, 'MMDD') AS INTEGER)"


class Binary(ColumnElement[str]):
    """A text column compared byte-wise (PostgreSQL's default collation sorts by locale)."""

    inherit_cache = False
    type = String()

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column


@compiles(Binary, "sqlite")
def _binary_sqlite(element: Binary, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(Binary, "postgresql")
def _binary_pg(element: Binary, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.column, **kw)} COLLATE "C")'


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """`column <op> value` for the comparison operators of the language."""
    if op == "eq":
        return column == value  # type: ignore[no-any-return]
    if op == "ne":
        return and_(column.is_not(None), column != value)
    if op == "in":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op == "not_in":
        return and_(column.is_not(None), column.not_in(list(value)))
    if op == "gt":
        return column > value  # type: ignore[no-any-return]
    if op == "gte":
        return column >= value  # type: ignore[no-any-return]
    if op == "lt":
        return column < value  # type: ignore[no-any-return]
    if op == "lte":
        return column <= value  # type: ignore[no-any-return]
    raise InputError(f"unknown comparison {op!r}")


def _known(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """Two-valued logic: NULL (unknown) becomes false."""
    return func.coalesce(expr, false())


def _cents(amount: Any) -> Any:
    return cast(func.round(amount * 100), BigInteger)


# --- the compiler ------------------------------------------------------------------------------------------


class SqlCompiler:
    """One compilation: `now` fixes relative dates; `load` resolves references to other segments."""

    def __init__(self, *, now: datetime, load: SegmentLoader | None = None) -> None:
        self.now = now
        self.today = now.date()
        self.load = load
        self._stack: list[str] = []

    def members(self, condition: Condition) -> Select[Any]:
        return select(customers.c.id).where(customers.c.merged_into.is_(None), self.compile(condition))

    def count(self, condition: Condition) -> Select[Any]:
        return (
            select(func.count())
            .select_from(customers)
            .where(customers.c.merged_into.is_(None), self.compile(condition))
        )

    def compile(self, c: Condition) -> ColumnElement[bool]:
        if isinstance(c, All):
            return and_(true(), *(self.compile(x) for x in c.items))
        if isinstance(c, Any_):
            return or_(false(), *(self.compile(x) for x in c.items))
        if isinstance(c, Not):
            return not_(self.compile(c.item))
        if isinstance(c, SegmentRef):
            return self._segment(c)
        if isinstance(c, FieldCond):
            return _known(self._field(c))
        if isinstance(c, ConsentCond):
            return _known(self._consent(c))
        if isinstance(c, EventCond):
            return self._event(c)
        if isinstance(c, BirthdayCond):
            return _known(self._birthday(c))
        if isinstance(c, RfmCond):
            return self._rfm(c)
        if isinstance(c, ScoreCond):
            return self._score(c)
        if not isinstance(c, SampleCond):
            raise InputError(f"cannot compile {type(c).__name__}")
        low, high = semantics.sample_bounds(c.percent, c.offset)
        bucket = (customers.c.id * semantics.SAMPLE_MULTIPLIER + c.seed * semantics.SEED_MULTIPLIER) % (
            semantics.SAMPLE_BUCKETS
        )
        return and_(bucket >= low, bucket < high)

    # --- profile --------------------------------------------------------------------------------------------

    def _field(self, c: FieldCond) -> ColumnElement[bool]:
        if c.field == "age":
            return self._age(c)
        if c.field.startswith("attributes."):
            return self._attribute(c, c.field.split(".", 1)[1])
        column: Any = customers.c[c.field]
        if c.op == "exists":
            return column.is_not(None) if c.value else column.is_(None)  # type: ignore[no-any-return]
        if c.field == "created_at":
            edge = self.now - timedelta(days=int(c.value))
            if c.op == "within_days":
                return and_(column >= edge, column <= self.now)
            return column < edge  # type: ignore[no-any-return]
        if c.field == "birth_date":
            if c.op in ("within_days", "older_than_days"):
                return self._dates(column, c.op, int(c.value))
            value: Any = (
                tuple(map(date.fromisoformat, c.value)) if isinstance(c.value, tuple) else date.fromisoformat(c.value)
            )
            return compare(column, c.op, value)
        if c.op in ("gt", "gte", "lt", "lte"):
            column = Binary(column)
        return compare(column, c.op, c.value)

    def _dates(self, column: Any, op: str, days: int) -> ColumnElement[bool]:
        first, last = semantics.day_window(self.today, days)
        if op == "within_days":
            return and_(column >= first, column <= last)
        return column < first  # type: ignore[no-any-return]

    def _attribute(self, c: FieldCond, key: str) -> ColumnElement[bool]:
        col = customers.c.attributes
        if c.op == "exists":
            present = JsonValue(col, key, "present")
            return present if c.value else not_(present)
        if c.op in ("within_days", "older_than_days"):
            text = JsonValue(col, key, "text")
            day = func.substr(text, 1, 10)
            first, last = semantics.day_window(self.today, int(c.value))
            looks_like_date = text.like("____-__-__%")
            if c.op == "within_days":
                return and_(looks_like_date, day >= first.isoformat(), day <= last.isoformat())
            return and_(looks_like_date, day < first.isoformat())
        sample = c.value[0] if isinstance(c.value, tuple) else c.value
        kind = "bool" if isinstance(sample, bool) else "text" if isinstance(sample, str) else "num"
        value_col: Any = JsonValue(col, key, kind)
        if kind == "text" and c.op in ("gt", "gte", "lt", "lte"):
            value_col = Binary(value_col)
        return compare(value_col, c.op, c.value)

    def _age(self, c: FieldCond) -> ColumnElement[bool]:
        bd, low_col, high_col = customers.c.birth_date, customers.c.age_min, customers.c.age_max
        if c.op == "exists":
            known = or_(bd.is_not(None), low_col.is_not(None))
            return known if c.value else not_(known)
        interval = semantics.age_interval(c.op, c.value)
        if interval is None:
            return false()
        low, high = interval
        by_date: list[ColumnElement[bool]] = [bd.is_not(None)]
        by_range: list[ColumnElement[bool]] = [bd.is_(None)]
        if low is not None:
            by_date.append(bd <= semantics.born_on_or_before(self.today, low))
            by_range.append(low_col >= low)
        if high is not None:
            by_date.append(bd > semantics.born_after(self.today, high))
            by_range += [high_col.is_not(None), high_col <= high]
        return or_(and_(*by_date), and_(*by_range))

    def _birthday(self, c: BirthdayCond) -> ColumnElement[bool]:
        plan = semantics.birthday_plan(self.now, c.within_days)
        mmdd = BirthMonthDay(customers.c.birth_date)
        tz = customers.c.timezone
        branches = []
        if plan.behind:
            branches.append((tz.in_(sorted(plan.behind)), mmdd.in_(sorted(plan.days[-1]))))
        if plan.ahead:
            branches.append((tz.in_(sorted(plan.ahead)), mmdd.in_(sorted(plan.days[1]))))
        return and_(
            customers.c.birth_date.is_not(None),
            case(*branches, else_=mmdd.in_(sorted(plan.days[0]))) if branches else mmdd.in_(sorted(plan.days[0])),
        )

    # --- consent ------------------------------------------------------------------------------------------

    def _consent(self, c: ConsentCond) -> ColumnElement[bool]:
        in_force = case(
            (
                and_(
                    consents.c.status == "granted",
                    or_(consents.c.expires_at.is_(None), consents.c.expires_at > self.now),
                ),
                1,
            ),
            else_=0,
        )
        latest = (
            select(in_force)
            .where(
                consents.c.customer_id == customers.c.id,
                consents.c.channel == c.channel,
                consents.c.purpose == c.purpose,
                consents.c.recorded_at <= self.now,
            )
            .order_by(consents.c.recorded_at.desc(), consents.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        granted = latest == 1
        contact = semantics.CONTACT_OF_CHANNEL.get(c.channel)
        return and_(customers.c[contact].is_not(None), granted) if contact else granted

    # --- behaviour ----------------------------------------------------------------------------------------

    def event_filter(self, c: EventCond, *, until_now: bool) -> list[ColumnElement[bool]]:
        """The events a condition looks at, for the customer of the outer query."""
        where: list[ColumnElement[bool]] = [events.c.customer_id == customers.c.id, events.c.type == c.type]
        if c.category is not None:
            where.append(events.c.category == c.category)
        if c.within_days is not None:
            where.append(events.c.occurred_at >= self.now - timedelta(days=c.within_days))
        if c.within_days is not None or until_now:
            where.append(events.c.occurred_at <= self.now)
        for key, value in c.properties:
            kind = "bool" if isinstance(value, bool) else "text" if isinstance(value, str) else "num"
            where.append(JsonValue(events.c.properties, key, kind) == value)
        return where

    def _event(self, c: EventCond) -> ColumnElement[bool]:
        where = self.event_filter(c, until_now=c.measure == "recency")
        if c.measure == "count":
            test = compare(func.count(), c.op, c.value)
        elif c.measure == "sum":
            test = compare(func.coalesce(func.sum(_cents(events.c.amount)), 0), c.op, semantics.cents(c.value))
        elif c.measure == "avg":
            n = func.count(events.c.amount)
            test = and_(n > 0, compare(func.sum(_cents(events.c.amount)), c.op, semantics.cents(c.value) * n))
        else:
            after, until = semantics.recency_bounds(self.now, c.op, int(c.value))
            last = func.max(events.c.occurred_at)
            test = and_(last <= until, *([last > after] if after is not None else []))
        # An aggregate without GROUP BY yields one row even for no events (count 0, sum NULL), so the
        # HAVING test decides for customers without events too.
        return exists(select(func.count()).select_from(events).where(*where).having(test))

    def _rfm(self, c: RfmCond) -> ColumnElement[bool]:
        base = (
            select(
                events.c.customer_id.label("customer_id"),
                func.max(events.c.occurred_at).label("last"),
                func.count().label("n"),
                func.coalesce(func.sum(_cents(events.c.amount)), 0).label("spend"),
            )
            .join(customers, customers.c.id == events.c.customer_id)
            .where(
                customers.c.merged_into.is_(None),
                events.c.type == c.event_type,
                events.c.occurred_at >= self.now - timedelta(days=c.within_days),
                events.c.occurred_at <= self.now,
            )
            .group_by(events.c.customer_id)
            .subquery("rfm_base")
        )
        total = func.count().over()

        def score(column: Any) -> Any:
            return 1 + (semantics.RFM_SCORES * (func.rank().over(order_by=column) - 1)) // total

        scored = select(
            base.c.customer_id,
            score(base.c["last"]).label("r"),
            score(base.c.n).label("f"),
            score(base.c.spend).label("m"),
        ).subquery("rfm")
        tests = [
            compare(scored.c[col], test[0], test[1])
            for col, test in (("r", c.recency), ("f", c.frequency), ("m", c.monetary))
            if test is not None
        ]
        return customers.c.id.in_(select(scored.c.customer_id).where(*tests))

    def _score(self, c: ScoreCond) -> ColumnElement[bool]:
        return exists(
            select(literal(1)).where(
                model_scores.c.customer_id == customers.c.id,
                model_scores.c.model == c.model,
                compare(model_scores.c.score, c.op, c.value),
            )
        )

    # --- references ---------------------------------------------------------------------------------------

    def _segment(self, c: SegmentRef) -> ColumnElement[bool]:
        if self.load is None:
            raise InputError(f"segment {c.name!r} is referenced but segments cannot be looked up here")
        if c.name in self._stack:
            raise InputError(f"segment {c.name!r} refers to itself through {' -> '.join(self._stack)}")
        self._stack.append(c.name)
        try:
            inner = self.compile(self.load(c.name))
        finally:
            self._stack.pop()
        return inner


def expand(condition: Condition, load: SegmentLoader, stack: Sequence[str] = ()) -> Condition:
    """The condition with every segment reference replaced by its definition (cycles refused)."""
    if isinstance(condition, SegmentRef):
        if condition.name in stack:
            raise InputError(f"segment {condition.name!r} refers to itself through {' -> '.join(stack)}")
        return expand(load(condition.name), load, (*stack, condition.name))
    if isinstance(condition, All):
        return All(items=tuple(expand(x, load, stack) for x in condition.items))
    if isinstance(condition, Any_):
        return Any_(items=tuple(expand(x, load, stack) for x in condition.items))
    if isinstance(condition, Not):
        return Not(item=expand(condition.item, load, stack))
    return condition
