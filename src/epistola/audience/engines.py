"""Where a segment is evaluated: the `Audience` port and its two adapters.

`MartAudience` answers from the DuckDB mart in milliseconds and says how fresh it is; `StoreAudience`
answers live from the operational store with the reference SQL compiler (small bases, and the
cross-check). Counting code (`counts.py`) only sees the port. Every question is one query: a count with
any number of extra conditions counted inside it (reach by channel, overlaps) is a single scan.
"""

# ruff: noqa: S608 - values always travel as ? parameters; only compiled fragments are formatted in

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, and_, case, func, select, true

from epistola.audience.duck import DuckCompiler, Sql
from epistola.audience.freshness import Freshness
from epistola.audience.language import Condition
from epistola.audience.sql import SqlCompiler
from epistola.store.schema import customers

if TYPE_CHECKING:  # the mart loads DuckDB and Arrow: only when a mart is actually used
    from epistola.audience.mart import Mart

SegmentLoader = Callable[[str], Condition]


class Audience(Protocol):
    """Answers questions about who matches a condition."""

    def freshness(self) -> Freshness: ...

    def members(self, condition: Condition) -> list[int]: ...

    def tally(self, base: Condition | None, extras: Sequence[Sequence[Condition]]) -> list[int]:
        """[count(base), count(base and all of extras[0]), count(base and all of extras[1]), …]"""
        ...


class StoreAudience:
    """Live answers from the operational store (SQLite or PostgreSQL)."""

    def __init__(self, conn: Connection, *, now: datetime, load: SegmentLoader | None) -> None:
        self.conn = conn
        self.now = now
        self.compiler = SqlCompiler(now=now, load=load)

    def freshness(self) -> Freshness:
        return Freshness(source="store", as_of=self.now, age_s=0.0)

    def members(self, condition: Condition) -> list[int]:
        query = self.compiler.members(condition).order_by(customers.c.id)
        return [int(x) for x in self.conn.execute(query).scalars()]

    def tally(self, base: Condition | None, extras: Sequence[Sequence[Condition]]) -> list[int]:
        where = self.compiler.compile(base) if base is not None else true()
        columns: list[Any] = [func.count()]
        for group in extras:
            test = and_(true(), *(self.compiler.compile(c) for c in group))
            columns.append(func.coalesce(func.sum(case((test, 1), else_=0)), 0))
        row = self.conn.execute(
            select(*columns).select_from(customers).where(customers.c.merged_into.is_(None), where)
        ).one()
        return [int(x) for x in row]


class MartAudience:
    """Answers from the analytical mart, as fresh as its last refresh."""

    def __init__(self, mart: Mart, *, now: datetime, load: SegmentLoader | None) -> None:
        self.mart = mart
        self.now = now
        self.compiler = DuckCompiler(now=now, load=load)

    def freshness(self) -> Freshness:
        return self.mart.freshness(self.now)

    def members(self, condition: Condition) -> list[int]:
        query = self.compiler.members(condition)
        return [int(r[0]) for r in self.mart.query(query.text, query.params)]

    def count(self, condition: Condition) -> int:
        query = self.compiler.count(condition)
        return int(self.mart.query(query.text, query.params)[0][0])

    def tally(self, base: Condition | None, extras: Sequence[Sequence[Condition]]) -> list[int]:
        where = self.compiler.compile(base) if base is not None else Sql("TRUE")
        flags: list[Sql] = []
        selects = ["count(*)"]
        for group in extras:
            names = []
            for condition in group:
                flags.append(self.compiler.compile(condition))
                names.append(f"f{len(flags)}")
            selects.append(f"count(*) FILTER (WHERE {' AND '.join(names) or 'TRUE'})")
        columns = ", ".join(f"{f.text} AS f{i}" for i, f in enumerate(flags, 1)) or "1 AS f0"
        params: list[Any] = [p for f in flags for p in f.params] + where.params
        sql = (
            f"WITH flags AS (SELECT {columns} FROM customers c WHERE {where.text}) "
            f"SELECT {', '.join(selects)} FROM flags"
        )
        return [int(x) for x in self.mart.query(sql, params)[0]]


def open_audience(
    *,
    kind: str,
    engine: Engine,
    conn: Connection,
    mart: Mart | None,
    now: datetime,
    load: SegmentLoader | None,
    max_age_s: float,
) -> Audience:
    """The audience to ask: the mart (built if missing, refreshed if older than `max_age_s`) or the store."""
    if kind == "store" or mart is None:
        return StoreAudience(conn, now=now, load=load)
    mart.ensure_fresh(engine, now, max_age_s)
    return MartAudience(mart, now=now, load=load)
