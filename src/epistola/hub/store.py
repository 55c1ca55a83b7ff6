"""Every query the hub makes on the operational store.

The bulk writers of source records bypass SQLAlchemy's per-row type processing: their JSON columns
arrive already serialised, and PostgreSQL receives them through COPY. Everything else is Core.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select, update

from epistola.errors import Problem
from epistola.store.dialect import insert_id
from epistola.store.schema import import_rejects, imports, source_records, sources


@dataclass(frozen=True, kw_only=True, slots=True)
class Known:
    """What the store already holds for one source key."""

    id: int
    content_hash: str
    missing: bool


def ensure_source(
    conn: Connection,
    *,
    name: str,
    kind: str,
    description: str,
    trust: int,
    now: datetime,
    mapping: dict[str, Any] | None = None,
) -> int:
    """The source's id, registering it (or refreshing its description, trust and mapping)."""
    row = conn.execute(select(sources.c.id).where(sources.c.name == name)).scalar()
    if row is not None:
        values: dict[str, Any] = {"description": description, "trust": trust, "kind": kind}
        if mapping is not None:
            values["mapping"] = mapping
        conn.execute(update(sources).where(sources.c.id == row).values(**values))
        return int(row)
    return insert_id(
        conn,
        insert(sources).values(
            name=name, kind=kind, description=description, trust=trust, mapping=mapping, created_at=now
        ),
    )


def source_mapping_of(conn: Connection, name: str) -> dict[str, Any] | None:
    """The mapping a source was last imported with, or None (unknown source, or none stored)."""
    row = conn.execute(select(sources.c.mapping).where(sources.c.name == name)).first()
    return None if row is None else row[0]


def start_import(conn: Connection, *, source_id: int, file: str, now: datetime, interrupt: bool = True) -> int:
    """Open an import; an earlier file import still 'running' for this source was interrupted, so say so.

    API batches (`interrupt=False`) run alongside others and never mark anything interrupted.
    """
    if interrupt:
        conn.execute(
            update(imports)
            .where(imports.c.source_id == source_id, imports.c.status == "running")
            .values(status="interrupted", finished_at=now)
        )
    return insert_id(
        conn, insert(imports).values(source_id=source_id, file=file, status="running", started_at=now, stats={})
    )


def finish_import(conn: Connection, import_id: int, *, status: str, stats: dict[str, Any], now: datetime) -> None:
    conn.execute(update(imports).where(imports.c.id == import_id).values(status=status, stats=stats, finished_at=now))


def known_records(conn: Connection, source_id: int, *, keys: Sequence[str] | None = None) -> dict[str, Known]:
    """Source key -> what is stored, for the whole source or only `keys` (an API batch)."""
    query = select(
        source_records.c.source_key,
        source_records.c.id,
        source_records.c.content_hash,
        source_records.c.missing_since,
    ).where(source_records.c.source_id == source_id)
    if keys is None:
        rows: Iterable[Any] = conn.execute(query)
    else:
        rows = [
            row
            for start in range(0, len(keys), 900)
            for row in conn.execute(query.where(source_records.c.source_key.in_(keys[start : start + 900])))
        ]
    return {key: Known(id=rid, content_hash=h, missing=missing is not None) for key, rid, h, missing in rows}


_INSERT_COLUMNS = "source_id, source_key, content_hash, data, normalized, quality, import_id, first_seen_at, updated_at"


def _sqlite_time(moment: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime on SQLite (`store.types.UTCDateTime`)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _driver(conn: Connection) -> Any:
    """The psycopg connection under `conn`, in the same transaction, for COPY."""
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only a closed connection has none
        raise RuntimeError("the connection is closed")
    return raw


def insert_records_fast(conn: Connection, rows: Sequence[tuple[Any, ...]], *, import_id: int, now: datetime) -> None:
    """Insert new source records: (source_id, key, hash, data JSON, normalized JSON, quality) each."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = _driver(conn)
        with raw.cursor() as cur, cur.copy(f"COPY source_records ({_INSERT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, import_id, now, now))
        return
    stamp = _sqlite_time(now)
    conn.exec_driver_sql(
        f"INSERT INTO source_records ({_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant
        [(*row, import_id, stamp, stamp) for row in rows],
    )


def update_records_fast(conn: Connection, rows: Sequence[tuple[Any, ...]], *, import_id: int, now: datetime) -> None:
    """Rewrite changed records: (id, hash, data JSON, normalized JSON, quality) each; they are present again."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = _driver(conn)
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS hub_changed_records (id bigint, content_hash text, data jsonb, "
                "normalized jsonb, quality text) ON COMMIT DELETE ROWS"
            )
            with cur.copy("COPY hub_changed_records (id, content_hash, data, normalized, quality) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                "UPDATE source_records AS r SET content_hash = c.content_hash, data = c.data, "
                "normalized = c.normalized, quality = c.quality, import_id = %s, updated_at = %s, "
                "missing_since = NULL FROM hub_changed_records AS c WHERE r.id = c.id",
                (import_id, now),
            )
            cur.execute("DELETE FROM hub_changed_records")
        return
    stamp = _sqlite_time(now)
    conn.exec_driver_sql(
        "UPDATE source_records SET content_hash = ?, data = ?, normalized = ?, quality = ?, import_id = ?, "
        "updated_at = ?, missing_since = NULL WHERE id = ?",
        [(h, data, norm, quality, import_id, stamp, rid) for rid, h, data, norm, quality in rows],
    )


def mark_present(conn: Connection, ids: Iterable[int]) -> None:
    """Records that were missing from an earlier import and came back unchanged."""
    ids = list(ids)
    for start in range(0, len(ids), 900):
        conn.execute(
            update(source_records).where(source_records.c.id.in_(ids[start : start + 900])).values(missing_since=None)
        )


def mark_missing(conn: Connection, ids: Iterable[int], now: datetime) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 900):
        conn.execute(
            update(source_records)
            .where(source_records.c.id.in_(ids[start : start + 900]), source_records.c.missing_since.is_(None))
            .values(missing_since=now)
        )


def add_rejects(conn: Connection, import_id: int, rejects: Sequence[dict[str, Any]]) -> None:
    if rejects:
        conn.execute(insert(import_rejects), [{"import_id": import_id, **r} for r in rejects])


class RejectCounts(Protocol):
    import_id: int
    rejected: int
    problems: list[Problem]


def settle_rejects(
    conn: Connection, report: RejectCounts, rejects: Sequence[dict[str, Any]], *, origin: str, problem_limit: int
) -> None:
    """Count `rejects` in the import's report, name the first `problem_limit` as problems, store them all."""
    for r in rejects:
        report.rejected += 1
        if len(report.problems) < problem_limit:
            report.problems.append(Problem(message=r["reason"], file=Path(origin).name, row=r["row"], field=r["field"]))
    add_rejects(conn, report.import_id, rejects)


def source_summary(conn: Connection) -> list[dict[str, Any]]:
    """Per source: records held, missing, linked to a customer; and the last import's figures."""
    counts = (
        select(
            source_records.c.source_id,
            func.count().label("records"),
            func.count(source_records.c.missing_since).label("missing"),
            func.count(source_records.c.customer_id).label("linked"),
        )
        .group_by(source_records.c.source_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            sources.c.id,
            sources.c.name,
            sources.c.kind,
            sources.c.trust,
            counts.c.records,
            counts.c.missing,
            counts.c.linked,
        )
        .select_from(sources.outerjoin(counts, counts.c.source_id == sources.c.id))
        .order_by(sources.c.name)
    ).mappings()
    return [dict(r) for r in rows]
