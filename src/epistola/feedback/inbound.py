"""Inbound SMS, whichever way it arrives (the HTTP webhook, an SMPP deliver_sm): keywords go to the
consent package, every other reply becomes an event.

`handle_sms` is the one entry point: the consent package applies STOP / START / HELP (and their Russian
and Polish forms) with its confirmations; a reply that is no keyword is stored as an ``sms.reply`` event
for each customer with that number (or once, unlinked, when nobody has it yet), with the message it
most likely answers — the last SMS Epistola sent to that number — so campaigns can count replies.
Idempotent by the provider's id of the inbound message.

`SmppInbound` is the SMPP channel's `on_inbound`. SMPP gives an inbound message no id, and the SMSC
delivers it again whenever it missed our answer, so its key is a keyed hash of the PDU's content
(sender, our number, coding, the bytes) and the time window it arrived in; a message whose key from the
window before was already handled is that one again. So the same text from the same number within
`WINDOW` (30 to 60 minutes) counts once — except that a keyword after the customer's opposite keyword
(STOP, START, STOP) is always news: its key names the keyword reply it follows.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from epistola.clock import Clock, utcnow
from epistola.consent import suppression
from epistola.consent.gate import erased_among
from epistola.consent.keys import Keyring
from epistola.consent.sms_keywords import Handled, Inbound, handle_inbound
from epistola.delivery.sms import MobileOriginated
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import customers, events, messages, sms_replies

REPLY_EVENT = "sms.reply"
MAX_TEXT = 1600  # ten concatenated parts
WINDOW = timedelta(minutes=30)


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
    base = _event_base(message.inbound_key)
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


def _event_base(inbound_key: str) -> str:
    return f"sms:{inbound_key}"[:90]


def _handled(conn: Connection, inbound_key: str, sender: str) -> bool:
    """Whether `handle_sms` has seen this key: as a keyword's reply, or as a reply event."""
    if conn.execute(select(sms_replies.c.id).where(sms_replies.c.inbound_key == inbound_key[:200])).first():
        return True
    base = _event_base(inbound_key)
    phone = suppression.identifier("phone", sender).partition(":")[2]
    uids = [base, *(f"{base}:{cid}" for cid in _people(conn, phone))]
    return conn.execute(select(events.c.id).where(events.c.event_uid.in_(uids))).first() is not None


def _after_opposite(conn: Connection, key: str) -> str:
    """`key`, or when the keyword handled under it was followed by a different keyword from the same
    customer, the key of this message as the answer to the latest of those (so STOP, START, STOP counts
    three times, and a redelivery of the last STOP still once)."""
    window_key = key
    for _ in range(20):
        row = conn.execute(
            select(sms_replies.c.id, sms_replies.c.customer_id, sms_replies.c.keyword).where(
                sms_replies.c.inbound_key == key[:200]
            )
        ).first()
        if row is None or row.customer_id is None:
            return key
        later = conn.execute(
            select(sms_replies.c.id)
            .where(
                sms_replies.c.customer_id == row.customer_id,
                sms_replies.c.id > row.id,
                sms_replies.c.keyword != row.keyword,
                sms_replies.c.keyword.in_(("stop", "start")),
            )
            .order_by(sms_replies.c.id)
            .limit(1)
        ).scalar()
        if later is None:
            return key
        key = f"{window_key}:{later}"
    return key


class SmppInbound:
    """`on_inbound` for `SmppChannel`: each text a customer sends over SMPP goes to `handle_sms`, in a
    thread, one transaction per message; an error reaches the channel, which asks for a redelivery."""

    def __init__(self, engine: Engine, keyring: Keyring, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock
        self.handled = 0
        self.duplicates = 0

    async def __call__(self, message: MobileOriginated) -> None:
        handled = await asyncio.to_thread(self._write, message)
        if handled.duplicate:
            self.duplicates += 1
        else:
            self.handled += 1

    def key(self, message: MobileOriginated, now: datetime) -> tuple[str, str]:
        """(this window's key, the previous window's key) for `message` received at `now`."""
        secret = self.keyring.key("sms-inbound") or b""
        digest = hmac.new(secret, message.fingerprint, "sha256").hexdigest()[:32]
        window = int(now.timestamp() // WINDOW.total_seconds())
        return f"smpp:{digest}:{window}", f"smpp:{digest}:{window - 1}"

    def _write(self, message: MobileOriginated) -> Handled:
        now = self.clock()
        key, earlier = self.key(message, now)
        with self.engine.begin() as conn:
            if _handled(conn, earlier, message.sender):
                key = earlier  # the SMSC's redelivery of a message handled in the previous window
            key = _after_opposite(conn, key)
            inbound = Inbound(inbound_key=key, sender=message.sender, text=message.text)
            return handle_sms(conn, self.keyring, inbound, now=now)
