"""Helpers for the privacy tests: customers, a queued e-mail campaign, and its rows as a worker claims them.

Rows go straight into the tables (the campaign service has its own tests) so each example of a
property-based test costs a few inserts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.consent.ledger import append_entries, current_state
from epistola.consent.model import ConsentEntry
from epistola.delivery.ports import ClaimedMessage
from epistola.store.schema import (
    campaign_steps,
    campaigns,
    customers,
    messages,
    segments,
    template_versions,
    templates,
)

if TYPE_CHECKING:
    from epistola.app import Epistola

_names = itertools.count(1)


def add_customers(conn: Connection, people: Sequence[dict[str, Any]], now: datetime) -> list[int]:
    """Insert customers (each a dict of columns); returns their ids in order."""
    columns = {k for p in people for k in p}
    rows = [
        {"locale": "en", "attributes": {}, "created_at": now, "updated_at": now, **dict.fromkeys(columns), **p}
        for p in people
    ]
    stmt = insert(customers).returning(customers.c.id, sort_by_parameter_order=True)
    return [int(i) for i in conn.execute(stmt, rows).scalars()]


@dataclass(frozen=True, kw_only=True)
class Queued:
    campaign_id: int
    step_id: int
    message_ids: dict[int, int]  # customer id -> message id


def queue_campaign(
    conn: Connection, customer_ids: Sequence[int], now: datetime, *, purpose: str = "marketing", body: str = "Hello"
) -> Queued:
    """A running campaign with one e-mail step and one queued message per customer."""
    n = next(_names)
    segment_id = conn.execute(
        insert(segments).values(name=f"privacy-{n}", definition={"all": []}, created_at=now, updated_at=now)
    ).inserted_primary_key[0]
    template_id = conn.execute(insert(templates).values(name=f"privacy-{n}", created_at=now)).inserted_primary_key[0]
    version_id = conn.execute(
        insert(template_versions).values(
            template_id=template_id, version=1, status="approved", subject="News", body=body, created_at=now
        )
    ).inserted_primary_key[0]
    campaign_id = conn.execute(
        insert(campaigns).values(name=f"privacy-{n}", status="running", segment_id=segment_id, created_at=now)
    ).inserted_primary_key[0]
    step_id = conn.execute(
        insert(campaign_steps).values(
            campaign_id=campaign_id, position=1, channel="email", purpose=purpose, template_version_id=version_id
        )
    ).inserted_primary_key[0]
    emails = dict(conn.execute(select(customers.c.id, customers.c.email).where(customers.c.id.in_(customer_ids))).all())
    ids: dict[int, int] = {}
    for cid in customer_ids:
        ids[cid] = conn.execute(
            insert(messages).values(
                step_id=step_id,
                customer_id=cid,
                channel="email",
                state="queued",
                recipient=emails.get(cid),
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
    return Queued(campaign_id=campaign_id, step_id=step_id, message_ids=ids)


def claimed(conn: Connection, queued: Queued) -> list[ClaimedMessage]:
    """The campaign's rows as the worker hands them to a composer."""
    rows = conn.execute(
        select(messages.c.id, messages.c.customer_id, messages.c.recipient)
        .where(messages.c.step_id == queued.step_id)
        .order_by(messages.c.id)
    ).all()
    return [
        ClaimedMessage(
            id=r.id,
            step_id=queued.step_id,
            campaign_id=queued.campaign_id,
            customer_id=r.customer_id,
            channel="email",
            recipient=r.recipient,
            attempts=1,
        )
        for r in rows
    ]


def grant(
    conn: Connection,
    ids: Sequence[int],
    *,
    channel: str,
    at: datetime,
    purposes: Sequence[str] = ("marketing",),
    source: str = "crm",
) -> None:
    """Each customer granted `channel` for each purpose at `at`."""
    append_entries(
        conn,
        [
            ConsentEntry(customer_id=cid, channel=channel, purpose=p, status="granted", source=source, recorded_at=at)
            for cid in ids
            for p in purposes
        ],
    )


def sms_customer(app: Epistola, phone: str, locale: str) -> int:
    """A customer with a phone who agreed to SMS marketing three days ago."""
    now = app.clock()
    with app.engine.begin() as conn:
        (cid,) = add_customers(conn, [{"phone": phone, "locale": locale}], now)
        grant(conn, [cid], channel="sms", at=now - timedelta(days=3))
    return cid


def sms_state(app: Epistola, cid: int) -> str | None:
    """The customer's SMS marketing consent now."""
    with app.engine.connect() as conn:
        return current_state(conn, [cid], channel="sms", purpose="marketing", now=app.clock()).get(cid)


def phone_suppressions(app: Epistola, phone: str) -> list[str]:
    """`scope:reason` of every suppression of the number."""
    with app.engine.connect() as conn:
        found = suppression.lookup(conn, Keyring.from_settings(app.settings), [suppression.identifier("phone", phone)])
    return sorted(f"{s.scope}:{s.reason}" for rows in found.values() for s in rows)
