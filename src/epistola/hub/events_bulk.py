"""Bulk event files: DuckDB reads and transforms the whole file, the store receives whole batches.

Millions of events make per-row Python the bottleneck, so the mapping is compiled into one DuckDB
query (parsing, time zones, amounts, properties as JSON, customer lookup by a join) and the rows come
out ready to store. The rules are those of `events.event_row`; a test imports the same files both ways
and compares what is stored. Files this path cannot read exactly the same way (legacy encodings, dotted
CSV columns, time formats with zones) go row by row instead.

When the store holds erasures, unlinked events whose identifier belongs to an erased person leave the
staged rows before anything is stored: the file's distinct identifiers are looked up in one go.

Big first loads into a large table also drop the secondary events index and build it once at the end
(`bulk_index`): a sorted build is far cheaper than millions of random index inserts. An interrupted
import leaves the index to the next import, which always makes sure it exists.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select, text

from epistola.errors import InputError
from epistola.hub.mapping import EventMapping
from epistola.hub.readers import count_rows, detect_encoding
from epistola.store import wrap_db_errors
from epistola.store.schema import events

if TYPE_CHECKING:
    from epistola.hub.events import EventImport

BATCH = 250_000
MEMORY_LIMIT = "4GB"  # DuckDB's share while staging a file; the database server needs the rest
BULK_INDEX_MIN = 1_000_000  # rows in a file before the secondary index is rebuilt instead of maintained
SECONDARY_INDEX = "ix_events_customer"
_STAMP = re.compile(r"[0-9: .+-]{19,40}")
_COLUMNS = "event_uid, customer_id, type, occurred_at, amount, currency, category, properties, received_at"


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


class _Compiler:
    """The mapping as DuckDB expressions over one input row (`src`)."""

    def __init__(self, mapping: EventMapping) -> None:
        self.mapping = mapping
        self.jsonl = mapping.format.type == "jsonl"

    def raw(self, column: str) -> str:
        """The column as text (NULL when absent); JSON objects come back as JSON text."""
        if self.jsonl:
            path = "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in column.split("."))
            return f"(line->>{_lit(path)})"
        return '"' + column.replace('"', '""') + '"'

    def json_value(self, column: str) -> str:
        """The column as a JSON value for properties: typed for JSON Lines, a string for CSV."""
        if self.jsonl:
            path = "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in column.split("."))
            return f"(CASE WHEN json_type(line, {_lit(path)}) IN ('NULL') THEN NULL ELSE line->{_lit(path)} END)"
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

    def query(self, source_input: str, received: str, stamp: str) -> str:
        m = self.mapping
        key_expr, email_expr = self.ident()
        etype = _lit(m.type) if m.type else self.trimmed(m.type_from or "")
        amount_raw = self.trimmed(m.amount) if m.amount else "NULL"
        amount = f"TRY_CAST(replace({amount_raw}, ',', '.') AS DECIMAL(14, 2))"
        currency = f"upper({self.trimmed(m.currency)})" if m.currency else "NULL"
        category = self.trimmed(m.category) if m.category else "NULL"
        ident_source = _lit(m.identity["source"]) if "source" in m.identity else "NULL"
        entries = [f"struct_pack(k := {_lit(p)}, v := {self.json_value(p)})" for p in m.properties]
        ident_json = (
            "to_json(map_from_entries(list_filter(["
            f"struct_pack(k := 'source', v := CASE WHEN x_k IS NOT NULL THEN to_json({ident_source}) END), "
            "struct_pack(k := 'key', v := to_json(x_k)), struct_pack(k := 'email', v := to_json(x_e))], "
            "lambda x: x.v IS NOT NULL)))"
        )
        entries.append(f"struct_pack(k := '_ident', v := {ident_json})")
        props = f"to_json(map_from_entries(list_filter([{', '.join(entries)}], lambda x: x.v IS NOT NULL)))::VARCHAR"
        uid = self.trimmed(m.key)
        key_field = _lit(m.key)
        when_field = _lit(m.occurred_at.from_ or "occurred_at")
        return f"""
        WITH src AS ({source_input}),
        ev AS (
            SELECT rn, {uid} AS x_eid, {key_expr} AS x_k, {email_expr} AS x_e, {etype} AS x_type,
                   {self.occurred()} AS x_at, {amount_raw} AS x_amount_raw, {amount} AS x_amount,
                   {currency} AS x_currency, {category} AS x_category, unreadable, * EXCLUDE (rn, unreadable)
            FROM src
        )
        SELECT rn,
            CASE
                WHEN unreadable IS NOT NULL THEN '\t' || unreadable
                WHEN x_eid IS NULL THEN {key_field} || '\tthe event has no id'
                WHEN length({_lit(m.source + ":")} || x_eid) > 100 THEN {key_field} || '\tthe event id is too long'
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
            {props} AS properties, {_lit(received)} AS received_at
        FROM ev
        LEFT JOIN customer_keys AS by_key ON by_key.key = ev.x_k
        LEFT JOIN customer_emails AS by_email ON by_email.email = ev.x_e
        """  # noqa: S608 - every value from the mapping is a quoted literal


def _source_input(path: Path, mapping: EventMapping) -> str:
    name = _lit(str(path))
    if mapping.format.type == "jsonl":
        lines = (
            f"read_csv({name}, header = false, columns = {{'line': 'VARCHAR'}}, delim = chr(1), quote = '', "
            "escape = '', auto_detect = false)"
        )
        numbered = f"SELECT row_number() OVER () AS rn, line AS raw FROM {lines}"  # noqa: S608 - quoted
        return (
            "SELECT rn, TRY_CAST(raw AS JSON) AS line, CASE WHEN TRY_CAST(raw AS JSON) IS NULL THEN 'invalid JSON' "
            "WHEN json_type(TRY_CAST(raw AS JSON)) <> 'OBJECT' THEN 'expected a JSON object' END AS unreadable "
            "FROM (" + numbered + ") WHERE trim(coalesce(raw, '')) <> ''"
        )
    fmt = mapping.format
    csv = (
        f"read_csv({name}, header = true, all_varchar = true, delim = {_lit(fmt.delimiter)}, "
        f"quote = {_lit(fmt.quotechar)}, escape = {_lit(fmt.quotechar)}, store_rejects = true, "
        "rejects_table = 'bad_rows', rejects_scan = 'bad_scans', normalize_names = false)"
    )
    return f"SELECT row_number() OVER () AS rn, NULL AS unreadable, * FROM {csv}"  # noqa: S608 - literals quoted


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

    expected = count_rows(path) if mapping.format.type == "jsonl" else max(count_rows(path) - 1, 0)
    postgres = engine.dialect.name == "postgresql"
    received = _utc_text(job, postgres)
    stamp = "%Y-%m-%d %H:%M:%S.%f+00" if postgres else "%Y-%m-%d %H:%M:%S.%f"
    spill = tempfile.mkdtemp(prefix="epistola-events-")
    duck = duckdb.connect()
    try:
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute(f"SET temp_directory = {_lit(spill)}")
        duck.execute(f"SET memory_limit = {_lit(MEMORY_LIMIT)}")  # beyond it, DuckDB spills to disk
        duck.execute("SET preserve_insertion_order = true")
        with wrap_db_errors(f"importing events from {path.name}"), engine.connect() as conn:
            index = CustomerIndex(conn)
            keys = index.source_keys(mapping.identity["source"]) if "source" in mapping.identity else {}
            emails = index.emails() if "email" in mapping.identity else {}
            rebuild = (
                expected >= BULK_INDEX_MIN
                and expected >= conn.execute(select(func.count()).select_from(events)).scalar_one()
            )
        _register(duck, "customer_keys", "key", keys)
        _register(duck, "customer_emails", "email", emails)
        query = _Compiler(mapping).query(_source_input(path, mapping), received, stamp)
        try:  # transformed in one pass; DuckDB spills to disk when the file outgrows memory
            duck.execute(f"CREATE TEMP TABLE staged AS {query}")
        except duckdb.Error as exc:
            raise InputError(f"{path.name} cannot be read: {str(exc).splitlines()[0]}") from None
        if job.erased is not None:
            _drop_erased(engine, duck, job)
        malformed = _malformed(duck, job, mapping)
        reader = duck.sql("SELECT * FROM staged ORDER BY rn").to_arrow_reader(BATCH)
        if rebuild:
            _drop_secondary_index(engine)
        try:
            done = 0
            for batch in reader:
                _store(engine, path, job, batch, postgres, malformed)
                done += batch.num_rows
                if progress:
                    progress(done, expected)
            if job.rejects:  # malformed rows in a file with no good row
                with wrap_db_errors(f"importing events from {path.name}"), engine.begin() as conn:
                    job.flush_rejects(conn)
        finally:
            if rebuild:
                ensure_secondary_index(engine)
    finally:
        duck.close()
        shutil.rmtree(spill, ignore_errors=True)


def _drop_erased(engine: Engine, duck: Any, job: EventImport) -> None:
    """Unlinked staged events naming an erased person (by source key or e-mail) are deleted, counted only."""
    from epistola.hub.erased import event_identifiers

    assert job.erased is not None  # noqa: S101 - only called when the store holds erasures
    key = "json_extract_string(properties, '$._ident.key')"
    email = "json_extract_string(properties, '$._ident.email')"
    unlinked = "FROM staged WHERE reject IS NULL AND customer_id IS NULL"
    idents = duck.execute(
        f"SELECT DISTINCT json_extract_string(properties, '$._ident.source'), {key}, {email} {unlinked}"
    ).fetchall()
    if not idents:
        return
    with wrap_db_errors("looking up erased people"), engine.connect() as conn:
        found = job.erased.found(
            conn, (i for s, k, e in idents for i in event_identifiers({"source": s, "key": k, "email": e}))
        )
    keys = sorted({k for s, k, _ in idents if s and k and event_identifiers({"source": s, "key": k}) & found})
    emails = sorted({e for _, _, e in idents if e and event_identifiers({"email": e}) & found})
    if not keys and not emails:
        return
    theirs = f"{unlinked} AND (list_contains($keys, {key}) OR list_contains($emails, {email}))"
    params = {"keys": keys or [""], "emails": emails or [""]}
    n = int(duck.execute(f"SELECT count(*) {theirs}", params).fetchone()[0])
    duck.execute(f"DELETE {theirs}", params)
    job.skip(n)
    job.report.seen += n  # seen, as on the row-by-row path; neither linked nor unlinked: not stored


def _utc_text(job: EventImport, postgres: bool) -> str:
    from datetime import UTC

    moment = job.now.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00" if postgres else "")


def _register(duck: Any, name: str, column: str, values: dict[str, int]) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]

    table = pa.table(
        {column: pa.array(list(values), pa.string()), "customer_id": pa.array(list(values.values()), pa.int64())}
    )
    duck.register(f"{name}_arrow", table)
    duck.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")  # noqa: S608 - our own names
    duck.unregister(f"{name}_arrow")


def _store(engine: Engine, path: Path, job: EventImport, batch: Any, postgres: bool, malformed: list[int]) -> None:
    """One batch: its rejects recorded, its events inserted (existing ids skipped), committed together."""
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    reject = batch.column("reject")
    bad = pc.is_valid(reject)
    if pc.any(bad).as_py():
        for row, why in zip(batch.column("rn").filter(bad).to_pylist(), reject.filter(bad).to_pylist(), strict=True):
            field_name, _, reason = str(why).partition("\t")
            job.reject(file_row(int(row), malformed), reason, field_name or None)
    good = batch.filter(pc.invert(bad)).drop_columns(["rn", "reject"])
    n = good.num_rows
    customers = pc.is_valid(good.column("customer_id"))
    linked = int(pc.sum(customers).as_py() or 0)
    job.report.seen += n
    job.report.linked += linked
    job.report.unlinked += n - linked
    with wrap_db_errors(f"importing events from {path.name}"), engine.begin() as conn:
        inserted = 0 if n == 0 else _insert_postgres(conn, good) if postgres else _insert_sqlite(conn, good)
        job.report.inserted += inserted
        job.report.duplicates += n - inserted
        job.flush_rejects(conn)


def _insert_sqlite(conn: Any, batch: Any) -> int:
    # received_at is one value for the whole import: bound once per statement, not once per row
    received = str(batch.column("received_at")[0].as_py())
    if not _STAMP.fullmatch(received):  # our own timestamp text; anything else never reaches SQL
        raise ValueError(f"unexpected timestamp {received!r}")
    columns = [batch.column(i).to_pylist() for i in range(batch.num_columns - 1)]
    before = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
    statement = f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{received}')"  # noqa: S608
    conn.exec_driver_sql(statement, list(zip(*columns, strict=True)))
    return int(conn.exec_driver_sql("SELECT total_changes()").scalar_one() - before)


def _insert_postgres(conn: Any, batch: Any) -> int:
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS hub_event_stage (event_uid text, customer_id bigint, type text, "
            "occurred_at timestamptz, amount numeric, currency text, category text, properties jsonb, "
            "received_at timestamptz) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY hub_event_stage ({_COLUMNS}) FROM STDIN (FORMAT csv)") as copy:
            view = buffer.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        cur.execute(
            f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM hub_event_stage "  # noqa: S608 - constant
            "ON CONFLICT (event_uid) DO NOTHING"
        )
        inserted = cur.rowcount
        cur.execute("DELETE FROM hub_event_stage")
    return int(inserted)


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
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {SECONDARY_INDEX} ON events (customer_id, type, occurred_at)"))
