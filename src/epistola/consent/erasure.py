"""Erasure (GDPR art. 17): remove a person's data from every table, keep only the keyed suppression hash.

What happens, in the caller's transaction, so it is all or nothing:

* every e-mail address and phone number of the person is suppressed on all channels (``legal``), as a
  keyed hash: the address can never be contacted again, and is not kept; so are the keys of their source
  records, so that an import meeting any of these again skips the record (`epistola.hub.ingest`);
* the customer rows (the person and every customer merged into them) keep their ids, so campaign
  figures stay whole, but every personal column is emptied;
* source records and lineage are deleted; events stay as anonymous figures (no customer, no
  properties); messages lose their recipient and any error quoting it; tracking links lose their URL;
* consent proofs lose IP address and user agent, and a final withdrawal is appended for every channel;
* preferences, survey answers and every other row keyed by the customer in a table this module does not
  know are deleted; import rejects, unmatched events, delivery reports and audit rows that mention the
  person are scrubbed (the audit chain stays verifiable, see `epistola.audit.redact`);
* an ``erasures`` row and an audit row record who did it and how many rows changed — no personal data.

With ``verify=True`` every text and JSON column of every table is then scanned for the person's e-mail
addresses and phone numbers, and the erasure is refused (rolled back by the caller) if any remain. Names
and streets are scrubbed where they are mentioned but not verified: other customers share them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, String, Table, Text, delete, insert, select, update

from epistola import audit
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.consent.ledger import append_entries, scrub_proofs, standings
from epistola.consent.model import ConsentEntry
from epistola.consent.subjects import Identifiers, erased_at, identifiers, person_ids
from epistola.errors import Conflict, Problem
from epistola.store.schema import (
    audit_log,
    customer_lineage,
    customer_preferences,
    customers,
    erasures,
    events,
    import_rejects,
    messages,
    metadata,
    segments,
    sms_replies,
    source_records,
    sources,
    tracking_links,
)

#: Tables keyed by customer that keep their rows: they hold ids and figures only (campaign results).
KEEP_ROWS = frozenset({"campaign_members", "snapshot_members", "attributions", "erasures"})
#: Tables this module handles one by one below.
HANDLED = frozenset(
    {
        "customers",
        "customer_lineage",
        "source_records",
        "consents",
        "events",
        "messages",
        "customer_preferences",
        "sms_replies",
    }
)
_KEEP_COLUMNS = frozenset({"id", "merged_into", "created_at", "updated_at"})
_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class ErasureReport:
    customer_id: int
    customers: tuple[int, ...]
    erased_at: datetime
    suppressed: int
    record_keys: int = 0  # source record keys kept as keyed hashes, so re-imports skip the person
    changed: dict[str, int] = field(default_factory=dict)  # table -> rows deleted or scrubbed


def _in(column: Any, ids: Sequence[int]) -> Iterator[Any]:
    for start in range(0, len(ids), _CHUNK):
        yield column.in_(list(ids[start : start + _CHUNK]))


def _scan_rows(
    conn: Connection, table: Table, found: Identifiers, where: Any = None, only: Sequence[str] = ()
) -> Iterator[tuple[Any, str]]:
    """(primary key, column) of rows (matching `where`) whose text or JSON columns (or just `only`) mention
    the person."""
    columns = [
        c
        for c in table.columns
        if (isinstance(c.type, String | Text | JSON) or "JSON" in type(c.type).__name__)
        and (not only or c.name in only)
    ]
    key = [c for c in table.primary_key.columns] or list(table.columns)[:1]
    if not columns:
        return
    last: Any = None
    single = len(key) == 1
    query = select(*key, *columns).order_by(*key)
    if where is not None:
        query = query.where(where)
    offset = 0
    while True:
        if single and last is not None:
            rows = conn.execute(query.where(key[0] > last).limit(2000)).all()
        else:
            rows = conn.execute(query.offset(offset).limit(2000)).all()
        if not rows:
            return
        for row in rows:
            for i, column in enumerate(columns):
                if found.mentioned_in(row[len(key) + i]):
                    yield (row[0] if single else tuple(row[: len(key)])), column.name
        last = rows[-1][0]
        offset += len(rows)


def scan(conn: Connection, found: Identifiers) -> list[tuple[str, Any, str]]:
    """Every (table, row key, column) in the whole store that mentions the person."""
    hits: list[tuple[str, Any, str]] = []
    for table in metadata.sorted_tables:
        hits.extend((table.name, key, column) for key, column in _scan_rows(conn, table, found))
    return hits


def _customer_columns() -> dict[str, Any]:
    """Every personal column of `customers` emptied: NULL where allowed, a neutral value otherwise."""
    values: dict[str, Any] = {}
    for column in customers.columns:
        if column.name in _KEEP_COLUMNS:
            continue
        if column.nullable:
            values[column.name] = None
        elif column.name == "attributes":
            values[column.name] = {}
        elif column.name == "locale":
            values[column.name] = "en"
    return values


def _scrub_mentions(
    conn: Connection, table: Table, found: Identifiers, values: dict[str, Any], where: Any = None
) -> int:
    """Set `values` on rows of `table` that mention the person (optionally only rows matching `where`)."""
    key = next(iter(table.primary_key.columns))
    ids = sorted({row_key for row_key, _column in _scan_rows(conn, table, found, where)})
    changed = 0
    for clause in _in(key, ids):
        changed += conn.execute(update(table).where(clause).values(**values)).rowcount
    return changed


def _replace_mentions(value: Any, found: Identifiers) -> Any:
    """The JSON value with every string that names the person replaced by ``(erased)``."""
    if isinstance(value, str):
        return "(erased)" if found.mentioned_in(value) else value
    if isinstance(value, list):
        return [_replace_mentions(v, found) for v in value]
    if isinstance(value, dict):
        return {k: _replace_mentions(v, found) for k, v in value.items()}
    return value


def erase_customer(
    conn: Connection,
    customer_id: int,
    *,
    keyring: Keyring,
    now: datetime,
    actor: str,
    origin: str | None = None,
    verify: bool = False,
) -> ErasureReport:
    """Erase the person `customer_id` stands for (see the module docstring). Raises Conflict if already
    erased or when `verify` still finds them (naming table, column and row, never the value), NotFound if
    unknown."""
    ids = person_ids(conn, customer_id)
    root = ids[0]
    when = erased_at(conn, root)
    if when is not None:
        raise Conflict(f"customer {root} was already erased on {when:%Y-%m-%d %H:%M} UTC")
    found = identifiers(conn, ids)
    changed: dict[str, int] = {}

    def count(table: str, n: int) -> None:
        if n:
            changed[table] = changed.get(table, 0) + int(n)

    idents = [suppression.identifier("email", e) for e in sorted(found.emails)]
    idents += [suppression.identifier("phone", p) for p in sorted(found.phones)]

    def suppress(identifiers: list[str]) -> int:
        return suppression.add(
            conn,
            keyring,
            identifiers,
            scope="all",
            reason="legal",
            source=suppression.ERASURE,
            now=now,
            actor=actor,
            origin=origin,
        )

    suppressed = suppress(idents)
    # The keys of the person's source records too, so that re-importing a file still holding them skips
    # them rather than bringing the person back (see `epistola.hub.ingest`).
    record_keys = [
        suppression.record_identifier(name, key)
        for clause in _in(source_records.c.customer_id, ids)
        for name, key in conn.execute(
            select(sources.c.name, source_records.c.source_key)
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(clause)
        )
    ]
    keys_kept = suppress(record_keys)

    message_ids = [
        int(m) for c in _in(messages.c.customer_id, ids) for m in conn.execute(select(messages.c.id).where(c)).scalars()
    ]
    record_ids = [
        int(r)
        for c in _in(source_records.c.customer_id, ids)
        for r in conn.execute(select(source_records.c.id).where(c)).scalars()
    ]

    # Rows in tables this module does not know, keyed by the customer (survey answers, scores, inbox):
    # deleted, children first.
    for table in reversed(metadata.sorted_tables):
        if table.name in HANDLED or table.name in KEEP_ROWS or "customer_id" not in table.c:
            continue
        for clause in _in(table.c.customer_id, ids):
            count(table.name, conn.execute(delete(table).where(clause)).rowcount)
    # Rows that point at the source records about to go (other than lineage): deleted as well.
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is source_records and table is not customer_lineage:
                for clause in _in(fk.parent, record_ids):
                    count(table.name, conn.execute(delete(table).where(clause)).rowcount)

    for clause in _in(customer_lineage.c.customer_id, ids):
        count("customer_lineage", conn.execute(delete(customer_lineage).where(clause)).rowcount)
    for clause in _in(source_records.c.id, record_ids):
        count("source_records", conn.execute(delete(source_records).where(clause)).rowcount)
    for clause in _in(customer_preferences.c.customer_id, ids):
        count("customer_preferences", conn.execute(delete(customer_preferences).where(clause)).rowcount)
    for clause in _in(customers.c.id, ids):
        count(
            "customers",
            conn.execute(update(customers).where(clause).values(**_customer_columns(), updated_at=now)).rowcount,
        )

    for clause in _in(events.c.customer_id, ids):
        count("events", conn.execute(update(events).where(clause).values(customer_id=None, properties={})).rowcount)
    count("events", _scrub_mentions(conn, events, found, {"properties": {}}, events.c.customer_id.is_(None)))
    for clause in _in(messages.c.id, message_ids):
        count("messages", conn.execute(update(messages).where(clause).values(recipient=None)).rowcount)
    for clause in _in(messages.c.id, message_ids):
        count("messages", _scrub_mentions(conn, messages, found, {"error": None}, clause))
    for clause in _in(tracking_links.c.message_id, message_ids):
        count("tracking_links", conn.execute(update(tracking_links).where(clause).values(url=None)).rowcount)
    for clause in _in(sms_replies.c.customer_id, ids):
        count("sms_replies", conn.execute(update(sms_replies).where(clause).values(recipient=None)).rowcount)
    if found.phones:
        stmt = update(sms_replies).where(sms_replies.c.recipient.in_(sorted(found.phones))).values(recipient=None)
        count("sms_replies", conn.execute(stmt).rowcount)
    count("import_rejects", _scrub_mentions(conn, import_rejects, found, {"raw": "", "reason": "erased on request"}))
    reports = metadata.tables.get("feedback_reports")
    if reports is not None:
        for clause in _in(reports.c.message_id, message_ids):
            stmt = update(reports).where(clause).values(address="(erased)", diagnostic=None)
            count("feedback_reports", conn.execute(stmt).rowcount)
        count("feedback_reports", _scrub_mentions(conn, reports, found, {"address": "(erased)", "diagnostic": None}))

    # A segment that names the person literally ({field: email, eq: ...}) now matches nobody, as it should.
    for (segment_id,) in {(k,) for k, _ in _scan_rows(conn, segments, found)}:
        definition = conn.execute(select(segments.c.definition).where(segments.c.id == segment_id)).scalar_one()
        conn.execute(
            update(segments)
            .where(segments.c.id == segment_id)
            .values(definition=_replace_mentions(definition, found), updated_at=now)
        )
        count("segments", 1)
    count("consents", scrub_proofs(conn, ids))
    final = [
        ConsentEntry(
            customer_id=cid,
            channel=channel,
            purpose=purpose,
            status="withdrawn",
            source="erasure",
            recorded_at=now,
            proof={"kind": "erasure"},
        )
        for (cid, channel, purpose), standing in sorted(standings(conn, ids, now=now).items())
        if standing.status != "withdrawn"
    ]
    append_entries(conn, final)
    count("consents", len(final))

    mentioned = [int(k) for k, _ in _scan_rows(conn, audit_log, found, only=("details", "origin"))]
    redacted = audit.redact(conn, mentioned, by=f"erasure of customer {root}")
    count("audit_log", len(redacted))

    if verify:  # names and streets were scrubbed above; other customers may share them, so only check these
        left = scan(conn, found.unique_only())
        if left:
            raise Conflict(
                f"customer {root} is still mentioned in {len(left)} place(s); nothing was erased",
                hint="Teach epistola.consent.erasure about these tables, then erase again.",
                problems=[Problem(message=f"row {key}", field=f"{table}.{column}") for table, key, column in left],
            )

    summary = {"customers": ids, "suppressed": suppressed, "record_keys": keys_kept, "changed": changed}
    conn.execute(insert(erasures).values(customer_id=root, actor=actor[:100], erased_at=now, summary=summary))
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="customer.erase",
        entity="customer",
        entity_id=root,
        details={**summary, audit.REDACTION_LIST: redacted},
        origin=origin,
    )
    return ErasureReport(
        customer_id=root,
        customers=tuple(ids),
        erased_at=now,
        suppressed=suppressed,
        record_keys=keys_kept,
        changed=dict(changed),
    )
