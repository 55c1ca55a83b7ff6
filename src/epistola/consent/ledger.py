"""The consent ledger: append-only entries per customer, channel and purpose; the current state is
derived (the entry recorded last wins, an expired grant counts as no consent).

A row is never updated or deleted here: a withdrawal is a new entry, so the history is the proof. The
only exception is an erasure, which removes what identifies the person from the proofs (`scrub_proofs`)
and appends a final withdrawal. `current_state` derives the state in SQL; `model.replay` derives it from
the history in Python; the tests hold the two equal over random histories.

Merging customers found to be one person goes through `merge_consents`, never by moving rows: the
merged customer gets entries that are never wider than any constituent's state, and the constituents
keep their own history, so an unmerge (`split_consents`) has something to return to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from epistola import audit
from epistola.consent.model import (
    RESTRICTIVE,
    ConsentEntry,
    LedgerRow,
    Standing,
    Status,
    check_entry,
    effective,
    merge_standing,
    scrub_proof,
)
from epistola.store.schema import consents

__all__ = [
    "ConsentEntry",
    "Status",
    "append_entries",
    "current_state",
    "history",
    "latest_by_origin",
    "ledger_rows",
    "merge_consents",
    "record_entries",
    "scrub_proofs",
    "split_consents",
    "standings",
]

_CHUNK = 900  # stays under SQLite's bound-parameter limit


def append_entries(conn: Connection, entries: Sequence[ConsentEntry]) -> None:
    if entries:
        conn.execute(
            insert(consents),
            [
                {
                    "customer_id": e.customer_id,
                    "channel": e.channel,
                    "purpose": e.purpose,
                    "status": e.status,
                    "source": e.source,
                    "proof": e.proof,
                    "recorded_at": e.recorded_at,
                    "expires_at": e.expires_at,
                }
                for e in entries
            ],
        )


def record_entries(
    conn: Connection, entries: Sequence[ConsentEntry], *, now: datetime, actor: str, origin: str | None = None
) -> int:
    """Validate and append entries made by a person or a system (API, preference centre, SMS), audited.

    The audit row names the customer, channel, purpose and status; the proof (IP, user agent) stays in
    the ledger, where an erasure can reach it.
    """
    for position, entry in enumerate(entries):
        check_entry(entry, where=f"consents[{position}]")
    append_entries(conn, entries)
    for entry in entries:
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="consent.record",
            entity="customer",
            entity_id=entry.customer_id,
            details={
                "channel": entry.channel,
                "purpose": entry.purpose,
                "status": entry.status,
                "source": entry.source,
            },
            origin=origin,
        )
    return len(entries)


def latest_by_origin(conn: Connection) -> dict[tuple[int, str, str, int], str]:
    """(customer, channel, purpose, source record) -> the status that record last put in the ledger."""
    rows = conn.execute(
        select(
            consents.c.customer_id,
            consents.c.channel,
            consents.c.purpose,
            consents.c.proof,
            consents.c.status,
        ).order_by(consents.c.id)
    )
    out: dict[tuple[int, str, str, int], str] = {}
    for cid, channel, purpose, proof, status in rows:
        rid = (proof or {}).get("source_record_id")
        if rid is not None:
            out[(cid, channel, purpose, int(rid))] = status
    return out


def _ranked(ids: list[int], now: datetime, channel: str | None = None, purpose: str | None = None) -> Any:
    where = [consents.c.customer_id.in_(ids), consents.c.recorded_at <= now]
    if channel is not None:
        where.append(consents.c.channel == channel)
    if purpose is not None:
        where.append(consents.c.purpose == purpose)
    return (
        select(
            consents.c.customer_id,
            consents.c.channel,
            consents.c.purpose,
            consents.c.status,
            consents.c.expires_at,
            func.row_number()
            .over(
                partition_by=(consents.c.customer_id, consents.c.channel, consents.c.purpose),
                order_by=(consents.c.recorded_at.desc(), consents.c.id.desc()),
            )
            .label("rank"),
        )
        .where(*where)
        .subquery()
    )


def current_state(
    conn: Connection, customer_ids: Iterable[int], *, channel: str, purpose: str, now: datetime
) -> dict[int, Status]:
    """The status in force now for each customer (customers with no entry are absent)."""
    ids = list(customer_ids)
    out: dict[int, Status] = {}
    for start in range(0, len(ids), _CHUNK):
        ranked = _ranked(ids[start : start + _CHUNK], now, channel, purpose)
        rows = conn.execute(
            select(ranked.c.customer_id, ranked.c.status, ranked.c.expires_at).where(ranked.c.rank == 1)
        )
        for cid, status, expires in rows:
            out[int(cid)] = effective(status, expires, now)
    return out


def standings(conn: Connection, customer_ids: Iterable[int], *, now: datetime) -> dict[tuple[int, str, str], Standing]:
    """Every (customer, channel, purpose) with an entry in force now -> its status and expiry."""
    ids = list(customer_ids)
    out: dict[tuple[int, str, str], Standing] = {}
    for start in range(0, len(ids), _CHUNK):
        ranked = _ranked(ids[start : start + _CHUNK], now)
        rows = conn.execute(
            select(
                ranked.c.customer_id, ranked.c.channel, ranked.c.purpose, ranked.c.status, ranked.c.expires_at
            ).where(ranked.c.rank == 1)
        )
        for cid, channel, purpose, status, expires in rows:
            state = effective(status, expires, now)
            out[(int(cid), channel, purpose)] = Standing(
                status=state, expires_at=expires if state == "granted" else None
            )
    return out


def _row(row: Any) -> LedgerRow:
    return LedgerRow(
        id=row.id,
        entry=ConsentEntry(
            customer_id=row.customer_id,
            channel=row.channel,
            purpose=row.purpose,
            status=row.status,
            source=row.source,
            recorded_at=row.recorded_at,
            proof=dict(row.proof or {}),
            expires_at=row.expires_at,
        ),
    )


def history(conn: Connection, customer_ids: Iterable[int]) -> list[LedgerRow]:
    """Every entry of these customers, oldest first: the proof a regulator asks for."""
    ids = list(customer_ids)
    out: list[LedgerRow] = []
    for start in range(0, len(ids), _CHUNK):
        rows = conn.execute(select(consents).where(consents.c.customer_id.in_(ids[start : start + _CHUNK])))
        out.extend(_row(r) for r in rows)
    return sorted(out, key=lambda r: (r.entry.recorded_at, r.id))


def ledger_rows(conn: Connection, *, batch: int = 5000) -> Iterator[LedgerRow]:
    """The whole ledger in id order, fetched by last-seen id (for replaying it)."""
    last = 0
    while True:
        rows = conn.execute(select(consents).where(consents.c.id > last).order_by(consents.c.id).limit(batch)).all()
        if not rows:
            return
        for r in rows:
            yield _row(r)
        last = rows[-1].id


def merge_consents(
    conn: Connection, *, keeper: int, absorbed: Sequence[int], now: datetime, actor: str = "system"
) -> list[ConsentEntry]:
    """Give `keeper` the combined state of itself and the customers it absorbs, never wider than any of
    theirs (see `model.merge_standing`). Appends one entry per channel and purpose whose state changes;
    the absorbed customers keep their own entries, so an unmerge can restore them."""
    parts = [keeper, *[a for a in absorbed if a != keeper]]
    found = standings(conn, parts, now=now)
    pairs = sorted({(ch, pu) for (_, ch, pu) in found})
    entries: list[ConsentEntry] = []
    for channel, purpose in pairs:
        merged = merge_standing(found.get((cid, channel, purpose)) for cid in parts)
        mine = found.get((keeper, channel, purpose))
        if merged is None or mine == merged:
            continue
        entries.append(
            ConsentEntry(
                customer_id=keeper,
                channel=channel,
                purpose=purpose,
                status=merged.status,
                source="merge",
                recorded_at=now,
                expires_at=merged.expires_at,
                proof={"kind": "merge", "customers": parts},
            )
        )
    append_entries(conn, entries)
    if entries:
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="consent.merge",
            entity="customer",
            entity_id=keeper,
            details={"absorbed": parts[1:], "entries": len(entries)},
        )
    return entries


def split_consents(
    conn: Connection, *, keeper: int, restored: int, since: datetime, now: datetime, actor: str = "system"
) -> list[ConsentEntry]:
    """After an unmerge: `restored` gets back its own history, plus every refusal the merged customer
    recorded since `since` (the merge), because the person may have said it for both; grants made while
    merged are not copied, as nobody can tell whose they were."""
    rows = conn.execute(
        select(consents)
        .where(
            consents.c.customer_id == keeper,
            consents.c.recorded_at >= since,
            consents.c.recorded_at <= now,
            consents.c.status.in_(sorted(RESTRICTIVE)),
            consents.c.source != "merge",
        )
        .order_by(consents.c.recorded_at, consents.c.id)
    ).all()
    entries = [
        ConsentEntry(
            customer_id=restored,
            channel=r.channel,
            purpose=r.purpose,
            status=r.status,
            source="unmerge",
            recorded_at=r.recorded_at,
            proof={"kind": "unmerge", "from_customer": keeper, "entry": r.id},
        )
        for r in rows
    ]
    append_entries(conn, entries)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="consent.split",
        entity="customer",
        entity_id=restored,
        details={"from": keeper, "entries": len(entries)},
    )
    return entries


def scrub_proofs(conn: Connection, customer_ids: Sequence[int]) -> int:
    """Erasure only: drop what identifies the person (IP, user agent, addresses) from their proofs."""
    changed = 0
    for row in history(conn, customer_ids):
        proof = row.entry.proof
        if proof.get("erased"):
            continue
        conn.execute(update(consents).where(consents.c.id == row.id).values(proof=scrub_proof(proof)))
        changed += 1
    return changed
