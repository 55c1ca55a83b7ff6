"""Read the operational store into Arrow tables for the mart: one adapter per backend.

DuckDB's SQLite and PostgreSQL scanners are extensions that would be downloaded at run time, which
Epistola never does, so the rows come out through the drivers Epistola already has: Python's sqlite3
(a read-only connection of its own, one snapshot per read) and psycopg's ``COPY … TO STDOUT`` in CSV,
parsed by Arrow's multi-threaded CSV reader. Both backends return the same columns with the same text
forms (timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC), so the mart loads them with one code path.

Personal data is minimised on the way: the street is reduced to "has a postal address", and the
importer's private ``_ident`` key (the raw identifier an event arrived with) is dropped from event
properties.
"""

# ruff: noqa: S608 - values always travel as parameters; only fixed column expressions are formatted in

from __future__ import annotations

import concurrent.futures
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
from sqlalchemy import Engine

from epistola.errors import StorageError

CHUNK = 5_000  # ids per IN list (SQLite allows 32,766 parameters; PostgreSQL takes arrays)
PARALLEL_FROM = 200_000  # rows from which a SQLite build reads with one process per core
USE_SQLITE_SHELL = True  # read through the sqlite3 shell's CSV when it is installed
NULL_MARK = "\x1eNULL\x1e"  # how the shell writes NULL: no real value looks like this

CUSTOMER_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.int64()),
    ("first_name", pa.string()),
    ("last_name", pa.string()),
    ("email", pa.string()),
    ("phone", pa.string()),
    ("gender", pa.string()),
    ("birth_date", pa.string()),
    ("age_min", pa.int64()),
    ("age_max", pa.int64()),
    ("locale", pa.string()),
    ("country", pa.string()),
    ("region", pa.string()),
    ("city", pa.string()),
    ("postcode", pa.string()),
    ("has_street", pa.int64()),
    ("timezone", pa.string()),
    ("attributes", pa.string()),
    ("merged_into", pa.int64()),
    ("created_at", pa.string()),
    ("updated_at", pa.string()),
)
EVENT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.int64()),
    ("customer_id", pa.int64()),
    ("type", pa.string()),
    ("category", pa.string()),
    ("occurred_at", pa.string()),
    ("amount_cents", pa.int64()),
    ("currency", pa.string()),
    ("properties", pa.string()),
)
CONSENT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("customer_id", pa.int64()),
    ("channel", pa.string()),
    ("purpose", pa.string()),
    ("status", pa.string()),
    ("recorded_at", pa.string()),
    ("expires_at", pa.string()),
    ("entry_id", pa.int64()),
)
SCORE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("model", pa.string()),
    ("customer_id", pa.int64()),
    ("score", pa.float64()),
)


def stamp(moment: datetime) -> str:
    """A UTC datetime in the text form both backends compare and return."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Snapshot(Protocol):
    """One consistent read of the operational store (a transaction): the mart's only view of it."""

    def table(self, sql: str, params: Sequence[Any], columns: tuple[tuple[str, pa.DataType], ...]) -> pa.Table: ...
    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def ts(self, column: str) -> str: ...
    def date(self, column: str) -> str: ...
    def json(self, column: str) -> str: ...
    def flag(self, expr: str) -> str: ...
    def param(self, value: Any) -> Any: ...
    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]: ...
    def without_ident(self, column: str) -> str: ...


class SqliteSnapshot:
    def __init__(self, db: sqlite3.Connection, path: str = "") -> None:
        self.db = db
        self.path = path  # lets a full build read events in parallel processes

    def table(self, sql: str, params: Sequence[Any], columns: tuple[tuple[str, pa.DataType], ...]) -> pa.Table:
        cursor = self.db.execute(sql, list(params))
        batches = []
        while rows := cursor.fetchmany(65_536):
            values = list(zip(*rows, strict=True))
            batches.append(
                pa.record_batch(
                    [pa.array(v, type=t) for v, (_, t) in zip(values, columns, strict=True)],
                    names=[n for n, _ in columns],
                )
            )
        if not batches:
            return pa.table({n: pa.array([], type=t) for n, t in columns})
        return pa.Table.from_batches(batches)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.execute(sql, list(params)).fetchone()
        return row[0] if row else None

    def ts(self, column: str) -> str:
        return column  # SQLite already stores naive UTC in exactly this form

    def date(self, column: str) -> str:
        return column

    def json(self, column: str) -> str:
        return column

    def flag(self, expr: str) -> str:
        return f"({expr})"

    def param(self, value: Any) -> Any:
        return stamp(value) if isinstance(value, datetime) else value

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join('?' * len(ids))})", list(ids)

    def without_ident(self, column: str) -> str:
        return f"json_remove({column}, '$._ident')"


class PostgresSnapshot:
    def __init__(self, db: Any) -> None:
        self.db = db

    def table(self, sql: str, params: Sequence[Any], columns: tuple[tuple[str, pa.DataType], ...]) -> pa.Table:
        buffer = io.BytesIO()
        with self.db.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", list(params)) as copy:
            for chunk in copy:
                buffer.write(chunk)
        names = [n for n, _ in columns]
        if buffer.tell() == 0:
            return pa.table({n: pa.array([], type=t) for n, t in columns})
        buffer.seek(0)
        return pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types=dict(columns), strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.db.cursor() as cur:
            row = cur.execute(sql.replace("?", "%s"), list(params)).fetchone()
        return row[0] if row else None

    def ts(self, column: str) -> str:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"

    def date(self, column: str) -> str:
        return f"to_char({column}, 'YYYY-MM-DD')"

    def json(self, column: str) -> str:
        return f"{column}::text"

    def flag(self, expr: str) -> str:
        return f"({expr})::int"

    def param(self, value: Any) -> Any:
        return value

    def in_ids(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(ids)]

    def without_ident(self, column: str) -> str:
        return f"({column} - '_ident')::text"


@contextmanager
def snapshot(engine: Engine) -> Iterator[Snapshot]:
    """A read-only, consistent snapshot of the operational store for one build or refresh."""
    url = engine.url
    try:
        if url.get_backend_name() == "sqlite":
            path = url.database or ""
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA busy_timeout=30000")
                db.execute("BEGIN")
                yield SqliteSnapshot(db, path)
                db.execute("COMMIT")
            finally:
                db.close()
            return
        raw = engine.raw_connection()
        try:
            pg: Any = raw.driver_connection
            pg.rollback()
            with pg.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield PostgresSnapshot(_Params(pg))
            pg.rollback()
        finally:
            raw.close()
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"reading the operational store for the mart failed: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg"):
            raise StorageError(f"reading the operational store for the mart failed: {exc}") from exc
        raise


class _Params:
    """psycopg with `?` placeholders (the SQL text is shared with sqlite3)."""

    def __init__(self, pg: Any) -> None:
        self._pg = pg

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        with self._pg.cursor() as cur:
            yield _Cursor(cur)


class _Cursor:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def copy(self, sql: str, params: list[Any]) -> Any:
        return self._cur.copy(sql.replace("?", "%s"), params)

    def execute(self, sql: str, params: list[Any]) -> Any:
        return self._cur.execute(sql, params)


# --- the queries -----------------------------------------------------------------------------------------


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _concat(tables: list[pa.Table], columns: tuple[tuple[str, pa.DataType], ...]) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({n: pa.array([], type=t) for n, t in columns})
    return pa.concat_tables(tables)


def customers_sql(s: Snapshot) -> str:
    return (
        "SELECT id, first_name, last_name, email, phone, gender, "
        f"{s.date('birth_date')}, age_min, age_max, locale, country, region, city, postcode, "
        f"{s.flag('street IS NOT NULL')}, timezone, {s.json('attributes')}, merged_into, "
        f"{s.ts('created_at')}, {s.ts('updated_at')} FROM customers"
    )


def read_customers(s: Snapshot, *, since: datetime | None = None, ids: Sequence[int] | None = None) -> pa.Table:
    """All customers, those changed at or after `since`, or those with the given ids (merged ones too)."""
    base = customers_sql(s)
    if ids is not None:
        parts = []
        for chunk in _chunks(ids):
            where, params = s.in_ids("id", chunk)
            parts.append(s.table(f"{base} WHERE {where}", params, CUSTOMER_COLUMNS))
        return _concat(parts, CUSTOMER_COLUMNS)
    if since is not None:
        return s.table(f"{base} WHERE updated_at >= ?", [s.param(since)], CUSTOMER_COLUMNS)
    return s.table(base, [], CUSTOMER_COLUMNS)


def events_sql(s: Snapshot) -> str:
    return (
        f"SELECT id, customer_id, type, category, {s.ts('occurred_at')}, CAST(round(amount * 100) AS BIGINT), "
        f"currency, {s.without_ident('properties')} FROM events"
    )


def read_events(
    s: Snapshot,
    *,
    id_range: tuple[int, int] | None = None,
    ids: Sequence[int] = (),
    customer_ids: Sequence[int] = (),
    linked_ids: Sequence[int] = (),
) -> pa.Table:
    """Events with ids in [low, high], with the given ids, of the given customers, or among `linked_ids`
    those that now have a customer."""
    base = events_sql(s)
    parts = []
    if id_range is not None:
        parts.append(s.table(f"{base} WHERE id >= ? AND id <= ?", list(id_range), EVENT_COLUMNS))
    for column, values, extra in (
        ("id", ids, ""),
        ("customer_id", customer_ids, ""),
        ("id", linked_ids, " AND customer_id IS NOT NULL"),
    ):
        for chunk in _chunks(values):
            where, params = s.in_ids(column, chunk)
            parts.append(s.table(f"{base} WHERE {where}{extra}", params, EVENT_COLUMNS))
    return _concat(parts, EVENT_COLUMNS)


def batches(s: Snapshot, what: str, newest: int, batch: int) -> Iterator[tuple[int, int, pa.Table]]:
    """Every row of `what` (customers or events) with an id up to `newest`, in id ranges of `batch`:
    (low, high, rows).

    On SQLite, fetching rows through Python costs an object per value, so a large store is read by one
    process per core: the `sqlite3` shell writing CSV when it is installed (four times less CPU), else
    this module in a fresh interpreter writing Arrow. Not multiprocessing: nothing of the caller's
    `__main__` is re-run. The processes need not share one snapshot: anything that changes under a
    running build changes a customer's `updated_at` (or adds an event id), so the first refresh reads it.
    """
    columns = CUSTOMER_COLUMNS if what == "customers" else EVENT_COLUMNS
    cores = min(os.cpu_count() or 1, 8)
    if isinstance(s, SqliteSnapshot) and newest >= PARALLEL_FROM:
        batch = min(batch, -(-newest // cores))  # at least one range per core
    ranges = [(low, min(newest, low + batch - 1)) for low in range(1, newest + 1, batch)]
    workers = min(len(ranges), cores)
    if not isinstance(s, SqliteSnapshot) or not s.path or workers < 2 or newest < PARALLEL_FROM:
        for low, high in ranges:
            yield low, high, _range(s, what, low, high)
        return
    path = s.path
    shell = shutil.which("sqlite3") if USE_SQLITE_SHELL else None

    def read(bounds: tuple[int, int]) -> pa.Table:
        low, high = bounds
        if shell:
            sql = f"{_range_sql(SqliteSnapshot(s.db, path), what)} WHERE id >= {int(low)} AND id <= {int(high)}"
            proc = subprocess.run(  # noqa: S603 - the sqlite3 shell on the store's own path, read-only
                [shell, "-readonly", "-bail", "-csv", "-nullvalue", NULL_MARK, path, sql], capture_output=True
            )
            if proc.returncode == 0:
                return _csv_table(proc.stdout, columns)
        proc = subprocess.run(  # noqa: S603 - our own interpreter and module, the store's own path
            [sys.executable, "-m", "epistola.audience.extract", path, what, str(low), str(high)],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise StorageError(f"reading {what} {bounds} failed: {proc.stderr.decode(errors='replace')[-500:]}")
        return pa.ipc.open_stream(proc.stdout).read_all()

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for (low, high), table in zip(ranges, pool.map(read, ranges), strict=True):
            yield low, high, table


def _range_sql(s: Snapshot, what: str) -> str:
    return customers_sql(s) if what == "customers" else events_sql(s)


def _range(s: Snapshot, what: str, low: int, high: int) -> pa.Table:
    columns = CUSTOMER_COLUMNS if what == "customers" else EVENT_COLUMNS
    return s.table(f"{_range_sql(s, what)} WHERE id >= ? AND id <= ?", [low, high], columns)


def _csv_table(data: bytes, columns: tuple[tuple[str, pa.DataType], ...]) -> pa.Table:
    if not data:
        return pa.table({n: pa.array([], type=t) for n, t in columns})
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=[n for n, _ in columns], block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=dict(columns),
            null_values=[NULL_MARK],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def _write_range(path: str, what: str, low: int, high: int) -> None:
    """Worker: one id range of customers or events to stdout as an Arrow IPC stream."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=30000")
        table = _range(SqliteSnapshot(db, path), what, low, high)
    finally:
        db.close()
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
        writer.write_table(table)


def read_latest_consents(s: Snapshot, *, as_of: datetime, customer_ids: Sequence[int] | None = None) -> pa.Table:
    """The entry in force per (customer, channel, purpose) among those recorded by `as_of`."""
    inner = (
        f"SELECT customer_id, channel, purpose, status, {s.ts('recorded_at')} AS recorded, "
        f"{s.ts('expires_at')} AS expires, id, row_number() OVER (PARTITION BY customer_id, channel, purpose "
        "ORDER BY recorded_at DESC, id DESC) AS rn FROM consents WHERE recorded_at <= ?"
    )
    outer = "SELECT customer_id, channel, purpose, status, recorded, expires, id FROM ({inner}) AS ranked WHERE rn = 1"
    if customer_ids is None:
        return s.table(outer.format(inner=inner), [s.param(as_of)], CONSENT_COLUMNS)
    parts = []
    for chunk in _chunks(customer_ids):
        where, params = s.in_ids("customer_id", chunk)
        parts.append(s.table(outer.format(inner=f"{inner} AND {where}"), [s.param(as_of), *params], CONSENT_COLUMNS))
    return _concat(parts, CONSENT_COLUMNS)


def consent_changes(s: Snapshot, *, after_id: int) -> tuple[pa.Table, int]:
    """Consent entries appended after `after_id` (customer and recorded time), and the newest entry id."""
    rows = s.table(
        f"SELECT customer_id, {s.ts('recorded_at')} FROM consents WHERE id > ?",
        [after_id],
        (("customer_id", pa.int64()), ("recorded_at", pa.string())),
    )
    newest = s.scalar("SELECT max(id) FROM consents") or 0
    return rows, int(newest)


def future_consents(s: Snapshot, *, after: datetime) -> pa.Table:
    """Entries recorded after `after` (they come into force later: the mart remembers when)."""
    return s.table(
        f"SELECT customer_id, {s.ts('recorded_at')} FROM consents WHERE recorded_at > ?",
        [s.param(after)],
        (("customer_id", pa.int64()), ("recorded_at", pa.string())),
    )


def event_signatures(s: Snapshot, customer_ids: Sequence[int]) -> pa.Table:
    """Per customer, how many events and the sum of their ids: changes whenever an event arrives,
    leaves or moves (read from the (customer_id, …) index alone)."""
    columns = (("customer_id", pa.int64()), ("n", pa.int64()), ("total", pa.int64()))
    parts = []
    for chunk in _chunks(customer_ids):
        where, params = s.in_ids("customer_id", chunk)
        parts.append(
            s.table(
                f"SELECT customer_id, count(*), sum(id) FROM events WHERE {where} GROUP BY customer_id", params, columns
            )
        )
    return _concat(parts, columns)


def read_scores(s: Snapshot, models: Sequence[str] | None = None) -> pa.Table:
    if models is None:
        return s.table("SELECT model, customer_id, score FROM model_scores", [], SCORE_COLUMNS)
    parts = [
        s.table("SELECT model, customer_id, score FROM model_scores WHERE model = ?", [m], SCORE_COLUMNS)
        for m in models
    ]
    return _concat(parts, SCORE_COLUMNS)


def score_signatures(s: Snapshot) -> dict[str, str]:
    """Per model, a fingerprint that changes whenever its scores are rewritten."""
    table = s.table(
        f"SELECT model, count(*), {s.ts('max(scored_at)')} FROM model_scores GROUP BY model",
        [],
        (("model", pa.string()), ("n", pa.int64()), ("last", pa.string())),
    )
    return {m: f"{n}@{last}" for m, n, last in zip(*(c.to_pylist() for c in table.columns), strict=True)}


def newest_event_id(s: Snapshot) -> int:
    return int(s.scalar("SELECT max(id) FROM events") or 0)


def newest_customer_id(s: Snapshot) -> int:
    return int(s.scalar("SELECT max(id) FROM customers") or 0)


if __name__ == "__main__":  # python -m epistola.audience.extract PATH customers|events LOW HIGH (see batches)
    _write_range(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
