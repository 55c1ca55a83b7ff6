"""Inbound SMS, whichever way it arrives (the HTTP webhook, an SMPP deliver_sm): keywords go to the
consent package, every other reply becomes an event.

`handle_sms` is the one entry point: the consent package applies STOP / START / HELP (and their Russian
and Polish forms) with its confirmations; a reply that is no keyword is stored as an ``sms.reply`` event
for each customer with that number (or once, unlinked, when nobody has it yet), with the message it
most likely answers — the last SMS Epistola sent to that number — so campaigns can count replies.
Idempotent by the provider's id of the inbound message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from epistola.consent import suppression
from epistola.consent.gate import erased_among
from epistola.consent.keys import Keyring
from epistola.consent.sms_keywords import Handled, Inbound, handle_inbound
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import customers, events, messages

REPLY_EVENT = "sms.reply"
MAX_TEXT = 1600  # ten concatenated parts


def _people(conn: Connection, phone: str) -> list[int]:
    ids = [
        int(i)
        for i in conn.execute(
            select(customers.c.id).where(customers.c.phone == phone, customers.c.merged_into.is_(None))
        ).scalars()
    ]
    erased = erased_among(conn, ids)
    return [i for i in ids if i not in erased]


def _answered(conn: Connection, phone: str, received: datetime) -> int | None:
    return conn.execute(
        select(messages.c.id)
        .where(messages.c.channel == "sms", messages.c.recipient == phone, messages.c.sent_at <= received)
        .order_by(messages.c.sent_at.desc(), messages.c.id.desc())
        .limit(1)
    ).scalar()


def handle_sms(conn: Connection, keyring: Keyring, message: Inbound, *, now: datetime) -> Handled:
    """Apply a keyword, or keep the reply as an event; in the caller's transaction."""
    handled = handle_inbound(conn, keyring, message, now=now)
    if handled.keyword is not None:
        return handled
    phone = suppression.identifier("phone", message.sender).partition(":")[2]
    people = _people(conn, phone)
    in_reply_to = _answered(conn, phone, now)
    base = f"sms:{message.inbound_key}"[:90]
    rows = [
        {
            "event_uid": f"{base}:{customer_id}" if customer_id is not None else base,
            "customer_id": customer_id,
            "type": REPLY_EVENT,
            "occurred_at": now,
            "amount": None,
            "currency": None,
            "category": "sms",
            "properties": {
                "text": message.text[:MAX_TEXT],
                "in_reply_to": in_reply_to,
                "_ident": {"phone": phone},
            },
            "received_at": now,
        }
        for customer_id in (list[int | None](people) or [None])
    ]
    inserted = insert_ignoring_conflicts(conn, events, rows, ["event_uid"])
    return Handled(keyword=None, duplicate=inserted == 0, customers=tuple(people))
