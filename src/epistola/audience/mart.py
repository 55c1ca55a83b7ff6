"""The analytical mart: a DuckDB file of customer features, consent in force, model scores and events,
built from the operational store and kept fresh incrementally by change watermarks.

Why DuckDB (measured, see docs/architecture.md): a five-condition count with two event windows over
1,000,000 customers and 20,000,000 events takes tens of milliseconds when the events are stored sorted
by (type, category, time), because DuckDB's zone maps then skip every row group outside the window;
the same query on PostgreSQL or SQLite takes seconds.

Watermarks, and what each one catches:

- customers: ``updated_at`` (indexed) at or after the previous read's moment less an overlap, so a row
  written by a transaction that committed a little late is not missed; a changed customer's events are
  re-read too, which is how merges (events re-pointed to the surviving record) reach the mart;
- events: the newest id; ids missing below it (a transaction still open, or rolled back) are re-checked
  for a day; events imported before their customer existed are re-checked for a week, until linked;
- consents: the newest entry id, plus entries whose recorded time has come since the last refresh;
- model scores: a fingerprint per model (row count and newest time), reloaded when it changes.

A refresh is one DuckDB transaction over one read snapshot of the operational store: readers see the
old mart or the new one, never half of it. A full build writes a new file and swaps it in.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import Engine

from epistola.audience import extract
from epistola.audience.freshness import Freshness
from epistola.errors import StorageError
from epistola.store.engine import redact

SCHEMA_VERSION = "3"
OVERLAP = timedelta(minutes=10)  # customers re-read before the watermark, for late commits
GAP_RECHECK = timedelta(days=1)  # how long a missing event id is looked for again
LINK_RECHECK = timedelta(days=7)  # how long an event without a customer is looked at again
BUILD_BATCH = 4_000_000  # events read per step of a full build (bounds memory; sorted per step)
CUSTOMER_BATCH = 500_000
MAX_GAPS = 10_000  # missing-id ranges remembered at most

DDL = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE customers (
    id BIGINT, first_name VARCHAR, last_name VARCHAR, email VARCHAR, phone VARCHAR, gender VARCHAR,
    birth_date DATE, age_min INTEGER, age_max INTEGER, locale VARCHAR, country VARCHAR, region VARCHAR,
    city VARCHAR, postcode VARCHAR, has_street BOOLEAN, timezone VARCHAR, created_at TIMESTAMP,
    birth_mmdd SMALLINT
);
CREATE TABLE attributes (customer_id BIGINT, name VARCHAR, text_value VARCHAR, num_value DOUBLE, bool_value BOOLEAN);
CREATE TABLE consents (
    customer_id BIGINT, channel VARCHAR, purpose VARCHAR, status VARCHAR, recorded_at TIMESTAMP,
    expires_at TIMESTAMP, entry_id BIGINT
);
CREATE TABLE scores (model VARCHAR, customer_id BIGINT, score DOUBLE);
CREATE TABLE pending_consents (customer_id BIGINT, recorded_at TIMESTAMP);
CREATE TABLE pending_links (id BIGINT, until TIMESTAMP);
"""
EVENTS_DDL = """
CREATE TABLE {name} (
    id BIGINT, customer_id BIGINT, type VARCHAR, category VARCHAR, occurred_at TIMESTAMP,
    amount_cents BIGINT, currency VARCHAR, properties VARCHAR
)
"""
CUSTOMER_SELECT = """
SELECT id, first_name, last_name, email, phone, gender, CAST(birth_date AS DATE), age_min, age_max, locale,
       country, region, city, postcode, has_street = 1, timezone, CAST(created_at AS TIMESTAMP),
       CAST(month(CAST(birth_date AS DATE)) * 100 + day(CAST(birth_date AS DATE)) AS SMALLINT)
FROM {src} WHERE merged_into IS NULL
"""
ATTRIBUTE_SELECT = """
SELECT id, k, CASE WHEN t = 'VARCHAR' THEN json_extract_string(attributes, p) END,
       CASE WHEN t IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract(attributes, p) AS DOUBLE) END,
       CASE WHEN t = 'BOOLEAN' THEN json_extract_string(attributes, p) = 'true' END
FROM (
    SELECT id, attributes, k, '$."' || k || '"' AS p, json_type(attributes, '$."' || k || '"') AS t
    FROM (SELECT id, attributes, unnest(json_keys(attributes)) AS k FROM {src}
          WHERE merged_into IS NULL AND attributes IS NOT NULL AND attributes <> '{{}}')
    WHERE regexp_full_match(k, '[A-Za-z0-9_]{{1,64}}')
) WHERE t IS NOT NULL AND t <> 'NULL'
"""
EVENT_SELECT = """
SELECT id, customer_id, type, category, CAST(occurred_at AS TIMESTAMP), amount_cents, currency,
       CASE WHEN properties IS NULL OR properties = '{{}}' THEN NULL ELSE properties END
FROM {src}
"""
SIGNATURE_DIFF = """
WITH here AS (
    SELECT customer_id, count(*) AS n, sum(id) AS total FROM events
    WHERE customer_id IN (SELECT id FROM changed_ids) GROUP BY customer_id
)
SELECT coalesce(h.customer_id, s.customer_id) FROM here h FULL OUTER JOIN store_signatures s
    ON h.customer_id = s.customer_id
WHERE h.n IS DISTINCT FROM s.n OR h.total IS DISTINCT FROM s.total
"""
CONSENT_SELECT = """
SELECT customer_id, channel, purpose, status, CAST(recorded_at AS TIMESTAMP), CAST(expires_at AS TIMESTAMP), entry_id
FROM {src}
"""


@dataclass(frozen=True, kw_only=True)
class MartReport:
    """What a build or refresh did, and where the time went (seconds per phase)."""

    kind: str  # build | refresh
    customers: int  # customers (re)loaded
    events: int  # events (re)loaded
    consents: int  # consent states (re)loaded
    models: int  # models whose scores were (re)loaded
    as_of: datetime
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    """A UTC moment as naive ISO text with microseconds: the form every watermark is compared in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _aware(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fingerprint(engine: Engine) -> str:
    """Which operational store a mart was built from (without the password)."""
    return redact(engine.url.render_as_string(hide_password=False))


class Mart:
    """One mart file. Thread-safe: each operation takes its own DuckDB cursor; writes are serialised."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.threads = threads
        self._db: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.RLock()

    # --- connection ---------------------------------------------------------------------------------------

    def _connect(self, path: Path) -> duckdb.DuckDBPyConnection:
        config: dict[str, str | bool | int | float | list[str]] = {"threads": self.threads} if self.threads else {}
        try:
            return duckdb.connect(str(path), config=config)
        except duckdb.IOException as exc:
            raise StorageError(
                f"cannot open the mart {path}: {exc}",
                hint="Another process holds it (is `epistola serve` running?). Refresh through that process "
                "(POST /api/v1/mart/refresh) or stop it first.",
            ) from exc

    def _conn(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._db is None:
                self._db = self._connect(self.path)
            return self._db

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for one query (DuckDB cursors may be used from different threads)."""
        if not self.exists():
            raise StorageError(f"the mart {self.path} has not been built", hint="Run `epistola mart build`.")
        return self._conn().cursor()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def exists(self) -> bool:
        return self.path.exists()

    def meta(self) -> dict[str, str]:
        if not self.exists():
            return {}
        try:
            rows = self.cursor().execute("SELECT key, value FROM meta").fetchall()
        except duckdb.CatalogException:
            return {}
        return dict(rows)

    def freshness(self, now: datetime) -> Freshness:
        meta = self.meta()
        if "as_of" not in meta:
            raise StorageError(f"the mart {self.path} has not been built", hint="Run `epistola mart build`.")
        as_of = _aware(meta["as_of"])
        return Freshness(source="mart", as_of=as_of, age_s=max(0.0, (now - as_of).total_seconds()))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.cursor().execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise StorageError(f"the mart query failed: {exc}") from exc

    # --- full build -----------------------------------------------------------------------------------------

    def build(self, engine: Engine, now: datetime) -> MartReport:
        """Build the whole mart from the operational store into a new file, then swap it in."""
        started = datetime.now(UTC)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".building")
        tmp.unlink(missing_ok=True)
        db = self._connect(tmp)
        clock = _Phases()
        try:
            db.execute(DDL)
            db.execute(EVENTS_DDL.format(name="events"))
            with extract.snapshot(engine) as s:
                people = 0
                for _low, _high, batch in extract.batches(
                    s, "customers", extract.newest_customer_id(s), CUSTOMER_BATCH
                ):
                    _load_customers(db, batch)
                    people += batch.num_rows
                clock.lap("customers")
                newest = extract.newest_event_id(s)
                loaded = 0
                gaps: list[list[Any]] = []
                for low, high, batch in extract.batches(s, "events", newest, BUILD_BATCH):
                    gaps += _gaps(batch.column("id").to_numpy(), low - 1, high, now)
                    db.register("batch", batch)
                    # Sorted by (type, category, time) within each batch: a window on one event type
                    # then reads only a few row groups per batch, and no global sort is needed.
                    db.execute(f"INSERT INTO events {EVENT_SELECT.format(src='batch')} ORDER BY 3, 4, 5")
                    _remember_unlinked(db, "batch", now)
                    db.unregister("batch")
                    loaded += batch.num_rows
                clock.lap("events")
                consents = extract.read_latest_consents(s, as_of=now)
                db.register("batch", consents)
                db.execute("INSERT INTO consents " + CONSENT_SELECT.format(src="batch"))
                db.unregister("batch")
                _remember_future(db, extract.future_consents(s, after=now), now)
                signatures = extract.score_signatures(s)
                scores = extract.read_scores(s)
                db.register("batch", scores)
                db.execute("INSERT INTO scores SELECT * FROM batch")
                db.unregister("batch")
                newest_consent = int(s.scalar("SELECT max(id) FROM consents") or 0)
                clock.lap("consents and scores")
            _write_meta(
                db,
                {
                    "schema_version": SCHEMA_VERSION,
                    "source": fingerprint(engine),
                    "built_at": now.isoformat(),
                    "as_of": _iso(now),
                    "events_watermark": str(newest),
                    "event_gaps": json.dumps(gaps[-MAX_GAPS:]),
                    "consents_watermark": str(newest_consent),
                    "score_signatures": json.dumps(signatures),
                },
            )
            db.execute("CHECKPOINT")
            clock.lap("checkpoint")
        except BaseException:
            db.close()
            tmp.unlink(missing_ok=True)
            raise
        db.close()
        with self._lock:
            self.close()
            os.replace(tmp, self.path)
            for stale in (self.path.with_name(self.path.name + ".wal"),):
                stale.unlink(missing_ok=True)
        return MartReport(
            kind="build",
            customers=people,
            events=loaded,
            consents=consents.num_rows,
            models=len(signatures),
            as_of=now,
            seconds=(datetime.now(UTC) - started).total_seconds(),
            phases=clock.laps,
        )

    # --- incremental refresh --------------------------------------------------------------------------------

    def refresh(self, engine: Engine, now: datetime) -> MartReport:
        """Bring the mart up to date with what changed since the last build or refresh."""
        meta = self.meta()
        if "as_of" not in meta or meta.get("schema_version") != SCHEMA_VERSION:
            return self.build(engine, now)
        if meta.get("source") != fingerprint(engine):
            raise StorageError(
                f"the mart {self.path} was built from {meta.get('source')}, not {fingerprint(engine)}",
                hint="Point EPISTOLA_MART_PATH elsewhere, or rebuild it with `epistola mart build`.",
            )
        started = datetime.now(UTC)
        with self._lock:
            db = self.cursor()
            with extract.snapshot(engine) as s:
                # Rows written before the last read's moment (less a margin for transactions that were
                # still open then) were seen; the data's own newest time is no watermark, because one
                # import stamps a million rows alike.
                since = min(_aware(meta["as_of"]), now) - OVERLAP
                changed = extract.read_customers(s, since=since)
                changed_ids = changed.column("id").to_pylist()
                db.register("changed_ids", pa.table({"id": pa.array(changed_ids, type=pa.int64())}))
                # Only customers whose events differ (a merge, an erasure) have theirs read again.
                db.register("store_signatures", extract.event_signatures(s, changed_ids))
                differ = [int(r[0]) for r in db.execute(SIGNATURE_DIFF).fetchall()]
                db.register("differ_ids", pa.table({"id": pa.array(differ, type=pa.int64())}))
                moving = [
                    int(r[0])
                    for r in db.execute(
                        "SELECT id FROM events WHERE customer_id IN (SELECT id FROM differ_ids)"
                    ).fetchall()
                ]
                again = extract.read_events(s, customer_ids=differ)
                gone_elsewhere = sorted(set(moving) - set(again.column("id").to_pylist()))
                unlinked = [
                    int(r[0])
                    for r in db.execute("SELECT id FROM pending_links WHERE until > ?", [_naive(now)]).fetchall()
                ]
                moved = extract.read_events(s, ids=gone_elsewhere, linked_ids=unlinked)
                newest = extract.newest_event_id(s)
                old_newest = int(meta["events_watermark"])
                fresh = (
                    extract.read_events(s, id_range=(old_newest + 1, newest))
                    if newest > old_newest
                    else extract.read_events(s, ids=[])
                )
                gaps = [g for g in json.loads(meta.get("event_gaps", "[]")) if _aware(g[2]) > now]
                regained = [extract.read_events(s, id_range=(lo, hi)) for lo, hi, _ in gaps]
                entries, newest_consent = extract.consent_changes(s, after_id=int(meta["consents_watermark"]))
                due = db.execute(
                    "SELECT DISTINCT customer_id FROM pending_consents WHERE recorded_at <= ?", [_naive(now)]
                ).fetchall()
                touched = sorted(set(entries.column("customer_id").to_pylist()) | {int(r[0]) for r in due})
                consents = extract.read_latest_consents(s, as_of=now, customer_ids=touched)
                signatures = extract.score_signatures(s)
                old_signatures = json.loads(meta.get("score_signatures", "{}"))
                models = sorted(
                    m for m in set(signatures) | set(old_signatures) if signatures.get(m) != old_signatures.get(m)
                )
                scores = extract.read_scores(s, [m for m in models if m in signatures])
            events = _dedupe(pa.concat_tables([fresh, *regained, again, moved]))
            moving = sorted(set(moving) | set(gone_elsewhere))
            db.execute("BEGIN TRANSACTION")
            try:
                db.execute("DELETE FROM customers WHERE id IN (SELECT id FROM changed_ids)")
                db.execute("DELETE FROM attributes WHERE customer_id IN (SELECT id FROM changed_ids)")
                _load_customers(db, changed)
                db.register("gone", pa.table({"id": pa.array(moving, type=pa.int64())}))
                db.register("batch", events)
                if moving or events.num_rows:
                    db.execute("DELETE FROM events WHERE id IN (SELECT id FROM gone) OR id IN (SELECT id FROM batch)")
                    db.execute("INSERT INTO events " + EVENT_SELECT.format(src="batch"))
                db.execute(
                    "DELETE FROM pending_links WHERE until <= ? "
                    "OR id IN (SELECT id FROM batch WHERE customer_id IS NOT NULL)",
                    [_naive(now)],
                )
                _remember_unlinked(db, "batch", now)
                db.register("touched", pa.table({"id": pa.array(touched, type=pa.int64())}))
                db.execute("DELETE FROM consents WHERE customer_id IN (SELECT id FROM touched)")
                db.register("fresh_consents", consents)
                db.execute("INSERT INTO consents " + CONSENT_SELECT.format(src="fresh_consents"))
                db.execute("DELETE FROM pending_consents WHERE recorded_at <= ?", [_naive(now)])
                _remember_future(db, entries, now)
                if models:
                    db.register("models", pa.table({"model": pa.array(models, type=pa.string())}))
                    db.execute("DELETE FROM scores WHERE model IN (SELECT model FROM models)")
                    db.register("fresh_scores", scores)
                    db.execute("INSERT INTO scores SELECT * FROM fresh_scores")
                open_gaps = [g for g in gaps if not _range_present(db, g[0], g[1])]
                _write_meta(
                    db,
                    {
                        "as_of": _iso(now),
                        "refreshed_at": now.isoformat(),
                        "events_watermark": str(max(newest, old_newest)),
                        "event_gaps": json.dumps(
                            (open_gaps + _gaps(fresh.column("id").to_numpy(), old_newest, newest, now))[-MAX_GAPS:]
                        ),
                        "consents_watermark": str(max(newest_consent, int(meta["consents_watermark"]))),
                        "score_signatures": json.dumps(signatures),
                    },
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return MartReport(
            kind="refresh",
            customers=len(changed_ids),
            events=events.num_rows,
            consents=consents.num_rows,
            models=len(models),
            as_of=now,
            seconds=(datetime.now(UTC) - started).total_seconds(),
        )

    def ensure_fresh(self, engine: Engine, now: datetime, max_age_s: float) -> Freshness:
        """Build the mart if it is missing, refresh it if older than `max_age_s`; its freshness after."""
        if not self.exists() or "as_of" not in self.meta():
            self.build(engine, now)
        elif self.freshness(now).age_s > max_age_s:
            self.refresh(engine, now)
        return self.freshness(now)

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.cursor()
        try:
            yield cur
        finally:
            cur.close()


# --- helpers -------------------------------------------------------------------------------------------------


class _Phases:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _remember_future(db: duckdb.DuckDBPyConnection, entries: pa.Table, now: datetime) -> None:
    """Consent entries recorded after `now`: the refresh after that moment re-reads their customers."""
    db.register("future", entries)
    db.execute(
        "INSERT INTO pending_consents SELECT customer_id, CAST(recorded_at AS TIMESTAMP) FROM future "
        "WHERE CAST(recorded_at AS TIMESTAMP) > ?",
        [_naive(now)],
    )
    db.unregister("future")


def _remember_unlinked(db: duckdb.DuckDBPyConnection, source: str, now: datetime) -> None:
    """Events without a customer (imported before their customer existed) are looked at again by each
    refresh for a week; after that (an unknown card, an erased customer) only a full build reads them."""
    db.execute(
        f"INSERT INTO pending_links SELECT id, ? FROM {source} WHERE customer_id IS NULL "  # noqa: S608
        "AND id NOT IN (SELECT id FROM pending_links)",
        [_naive(now + LINK_RECHECK)],
    )


def _load_customers(db: duckdb.DuckDBPyConnection, people: pa.Table) -> None:
    db.register("people", people)
    db.execute("INSERT INTO customers " + CUSTOMER_SELECT.format(src="people"))
    db.execute("INSERT INTO attributes " + ATTRIBUTE_SELECT.format(src="people"))
    db.unregister("people")


def _dedupe(events: pa.Table) -> pa.Table:
    if events.num_rows == 0:
        return events
    ids = events.column("id").to_numpy()
    _, first = np.unique(ids, return_index=True)
    return events.take(pa.array(np.sort(first)))


def _gaps(ids: np.ndarray, after: int, newest: int, now: datetime) -> list[list[Any]]:
    """Id ranges in (after, newest] missing from `ids`: looked for again until a day has passed."""
    if newest <= after or len(ids) == newest - after:
        return []
    present = np.sort(ids[(ids > after) & (ids <= newest)])
    edges = np.concatenate(([after], present, [newest + 1]))
    until = _iso(now + GAP_RECHECK)
    return [[int(a) + 1, int(b) - 1, until] for a, b in itertools.pairwise(edges) if b - a > 1]


def _range_present(db: duckdb.DuckDBPyConnection, low: int, high: int) -> bool:
    found = db.execute("SELECT count(*) FROM events WHERE id >= ? AND id <= ?", [low, high]).fetchone()
    return bool(found and found[0] == high - low + 1)


def _write_meta(db: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    for key, value in values.items():
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])
