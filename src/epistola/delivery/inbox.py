"""The in-app inbox: messages kept for the customer portal, which reads them through the API.

Delivering is an insert keyed by the outbox message, so delivering the same message twice (a retry
after an uncertain commit) leaves one item. The portal lists, reads and removes items; removal only
hides an item (`deleted_at`), because what was sent to whom stays part of the record.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from epistola.clock import Clock, utcnow
from epistola.delivery.ports import Envelope
from epistola.errors import NotFound, PermanentDeliveryError
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import inbox_items


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    id: int
    message_id: int
    customer_id: int
    subject: str
    body_text: str
    body_html: str | None
    created_at: datetime
    read_at: datetime | None


def _item(row: Any) -> InboxItem:
    return InboxItem(**{k: row[k] for k in InboxItem.__dataclass_fields__})


def deliver(conn: Connection, *, message_id: int, content: dict[str, Any], now: datetime) -> int:
    """Store one message for its customer (once, whatever happens); returns the item id."""
    try:
        customer_id = int(content["customer_id"])
    except (KeyError, TypeError, ValueError):
        raise PermanentDeliveryError(f"message {message_id}: inbox content names no customer_id") from None
    row = {
        "message_id": message_id,
        "customer_id": customer_id,
        "subject": str(content.get("subject") or ""),
        "body_text": str(content.get("text") or ""),
        "body_html": content.get("html"),
        "created_at": now,
    }
    insert_ignoring_conflicts(conn, inbox_items, [row], ["message_id"])
    return int(conn.execute(select(inbox_items.c.id).where(inbox_items.c.message_id == message_id)).scalar_one())


def list_items(
    conn: Connection, customer_id: int, *, unread_only: bool = False, before: int | None = None, limit: int = 50
) -> list[InboxItem]:
    """Newest first, without removed items; `before` (an item id) pages back."""
    query = select(inbox_items).where(inbox_items.c.customer_id == customer_id, inbox_items.c.deleted_at.is_(None))
    if unread_only:
        query = query.where(inbox_items.c.read_at.is_(None))
    if before is not None:
        query = query.where(inbox_items.c.id < before)
    rows = conn.execute(query.order_by(inbox_items.c.id.desc()).limit(limit)).mappings()
    return [_item(r) for r in rows]


def get_item(conn: Connection, customer_id: int, item_id: int) -> InboxItem:
    row = (
        conn.execute(
            select(inbox_items).where(
                inbox_items.c.id == item_id,
                inbox_items.c.customer_id == customer_id,
                inbox_items.c.deleted_at.is_(None),
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"customer {customer_id} has no inbox item {item_id}")
    return _item(row)


def mark_read(conn: Connection, customer_id: int, item_id: int, *, now: datetime) -> InboxItem:
    """Idempotent: the first read time is kept."""
    item = get_item(conn, customer_id, item_id)
    if item.read_at is None:
        conn.execute(update(inbox_items).where(inbox_items.c.id == item_id).values(read_at=now))
    return get_item(conn, customer_id, item_id)


def remove(conn: Connection, customer_id: int, item_id: int, *, now: datetime) -> None:
    get_item(conn, customer_id, item_id)
    conn.execute(update(inbox_items).where(inbox_items.c.id == item_id).values(deleted_at=now))


def unread_count(conn: Connection, customer_id: int) -> int:
    from sqlalchemy import func

    query = select(func.count()).where(
        inbox_items.c.customer_id == customer_id,
        inbox_items.c.read_at.is_(None),
        inbox_items.c.deleted_at.is_(None),
    )
    return int(conn.execute(query).scalar_one())


class InboxChannel:
    """`Channel` that stores each envelope (JSON: customer_id, subject, text, html) in the inbox table."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    async def send(self, envelope: Envelope) -> str:
        try:
            content = json.loads(envelope.data)
        except ValueError:
            raise PermanentDeliveryError(f"message {envelope.message_id}: inbox content is not JSON") from None
        if not isinstance(content, dict):
            raise PermanentDeliveryError(f"message {envelope.message_id}: inbox content is not a JSON object")

        def store() -> int:
            with self.engine.begin() as conn:
                return deliver(conn, message_id=envelope.message_id, content=content, now=self.clock())

        return f"inbox-{await asyncio.to_thread(store)}"

    async def close(self) -> None:
        return None
