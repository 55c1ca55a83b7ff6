"""Importing events (purchases, web and app activity, location signals): idempotent by event id, tied
to customers through any identifier a source knows them by.

An event whose customer is not known yet keeps the identifier it came with (``properties._ident``);
`link_events` attaches it once identity resolution has made the customer. Each event source is a
source like any other (kind ``events``): its imports, rejects and mapping are recorded the same way.

When the store holds erasures, an event nobody can be tied to whose identifier (source key, e-mail)
belongs to an erased person is not stored at all, and neither is a rejected row naming them: both count
as ``skipped: erased subject`` (`epistola.hub.erased`), so no erased identifier is written again.

Files go through `epistola.hub.events_bulk` (DuckDB reads and transforms, the store receives whole
batches) when the file allows it; otherwise, and for batches sent to the API, each row goes through
`event_row` here. A test holds both paths to the same results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, select, update

from epistola import audit
from epistola.clock import Clock
from epistola.consent.keys import Keyring
from epistola.errors import Problem
from epistola.hub import store
from epistola.hub.erased import SKIPPED_ERASED, ErasedCheck
from epistola.hub.mapping import EventMapping
from epistola.hub.normalize import CastError, cast
from epistola.hub.readers import Rejected, Row, check_source, close_rows, count_rows, lookup, read_rows
from epistola.identity.store import owners_of_keys
from epistola.store import wrap_db_errors
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import customers, events, source_records, sources


@dataclass(kw_only=True)
class EventImportReport:
    source: str
    file: str
    import_id: int = 0
    seen: int = 0
    inserted: int = 0
    duplicates: int = 0
    linked: int = 0
    unlinked: int = 0
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> events (or rejects) not stored at all
    problems: list[Problem] = field(default_factory=list)
    path: str = "rows"  # "bulk" when DuckDB read the file

    def stats(self) -> dict[str, Any]:
        keys = ("seen", "inserted", "duplicates", "linked", "unlinked", "rejected", "skipped")
        return {k: getattr(self, k) for k in keys} | {"new": self.inserted, "path": self.path}


_CHUNK = 500  # identifiers per IN (...) when resolving one batch


class CustomerIndex:
    """Identifier -> customer id, loaded once per import (source keys and e-mails).

    A file import loads every identifier once; a batch sent to the API uses `for_identifiers`, which
    looks up only the batch's own identifiers (one query per kind, chunked) and knows nothing else.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._by_source: dict[str, dict[str, int]] = {}
        self._by_email: dict[str, int] | None = None
        self._scoped = False

    @classmethod
    def for_identifiers(cls, conn: Connection, idents: Iterable[dict[str, str]]) -> CustomerIndex:
        """An index of just these identifiers (as `event_ident` gives them), same answers as the full one."""
        index = cls(conn)
        index._scoped = True
        keys: dict[str, set[str]] = {}
        emails: set[str] = set()
        for ident in idents:
            if "source" in ident and ident.get("key"):
                keys.setdefault(ident["source"], set()).add(ident["key"])
            if ident.get("email"):
                emails.add(ident["email"].strip().lower())
        owners = owners_of_keys(conn, [(source, key) for source, wanted in keys.items() for key in sorted(wanted)])
        for source in keys:
            index._by_source[source] = {}
        for (source, key), customer in owners.items():
            index._by_source[source][key] = customer
        index._by_email = {}
        ordered = sorted(emails)
        for start in range(0, len(ordered), _CHUNK):
            rows = conn.execute(
                select(customers.c.email, customers.c.id)
                .where(
                    customers.c.email.in_(ordered[start : start + _CHUNK]),
                    customers.c.merged_into.is_(None),
                )
                .order_by(customers.c.id)
            )
            index._by_email.update((e, int(i)) for e, i in rows)
        return index

    def by_source(self, source: str, key: str) -> int | None:
        return self.source_keys(source).get(key)

    def source_keys(self, source: str) -> dict[str, int]:
        if source not in self._by_source and self._scoped:
            return {}
        if source not in self._by_source:
            rows = self._conn.execute(
                select(source_records.c.source_key, source_records.c.customer_id)
                .join(sources, sources.c.id == source_records.c.source_id)
                .where(sources.c.name == source, source_records.c.customer_id.is_not(None))
            )
            self._by_source[source] = {k: int(c) for k, c in rows}
        return self._by_source[source]

    def emails(self) -> dict[str, int]:
        if self._by_email is None:
            rows = self._conn.execute(
                select(customers.c.email, customers.c.id).where(
                    customers.c.email.is_not(None), customers.c.merged_into.is_(None)
                )
            )
            self._by_email = {e: int(i) for e, i in rows}
        return self._by_email

    def by_email(self, email: str) -> int | None:
        return self.emails().get(email.strip().lower())

    def resolve(self, ident: dict[str, str]) -> int | None:
        if "source" in ident and ident.get("key"):
            found = self.by_source(ident["source"], ident["key"])
            if found is not None:
                return found
        if ident.get("email"):
            return self.by_email(ident["email"])
        return None


class EventImport:
    """One import of one event source: register it, insert batches idempotently, finish it."""

    def __init__(
        self,
        mapping: EventMapping,
        *,
        origin: str,
        now: datetime,
        keyring: Keyring | None = None,
        problem_limit: int = 50,
    ) -> None:
        self.mapping = mapping
        self.keyring = keyring
        self.erased: ErasedCheck | None = None  # set by `open` when the store holds erasures
        self.problem_limit = problem_limit
        self.origin = origin
        self.now = now
        self.report = EventImportReport(source=mapping.source, file=origin)
        self.rejects: list[dict[str, Any]] = []

    def open(self, conn: Connection) -> None:
        source_id = store.ensure_source(
            conn,
            name=self.mapping.source,
            kind="events",
            description=self.mapping.description,
            trust=0,
            mapping=self.mapping.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            now=self.now,
        )
        self.report.import_id = store.start_import(
            conn, source_id=source_id, file=self.origin, now=self.now, interrupt=self.origin != "api"
        )
        self.erased = ErasedCheck.open(conn, self.keyring)  # fails closed without the key

    def reject(self, row: int, reason: str, field_name: str | None, raw: str = "") -> None:
        """Note a rejected row; `flush_rejects` counts and stores it with the next batch."""
        self.rejects.append({"row": row, "field": field_name, "reason": reason, "raw": raw[:2000]})

    def skip(self, n: int) -> None:
        """`n` events or rejected rows of erased people: counted, nothing of them stored."""
        if n:
            self.report.skipped[SKIPPED_ERASED] = self.report.skipped.get(SKIPPED_ERASED, 0) + n

    def drop_erased(self, conn: Connection, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch without the unlinked events whose identifier belongs to an erased person."""
        if self.erased is None:
            return batch
        theirs = self.erased.unlinked_events(conn, batch)
        if not theirs:
            return batch
        self.skip(len(theirs))
        self.report.unlinked -= len(theirs)
        return [e for n, e in enumerate(batch) if n not in theirs]

    def insert(self, conn: Connection, batch: list[dict[str, Any]]) -> None:
        """Insert one batch (existing event ids are skipped) with the rejects met since the last one."""
        batch = self.drop_erased(conn, batch)
        inserted = insert_ignoring_conflicts(conn, events, batch, ["event_uid"])
        self.report.inserted += inserted
        self.report.duplicates += len(batch) - inserted
        self.flush_rejects(conn)

    def flush_rejects(self, conn: Connection) -> None:
        """Count and store the rejects met so far, but those naming an erased person only as skipped."""
        rejects, self.rejects = self.rejects, []
        if self.erased is not None:
            sources = [self.mapping.identity["source"]] if "source" in self.mapping.identity else []
            rejects, theirs = self.erased.keep_rejects(conn, rejects, key_sources=sources)
            self.skip(theirs)
        store.settle_rejects(conn, self.report, rejects, origin=self.origin, problem_limit=self.problem_limit)

    def close(self, conn: Connection, *, status: str, now: datetime, actor: str, origin: str | None = None) -> None:
        self.flush_rejects(conn)
        store.finish_import(conn, self.report.import_id, status=status, stats=self.report.stats(), now=now)
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="import",
            entity="events",
            entity_id=self.mapping.source,
            details={"import_id": self.report.import_id, "status": status, "file": Path(self.origin).name}
            | self.report.stats(),
            origin=origin,
        )


def import_events(
    engine: Engine,
    path: Path,
    mapping: EventMapping,
    *,
    clock: Clock,
    batch_size: int = 5_000,
    progress: Callable[[int, int], None] | None = None,
    actor: str = "system",
    bulk: bool | None = None,
    keyring: Keyring | None = None,
) -> EventImportReport:
    """Import an event file; each batch commits on its own, so a re-run after a crash skips what is in.

    `bulk` chooses the DuckDB path (None: whenever the file allows it). `keyring` recognises erased
    people, whose unlinked events are not stored; without it, an import into a store with erasures is
    refused.
    """
    from epistola.hub import events_bulk

    check_source(path, mapping.format, _required(mapping))  # fails fast on a wrong header or encoding
    job = EventImport(mapping, origin=str(path), now=clock(), keyring=keyring)
    with wrap_db_errors(f"importing events from {path.name}"), engine.begin() as conn:
        job.open(conn)
    status = "failed"
    try:
        if bulk is not False and events_bulk.supported(path, mapping):
            job.report.path = "bulk"
            events_bulk.load(engine, path, mapping, job, progress=progress)
        else:
            rows = read_rows(path, mapping.format, _required(mapping))
            try:
                _load_rows(engine, path, rows, mapping, job, batch_size, progress)
            finally:
                close_rows(rows)
        status = "done"
    finally:
        with wrap_db_errors(f"importing events from {path.name}"), engine.begin() as conn:
            job.close(conn, status=status, now=clock(), actor=actor)
    return job.report


def _required(mapping: EventMapping) -> set[str]:
    return {mapping.key, *(c for c in (mapping.amount, mapping.currency, mapping.category) if c)}


def _load_rows(
    engine: Engine,
    path: Path,
    rows: Iterable[Row | Rejected],
    mapping: EventMapping,
    job: EventImport,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    expected = count_rows(path) if mapping.format.type == "jsonl" else max(count_rows(path) - 1, 0)
    batch: list[dict[str, Any]] = []
    with wrap_db_errors(f"importing events from {path.name}"), engine.connect() as conn:
        index = CustomerIndex(conn)

        def flush() -> None:  # each batch commits on its own: atomic, and a re-run skips what is in
            job.insert(conn, batch)
            conn.commit()
            batch.clear()
            if progress:
                progress(job.report.seen + job.report.rejected, expected)

        for item in rows:
            if isinstance(item, Rejected):
                job.reject(item.number, item.reason, item.field, item.raw)
                continue
            _take(job, item, index, batch)
            if len(batch) >= batch_size:
                flush()
        flush()


def _take(job: EventImport, item: Row, index: CustomerIndex, batch: list[dict[str, Any]]) -> None:
    try:
        event = event_row(item.values, job.mapping, index, job.now)
    except CastError as exc:
        job.reject(item.number, str(exc), getattr(exc, "field", None), json.dumps(item.values, default=str))
        return
    job.report.seen += 1
    if event["customer_id"] is None:
        job.report.unlinked += 1
    else:
        job.report.linked += 1
    batch.append(event)


def import_event_batch(
    conn: Connection,
    mapping: EventMapping,
    records: list[Any],
    *,
    now: datetime,
    actor: str,
    origin: str | None = None,
    keyring: Keyring | None = None,
) -> EventImportReport:
    """Events sent to the API, in the caller's transaction: stored together, or not at all.

    Rejects name the event's position in the batch (1-based); an event id already stored is a
    duplicate, not an error, so a client may safely send a batch again. Unlinked events of erased
    people are skipped (`keyring` recognises them).
    """
    job = EventImport(mapping, origin="api", now=now, keyring=keyring, problem_limit=len(records))
    job.open(conn)
    index = CustomerIndex.for_identifiers(conn, (event_ident(r, mapping) for r in records if isinstance(r, dict)))
    batch: list[dict[str, Any]] = []
    for number, record in enumerate(records, start=1):
        if isinstance(record, dict):
            _take(job, Row(number=number, values=record), index, batch)
        else:
            job.reject(number, "expected a JSON object", None, json.dumps(record)[:2000])
    job.insert(conn, batch)
    job.close(conn, status="done", now=now, actor=actor, origin=origin)
    return job.report


_CURRENCY = re.compile(r"[A-Z]{3}")


class _FieldError(CastError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def event_row(values: dict[str, Any], mapping: EventMapping, index: CustomerIndex, now: datetime) -> dict[str, Any]:
    """One event as stored, from one source row; raises `CastError` (with `.field`) for a bad row."""
    key = lookup(values, mapping.key)
    if key is None or not str(key).strip():
        raise _FieldError(mapping.key, "the event has no id")
    try:
        occurred = cast(
            lookup(values, mapping.occurred_at.from_ or ""),
            mapping.occurred_at.model_copy(update={"type": "datetime"}),
        )
    except CastError as exc:
        raise _FieldError(mapping.occurred_at.from_ or "occurred_at", str(exc)) from None
    etype = mapping.type or str(lookup(values, mapping.type_from or "") or "").strip()
    if not etype:
        raise _FieldError(mapping.type_from or "type", "the event has no type")
    amount = None
    if mapping.amount and str(lookup(values, mapping.amount) or "").strip():
        try:
            amount = Decimal(str(lookup(values, mapping.amount)).strip().replace(",", "."))
        except InvalidOperation:
            raise _FieldError(mapping.amount, f"{lookup(values, mapping.amount)!r} is not an amount") from None
        if not amount.is_finite():
            raise _FieldError(mapping.amount, f"{lookup(values, mapping.amount)!r} is not an amount")
    uid = f"{mapping.source}:{str(key).strip()}"
    if len(uid) > 100:
        raise _FieldError(mapping.key, "the event id is too long")
    if len(etype) > 50:
        raise _FieldError(mapping.type_from or "type", "the type is longer than 50")
    currency = (str(lookup(values, mapping.currency) or "").strip().upper() or None) if mapping.currency else None
    if currency is not None and not _CURRENCY.fullmatch(currency):
        raise _FieldError(mapping.currency or "currency", "not a three-letter currency code")
    category = (str(lookup(values, mapping.category) or "").strip() or None) if mapping.category else None
    if category is not None and len(category) > 100:
        raise _FieldError(mapping.category or "category", "the category is longer than 100")
    ident = event_ident(values, mapping)
    properties = {p: lookup(values, p) for p in mapping.properties if lookup(values, p) not in (None, "")}
    properties["_ident"] = ident
    return {
        "event_uid": uid,
        "customer_id": index.resolve(ident),
        "type": etype,
        "occurred_at": occurred,
        "amount": amount,
        "currency": currency,
        "category": category,
        "properties": properties,
        "received_at": now,
    }


def event_ident(values: dict[str, Any], mapping: EventMapping) -> dict[str, str]:
    """The identifiers an event names its customer by: ``{source, key}`` and/or ``{email}``."""
    ident: dict[str, str] = {}
    if "source" in mapping.identity:
        ref = lookup(values, mapping.identity["key"])
        if ref:
            ident = {"source": mapping.identity["source"], "key": str(ref).strip()}
    if "email" in mapping.identity and lookup(values, mapping.identity["email"]):
        ident["email"] = str(lookup(values, mapping.identity["email"])).strip().lower()
    return ident


def link_events(conn: Connection) -> int:
    """Attach events imported before their customer existed; returns how many were linked."""
    index = CustomerIndex(conn)
    pending = conn.execute(select(events.c.id, events.c.properties).where(events.c.customer_id.is_(None)))
    found = []
    for event_id, props in pending:
        customer_id = index.resolve((props or {}).get("_ident") or {})
        if customer_id is not None:
            found.append({"b_id": event_id, "b_customer": customer_id})
    if found:
        conn.execute(
            update(events)
            .where(and_(events.c.id == bindparam("b_id"), events.c.customer_id.is_(None)))
            .values(customer_id=bindparam("b_customer")),
            found,
        )
    return len(found)
