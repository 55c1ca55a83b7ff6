"""The customer portal's inbox API: list, read and remove the in-app messages of one customer.

Called by the portal's backend with an API key. Reading needs the read permission; marking read
and removing change the record, so they need manage_data, and removal is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from epistola.accounts import ApiKey, Permission
from epistola.delivery import inbox
from epistola.web.deps import ConnDep, ReaderKey, audited, get_app, require

router = APIRouter(prefix="/api/v1/customers/{customer_id}/inbox", tags=["inbox"])
DataKey = Annotated[ApiKey, require(Permission.MANAGE_DATA)]


class InboxItemOut(BaseModel):
    id: int
    subject: str
    text: str
    html: str | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, item: inbox.InboxItem) -> InboxItemOut:
        return cls(
            id=item.id,
            subject=item.subject,
            text=item.body_text,
            html=item.body_html,
            created_at=item.created_at,
            read_at=item.read_at,
        )


class InboxPage(BaseModel):
    unread: int
    items: list[InboxItemOut]
    next_before: int | None


@router.get("", summary="A customer's inbox, newest first (page back with `before`)")
def list_inbox(
    customer_id: int,
    conn: ConnDep,
    key: ReaderKey,
    unread: bool = Query(False, description="Only items not read yet."),
    before: int | None = Query(None, ge=1, description="Only items older than this item id."),
    limit: int = Query(50, ge=1, le=200),
) -> InboxPage:
    items = inbox.list_items(conn, customer_id, unread_only=unread, before=before, limit=limit)
    return InboxPage(
        unread=inbox.unread_count(conn, customer_id),
        items=[InboxItemOut.of(i) for i in items],
        next_before=items[-1].id if len(items) == limit else None,
    )


@router.get("/{item_id}", summary="One inbox item")
def get_inbox_item(customer_id: int, item_id: int, conn: ConnDep, key: ReaderKey) -> InboxItemOut:
    return InboxItemOut.of(inbox.get_item(conn, customer_id, item_id))


@router.post("/{item_id}/read", summary="Mark an item read (the first time counts)")
def read_inbox_item(customer_id: int, item_id: int, conn: ConnDep, key: DataKey, request: Request) -> InboxItemOut:
    return InboxItemOut.of(inbox.mark_read(conn, customer_id, item_id, now=get_app(request).clock()))


@router.delete("/{item_id}", status_code=204, summary="Remove an item from the customer's inbox")
def remove_inbox_item(customer_id: int, item_id: int, conn: ConnDep, key: DataKey, request: Request) -> None:
    inbox.remove(conn, customer_id, item_id, now=get_app(request).clock())
    audited(conn, key, "inbox.remove", "inbox_item", item_id, {"customer_id": customer_id}, request)
