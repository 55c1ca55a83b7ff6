"""The queries behind the data quality report.

They read the compact per-record quality signature (``source_records.quality``) and a few JSON fields,
never whole records, so the report stays quick on millions of records.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select

from epistola.store.schema import customers, events, import_rejects, imports, source_records, sources

# Fields compared across the sources of one customer (strings as stored in `normalized`).
CONFLICT_FIELDS = ("gender", "birth_date", "country", "postcode", "last_key", "email", "phone")
AGE_FIELDS = ("birth_date", "age_min", "age_max", "age_as_of")


def source_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every source with its present, missing and linked record counts."""
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
        select(sources.c.id, sources.c.name, sources.c.kind, counts.c.records, counts.c.missing, counts.c.linked)
        .select_from(sources.outerjoin(counts, counts.c.source_id == sources.c.id))
        .order_by(sources.c.name)
    ).mappings()
    return [dict(r) for r in rows]


def signatures(conn: Connection) -> list[tuple[int, str, int]]:
    """(source id, quality signature, present records with it): a few hundred rows, whatever the size."""
    rows = conn.execute(
        select(source_records.c.source_id, source_records.c.quality, func.count())
        .where(source_records.c.missing_since.is_(None))
        .group_by(source_records.c.source_id, source_records.c.quality)
    )
    return [(int(s), str(q), int(n)) for s, q, n in rows]


def invalid_reasons(conn: Connection) -> Iterator[tuple[int, dict[str, str]]]:
    """(source id, field -> reason) of present records with at least one unusable value."""
    rows = conn.execute(
        select(source_records.c.source_id, source_records.c.normalized["invalid"]).where(
            source_records.c.missing_since.is_(None), source_records.c.quality.contains("!")
        )
    )
    for source_id, invalid in rows:
        yield int(source_id), dict(invalid or {})


def linked_values(conn: Connection, fields: Sequence[str]) -> Iterator[tuple[int, int, dict[str, str | None]]]:
    """(customer id, source id, field -> value as text) for present records of customers with several."""
    shared = (
        select(source_records.c.customer_id)
        .where(source_records.c.customer_id.is_not(None), source_records.c.missing_since.is_(None))
        .group_by(source_records.c.customer_id)
        .having(func.count() > 1)
        .subquery()
    )
    columns = [source_records.c.normalized[f].as_string().label(f) for f in fields]
    rows = conn.execute(
        select(source_records.c.customer_id, source_records.c.source_id, *columns)
        .join(shared, shared.c.customer_id == source_records.c.customer_id)
        .where(source_records.c.missing_since.is_(None))
        .order_by(source_records.c.customer_id)
    )
    for row in rows:
        yield int(row[0]), int(row[1]), dict(zip(fields, row[2:], strict=True))


def duplicate_counts(conn: Connection) -> dict[int, tuple[int, int]]:
    """Source id -> (records sharing a customer with another record of the same source, such customers)."""
    per_customer = (
        select(source_records.c.source_id, source_records.c.customer_id, func.count().label("n"))
        .where(source_records.c.customer_id.is_not(None), source_records.c.missing_since.is_(None))
        .group_by(source_records.c.source_id, source_records.c.customer_id)
        .having(func.count() > 1)
        .subquery()
    )
    rows = conn.execute(
        select(per_customer.c.source_id, func.sum(per_customer.c.n), func.count()).group_by(per_customer.c.source_id)
    )
    return {int(s): (int(n or 0), int(c)) for s, n, c in rows}


def import_history(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The latest imports, oldest first, with their figures."""
    rows = conn.execute(
        select(
            imports.c.id,
            sources.c.name.label("source"),
            sources.c.kind,
            imports.c.file,
            imports.c.status,
            imports.c.started_at,
            imports.c.finished_at,
            imports.c.stats,
        )
        .join(sources, sources.c.id == imports.c.source_id)
        .order_by(imports.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in reversed(list(rows))]


def latest_imports(conn: Connection) -> dict[int, int]:
    """Source id -> id of its latest finished import (done or failed; not API batches)."""
    rows = conn.execute(
        select(imports.c.source_id, func.max(imports.c.id))
        .where(imports.c.status.in_(("done", "failed", "interrupted")), imports.c.file != "api")
        .group_by(imports.c.source_id)
    )
    return {int(s): int(i) for s, i in rows}


def reject_rows(conn: Connection, import_ids: Sequence[int], *, examples: int) -> dict[int, dict[str, Any]]:
    """Per import: reject count by reason and the first `examples` rejects (row, field, reason)."""
    out: dict[int, dict[str, Any]] = {i: {"total": 0, "reasons": {}, "examples": []} for i in import_ids}
    if not import_ids:
        return out
    counted = conn.execute(
        select(import_rejects.c.import_id, import_rejects.c.field, import_rejects.c.reason, func.count())
        .where(import_rejects.c.import_id.in_(import_ids))
        .group_by(import_rejects.c.import_id, import_rejects.c.field, import_rejects.c.reason)
    )
    for import_id, field, reason, n in counted:
        entry = out[int(import_id)]
        entry["total"] += int(n)
        entry["reasons"][(field, reason)] = entry["reasons"].get((field, reason), 0) + int(n)
    for import_id in import_ids:
        first = conn.execute(
            select(import_rejects.c.row, import_rejects.c.field, import_rejects.c.reason)
            .where(import_rejects.c.import_id == import_id)
            .order_by(import_rejects.c.id)
            .limit(examples)
        )
        out[import_id]["examples"] = [{"row": r, "field": f, "reason": why} for r, f, why in first]
    return out


def unlinked_events(conn: Connection) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event uid, identifiers it came with) of every event not tied to a customer."""
    rows = conn.execute(select(events.c.event_uid, events.c.properties["_ident"]).where(events.c.customer_id.is_(None)))
    for uid, ident in rows:
        yield str(uid), dict(ident or {})


def event_counts(conn: Connection) -> dict[str, tuple[int, int]]:
    """Event type -> (events, events tied to a customer)."""
    rows = conn.execute(select(events.c.type, func.count(), func.count(events.c.customer_id)).group_by(events.c.type))
    return {str(t): (int(n), int(linked)) for t, n, linked in rows}


def known_keys(conn: Connection, source: str, keys: Sequence[str]) -> set[str]:
    """Which of `keys` exist as records of `source` (present or not)."""
    found: set[str] = set()
    for start in range(0, len(keys), 900):
        chunk = keys[start : start + 900]
        rows = conn.execute(
            select(source_records.c.source_key)
            .join(sources, and_(sources.c.id == source_records.c.source_id, sources.c.name == source))
            .where(source_records.c.source_key.in_(chunk))
        )
        found.update(str(k) for (k,) in rows)
    return found


def known_emails(conn: Connection, emails: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(emails), 900):
        rows = conn.execute(select(customers.c.email).where(customers.c.email.in_(emails[start : start + 900])))
        found.update(str(e) for (e,) in rows)
    return found
