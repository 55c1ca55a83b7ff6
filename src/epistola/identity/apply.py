"""Turning clusters of records into customers: who keeps which customer id, golden records and lineage,
merges and splits written to the history, events following their records, consent never widened.

Customer ids are stable. Each cluster keeps the existing customer that holds most of its records (each
customer goes to one cluster only); a customer left without a cluster is absorbed into the cluster that
holds most of its records (its row stays as a pointer, `merged_into`); records that leave a customer for
another cluster are a split. Consent rows are never moved: a keeper gets entries that are never wider
than any of the merged customers' or records' states (`consent.ledger.merge_consents`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, update

from epistola.consent.ledger import (
    ConsentEntry,
    append_entries,
    history,
    latest_by_origin,
    merge_consents,
    split_consents,
)
from epistola.consent.ledger import standings as consent_standings
from epistola.consent.model import RESTRICTIVE, Standing, merge_standing
from epistola.identity import bulk, store
from epistola.identity.golden import (
    ATTRIBUTE_FIELDS,
    GOLDEN_COLUMNS,
    LINEAGE_FIELDS,
    Candidate,
    Golden,
    Survivorship,
    build_golden,
)
from epistola.store.schema import consents, customer_lineage, customers, source_records, sources
from epistola.store.types import UTCDateTime


@dataclass(kw_only=True)
class Applied:
    customers: int = 0
    created: int = 0
    updated: int = 0
    merged_away: int = 0
    split_off: int = 0
    consents_recorded: int = 0
    history: list[int] = field(default_factory=list)


def observed(norm: Mapping[str, Any], fallback: datetime) -> datetime:
    """When a record's content was true: its own update or sign-up date, else when it was imported."""
    for key in ("updated_at", "registered_at", "card_issued"):
        text = norm.get(key)
        if text:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            if moment.tzinfo is None:  # a plain date
                moment = datetime.combine(date.fromisoformat(text[:10]), datetime.min.time(), tzinfo=fallback.tzinfo)
            return moment
    return fallback


def load_candidates(conn: Connection, record_ids: Sequence[int] | None = None) -> list[Candidate]:
    """Active records as golden-record candidates (all of them, or the given ones)."""
    query = (
        select(
            source_records.c.id,
            source_records.c.customer_id,
            source_records.c.normalized,
            source_records.c.updated_at,
            sources.c.name,
            sources.c.trust,
        )
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(source_records.c.missing_since.is_(None))
        .order_by(source_records.c.id)
    )
    if record_ids is None:  # a whole base: rows straight from the driver (see `_raw_rows`)
        return [
            Candidate(
                record_id=rid, customer_id=cid, values=norm, observed_at=observed(norm, seen), source=name, trust=trust
            )
            for rid, cid, norm, seen, name, trust in _raw_rows(conn, query)
        ]
    ids = sorted(set(record_ids))
    batches = [conn.execute(query.where(source_records.c.id.in_(chunk))).all() for chunk in store.chunks(ids)]
    return [
        Candidate(
            record_id=rid, customer_id=cid, values=norm, observed_at=observed(norm, seen), source=name, trust=trust
        )
        for rows in batches
        for rid, cid, norm, seen, name, trust in rows
    ]


def _raw_rows(conn: Connection, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of a parameterless query of (id, customer, normalized, updated_at, ...) as the driver
    returns them, with the JSON and the UTC time decoded as SQLAlchemy would: a million rows through
    SQLAlchemy's result processing cost more than reading them. (psycopg decodes both itself; SQLite
    hands back text, and an import stamps all its records with one time.)"""
    compiled = query.compile(dialect=conn.dialect)
    if compiled.params:  # pragma: no cover - a programming error, not a runtime condition
        raise ValueError("_raw_rows takes queries without parameters")
    from_db = UTCDateTime().process_result_value
    dialect = conn.dialect
    loads = json.loads
    moments: dict[Any, datetime | None] = {}
    for row in conn.exec_driver_sql(str(compiled)):
        norm, seen = row[2], row[3]
        if isinstance(norm, str | bytes):
            norm = loads(norm)
        moment = moments.get(seen)
        if moment is None:
            moment = moments[seen] = from_db(seen, dialect)
        yield (row[0], row[1], norm, moment, *row[4:])


def _lineage_rows(customer_id: int, golden: Golden) -> list[dict[str, Any]]:
    return [
        {"customer_id": customer_id, "field": f, "source_record_id": rid, "observed_at": seen}
        for f, (rid, seen) in golden.lineage.items()
    ]


def golden_columns(golden: Golden, kept: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The customers columns a golden record sets. Attributes the golden record does not own (survey
    answers, overlays, modelled values written by the hub's enrichment) are kept as they were."""
    values = {c: golden.values.get(c) for c in GOLDEN_COLUMNS}
    others = {k: v for k, v in dict((kept or {}).get("attributes") or {}).items() if k not in ATTRIBUTE_FIELDS}
    values["attributes"] = {**others, **(values["attributes"] or {})}
    return values


def rebuild_golden(conn: Connection, customer_id: int, *, now: datetime, policy: Survivorship | None = None) -> None:
    """Recompute one customer's golden record and lineage from the records it holds now."""
    golden = build_golden(load_candidates(conn, store.records_of(conn, customer_id)), policy)
    current = store.active_customer(conn, customer_id)
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values({**golden_columns(golden, current), "updated_at": now})
    )
    conn.execute(delete(customer_lineage).where(customer_lineage.c.customer_id == customer_id))
    if rows := _lineage_rows(customer_id, golden):
        conn.execute(insert(customer_lineage), rows)


def new_customer(
    conn: Connection, record_ids: Sequence[int], *, now: datetime, policy: Survivorship | None = None
) -> int:
    """A customer made from these records (golden record and lineage); the records are linked to it."""
    golden = build_golden(load_candidates(conn, record_ids), policy)
    new_id = int(
        conn.execute(
            insert(customers)
            .values({**{c: golden.values.get(c) for c in GOLDEN_COLUMNS}, "created_at": now, "updated_at": now})
            .returning(customers.c.id)
        ).scalar_one()
    )
    store.relink_records(conn, dict.fromkeys(record_ids, new_id))
    if rows := _lineage_rows(new_id, golden):
        conn.execute(insert(customer_lineage), rows)
    return new_id


def _assign_owners(by_cluster: Mapping[int, list[Candidate]], existing: set[int]) -> dict[int, int]:
    """cluster -> the existing customer that keeps its id: the one with most records in it, each once."""
    offers: list[tuple[int, int, int]] = []
    for cluster, members in by_cluster.items():
        held = [m.customer_id for m in members if m.customer_id in existing]
        if held:  # records new to every customer offer nothing (all of them, on a first run)
            offers.extend((-n, owner, cluster) for owner, n in Counter(held).items() if owner is not None)
    offers.sort()
    owner_of: dict[int, int] = {}
    claimed: set[int] = set()
    for _, owner, cluster in offers:
        if cluster in owner_of or owner in claimed:
            continue
        owner_of[cluster] = owner
        claimed.add(owner)
    return owner_of


def apply_clusters(
    conn: Connection,
    clusters: Mapping[int, int],
    *,
    now: datetime,
    actor: str,
    policy: Survivorship | None = None,
    why: Mapping[int, dict[str, Any]] | None = None,
    candidates: Sequence[Candidate] | None = None,
    changed_records: set[int] | None = None,
    writing: bulk.Background | None = None,
) -> Applied:
    """Make the customers table say what `clusters` (record -> cluster) says. `why` may carry, per
    cluster, what joined it (shown in the merge history); `candidates` the records, when already loaded;
    `changed_records` the records new or changed since the last run (others' consent statements are in
    already). The big writes go through `writing` while the next ones are prepared; given by the caller,
    it may still be writing on return (the caller waits), else this waits before returning."""
    if writing is None:
        with bulk.Background() as own:
            return apply_clusters(
                conn,
                clusters,
                now=now,
                actor=actor,
                policy=policy,
                why=why,
                candidates=candidates,
                changed_records=changed_records,
                writing=own,
            )
    writing.wait()  # what we read below must be what was written before
    out = Applied()
    candidates = [c for c in (load_candidates(conn) if candidates is None else candidates) if c.record_id in clusters]
    by_cluster: dict[int, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_cluster[clusters[c.record_id]].append(c)
    existing = {
        int(row.id): dict(row._mapping)
        for row in conn.execute(select(customers).where(customers.c.merged_into.is_(None)))
    }
    owner_of = _assign_owners(by_cluster, set(existing))
    # the consent states of customers about to be joined by others, read before anything moves
    provisional = {cl: owner_of.get(cl, -cl - 1) for cl in by_cluster}
    joining = {
        int(value)
        for origins in (_joined(by_cluster, provisional, existing).values() if existing else ())
        for kind, value in origins
        if kind == "customer"
    }
    before = _standings(conn, joining, now)

    goldens: dict[int, Golden] = {cl: build_golden(members, policy) for cl, members in by_cluster.items()}
    fresh = [cl for cl in by_cluster if cl not in owner_of]
    if fresh:
        new_ids = _insert_customers(conn, [goldens[cl] for cl in fresh], now, writing)
        for cl, new_id in zip(fresh, new_ids, strict=True):
            owner_of[cl] = new_id
        out.created = len(fresh)
    customer_of = {rid: owner_of[cl] for rid, cl in clusters.items() if cl in owner_of}

    changed = []
    created = set(fresh)
    new_customers = {owner_of[cl] for cl in fresh}
    touched: set[int] = set(new_customers)
    for cl, owner in owner_of.items():
        if cl in created:
            continue
        values = golden_columns(goldens[cl], existing[owner])
        if any(existing[owner].get(k) != v for k, v in values.items()):
            changed.append({"b_id": owner, **{f"b_{k}": v for k, v in values.items()}})
            touched.add(owner)
    if changed:
        writing.wait()
        conn.execute(
            update(customers)
            .where(customers.c.id == bindparam("b_id"))
            .values({**{k: bindparam(f"b_{k}") for k in GOLDEN_COLUMNS}, "updated_at": now}),
            changed,
        )
        out.updated = len(changed)

    moves = {c.record_id: customer_of[c.record_id] for c in candidates if c.customer_id != customer_of[c.record_id]}
    writing.run(partial(store.relink_records, conn, moves))

    # who was absorbed, who lost records to another customer
    claimed = set(owner_of.values())
    moved_from: dict[tuple[int, int], list[int]] = defaultdict(list)
    for c in candidates:
        if c.customer_id in existing and c.customer_id != customer_of[c.record_id]:
            moved_from[(c.customer_id, customer_of[c.record_id])].append(c.record_id)
    if moved_from:  # merges and splits below read and write as they go
        writing.wait()
    absorbed: dict[int, int] = {}
    for old in {old for old, _ in moved_from} - claimed:
        homes = Counter({new: len(rids) for (o, new), rids in moved_from.items() if o == old})
        absorbed[old] = homes.most_common(1)[0][0]
    for old, keeper in sorted(absorbed.items()):
        conn.execute(update(customers).where(customers.c.id == old).values(merged_into=keeper, updated_at=now))
        out.history.append(
            store.add_history(
                conn,
                kind="merge",
                customer_id=keeper,
                other_id=old,
                records=sorted(moved_from[(old, keeper)]),
                details={"by": "resolve", **(why or {}).get(_cluster_of(clusters, moved_from[(old, keeper)]), {})},
                actor=actor,
                now=now,
            )
        )
    out.merged_away = len(absorbed)
    for (old, new), rids in sorted(moved_from.items()):
        if absorbed.get(old) == new:
            continue
        out.history.append(
            store.add_history(
                conn,
                kind="split",
                customer_id=old,
                other_id=new,
                records=sorted(rids),
                details={"by": "resolve"},
                actor=actor,
                now=now,
            )
        )
        out.split_off += 1
        if new in new_customers:
            split_consents(conn, keeper=old, restored=new, since=existing[old]["created_at"], now=now, actor=actor)

    keepers: dict[int, list[int]] = defaultdict(list)
    for old, keeper in absorbed.items():
        keepers[keeper].append(old)
    for keeper, olds in sorted(keepers.items()):
        merge_consents(conn, keeper=keeper, absorbed=sorted(olds), now=now, actor=actor)
    relink_events(conn, {*absorbed, *(old for old, _ in moved_from)})

    if len(touched) > out.created:  # a first run has no lineage to clear
        writing.wait()
        for chunk in store.chunks(sorted(touched)):
            conn.execute(delete(customer_lineage).where(customer_lineage.c.customer_id.in_(chunk)))
    _insert_lineage(
        conn, [(owner_of[cl], golden) for cl, golden in goldens.items() if owner_of[cl] in touched], writing
    )

    carried = None
    if changed_records is not None:
        carried = [
            (c, customer_of[c.record_id]) for c in candidates if c.record_id in changed_records or c.record_id in moves
        ]
    out.consents_recorded = carry_consents(conn, now, carried, writing=writing, new_customers=new_customers)
    joined = _joined(by_cluster, owner_of, existing)
    out.consents_recorded += _never_wider(conn, joined, before, now, writing)
    out.customers = len(by_cluster)
    return out


def _insert_lineage(conn: Connection, goldens: Sequence[tuple[int, Golden]], writing: bulk.Background) -> None:
    """customer_lineage rows of (customer, golden record) pairs. A golden record takes most of its
    fields from one or two records, so each (customer, record) goes to the database once with the
    fields it supplied, and the database writes the rows (`bulk.insert_fanned_out`)."""
    bits = {name: 1 << i for i, name in enumerate(LINEAGE_FIELDS)}
    stamp = bulk.time_converter(conn)
    rows: list[tuple[int, int, Any, int]] = []
    count = 0
    for owner, golden in goldens:
        masks: dict[tuple[int, datetime], int] = {}
        for f, source in golden.lineage.items():
            masks[source] = masks.get(source, 0) | bits[f]
        rows.extend((owner, rid, stamp(seen), mask) for (rid, seen), mask in masks.items())
        count += len(golden.lineage)
    if rows:
        columns = ("customer_id", "field", "source_record_id", "observed_at")
        writing.run(partial(bulk.insert_fanned_out, conn, customer_lineage, columns, LINEAGE_FIELDS, rows, count=count))


def _insert_customers(
    conn: Connection, goldens: Sequence[Golden], now: datetime, writing: bulk.Background
) -> list[int]:
    """New customers from golden records, their ids in order. SQLite hands out row ids one above the
    largest, and this transaction is its only writer, so the ids are known without RETURNING (and the
    rows can be written while the caller goes on)."""
    writing.wait()
    if bulk.is_postgres(conn):
        dicts = [{**golden_columns(g), "created_at": now, "updated_at": now} for g in goldens]
        stmt = insert(customers).returning(customers.c.id, sort_by_parameter_order=True)
        return [int(i) for i in conn.execute(stmt, dicts).scalars()]
    start = int(conn.execute(select(func.coalesce(func.max(customers.c.id), 0))).scalar_one()) + 1
    stamp = bulk.db_time(conn, now)
    columns = ("id", *GOLDEN_COLUMNS, "created_at", "updated_at")
    # `golden_columns` of a new customer (nothing kept), straight into a row: half a million of them
    birth, attributes = GOLDEN_COLUMNS.index("birth_date"), GOLDEN_COLUMNS.index("attributes")
    rows = []
    for i, g in enumerate(goldens):
        get = g.values.get
        row = [get(c) for c in GOLDEN_COLUMNS]
        row[attributes] = bulk.db_json(row[attributes] or {})
        row[birth] = bulk.db_date(conn, row[birth])
        rows.append((start + i, *row, stamp, stamp))
    writing.run(partial(bulk.insert_many, conn, customers, columns, rows))
    return list(range(start, start + len(goldens)))


def _cluster_of(clusters: Mapping[int, int], records: Sequence[int]) -> int:
    return clusters[records[0]] if records else -1


def relink_events(conn: Connection, customer_ids: set[int]) -> int:
    """Events of these customers follow the record they were tied to; events of a customer that is now a
    pointer go to the customer it points to."""
    if not customer_ids:
        return 0
    found = store.events_to_relink(conn, sorted(customer_ids))
    keys = {(i["source"], i["key"]) for _, _, i in found if i.get("source") and i.get("key")}
    owners = store.owners_of_keys(conn, keys)
    pointers = dict(
        conn.execute(
            select(customers.c.id, customers.c.merged_into).where(
                customers.c.id.in_(sorted(customer_ids)), customers.c.merged_into.is_not(None)
            )
        ).all()
    )
    moves: dict[int, int] = {}
    for event_id, current, ident in found:
        target = owners.get((ident.get("source", ""), ident.get("key", "")))
        if target is None:
            target = pointers.get(current)
        if target is not None and target != current:
            moves[event_id] = int(target)
    store.move_events(conn, moves)
    return len(moves)


def carry_consents(
    conn: Connection,
    now: datetime,
    records: Sequence[tuple[Candidate, int]] | None = None,
    *,
    writing: bulk.Background | None = None,
    new_customers: Collection[int] = (),
) -> int:
    """Write what source records say about consent into the ledger, once per change: every active
    record, or only `records` ((record, its customer now) pairs: the new, changed and moved ones).
    `new_customers` were made in this run (they have no ledger yet); `writing`, when given, writes."""
    if writing is None:
        with bulk.Background() as own:
            return carry_consents(conn, now, records, writing=own, new_customers=new_customers)
    if records is None:
        writing.wait()
        query = (
            select(
                source_records.c.id,
                source_records.c.customer_id,
                source_records.c.normalized,
                source_records.c.updated_at,
                sources.c.name,
            )
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(source_records.c.customer_id.is_not(None), source_records.c.missing_since.is_(None))
        )
        said_by: list[tuple[int, int, dict[str, Any], datetime, str]] = [
            (rid, cid, norm, observed(norm, seen), source) for rid, cid, norm, seen, source in _raw_rows(conn, query)
        ]
        known = latest_by_origin(conn)
    else:
        said_by = [
            (c.record_id, cid, c.values, c.observed_at, c.source) for c, cid in records if c.values.get("consents")
        ]
        known = {}
        held = sorted({cid for _, cid, *_ in said_by} - set(new_customers))
        if held:
            writing.wait()
        for row in sorted(history(conn, held) if held else (), key=lambda r: r.id):
            rid = row.entry.proof.get("source_record_id")
            if rid is not None:
                e = row.entry
                known[(e.customer_id, e.channel, e.purpose, int(rid))] = e.status
    # the proof of a statement, {"kind": "source_record", "source_record_id": …, "imported_at": …}, as
    # `bulk.db_json` writes it: formatted rather than serialised a million times
    head = '{"kind":"source_record","source_record_id":'
    tail = ',"imported_at":' + bulk.db_json(now.isoformat()) + "}"
    stamp = bulk.time_converter(conn)
    rows: list[tuple[Any, ...]] = []
    for rid, cid, norm, moment, source in said_by:
        stated = norm.get("consents")
        if not stated:
            continue
        recorded = stamp(moment)
        for channel, said in stated.items():
            purpose, status = said["purpose"], said["status"]
            if known.get((cid, channel, purpose, rid)) == status:
                continue
            rows.append((cid, channel, purpose, status, source, f"{head}{rid:d}{tail}", recorded, None))
    # Ledger rows through the bulk writer: a first run appends a statement per record and channel, a
    # million rows that SQLAlchemy's per-row processing would spend half a minute on.
    columns = ("customer_id", "channel", "purpose", "status", "source", "proof", "recorded_at", "expires_at")
    writing.run(partial(bulk.insert_many, conn, consents, columns, rows))
    return len(rows)


def _standings(conn: Connection, ids: set[int], now: datetime) -> dict[tuple[int, str, str], Standing]:
    return consent_standings(conn, sorted(ids), now=now) if ids else {}


def _joined(
    by_cluster: Mapping[int, list[Candidate]], owner_of: Mapping[int, int], existing: Mapping[int, Any]
) -> dict[int, list[tuple[str, Any]]]:
    """customer -> its origins, for customers that more than one origin joined in this run. An origin is
    a customer that existed before (('customer', id)) or a record new to any customer (('record', c))."""
    out: dict[int, list[tuple[str, Any]]] = {}
    for cl, members in by_cluster.items():
        if len(members) < 2:  # one origin: nothing joined it
            continue
        keeper = owner_of[cl]
        origins: dict[Any, tuple[str, Any]] = {}
        for m in members:
            if m.customer_id in existing:
                origins[("c", m.customer_id)] = ("customer", m.customer_id)
            else:
                origins[("r", m.record_id)] = ("record", m)
        arrived = any(kind == "record" or value != keeper for kind, value in origins.values())
        if len(origins) > 1 and arrived:
            out[keeper] = list(origins.values())
    return out


def _records_disagree(origins: Sequence[tuple[str, Any]]) -> bool:
    """Whether records (origins of kind 'record') refuse what another grants, on some channel and purpose."""
    said: dict[tuple[str, str], set[str]] = {}
    for _, c in origins:
        for channel, stated in (c.values.get("consents") or {}).items():
            said.setdefault((channel, stated["purpose"]), set()).add(stated["status"])
    return any("granted" in statuses and not statuses.isdisjoint(RESTRICTIVE) for statuses in said.values())


def _never_wider(
    conn: Connection,
    joined: Mapping[int, list[tuple[str, Any]]],
    before: Mapping[tuple[int, str, str], Standing],
    now: datetime,
    writing: bulk.Background,
) -> int:
    """Records or customers that joined one customer in this run: where they disagree, the stricter state
    is appended for the customer unless it already holds (a refusal by any of them wins)."""
    said: dict[int, dict[tuple[str, str], list[Standing | None]]] = {}
    for keeper, origins in joined.items():
        if all(kind == "record" for kind, _ in origins) and not _records_disagree(origins):
            continue  # the usual case, told apart without building a Standing per statement
        per_key: dict[tuple[str, str], list[Standing | None]] = defaultdict(list)
        for kind, value in origins:
            if kind == "customer":
                for (cid, ch, pu), st in before.items():
                    if cid == value:
                        per_key[(ch, pu)].append(st)
            else:
                for ch, stated in (value.values.get("consents") or {}).items():
                    per_key[(ch, stated["purpose"])].append(Standing(status=stated["status"]))
        conflicts = {
            k: v
            for k, v in per_key.items()
            if any(s is not None and s.status in RESTRICTIVE for s in v)
            and any(s is not None and s.status == "granted" for s in v)
        }
        if conflicts:
            said[keeper] = conflicts
    if not said:
        return 0
    writing.wait()  # the statements carried above count
    current = consent_standings(conn, sorted(said), now=now)
    entries = []
    for keeper, conflicts in sorted(said.items()):
        for (channel, purpose), parts in sorted(conflicts.items()):
            merged = merge_standing(parts)
            mine = current.get((keeper, channel, purpose))
            if merged is None or mine is None or mine.status in RESTRICTIVE:
                continue
            entries.append(
                ConsentEntry(
                    customer_id=keeper,
                    channel=channel,
                    purpose=purpose,
                    status=merged.status,
                    source="merge",
                    recorded_at=now,
                    proof={"kind": "merge", "customer": keeper, "reason": "records of one person disagreed"},
                )
            )
    append_entries(conn, entries)
    return len(entries)
