"""The few statements that SQLite and PostgreSQL spell differently, behind one function each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> int:
    """Insert rows, silently skipping those that clash on `conflict`; returns how many were inserted."""
    if not rows:
        return 0
    # executemany's rowcount is not reliable on psycopg; RETURNING yields exactly the inserted rows.
    key = table.c[conflict[0]]
    if conn.dialect.name == "postgresql":
        pg_stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(key)
        result = conn.execute(pg_stmt, list(rows))
    else:
        lite_stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(key)
        result = conn.execute(lite_stmt, list(rows))
    return len(result.all())


def insert_id(conn: Connection, stmt: Insert) -> int:
    """Run a single-row INSERT and return the new row's primary key."""
    key = conn.execute(stmt).inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an integer key
        raise RuntimeError("INSERT returned no primary key")
    return int(key[0])
