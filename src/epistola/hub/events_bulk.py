"""Bulk event files: DuckDB reads and transforms the file while the store takes whole batches.

Millions of events make per-row Python the bottleneck, so the mapping is compiled into one DuckDB
query (parsing, time zones, amounts, properties as JSON, customer lookup by a join) and the rows come
out ready to store. The rules are those of `events.event_row`; a test imports the same files both ways
and compares what is stored. Files this path cannot read exactly the same way (legacy encodings, dotted
CSV columns, time formats with zones) go row by row instead.

The query streams: a thread pulls its batches in file order and turns each into what the store takes
(parameter tuples for SQLite, CSV text for PostgreSQL's COPY) while the importing thread writes the
previous one, so reading and writing use both cores. Each batch is one transaction: a crash loses
nothing committed, and a re-run skips what is in (event ids are unique). On PostgreSQL a batch is
copied straight into `events` when none of its ids is stored yet; when one is (a re-run, or the same
id twice in the file), that batch goes through a staging table and ``ON CONFLICT DO NOTHING`` instead.
Both engines check a batch's references to customers in one statement rather than once per event
(`_Sqlite.session`, `_Postgres._skip_triggers`): the per-row check was a third of the insert's cost.

Rejected rows are counted as they come and recorded when the file has been read: only then are the
CSV rows DuckDB could not split known, and with them the file row number of every reject.

When the store holds erasures, each batch's unlinked events whose identifier belongs to an erased
person leave it before it is stored: the batch's distinct identifiers are looked up in one go.

Big first loads into a large table also drop the secondary events index and build it once at the end
(`BULK_INDEX_MIN`): a sorted build is far cheaper than millions of random index inserts. An interrupted
import leaves the index to the next import, which always makes sure it exists.
"""

from __future__ import annotations

import io
import json
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, text

from epistola.errors import InputError, StorageError
from epistola.hub.mapping import EventMapping
from epistola.hub.readers import count_rows, detect_encoding
from epistola.store import wrap_db_errors
from epistola.store.schema import events

if TYPE_CHECKING:
    from epistola.hub.erased import ErasedCheck
    from epistola.hub.events import EventImport

BATCH = 100_000  # rows per transaction
AHEAD = 2  # prepared batches waiting for the store: enough to keep both threads busy, little memory
DUCK_THREADS = 1  # the other core writes to the store
MEMORY_LIMIT = "4GB"  # DuckDB's share while reading a file; the database server needs the rest
INDEX_MEMORY = "512MB"  # PostgreSQL's sort memory while it builds the index
BULK_INDEX_MIN = 1_000_000  # rows in a file before the secondary index is rebuilt instead of maintained
SECONDARY_INDEX = "ix_events_customer"
_STAMP = re.compile(r"[0-9: .+-]{19,40}")
_COLUMNS = "event_uid, customer_id, type, occurred_at, amount, currency, category, properties, received_at"
# The columns SQLite's statement binds per row, and those of them that may be NULL: these are bound as ''
# and turned back into NULL by the statement (no stored value is ''), because binding None costs Python's
# sqlite3 a failed adapter lookup, an exception each time.
_STORED = ("event_uid", "customer_id", "type", "occurred_at", "amount", "currency", "category", "properties")
_NULLABLE = ("customer_id", "amount", "currency", "category")
_PARAM, _PARAM_OR_NULL = "?", "NULLIF(?, '')"


def _sqlite_values(mapping: EventMapping) -> dict[str, str]:
    """Column -> what SQLite's statement puts there: a parameter, or a literal when every row has the
    same value (a fixed type, a field the mapping does not have), which then costs nothing per row."""
    fixed = {"type": _lit(mapping.type) if mapping.type else None}
    fixed |= {c: "NULL" for c in ("amount", "currency", "category") if not getattr(mapping, c)}
    return {c: fixed.get(c) or (_PARAM_OR_NULL if c in _NULLABLE else _PARAM) for c in _STORED}


def supported(path: Path, mapping: EventMapping) -> bool:
    """Whether this file and mapping read exactly the same through DuckDB as row by row."""
    if mapping.format.type not in ("csv", "jsonl"):
        return False
    if detect_encoding(path, mapping.format.encoding) not in ("utf-8", "utf-8-sig"):
        return False
    spec = mapping.occurred_at
    formats = [spec.format] if isinstance(spec.format, str) else list(spec.format or [])
    if spec.template or spec.recode or any("%z" in f or "%Z" in f for f in formats):
        return False
    columns = [mapping.key, spec.from_ or "", *mapping.properties, *mapping.identity.values()]
    columns += [c for c in (mapping.type_from, mapping.amount, mapping.currency, mapping.category) if c]
    if mapping.format.type == "csv" and any("." in c for c in columns if c != mapping.identity.get("source")):
        return False
    try:
        import duckdb  # noqa: F401
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return False
    return True


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_key(name: str) -> str:
    """`"name":` as SQL text, for building a JSON object by concatenation."""
    return _lit(json.dumps(name, ensure_ascii=False) + ":")


def _path(column: str) -> str:
    return "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in column.split("."))


class _Compiler:
    """The mapping as DuckDB expressions over one input row (`src`).

    JSON Lines values are extracted with one call per row for all text columns and one for the JSON
    ones (each call parses the line once), not one call per column.
    """

    def __init__(self, mapping: EventMapping) -> None:
        self.mapping = mapping
        self.jsonl = mapping.format.type == "jsonl"
        self.texts: list[str] = []  # JSON Lines paths read as text, in `xs` order
        self.values: list[str] = []  # JSON Lines paths read as JSON, in `xj` order

    def raw(self, column: str) -> str:
        """The column as text (NULL when absent); JSON objects come back as JSON text."""
        if self.jsonl:
            if column not in self.texts:
                self.texts.append(column)
            return f"xs[{self.texts.index(column) + 1}]"
        return '"' + column.replace('"', '""') + '"'

    def json_value(self, column: str) -> str:
        """The column as JSON text for properties, NULL when absent, null or empty (as `event_row`
        leaves out None and ""): typed for JSON Lines, a string for CSV."""
        if self.jsonl:
            if column not in self.values:
                self.values.append(column)
            value = f"xj[{self.values.index(column) + 1}]::VARCHAR"
            return f"(CASE WHEN {value} IN ('null', '\"\"') THEN NULL ELSE {value} END)"
        return f"to_json(nullif({self.raw(column)}, ''))"

    def trimmed(self, column: str) -> str:
        return f"nullif(trim({self.raw(column)}), '')"

    def occurred(self) -> str:
        spec = self.mapping.occurred_at
        value = self.trimmed(spec.from_ or "")
        if spec.format:
            formats = [spec.format] if isinstance(spec.format, str) else list(spec.format)
            parsed = f"try_strptime({value}, [{', '.join(_lit(f) for f in formats)}])"
            return f"timezone({_lit(spec.timezone or 'UTC')}, {parsed})"
        return f"TRY_CAST(replace({value}, 'Z', '+00:00') AS TIMESTAMPTZ)"

    def ident(self) -> tuple[str, str]:
        """(source key, e-mail) expressions the event finds its customer by."""
        key = self.trimmed(self.mapping.identity["key"]) if "source" in self.mapping.identity else "NULL"
        email = f"lower({self.trimmed(self.mapping.identity['email'])})" if "email" in self.mapping.identity else "NULL"
        return key, email

    def properties(self) -> str:
        """The properties object as JSON text, built by concatenation (`concat_ws` skips NULLs)."""
        m = self.mapping
        source = _lit(json.dumps(m.identity["source"], ensure_ascii=False)) if "source" in m.identity else "NULL"
        ident = (
            "'{' || concat_ws(',', "
            f"CASE WHEN x_k IS NOT NULL THEN {_json_key('source')} || {source} END, "
            f"{_json_key('key')} || to_json(x_k), {_json_key('email')} || to_json(x_e)) || '}}'"
        )
        entries = [f"{_json_key(p)} || {self.json_value(p)}" for p in m.properties]
        entries.append(f"{_json_key('_ident')} || {ident}")
        return f"'{{' || concat_ws(',', {', '.join(entries)}) || '}}'"

    def query(self, source_input: str, received: str, stamp: str) -> str:
        m = self.mapping
        key_expr, email_expr = self.ident()
        etype = _lit(m.type) if m.type else self.trimmed(m.type_from or "")
        amount_raw = self.trimmed(m.amount) if m.amount else "NULL"
        amount = f"TRY_CAST(replace({amount_raw}, ',', '.') AS DECIMAL(14, 2))"
        currency = f"upper({self.trimmed(m.currency)})" if m.currency else "NULL"
        category = self.trimmed(m.category) if m.category else "NULL"
        uid = self.trimmed(m.key)
        occurred = self.occurred()
        props = self.properties()  # last: every column is known to the compiler after it
        key_field = _lit(m.key)
        when_field = _lit(m.occurred_at.from_ or "occurred_at")
        if self.jsonl:
            texts = ", ".join(_lit(_path(c)) for c in self.texts)
            values = ", ".join(_lit(_path(c)) for c in self.values) or "'$.\"\"'"
            parsed = f"SELECT *, json_extract_string(line, [{texts}]) AS xs, json_extract(line, [{values}]) AS xj"
            parsed += " FROM src"  # the paths are quoted literals
        else:
            parsed = "SELECT * FROM src"
        return f"""
        WITH src AS ({source_input}),
        parsed AS ({parsed}),
        ev AS (
            SELECT rn, {uid} AS x_eid, {key_expr} AS x_k, {email_expr} AS x_e, {etype} AS x_type,
                   {occurred} AS x_at, {amount_raw} AS x_amount_raw, {amount} AS x_amount,
                   {currency} AS x_currency, {category} AS x_category, unreadable, * EXCLUDE (rn, unreadable)
            FROM parsed
        )
        SELECT rn,
            CASE
                WHEN unreadable = '' THEN ''
                WHEN unreadable IS NOT NULL THEN '\t' || unreadable
                WHEN x_eid IS NULL THEN {key_field} || '\tthe event has no id'
                WHEN length(x_eid) > {100 - len(m.source + ":")} THEN {key_field} || '\tthe event id is too long'
                WHEN x_at IS NULL THEN {when_field} || '\tnot a date-time'
                WHEN x_type IS NULL THEN {_lit(m.type_from or "type")} || '\tthe event has no type'
                WHEN length(x_type) > 50 THEN {_lit(m.type_from or "type")} || '\tthe type is longer than 50'
                WHEN x_amount_raw IS NOT NULL AND x_amount IS NULL
                    THEN {_lit(m.amount or "amount")} || '\tnot an amount'
                WHEN x_currency IS NOT NULL AND NOT regexp_full_match(x_currency, '[A-Z]{{3}}')
                    THEN {_lit(m.currency or "currency")} || '\tnot a three-letter currency code'
                WHEN length(x_category) > 100
                    THEN {_lit(m.category or "category")} || '\tthe category is longer than 100'
            END AS reject,
            {_lit(m.source + ":")} || x_eid AS event_uid,
            coalesce(by_key.customer_id, by_email.customer_id) AS customer_id,
            x_type AS type,
            strftime(timezone('UTC', x_at), {_lit(stamp)}) AS occurred_at,
            x_amount::VARCHAR AS amount, x_currency AS currency, x_category AS category,
            {props} AS properties, {_lit(received)} AS received_at,
            CASE WHEN coalesce(by_key.customer_id, by_email.customer_id) IS NULL THEN x_k END AS ident_key,
            CASE WHEN coalesce(by_key.customer_id, by_email.customer_id) IS NULL THEN x_e END AS ident_email
        FROM ev
        LEFT JOIN customer_keys AS by_key ON by_key.key = ev.x_k
        LEFT JOIN customer_emails AS by_email ON by_email.email = ev.x_e
        """  # noqa: S608 - every value from the mapping is a quoted literal


def _source_input(path: Path, mapping: EventMapping) -> str:
    """The file's rows numbered in file order (`rn`); `unreadable` says why a line is not a row ('' for
    a blank JSON Lines line, which is skipped but keeps its number)."""
    name = _lit(str(path))
    if mapping.format.type == "jsonl":
        lines = (
            f"read_csv({name}, header = false, columns = {{'line': 'VARCHAR'}}, delim = chr(1), quote = '', "
            "escape = '', auto_detect = false)"
        )
        numbered = f"SELECT row_number() OVER () AS rn, line AS raw, TRY_CAST(line AS JSON) AS doc FROM {lines}"  # noqa: S608
        # Valid JSON whose first character is '{' is an object: the usual line is settled by that, and
        # neither trimmed nor parsed a second time.
        space = "' ' || chr(9) || chr(13)"
        return (
            "SELECT rn, doc AS line, CASE WHEN doc IS NOT NULL AND starts_with(raw, '{') THEN NULL "
            "WHEN trim(coalesce(raw, ''), " + space + ") = '' THEN '' WHEN doc IS NULL THEN 'invalid JSON' "
            "WHEN NOT starts_with(ltrim(raw, " + space + "), '{') THEN 'expected a JSON object' END AS unreadable "
            "FROM (" + numbered + ")"
        )
    fmt = mapping.format
    csv = (
        f"read_csv({name}, header = true, all_varchar = true, delim = {_lit(fmt.delimiter)}, "
        f"quote = {_lit(fmt.quotechar)}, escape = {_lit(fmt.quotechar)}, store_rejects = true, "
        "rejects_table = 'bad_rows', rejects_scan = 'bad_scans', normalize_names = false)"
    )
    return f"SELECT row_number() OVER () AS rn, NULL AS unreadable, * FROM {csv}"  # noqa: S608 - literals quoted


@dataclass(slots=True)
class _Ready:
    """One batch as the store takes it, and what it counts."""

    rows: int  # rows of the file in this batch, rejects and blank lines included (for progress)
    seen: int
    linked: int
    skipped: int  # unlinked events of erased people: seen, not stored
    n: int  # events to store
    payload: Any  # the bound columns (SQLite) or CSV bytes (PostgreSQL)
    first_uid: str | None
    last_uid: str | None
    customers: str  # the distinct customers the batch refers to, ascending, as "3,17,42"
    n_customers: int


def _customers(ids: Any) -> dict[str, Any]:
    """The distinct customer ids of a batch, ascending, as one text: made with Arrow in the reading
    thread, so that the writer binds one value to check them."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    distinct = pc.unique(ids.drop_null())
    text = pc.take(distinct, pc.sort_indices(distinct)).cast(pa.string())
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text), ",")
    return {"customers": joined[0].as_py(), "n_customers": len(text)}


class _Prepare:
    """Runs in the reading thread: an Arrow batch of the query -> `_Ready`; rejects are noted, not stored."""

    def __init__(self, engine: Engine, erased: ErasedCheck | None, mapping: EventMapping, postgres: bool) -> None:
        self.engine = engine
        self.erased = erased
        self.mapping = mapping
        self.postgres = postgres
        self.rejects: list[tuple[int, str]] = []  # (position among the rows DuckDB read, field \t reason)
        self.last_rn = 0
        self._conn: Connection | None = None

    def __call__(self, batch: Any) -> _Ready:
        import pyarrow.compute as pc

        rn = batch.column("rn")
        if batch.num_rows and pc.min(rn).as_py() <= self.last_rn:  # file order is what the row numbers rely on
            raise RuntimeError("the event query returned rows out of file order")
        if batch.num_rows:
            self.last_rn = pc.max(rn).as_py()
        reject = batch.column("reject")
        bad = pc.is_valid(reject)
        if pc.any(bad).as_py():
            for row, why in zip(rn.filter(bad).to_pylist(), reject.filter(bad).to_pylist(), strict=True):
                if why:  # '' is a blank line: no event, no reject
                    self.rejects.append((int(row), str(why)))
            batch = batch.filter(pc.invert(bad))
        seen = batch.num_rows
        skipped = 0
        if self.erased is not None and seen:
            batch, skipped = self._drop_erased(batch)
        linked = int(pc.sum(pc.is_valid(batch.column("customer_id"))).as_py() or 0)
        uids = batch.column("event_uid")
        n = batch.num_rows
        return _Ready(
            rows=len(rn),
            seen=seen,
            linked=linked,
            skipped=skipped,
            n=n,
            payload=self._payload(batch) if n else None,
            first_uid=uids[0].as_py() if n else None,
            last_uid=uids[n - 1].as_py() if n else None,
            **_customers(batch.column("customer_id")),
        )

    def _payload(self, batch: Any) -> Any:
        if self.postgres:
            import pyarrow.csv as pacsv  # type: ignore[import-untyped]

            buffer = io.BytesIO()
            stored = batch.select(list(_COLUMNS.split(", ")))
            pacsv.write_csv(stored, buffer, pacsv.WriteOptions(include_header=False))
            return buffer.getbuffer()
        import pyarrow as pa
        import pyarrow.compute as pc

        # Only Arrow work here, which lets go of the GIL. Python objects for the parameters are made by
        # the writing thread: made here, they would hold the GIL while the writer, which lets go of it
        # for every row SQLite inserts, waits to get it back after each one.
        columns = []
        for name, value in _sqlite_values(self.mapping).items():
            column = batch.column(name)
            if value == _PARAM_OR_NULL:  # a customer id as text: SQLite's INTEGER column stores the number
                columns.append(pc.fill_null(column.cast(pa.string()), ""))
            elif value == _PARAM:
                columns.append(column)
        return columns

    def _drop_erased(self, batch: Any) -> tuple[Any, int]:
        """The batch without the unlinked events whose identifier belongs to an erased person."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from epistola.hub.erased import event_identifiers

        assert self.erased is not None  # noqa: S101 - only called when the store holds erasures
        source = self.mapping.identity.get("source")
        keys = [k for k in pc.unique(batch.column("ident_key")).to_pylist() if k]
        emails = [e for e in pc.unique(batch.column("ident_email")).to_pylist() if e]
        if not keys and not emails:
            return batch, 0
        if self._conn is None:
            self._conn = self.engine.connect()
        with wrap_db_errors("looking up erased people"):
            found = self.erased.found(
                self._conn,
                [i for k in keys for i in event_identifiers({"source": source or "", "key": k})]
                + [i for e in emails for i in event_identifiers({"email": e})],
            )
            self._conn.rollback()
        if not found:
            return batch, 0
        theirs_k = [k for k in keys if event_identifiers({"source": source or "", "key": k}) & found]
        theirs_e = [e for e in emails if event_identifiers({"email": e}) & found]
        drop = pc.or_kleene(
            pc.is_in(batch.column("ident_key"), value_set=pa.array(theirs_k, pa.string())),
            pc.is_in(batch.column("ident_email"), value_set=pa.array(theirs_e, pa.string())),
        )
        kept = batch.filter(pc.invert(pc.fill_null(drop, False)))
        return kept, batch.num_rows - kept.num_rows

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Ahead:
    """Items of `source`, each passed through `prepare` in a thread of its own, a few ahead of the
    consumer. DuckDB, pyarrow and the database drivers release the GIL while they work, so the
    reading thread and the writing thread run on both cores. Close it to stop the thread."""

    def __init__(self, source: Iterator[Any], prepare: Callable[[Any], Any], ahead: int = AHEAD) -> None:
        self._source = source
        self._prepare = prepare
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="epistola-events-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._source:
                if self._stop.is_set():
                    return
                if not self._put(self._prepare(item)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failed(exc))
        else:
            self._put(_DONE)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def load(
    engine: Engine,
    path: Path,
    mapping: EventMapping,
    job: EventImport,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    import duckdb

    from epistola.hub.events import CustomerIndex

    lines = count_rows(path) + 1  # count_rows leaves a header line out
    expected = lines if mapping.format.type == "jsonl" else max(lines - 1, 0)
    postgres = engine.dialect.name == "postgresql"
    received = _utc_text(job, postgres)
    if not _STAMP.fullmatch(received):  # our own timestamp text; anything else never reaches SQL
        raise ValueError(f"unexpected timestamp {received!r}")
    stamp = "%Y-%m-%d %H:%M:%S.%f+00" if postgres else "%Y-%m-%d %H:%M:%S.%f"
    what = f"importing events from {path.name}"
    spill = tempfile.mkdtemp(prefix="epistola-events-")
    duck = duckdb.connect()
    try:
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute(f"SET temp_directory = {_lit(spill)}")
        duck.execute(f"SET memory_limit = {_lit(MEMORY_LIMIT)}")  # beyond it, DuckDB spills to disk
        duck.execute(f"SET threads = {DUCK_THREADS}")
        duck.execute("SET preserve_insertion_order = true")
        # The file is the probe side of the customer joins, as written: with a small estimate for it,
        # the optimiser would hash the whole file instead, and give its rows back out of order.
        duck.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
        with wrap_db_errors(what), engine.connect() as conn:
            index = CustomerIndex(conn)
            keys = index.source_keys(mapping.identity["source"]) if "source" in mapping.identity else {}
            emails = index.emails() if "email" in mapping.identity else {}
            # The table's size by its highest id, which is never below its count: count(*) reads a whole index.
            rebuild = expected >= BULK_INDEX_MIN and expected >= (
                conn.execute(select(func.max(events.c.id))).scalar_one() or 0
            )
        _register(duck, "customer_keys", "key", keys)
        _register(duck, "customer_emails", "email", emails)
        query = _Compiler(mapping).query(_source_input(path, mapping), received, stamp)
        prepare = _Prepare(engine, job.erased, mapping, postgres)
        try:
            reader = duck.sql(query).to_arrow_reader(BATCH)
        except duckdb.Error as exc:
            raise InputError(f"{path.name} cannot be read: {str(exc).splitlines()[0]}") from None
        if rebuild:
            _drop_secondary_index(engine)
        try:
            ahead = _Ahead(reader, prepare)
            try:
                _write(engine, ahead, job, postgres, received, what, expected, progress)
            except duckdb.Error as exc:  # met while reading, after the batches before it were stored
                raise InputError(f"{path.name} cannot be read: {str(exc).splitlines()[0]}") from None
            finally:
                ahead.close()
                prepare.close()
        finally:
            if rebuild:
                ensure_secondary_index(engine)
        malformed = _malformed(duck, job, mapping)  # complete only once the whole file has been read
        for position, why in prepare.rejects:
            field_name, _, reason = why.partition("\t")
            job.reject(file_row(position, malformed), reason, field_name or None)
        job.rejects.sort(key=lambda r: int(r["row"]))  # file order, as the row-by-row path meets them
    finally:
        duck.close()
        shutil.rmtree(spill, ignore_errors=True)


def _write(
    engine: Engine,
    batches: _Ahead,
    job: EventImport,
    postgres: bool,
    received: str,
    what: str,
    expected: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Store each prepared batch in a transaction of its own; its figures count once it is committed."""
    done = 0
    store: _Postgres | _Sqlite = _Postgres(what) if postgres else _Sqlite(what, received, job.mapping)
    with wrap_db_errors(what), engine.connect() as conn, store.session(conn):
        for ready in batches:
            with conn.begin():
                inserted = store.insert(conn, ready) if ready.n else 0
            report = job.report
            job.skip(ready.skipped)
            report.seen += ready.seen  # erased people's events count as seen, neither linked nor unlinked
            report.linked += ready.linked
            report.unlinked += ready.n - ready.linked
            report.inserted += inserted
            report.duplicates += ready.n - inserted
            done += ready.rows
            if progress:
                progress(done, expected)


class _Sqlite:
    """Stores batches on SQLite: one executemany each, its customer references checked in one query."""

    def __init__(self, what: str, received: str, mapping: EventMapping) -> None:
        self.what = what
        # received_at is one value for the whole import: bound once per statement, not once per row
        values = ", ".join(_sqlite_values(mapping).values())
        self.statement = f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES ({values}, '{received}')"  # noqa: S608
        self.checks_keys = False

    @contextmanager
    def session(self, conn: Connection) -> Iterator[None]:
        """The connection without SQLite's per-row foreign-key check, for as long as the load lasts.

        That check opens a cursor on customers for every event and was a third of the insert's time;
        `insert` checks the batch's distinct customers in one query instead, in the same transaction.
        """
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: then rows check
        conn.commit()
        self.checks_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 0
        conn.commit()
        try:
            yield
        finally:
            try:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()
            except Exception:  # never hand the pool a connection that skips the check
                conn.invalidate()
                raise

    def insert(self, conn: Connection, ready: _Ready) -> int:
        import sqlite3

        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)  # noqa: S101 - the SQLite engine's own
        before = raw.total_changes
        # Straight to the driver, with the rows made as it binds them: a list of them all first is a
        # fifth slower (allocation, cache misses), and SQLAlchemy would want one.
        cursor = raw.cursor()
        try:
            cursor.executemany(self.statement, zip(*(column.to_pylist() for column in ready.payload), strict=True))
        except sqlite3.Error as exc:  # the driver's own: SQLAlchemy does not see the raw cursor
            raise StorageError(f"{self.what} failed: {str(exc).strip().splitlines()[0]}") from exc
        finally:
            cursor.close()
        inserted = raw.total_changes - before
        if self.checks_keys and ready.n_customers:
            # After the insert this transaction holds the write lock, so no customer can go before it
            # commits; sorted ids walk the customers' tree in order.
            found = conn.exec_driver_sql(
                "SELECT count(*) FROM json_each('[' || ? || ']') AS ref JOIN customers ON customers.id = ref.value",
                (ready.customers,),
            ).scalar_one()
            if found != ready.n_customers:
                raise StorageError(f"{self.what} failed: FOREIGN KEY constraint failed (a customer does not exist)")
        return inserted


def _utc_text(job: EventImport, postgres: bool) -> str:
    from datetime import UTC

    moment = job.now.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00" if postgres else "")


def _register(duck: Any, name: str, column: str, values: dict[str, int]) -> None:
    import pyarrow as pa

    table = pa.table(
        {column: pa.array(list(values), pa.string()), "customer_id": pa.array(list(values.values()), pa.int64())}
    )
    duck.register(f"{name}_arrow", table)
    duck.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")  # noqa: S608 - our own names
    duck.unregister(f"{name}_arrow")


class _Postgres:
    """Stores batches on PostgreSQL; remembers whether this role may skip the per-row key triggers."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.may_skip_triggers = True  # until the server says otherwise

    @contextmanager
    def session(self, conn: Connection) -> Iterator[None]:
        yield

    def insert(self, conn: Connection, ready: _Ready) -> int:
        import psycopg

        try:
            return self._insert(conn, ready)
        except psycopg.Error as exc:  # the driver's own: SQLAlchemy does not see the raw cursor
            raise StorageError(f"{self.what} failed: {str(exc).strip().splitlines()[0]}") from exc

    def _insert(self, conn: Connection, ready: _Ready) -> int:
        """COPY straight into events when no id of the batch is stored; else (or when COPY meets one
        after all) through a staging table, skipping the ids already there."""
        import psycopg

        raw = conn.connection.driver_connection
        assert raw is not None  # noqa: S101 - an open connection
        with raw.cursor() as cur:
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM events WHERE event_uid IN (%s, %s))", (ready.first_uid, ready.last_uid)
            )
            row = cur.fetchone()
            if row is not None and not row[0]:
                cur.execute("SAVEPOINT hub_events_copy")
                try:
                    skipping = self._skip_triggers(cur, ready)
                    _copy(cur, f"COPY events ({_COLUMNS}) FROM STDIN (FORMAT csv)", ready.payload)
                    if skipping:
                        cur.execute("SET LOCAL session_replication_role = origin")
                except psycopg.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT hub_events_copy")
                else:
                    cur.execute("RELEASE SAVEPOINT hub_events_copy")
                    return ready.n
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS hub_event_stage (event_uid text, customer_id bigint, type text, "
                "occurred_at timestamptz, amount numeric, currency text, category text, properties jsonb, "
                "received_at timestamptz) ON COMMIT DELETE ROWS"
            )
            _copy(cur, f"COPY hub_event_stage ({_COLUMNS}) FROM STDIN (FORMAT csv)", ready.payload)
            cur.execute(
                f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM hub_event_stage "  # noqa: S608 - constant
                "ON CONFLICT (event_uid) DO NOTHING"
            )
            inserted = cur.rowcount
            cur.execute("DELETE FROM hub_event_stage")
        return int(inserted)

    def _skip_triggers(self, cur: Any, ready: _Ready) -> bool:
        """Check the batch's customer references in one statement and, when they all hold, turn the
        per-row foreign-key triggers off for the COPY that follows (in this transaction only).

        The statement does what each row's trigger would: it finds every referenced customer and
        locks it FOR KEY SHARE until commit, so none can be deleted or re-keyed under the batch. Run
        once per batch instead of once per row, it saves about 40% of the server's work. Only a
        superuser, or a role granted SET on session_replication_role, may do this; any other role
        keeps the triggers. `events` has no triggers but its foreign keys'.
        """
        import psycopg

        if not self.may_skip_triggers:
            return False
        cur.execute(
            "SELECT count(*) FROM (SELECT 1 FROM customers WHERE id = ANY(string_to_array(%s, ',')::bigint[]) "
            "FOR KEY SHARE) AS held",
            (ready.customers,),
        )
        row = cur.fetchone()
        if row is None or row[0] != ready.n_customers:  # a missing customer: the triggers report it as ever
            return False
        cur.execute("SAVEPOINT hub_events_role")
        try:
            cur.execute("SET LOCAL session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            cur.execute("ROLLBACK TO SAVEPOINT hub_events_role")
            self.may_skip_triggers = False
            return False
        cur.execute("RELEASE SAVEPOINT hub_events_role")
        return True


def _copy(cur: Any, statement: str, data: memoryview) -> None:
    with cur.copy(statement) as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start : start + (1 << 20)])


def _malformed(duck: Any, job: EventImport, mapping: EventMapping) -> list[int]:
    """Rows DuckDB could not split into the header's columns: rejected, and their row numbers returned
    (sorted) so that the rows after them keep the numbers they have in the file."""
    if mapping.format.type != "csv":
        return []
    try:
        rows = duck.execute("SELECT line, error_message, csv_line FROM bad_rows ORDER BY line").fetchall()
    except Exception:  # DuckDB met no malformed row, so made no rejects table
        return []
    for line, message, raw in rows:
        job.reject(int(line) - 1, f"malformed CSV: {message}", None, raw or "")
    return [int(line) - 1 for line, _, _ in rows]


def file_row(position: int, malformed: list[int]) -> int:
    """The data row number of the `position`-th well-formed row, given the malformed rows before it."""
    row = position
    for skipped in malformed:
        if skipped <= row:
            row += 1
        else:
            break
    return row


def _drop_secondary_index(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX IF EXISTS {SECONDARY_INDEX}"))


def ensure_secondary_index(engine: Engine) -> None:
    """Build the (customer, type, time) index on events if an interrupted bulk load left it missing."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # sorted in memory rather than in runs on disk
            conn.execute(text(f"SET LOCAL maintenance_work_mem = {_lit(INDEX_MEMORY)}"))
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {SECONDARY_INDEX} ON events (customer_id, type, occurred_at)"))
