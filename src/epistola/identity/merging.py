"""Merging, unmerging and splitting customers by hand, with history that can be undone.

A merge moves the other customer's records to the keeper and leaves the other's row as a pointer; its
consent history stays where it was and the keeper gets entries never wider than either's state. An
unmerge restores the absorbed customer as it was (records, golden record, events, consent) and tells
later runs to keep the two apart; a split moves chosen records into a new customer. Each is a decision
the batch matcher honours afterwards, and each is in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from epistola import audit
from epistola.consent.ledger import ConsentEntry, append_entries, history, merge_consents, split_consents
from epistola.consent.model import LedgerRow, replay
from epistola.errors import Conflict, InputError
from epistola.identity import store
from epistola.identity.apply import new_customer, rebuild_golden, relink_events
from epistola.identity.golden import Survivorship
from epistola.store.schema import customers


@dataclass(frozen=True, kw_only=True)
class Change:
    history_id: int
    kind: str
    customer_id: int
    other_id: int
    records: list[int]
    consent_entries: int
    events_moved: int


def _policy(conn: Connection) -> Survivorship:
    model = store.latest_model(conn)
    return Survivorship.from_json((model.config if model else {}).get("survivorship"))


def _active(conn: Connection, customer_id: int) -> dict[str, Any]:
    row = store.active_customer(conn, customer_id)
    if row["merged_into"] is not None:
        raise Conflict(
            f"customer {customer_id} was merged into customer {row['merged_into']}",
            hint=f"act on customer {row['merged_into']}, or unmerge first",
        )
    return row


def merge(conn: Connection, keeper: int, other: int, *, now: datetime, actor: str, note: str = "") -> Change:
    """`other` is the same person as `keeper`: its records, events and consent join the keeper."""
    if keeper == other:
        raise InputError("a customer cannot be merged with itself")
    _active(conn, keeper)
    _active(conn, other)
    kept, moved = store.records_of(conn, keeper), store.records_of(conn, other)
    store.relink_records(conn, dict.fromkeys(moved, keeper))
    conn.execute(update(customers).where(customers.c.id == other).values(merged_into=keeper, updated_at=now))
    entries = merge_consents(conn, keeper=keeper, absorbed=[other], now=now, actor=actor)
    events = relink_events(conn, {other})
    rebuild_golden(conn, keeper, now=now, policy=_policy(conn))
    if kept and moved:
        store.decide(
            conn, [(kept[0], r) for r in moved], decision="match", origin="merge", actor=actor, note=note, now=now
        )
    entry = store.add_history(
        conn,
        kind="merge",
        customer_id=keeper,
        other_id=other,
        records=moved,
        details={"by": "person", "note": note, "consent_entries": len(entries), "events_moved": events},
        actor=actor,
        now=now,
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.merge",
        entity="customer",
        entity_id=keeper,
        details={"absorbed": other, "records": len(moved), "history": entry},
    )
    return Change(
        history_id=entry,
        kind="merge",
        customer_id=keeper,
        other_id=other,
        records=moved,
        consent_entries=len(entries),
        events_moved=events,
    )


def unmerge(conn: Connection, history_id: int, *, now: datetime, actor: str, note: str = "") -> Change:
    """Undo a merge: the absorbed customer comes back with its own records, golden record, events and
    consent history, and later runs keep the two apart."""
    merged = store.history_entry(conn, history_id)
    if merged["kind"] != "merge":
        raise Conflict(f"history entry {history_id} is a {merged['kind']}, not a merge")
    if merged["undone_by"] is not None:
        raise Conflict(f"merge {history_id} was already undone (by entry {merged['undone_by']})")
    keeper, restored = int(merged["customer_id"]), int(merged["other_id"])
    _active(conn, keeper)
    if store.active_customer(conn, restored)["merged_into"] != keeper:
        raise Conflict(f"customer {restored} is no longer merged into {keeper}; nothing to undo")
    records = [r for r in (int(x) for x in merged["records"]) if r in set(store.records_of(conn, keeper))]
    conn.execute(update(customers).where(customers.c.id == restored).values(merged_into=None, updated_at=now))
    store.relink_records(conn, dict.fromkeys(records, restored))
    policy = _policy(conn)
    rebuild_golden(conn, keeper, now=now, policy=policy)
    rebuild_golden(conn, restored, now=now, policy=policy)
    events = relink_events(conn, {keeper})
    copied = split_consents(conn, keeper=keeper, restored=restored, since=merged["at"], now=now, actor=actor)
    returned = _restore_own_state(conn, keeper, moved=set(records), since=merged["at"], now=now)
    remaining = store.records_of(conn, keeper)
    store.decide(
        conn,
        [(a, b) for a in remaining for b in records],
        decision="no_match",
        origin="unmerge",
        actor=actor,
        note=note,
        now=now,
    )
    entry = store.add_history(
        conn,
        kind="unmerge",
        customer_id=keeper,
        other_id=restored,
        records=records,
        details={"undoes": history_id, "note": note, "consent_entries": len(copied) + returned, "events_moved": events},
        actor=actor,
        now=now,
    )
    store.mark_undone(conn, history_id, entry)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.unmerge",
        entity="customer",
        entity_id=restored,
        details={"from": keeper, "records": len(records), "history": entry, "undoes": history_id},
    )
    return Change(
        history_id=entry,
        kind="unmerge",
        customer_id=keeper,
        other_id=restored,
        records=records,
        consent_entries=len(copied) + returned,
        events_moved=events,
    )


def split(
    conn: Connection, customer_id: int, record_ids: Sequence[int], *, now: datetime, actor: str, note: str = ""
) -> Change:
    """These records are someone else: they become a new customer, and later runs keep them apart."""
    _active(conn, customer_id)
    holds = store.records_of(conn, customer_id)
    chosen = sorted(set(record_ids))
    strangers = [r for r in chosen if r not in set(holds)]
    if strangers:
        raise InputError(f"records {strangers} do not belong to customer {customer_id}")
    if not chosen or len(chosen) == len(holds):
        raise InputError("a split must leave at least one record with the customer and move at least one")
    policy = _policy(conn)
    created = new_customer(conn, chosen, now=now, policy=policy)
    rebuild_golden(conn, customer_id, now=now, policy=policy)
    events = relink_events(conn, {customer_id})
    copied = split_consents(
        conn,
        keeper=customer_id,
        restored=created,
        since=store.active_customer(conn, customer_id)["created_at"],
        now=now,
        actor=actor,
    )
    remaining = store.records_of(conn, customer_id)
    store.decide(
        conn,
        [(a, b) for a in remaining for b in chosen],
        decision="no_match",
        origin="split",
        actor=actor,
        note=note,
        now=now,
    )
    entry = store.add_history(
        conn,
        kind="split",
        customer_id=customer_id,
        other_id=created,
        records=chosen,
        details={"by": "person", "note": note, "consent_entries": len(copied), "events_moved": events},
        actor=actor,
        now=now,
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.split",
        entity="customer",
        entity_id=customer_id,
        details={"new_customer": created, "records": len(chosen), "history": entry},
    )
    return Change(
        history_id=entry,
        kind="split",
        customer_id=customer_id,
        other_id=created,
        records=chosen,
        consent_entries=len(copied),
        events_moved=events,
    )


def _restore_own_state(conn: Connection, keeper: int, *, moved: set[int], since: datetime, now: datetime) -> int:
    """After an unmerge the keeper's state returns to what its own history says: entries the merge wrote
    and statements of the records that left are set aside. Where its own history has no entry at all, the
    stricter state stays (the ledger cannot unsay a refusal; a new grant from the person reopens it)."""
    rows = history(conn, [keeper])

    def own(row: LedgerRow) -> bool:
        e = row.entry
        if e.source == "merge" and e.recorded_at >= since:
            return False
        return int(e.proof.get("source_record_id", -1)) not in moved

    mine = replay([r for r in rows if own(r)], now)
    now_state = replay(rows, now)
    entries = [
        ConsentEntry(
            customer_id=keeper,
            channel=channel,
            purpose=purpose,
            status=status,
            source="unmerge",
            recorded_at=now,
            proof={"kind": "unmerge", "restores": "own history"},
        )
        for (cid, channel, purpose), status in sorted(mine.items())
        if now_state.get((cid, channel, purpose)) != status
    ]
    append_entries(conn, entries)
    return len(entries)


def customer_of_record(conn: Connection, record_id: int) -> int | None:
    from epistola.store.schema import source_records

    value = conn.execute(select(source_records.c.customer_id).where(source_records.c.id == record_id)).scalar()
    return None if value is None else int(value)
