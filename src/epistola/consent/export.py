"""Access and portability (GDPR art. 15 and 20): everything the store holds about a person, as JSON.

The export follows the person, not one row: the customer, the customers merged into them, their source
records as each source gave them, lineage, the consent ledger with its proofs and the state in force,
preferences, events, messages with their opens and clicks, campaign memberships, suppressions of their
addresses, SMS confirmations, and every row of any other table keyed by customer (survey answers, the
inbox, scores, …), so a table added later is exported without anyone remembering to.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from epistola import audit
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.consent.ledger import history, standings
from epistola.consent.subjects import erased_at, identifiers, person_ids
from epistola.errors import NotFound
from epistola.store.schema import (
    campaign_members,
    campaign_steps,
    campaigns,
    customer_lineage,
    customer_preferences,
    customers,
    events,
    messages,
    metadata,
    sms_replies,
    source_records,
    sources,
    tracking_events,
)

FORMAT = "epistola.export/1"
_DONE = frozenset(
    {
        "customers",
        "customer_lineage",
        "source_records",
        "consents",
        "events",
        "messages",
        "customer_preferences",
        "campaign_members",
        "sms_replies",
        "erasures",
    }
)


def jsonable(value: Any) -> Any:
    """Plain JSON types: times in ISO 8601 UTC, amounts as strings (no float rounding), bytes as base64."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [jsonable(dict(r)) for r in conn.execute(query).mappings()]


def export_customer(
    conn: Connection,
    customer_id: int,
    *,
    keyring: Keyring,
    now: datetime,
    actor: str,
    origin: str | None = None,
) -> dict[str, Any]:
    """The whole export, audited (who asked, for whom, how many rows per section; not the content)."""
    ids = person_ids(conn, customer_id)
    root = ids[0]
    if erased_at(conn, root) is not None:
        raise NotFound(f"customer {root} was erased; nothing is kept to export")
    message_ids = list(conn.execute(select(messages.c.id).where(messages.c.customer_id.in_(ids))).scalars())
    found = identifiers(conn, ids)
    idents = [suppression.identifier("email", e) for e in sorted(found.emails)]
    idents += [suppression.identifier("phone", p) for p in sorted(found.phones)]
    suppressed = suppression.lookup(conn, keyring, idents)
    out: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": now.isoformat(),
        "customer": _rows(conn, select(customers).where(customers.c.id == root))[0],
        "merged_customers": _rows(conn, select(customers).where(customers.c.id.in_(ids[1:]))),
        "source_records": _rows(
            conn,
            select(
                sources.c.name.label("source"),
                source_records.c.source_key,
                source_records.c.data,
                source_records.c.normalized,
                source_records.c.first_seen_at,
                source_records.c.updated_at,
                source_records.c.missing_since,
            )
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(source_records.c.customer_id.in_(ids))
            .order_by(source_records.c.id),
        ),
        "lineage": _rows(conn, select(customer_lineage).where(customer_lineage.c.customer_id.in_(ids))),
        "consents": {
            "in_force": [
                {
                    "customer_id": cid,
                    "channel": ch,
                    "purpose": pu,
                    "status": s.status,
                    "expires_at": jsonable(s.expires_at),
                }
                for (cid, ch, pu), s in sorted(standings(conn, ids, now=now).items())
            ],
            "history": [jsonable({"id": r.id, **vars(r.entry)}) for r in history(conn, ids)],
        },
        "preferences": _rows(conn, select(customer_preferences).where(customer_preferences.c.customer_id.in_(ids))),
        "events": _rows(conn, select(events).where(events.c.customer_id.in_(ids)).order_by(events.c.occurred_at)),
        "messages": _messages(conn, message_ids),
        "tracking": _rows(
            conn,
            select(
                tracking_events.c.message_id,
                tracking_events.c.kind,
                tracking_events.c.machine,
                tracking_events.c.occurred_at,
            )
            .where(tracking_events.c.message_id.in_(message_ids))
            .order_by(tracking_events.c.occurred_at),
        ),
        "campaigns": _rows(
            conn,
            select(campaigns.c.name, campaign_members.c.grp, campaign_members.c.variant)
            .join(campaigns, campaigns.c.id == campaign_members.c.campaign_id)
            .where(campaign_members.c.customer_id.in_(ids)),
        ),
        "suppressions": [
            {
                "identifier": ident.partition(":")[0],
                "scope": s.scope,
                "reason": s.reason,
                "since": s.created_at.isoformat(),
            }
            for ident, rows in sorted(suppressed.items())
            for s in rows
        ],
        "sms_confirmations": _rows(
            conn,
            select(
                sms_replies.c.keyword,
                sms_replies.c.language,
                sms_replies.c.body,
                sms_replies.c.state,
                sms_replies.c.created_at,
                sms_replies.c.sent_at,
            ).where(sms_replies.c.customer_id.in_(ids)),
        ),
        "other": {},
    }
    for table in metadata.sorted_tables:
        if table.name in _DONE or "customer_id" not in table.c:
            continue
        rows = _rows(conn, select(table).where(table.c.customer_id.in_(ids)))
        if rows:
            out["other"][table.name] = rows
    counts = {k: len(v) for k, v in out.items() if isinstance(v, list)}
    counts["consents"] = len(out["consents"]["history"])
    counts.update({f"other.{k}": len(v) for k, v in out["other"].items()})
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="customer.export",
        entity="customer",
        entity_id=root,
        details={"customers": ids, "rows": counts},
        origin=origin,
    )
    return out


def _messages(conn: Connection, message_ids: list[int]) -> list[dict[str, Any]]:
    return _rows(
        conn,
        select(
            messages.c.id,
            campaigns.c.name.label("campaign"),
            messages.c.channel,
            messages.c.state,
            messages.c.recipient,
            messages.c.created_at,
            messages.c.sent_at,
        )
        .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
        .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
        .where(messages.c.id.in_(message_ids))
        .order_by(messages.c.id),
    )
