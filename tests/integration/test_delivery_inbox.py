"""The in-app inbox end to end: the worker delivers into it, the portal API lists, reads and removes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from delivery_fixtures import seed_campaign, states
from sqlalchemy import func, select

from epistola import accounts
from epistola.app import Epistola
from epistola.delivery import Worker
from epistola.delivery.inbox import InboxChannel
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.errors import PermanentDeliveryError
from epistola.store.schema import audit_log, inbox_items
from epistola.testing.web import api_client


class InboxComposer:
    def compose(self, batch: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        return [
            Envelope(
                message_id=m.id,
                sender="epistola",
                recipient=str(m.customer_id),
                data=json.dumps(
                    {"customer_id": m.customer_id, "subject": f"Offer {m.id}", "text": "Hi", "html": "<p>Hi</p>"}
                ).encode(),
            )
            for m in batch
        ]


def key(app: Epistola, name: str, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=name, role=role, now=app.clock())}"}


def test_worker_delivers_to_the_inbox_once_and_the_portal_reads_it(app: Epistola) -> None:
    seeded = seed_campaign(app.engine, now=app.clock(), count=5, channel="inbox")
    channel = InboxChannel(app.engine, clock=app.clock)
    worker = Worker(app.engine, InboxComposer(), {"inbox": channel}, clock=app.clock, handle_signals=False)

    asyncio.run(worker.run(until_idle=True))
    first = InboxComposer().compose([_claimed(seeded.message_ids[0])])[0]
    assert isinstance(first, Envelope)
    again = asyncio.run(channel.send(first))  # a second hand-over of the same message changes nothing

    assert set(states(app.engine, seeded.step_id).values()) == {"sent"}
    with app.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox_items)).scalar_one() == 5
        customer = conn.execute(
            select(inbox_items.c.customer_id).where(inbox_items.c.message_id == seeded.message_ids[0])
        ).scalar_one()
    assert again.startswith("inbox-")

    client = api_client(app)
    reader, portal = key(app, "viewer", "viewer"), key(app, "portal", "analyst")
    page = client.get(f"/api/v1/customers/{customer}/inbox", headers=reader).json()
    assert page["unread"] == 1 and [i["subject"] for i in page["items"]] == [f"Offer {seeded.message_ids[0]}"]
    item = page["items"][0]["id"]

    assert client.post(f"/api/v1/customers/{customer}/inbox/{item}/read", headers=reader).status_code == 403
    read = client.post(f"/api/v1/customers/{customer}/inbox/{item}/read", headers=portal).json()
    assert read["read_at"] is not None
    assert client.get(f"/api/v1/customers/{customer}/inbox?unread=true", headers=reader).json()["items"] == []

    other = customer + 1
    assert client.get(f"/api/v1/customers/{other}/inbox/{item}", headers=reader).status_code == 404  # not theirs
    assert client.delete(f"/api/v1/customers/{customer}/inbox/{item}", headers=portal).status_code == 204
    assert client.get(f"/api/v1/customers/{customer}/inbox", headers=reader).json()["items"] == []
    with app.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.entity == "inbox_item")).scalars().all()
    assert actions == ["inbox.remove"]


def _claimed(message_id: int) -> ClaimedMessage:
    return ClaimedMessage(
        id=message_id, step_id=1, campaign_id=1, customer_id=1, channel="inbox", recipient=None, attempts=1
    )


def test_content_that_is_not_for_the_inbox_fails_for_good(app: Epistola) -> None:
    channel = InboxChannel(app.engine, clock=app.clock)
    for data in (b"not json", b"[1]", b'{"subject": "no customer"}'):
        with pytest.raises(PermanentDeliveryError):
            asyncio.run(channel.send(Envelope(message_id=1, sender="epistola", recipient="1", data=data)))
