"""Every query identity resolution makes on the operational store: matching keys, models, links,
decisions and merge history. Transactions belong to the caller."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from epistola.errors import NotFound
from epistola.identity import bulk
from epistola.identity.features import COLUMNS, features
from epistola.identity.matcher import FeatureColumns, Link
from epistola.store.dialect import insert_id
from epistola.store.schema import (
    customers,
    events,
    identity_decisions,
    identity_features,
    identity_links,
    identity_merges,
    identity_models,
    source_records,
    sources,
)

_CHUNK = 900  # under SQLite's bound-parameter limit
_KEY_COLUMNS = tuple(c for c in COLUMNS if c != "record_id")


def chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# --- matching keys ------------------------------------------------------------------------------------


def stale_records(conn: Connection) -> list[tuple[int, dict[str, Any]]]:
    """Active records whose matching keys are missing or older than the record: (id, normalized)."""
    f = identity_features
    rows = conn.execute(
        select(source_records.c.id, source_records.c.normalized)
        .select_from(source_records.outerjoin(f, f.c.source_record_id == source_records.c.id))
        .where(
            source_records.c.missing_since.is_(None),
            or_(f.c.source_record_id.is_(None), f.c.computed_at < source_records.c.updated_at),
        )
        .order_by(source_records.c.id)
    )
    return [(int(rid), norm) for rid, norm in rows]


def stale_ids(conn: Connection) -> set[int]:
    """Active records whose matching keys are missing or older than the record."""
    f = identity_features
    rows = conn.execute(
        select(source_records.c.id)
        .select_from(source_records.outerjoin(f, f.c.source_record_id == source_records.c.id))
        .where(
            source_records.c.missing_since.is_(None),
            or_(f.c.source_record_id.is_(None), f.c.computed_at < source_records.c.updated_at),
        )
    )
    return {int(r) for r in rows.scalars()}


def save_features(conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Store matching keys, replacing any earlier keys of the same records."""
    ids = [int(r["record_id"]) for r in rows]
    if conn.execute(select(func.count()).select_from(identity_features)).scalar_one():
        for chunk in chunks(ids):
            conn.execute(delete(identity_features).where(identity_features.c.source_record_id.in_(chunk)))
    stamp = bulk.db_time(conn, now)
    # the name groups are lists stored as JSON; a few thousand distinct ones among a million records
    listed = [i for i, c in enumerate(_KEY_COLUMNS, start=1) if c in ("fn_groups", "ln_groups")]
    as_json: dict[tuple[str, ...], str] = {}
    values_of = itemgetter("record_id", *_KEY_COLUMNS)
    out = []
    for r in rows:
        row = [*values_of(r), stamp]
        for i in listed:
            groups = tuple(row[i])
            text = as_json.get(groups)
            if text is None:
                text = as_json[groups] = bulk.db_json(row[i])
            row[i] = text
        out.append(tuple(row))
    bulk.insert_many(conn, identity_features, ("source_record_id", *_KEY_COLUMNS, "computed_at"), out)


def refresh_features(conn: Connection, now: datetime) -> int:
    """Compute keys for every new or changed record; returns how many."""
    stale = stale_records(conn)
    save_features(conn, [features(rid, norm) for rid, norm in stale], now)
    return len(stale)


def load_features(conn: Connection, record_ids: Iterable[int] | None = None) -> FeatureColumns:
    """Matching keys of the active records (all of them, or the given ones)."""
    f = identity_features
    query = (
        select(f.c.source_record_id, *(f.c[c] for c in _KEY_COLUMNS))
        .join(source_records, source_records.c.id == f.c.source_record_id)
        .where(source_records.c.missing_since.is_(None))
        .order_by(f.c.source_record_id)
    )
    out = FeatureColumns()
    if record_ids is None:
        batches: Iterable[Any] = [conn.execute(query)]
    else:
        ids = sorted(set(record_ids))
        batches = [conn.execute(query.where(f.c.source_record_id.in_(chunk))).all() for chunk in chunks(ids)]
    for rows in batches:
        for row in rows:
            values = dict(zip(COLUMNS, row, strict=True))
            for listed in ("fn_groups", "ln_groups"):
                if isinstance(values[listed], str):  # JSON read back as text by some drivers
                    values[listed] = json.loads(values[listed])
            out.add(values)
    return out


class Frequencies:
    """Term frequencies for the incremental matcher and explanations, counted in the store on demand.

    A value's count comes from an index; the number of non-empty values is estimated from the largest
    record id and the share of records that had the column when the model was trained (`non_null_share`),
    because counting a million rows for every arriving record would cost more than matching it."""

    def __init__(self, conn: Connection, shares: Mapping[str, float] | None = None) -> None:
        self._conn = conn
        self._shares = dict(shares or {})
        self._records: int | None = None
        self._cache: dict[tuple[str, Any], float | None] = {}

    def _total(self, column: str) -> float:
        if self._records is None:
            top = self._conn.execute(select(func.max(identity_features.c.source_record_id))).scalar()
            self._records = int(top or 0)
        return self._records * self._shares.get(column, 1.0)

    def __call__(self, column: str, value: Any) -> float | None:
        if value is None:
            return None
        key = (column, value)
        if key not in self._cache:
            col = identity_features.c[column]
            n = self._conn.execute(select(func.count()).where(col == value)).scalar_one()
            total = self._total(column)
            self._cache[key] = min(n / total, 1.0) if n and total else None
        return self._cache[key]


# --- models -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StoredModel:
    version: int
    params: dict[str, Any]
    config: dict[str, Any]
    note: str
    created_by: str
    created_at: datetime


def latest_model(conn: Connection) -> StoredModel | None:
    row = conn.execute(select(identity_models).order_by(identity_models.c.version.desc()).limit(1)).mappings().first()
    return None if row is None else _model(row)


def model_version(conn: Connection, version: int) -> StoredModel:
    row = conn.execute(select(identity_models).where(identity_models.c.version == version)).mappings().first()
    if row is None:
        raise NotFound(f"no identity model version {version}", hint="`epistola identity models` lists them")
    return _model(row)


def list_models(conn: Connection) -> list[StoredModel]:
    rows = conn.execute(select(identity_models).order_by(identity_models.c.version)).mappings()
    return [_model(r) for r in rows]


def _model(row: Any) -> StoredModel:
    return StoredModel(
        version=int(row["version"]),
        params=dict(row["params"]),
        config=dict(row["config"]),
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def save_model(
    conn: Connection, *, params: dict[str, Any], config: dict[str, Any], note: str, actor: str, now: datetime
) -> int:
    """A new version; earlier versions stay (a model is never edited in place)."""
    current = conn.execute(select(func.max(identity_models.c.version))).scalar()
    version = int(current or 0) + 1
    conn.execute(
        insert(identity_models).values(
            version=version, params=params, config=config, note=note, created_by=actor, created_at=now
        )
    )
    return version


# --- links and decisions --------------------------------------------------------------------------------


def link_rows(merged: Sequence[Link], review: Sequence[Link], *, version: int, stamp: Any) -> list[tuple[Any, ...]]:
    """identity_links rows (record_l, record_r, kind, probability, weight, reason, model_version,
    created_at) of a run's links: the ones that joined records, then the pairs waiting for review."""
    return [
        (min(x.left, x.right), max(x.left, x.right), kind, x.probability, x.weight, x.reason, version, stamp)
        for kind, links in (("merge", merged), ("review", review))
        for x in links
    ]


def replace_links(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """The links of the latest run (`link_rows`) in place of the previous run's."""
    conn.execute(delete(identity_links))
    columns: tuple[str, ...] = ("record_l", "record_r", "kind", "probability", "weight", "reason", "model_version")
    if not bulk.is_postgres(conn):
        # the ids SQLite would hand out in this order, but the rows go in by pair: the pair's unique
        # index and the look-ups of its records (foreign keys) then walk forward instead of jumping
        start = int(conn.execute(select(func.coalesce(func.max(identity_links.c.id), 0))).scalar_one()) + 1
        rows = sorted(((start + i, *row) for i, row in enumerate(rows)), key=itemgetter(1, 2))
        columns = ("id", *columns)
    bulk.insert_many(conn, identity_links, (*columns, "created_at"), rows)


def add_links(conn: Connection, links: Sequence[Link], *, kind: str, version: int | None, now: datetime) -> None:
    """Add or replace single links (the incremental matcher)."""
    for x in links:
        a, b = min(x.left, x.right), max(x.left, x.right)
        conn.execute(delete(identity_links).where(identity_links.c.record_l == a, identity_links.c.record_r == b))
        conn.execute(
            insert(identity_links).values(
                record_l=a,
                record_r=b,
                kind=kind,
                probability=x.probability,
                weight=x.weight,
                reason=x.reason,
                model_version=version,
                created_at=now,
            )
        )


def links_among(conn: Connection, record_ids: Sequence[int], kind: str | None = None) -> list[dict[str, Any]]:
    """Links whose both records are among `record_ids`."""
    wanted = set(record_ids)
    out: list[dict[str, Any]] = []
    for chunk in chunks(sorted(wanted)):
        query = select(identity_links).where(identity_links.c.record_l.in_(chunk))
        if kind:
            query = query.where(identity_links.c.kind == kind)
        out.extend(dict(r) for r in conn.execute(query).mappings() if r["record_r"] in wanted)
    return sorted(out, key=lambda r: -r["probability"])


def review_queue(conn: Connection, *, limit: int = 50, after: float | None = None) -> list[dict[str, Any]]:
    """Pairs waiting for a person, most likely matches first."""
    query = select(identity_links).where(identity_links.c.kind == "review")
    if after is not None:
        query = query.where(identity_links.c.probability < after)
    rows = conn.execute(query.order_by(identity_links.c.probability.desc(), identity_links.c.id).limit(limit))
    return [dict(r) for r in rows.mappings()]


def review_count(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(identity_links).where(identity_links.c.kind == "review")
        ).scalar_one()
    )


def link(conn: Connection, link_id: int) -> dict[str, Any]:
    row = conn.execute(select(identity_links).where(identity_links.c.id == link_id)).mappings().first()
    if row is None:
        raise NotFound(f"no identity link {link_id}", hint="`epistola identity review` lists the pairs waiting")
    return dict(row)


def drop_link(conn: Connection, a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    conn.execute(delete(identity_links).where(identity_links.c.record_l == lo, identity_links.c.record_r == hi))


def decide(
    conn: Connection,
    pairs: Iterable[tuple[int, int]],
    *,
    decision: str,
    origin: str,
    actor: str,
    note: str,
    now: datetime,
) -> int:
    """Remember that records are (or are not) the same person; a later decision on a pair replaces it."""
    n = 0
    for a, b in pairs:
        if a == b:
            continue
        lo, hi = min(a, b), max(a, b)
        conn.execute(
            delete(identity_decisions).where(identity_decisions.c.record_l == lo, identity_decisions.c.record_r == hi)
        )
        conn.execute(
            insert(identity_decisions).values(
                record_l=lo, record_r=hi, decision=decision, origin=origin, note=note, decided_by=actor, decided_at=now
            )
        )
        n += 1
    return n


def decisions(conn: Connection) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(must link, cannot link) pairs of active records, as people decided them."""
    d = identity_decisions
    rows = conn.execute(select(d.c.record_l, d.c.record_r, d.c.decision))
    yes: list[tuple[int, int]] = []
    no: list[tuple[int, int]] = []
    for a, b, decision in rows:
        (yes if decision == "match" else no).append((int(a), int(b)))
    return yes, no


def decisions_for(conn: Connection, record_ids: Sequence[int]) -> list[dict[str, Any]]:
    wanted = set(record_ids)
    out: list[dict[str, Any]] = []
    for chunk in chunks(sorted(wanted)):
        rows = conn.execute(
            select(identity_decisions).where(
                or_(identity_decisions.c.record_l.in_(chunk), identity_decisions.c.record_r.in_(chunk))
            )
        ).mappings()
        out.extend(dict(r) for r in rows)
    unique = {r["id"]: r for r in out}
    return sorted(unique.values(), key=lambda r: r["decided_at"])


# --- records, customers and history ------------------------------------------------------------------------


def records_of(conn: Connection, customer_id: int) -> list[int]:
    return [
        int(i)
        for i in conn.execute(
            select(source_records.c.id)
            .where(source_records.c.customer_id == customer_id, source_records.c.missing_since.is_(None))
            .order_by(source_records.c.id)
        ).scalars()
    ]


def record_labels(conn: Connection, record_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """record id -> (source, key): how people name a record."""
    out: dict[int, tuple[str, str]] = {}
    for chunk in chunks(sorted(set(record_ids))):
        rows = conn.execute(
            select(source_records.c.id, sources.c.name, source_records.c.source_key)
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(source_records.c.id.in_(chunk))
        )
        out.update({int(i): (s, k) for i, s, k in rows})
    return out


def record_id_for(conn: Connection, source: str, key: str) -> int:
    rid = conn.execute(
        select(source_records.c.id)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(sources.c.name == source, source_records.c.source_key == key)
    ).scalar()
    if rid is None:
        raise NotFound(f"no record {key!r} in source {source!r}")
    return int(rid)


def active_customer(conn: Connection, customer_id: int) -> dict[str, Any]:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).mappings().first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return dict(row)


def relink_records(conn: Connection, moves: Mapping[int, int]) -> None:
    """record -> its new customer."""
    bulk.set_customers(conn, sorted(moves.items()))


def add_history(
    conn: Connection,
    *,
    kind: str,
    customer_id: int,
    other_id: int,
    records: Sequence[int],
    details: dict[str, Any],
    actor: str,
    now: datetime,
) -> int:
    return insert_id(
        conn,
        insert(identity_merges).values(
            kind=kind,
            customer_id=customer_id,
            other_id=other_id,
            records=list(records),
            details=details,
            actor=actor,
            at=now,
        ),
    )


def history_entry(conn: Connection, entry_id: int) -> dict[str, Any]:
    row = conn.execute(select(identity_merges).where(identity_merges.c.id == entry_id)).mappings().first()
    if row is None:
        raise NotFound(f"no merge {entry_id}", hint="`epistola identity history CUSTOMER` lists a customer's merges")
    return dict(row)


def history_of(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    m = identity_merges
    rows = conn.execute(
        select(m).where(or_(m.c.customer_id == customer_id, m.c.other_id == customer_id)).order_by(m.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def mark_undone(conn: Connection, entry_id: int, by: int) -> None:
    conn.execute(update(identity_merges).where(identity_merges.c.id == entry_id).values(undone_by=by))


def events_to_relink(conn: Connection, customer_ids: Sequence[int]) -> list[tuple[int, int, dict[str, Any]]]:
    """(event, customer, identifier) for the events of these customers."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    for chunk in chunks(sorted(set(customer_ids))):
        rows = conn.execute(
            select(events.c.id, events.c.customer_id, events.c.properties).where(events.c.customer_id.in_(chunk))
        )
        out.extend((int(i), int(c), dict((p or {}).get("_ident") or {})) for i, c, p in rows)
    return out


def owners_of_keys(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(source, key) -> the customer the record belongs to now."""
    by_source: dict[str, list[str]] = {}
    for source, key in keys:
        by_source.setdefault(source, []).append(key)
    out: dict[tuple[str, str], int] = {}
    for source, wanted in by_source.items():
        for start in range(0, len(wanted), _CHUNK):
            rows = conn.execute(
                select(source_records.c.source_key, source_records.c.customer_id)
                .join(sources, sources.c.id == source_records.c.source_id)
                .where(
                    sources.c.name == source,
                    source_records.c.source_key.in_(wanted[start : start + _CHUNK]),
                    source_records.c.customer_id.is_not(None),
                )
            )
            out.update({(source, k): int(c) for k, c in rows})
    return out


def move_events(conn: Connection, moves: Mapping[int, int]) -> None:
    """event -> its new customer."""
    if moves:
        conn.execute(
            update(events).where(events.c.id == bindparam("b_id")).values(customer_id=bindparam("b_customer")),
            [{"b_id": e, "b_customer": c} for e, c in moves.items()],
        )
