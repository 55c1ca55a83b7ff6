"""Helpers for delivery tests: a queued campaign inserted straight into the tables, and a plain composer.

Rows are inserted directly (not through the campaign service) so these tests exercise only delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import Engine, insert, select

from epistola.delivery import ClaimedMessage, Envelope, Skip
from epistola.store.schema import (
    campaign_steps,
    campaigns,
    customers,
    messages,
    segments,
    template_versions,
    templates,
)

SENDER = "bounces@epistola.test"


def address(i: int) -> str:
    return f"customer{i:05d}@example.test"


@dataclass(frozen=True, kw_only=True)
class SeededCampaign:
    campaign_id: int
    step_id: int
    message_ids: tuple[int, ...]
    recipients: tuple[str, ...]  # in message id order


def seed_campaign(
    engine: Engine,
    *,
    now: datetime,
    count: int,
    name: str = "autumn",
    status: str = "running",
    recipient: Callable[[int], str | None] = address,
    channel: str = "email",
) -> SeededCampaign:
    """A segment, a template version, a campaign with one step, `count` customers and their queued rows."""
    with engine.begin() as conn:
        segment_id = conn.execute(
            insert(segments).values(name=f"{name}-segment", definition={"all": []}, created_at=now, updated_at=now)
        ).inserted_primary_key[0]
        template_id = conn.execute(
            insert(templates).values(name=f"{name}-template", created_at=now)
        ).inserted_primary_key[0]
        version_id = conn.execute(
            insert(template_versions).values(
                template_id=template_id,
                version=1,
                status="approved",
                subject="Hello",
                body="Hello",
                created_at=now,
            )
        ).inserted_primary_key[0]
        campaign_id = conn.execute(
            insert(campaigns).values(name=name, status=status, segment_id=segment_id, created_at=now)
        ).inserted_primary_key[0]
        step_id = conn.execute(
            insert(campaign_steps).values(
                campaign_id=campaign_id, position=1, channel=channel, template_version_id=version_id
            )
        ).inserted_primary_key[0]
        addresses = [recipient(i) for i in range(count)]
        if not addresses:
            return SeededCampaign(campaign_id=campaign_id, step_id=step_id, message_ids=(), recipients=())
        customer_ids = (
            conn.execute(
                insert(customers).returning(customers.c.id, sort_by_parameter_order=True),
                [
                    {"email": a, "locale": "en", "attributes": {}, "created_at": now, "updated_at": now}
                    for a in addresses
                ],
            )
            .scalars()
            .all()
        )
        conn.execute(
            insert(messages),
            [
                {
                    "step_id": step_id,
                    "customer_id": cid,
                    "channel": channel,
                    "state": "queued",
                    "recipient": a,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for cid, a in zip(customer_ids, addresses, strict=True)
            ],
        )
        rows = conn.execute(
            select(messages.c.id, messages.c.recipient).where(messages.c.step_id == step_id).order_by(messages.c.id)
        ).all()
    return SeededCampaign(
        campaign_id=campaign_id,
        step_id=step_id,
        message_ids=tuple(r.id for r in rows),
        recipients=tuple(r.recipient for r in rows),
    )


def states(engine: Engine, step_id: int | None = None) -> dict[int, str]:
    """message id -> state."""
    query = select(messages.c.id, messages.c.state).order_by(messages.c.id)
    if step_id is not None:
        query = query.where(messages.c.step_id == step_id)
    with engine.connect() as conn:
        return {row.id: row.state for row in conn.execute(query)}


def rows(engine: Engine, *ids: int) -> dict[int, dict[str, object]]:
    query = select(messages).order_by(messages.c.id)
    if ids:
        query = query.where(messages.c.id.in_(ids))
    with engine.connect() as conn:
        return {row["id"]: dict(row) for row in conn.execute(query).mappings()}


def campaign_status(engine: Engine, campaign_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(campaigns.c.status).where(campaigns.c.id == campaign_id)).scalar_one())


class TextComposer:
    """A plain-text e-mail per row; skips the recipients (or message ids) it is told to, with a reason.

    `fail` maps a message id to an exception to raise when that message is in the batch.
    """

    def __init__(
        self,
        *,
        skip: Collection[str] = (),
        fail: dict[int, Exception] | None = None,
        on_compose: Callable[[Sequence[ClaimedMessage]], None] | None = None,
    ) -> None:
        self.skip = set(skip)
        self.fail = dict(fail or {})
        self.on_compose = on_compose
        self.calls = 0

    def compose(self, batch: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        self.calls += 1
        if self.on_compose is not None:
            self.on_compose(batch)
        for message in batch:
            if message.id in self.fail:
                raise self.fail[message.id]
        out: list[Envelope | Skip] = []
        for message in batch:
            if message.recipient is None or message.recipient in self.skip:
                out.append(Skip(message_id=message.id, reason="no consent for e-mail marketing"))
                continue
            out.append(
                Envelope(
                    message_id=message.id,
                    sender=SENDER,
                    recipient=message.recipient,
                    data=mime(message),
                )
            )
        return out


def mime(message: ClaimedMessage) -> bytes:
    email = EmailMessage(policy=SMTP)
    email["From"] = f"Epistola <{SENDER}>"
    email["To"] = message.recipient or ""
    email["Subject"] = f"Campaign {message.campaign_id}"
    email["Message-ID"] = f"<m{message.id}.c{message.customer_id}@epistola.test>"
    email.set_content(f"Hello customer {message.customer_id}, this is message {message.id}.\n")
    return email.as_bytes()
