"""Bulk writes for batch resolution: a million records mean a million keys, hundreds of thousands of
customers and millions of lineage rows, so these bypass SQLAlchemy's per-row processing (COPY on
PostgreSQL, the driver's executemany on SQLite), as the hub's record writer does. Values arrive already
in the database's form (`db_time`, `db_json`). `Background` runs such writes in a second thread while
the caller prepares the next ones; `large_cache` gives SQLite room for a run's foreign-key look-ups."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table, func, select

_BATCH = 20_000
LARGE_CACHE_KIB = 1 << 20  # 1 GiB


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def db_time(conn: Connection, moment: datetime | None) -> Any:
    """How `store.types.UTCDateTime` stores a moment: naive UTC text on SQLite, aware on PostgreSQL."""
    if moment is None:
        return None
    if is_postgres(conn):
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class _Moments(dict[datetime | None, Any]):
    """moment -> its `db_time`, computed on first use."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn

    def __missing__(self, moment: datetime | None) -> Any:
        self[moment] = value = db_time(self._conn, moment)
        return value


def time_converter(conn: Connection) -> Callable[[datetime | None], Any]:
    """`db_time` that remembers each moment: a batch repeats a few thousand moments millions of times."""
    return _Moments(conn).__getitem__


def db_date(conn: Connection, day: date | None) -> Any:
    if day is None:
        return None
    return day if is_postgres(conn) else day.isoformat()


# json.dumps with options builds an encoder per call; one encoder, same options, same text
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def db_json(value: Any) -> str:
    return _ENCODER.encode(value)


def _driver(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only a closed connection has none
        raise RuntimeError("the connection is closed")
    return raw


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Append rows (tuples in `columns` order, a sequence or streamed) to `table`, in the caller's
    transaction."""
    if isinstance(rows, Sized) and not rows:
        return
    names = ", ".join(columns)
    if is_postgres(conn):
        with _driver(conn).cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - our own table and column names
    remaining = iter(rows)
    while batch := list(islice(remaining, _BATCH)):
        conn.exec_driver_sql(sql, batch)


def set_customers(conn: Connection, moves: Sequence[tuple[int, int]]) -> None:
    """(record, customer) pairs: link each source record to its customer."""
    if not moves:
        return
    if is_postgres(conn):
        with _driver(conn).cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS identity_moves (id bigint, customer bigint) ON COMMIT DROP")
            with cur.copy("COPY identity_moves (id, customer) FROM STDIN") as copy:
                for rid, cid in moves:
                    copy.write_row((rid, cid))
            cur.execute(
                "UPDATE source_records AS r SET customer_id = m.customer FROM identity_moves AS m WHERE r.id = m.id"
            )
            cur.execute("DROP TABLE identity_moves")
        return
    for start in range(0, len(moves), _BATCH):
        conn.exec_driver_sql(
            "UPDATE source_records SET customer_id = ? WHERE id = ?",
            [(cid, rid) for rid, cid in moves[start : start + _BATCH]],
        )


class Background:
    """Writes that run in a second thread, in the order given, while this one computes what comes next:
    SQLite and psycopg let go of the GIL while the database works (inserting, checking foreign keys,
    building indexes), so a first resolve's writes overlap with the Python that prepares the next ones.
    A connection does one thing at a time: whoever uses it outside `run` calls `wait()` first, which
    also raises what a write raised (the writes after a failed one are skipped). Used as a context
    manager, it finishes its writes before leaving; if the caller failed, the writes not yet started
    are dropped (the caller's transaction is going to be rolled back)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._dropping = False

    def run(self, job: Callable[[], object]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="identity-writer", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._failure is None and not self._dropping:
                    job()
            except BaseException as exc:  # handed to the waiting thread
                self._failure = exc
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def wait(self) -> None:
        """Until every write so far is done; raises the first that failed."""
        self._jobs.join()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self._dropping = True
        try:
            if kind is None:
                self.wait()
        finally:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread.join()
                self._thread = None
            self._dropping = False


@contextmanager
def large_cache(conn: Connection, kib: int = LARGE_CACHE_KIB) -> Iterator[None]:
    """SQLite: a page cache of `kib` for the length of a batch run. A first resolve rewrites every
    source record and checks a foreign key for each of millions of new rows; with the usual 64 MB most
    of those reads miss the cache. PostgreSQL sizes its own buffers."""
    if is_postgres(conn):
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


def insert_many(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    *,
    count: int | None = None,
) -> None:
    """`insert_rows`, but into an empty table a big batch goes in without its indexes (see
    `indexes_set_aside`). Rows that are streamed rather than listed come with their `count`."""
    if count is None:
        if not isinstance(rows, Sized):
            raise TypeError("insert_many needs the count of streamed rows")
        count = len(rows)
    with indexes_set_aside(conn, table, count):
        insert_rows(conn, table.name, columns, rows)


@contextmanager
def indexes_set_aside(conn: Connection, table: Table, count: int) -> Iterator[None]:
    """Around `count` new rows: an empty table receiving a big batch gets its indexes back afterwards,
    built once from sorted data, far cheaper than a million random B-tree inserts per index. (Should
    the batch fail, the caller's transaction rolls the dropped indexes back with it.)"""
    empty = conn.execute(select(func.count()).select_from(select(table).limit(1).subquery())).scalar_one() == 0
    if not (empty and count >= REBUILD_FROM):
        yield
        return
    indexes = sorted(table.indexes, key=lambda ix: str(ix.name))
    for ix in indexes:
        ix.drop(conn, checkfirst=True)  # a store made before the index was declared lacks it
    yield
    for ix in indexes:
        ix.create(conn, checkfirst=True)


def insert_fanned_out(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    count: int,
) -> None:
    """Rows that differ only in one text column, sent once with a bitmask of the `names` they stand for:
    (a, b, ..., mask) becomes one row (a, name, b, ...) per bit set, the name going into `columns[1]`.
    The database writes the `count` rows this makes, instead of Python binding each of them (a first
    resolve's lineage is a few rows per customer and record, eight million rows at a million records)."""
    stage, bits = "identity_fanout_rows", "identity_fanout_names"
    others = [c for i, c in enumerate(columns) if i != 1]
    declared = ", ".join(f"{c} {table.c[c].type.compile(dialect=conn.dialect)}" for c in others)
    drop = " ON COMMIT DROP" if is_postgres(conn) else ""  # a failed transaction leaves nothing behind
    conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} ({declared}, mask INTEGER){drop}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {bits} (bit INTEGER, name TEXT){drop}")
    insert_rows(conn, bits, ("bit", "name"), list(enumerate(names)))
    insert_rows(conn, stage, (*others, "mask"), rows)
    picked = [f"s.{c}" for c in others]
    picked.insert(1, "b.name")
    with indexes_set_aside(conn, table, count):
        # CROSS JOIN: SQLite keeps the staged rows as the outer loop, so a row's names go in together
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(picked)} "  # noqa: S608 - our names
            f"FROM {stage} AS s CROSS JOIN {bits} AS b WHERE (s.mask >> b.bit) & 1 = 1"
        )
    conn.exec_driver_sql(f"DROP TABLE {stage}")
    conn.exec_driver_sql(f"DROP TABLE {bits}")


REBUILD_FROM = 50_000
