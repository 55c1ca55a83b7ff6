"""Personal URLs: one unguessable landing-page address per message, minted when the message is composed.

A PURL token lives next to the click and open tokens (`tracking_links`, kind ``purl``), is just as
random (144 bits) and is looked up the same way: a malformed token costs the same query as an unknown
one, so neither status nor timing tells them apart. The token stands for one message, hence one
customer and one campaign step; the page shows that step's survey, if one is attached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from epistola.feedback.tracking import is_well_formed, never_minted, new_token
from epistola.store.schema import (
    campaign_steps,
    customers,
    messages,
    step_surveys,
    template_versions,
    tracking_events,
    tracking_links,
)

KIND = "purl"


def purl_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/p/{token}"


def mint_purl_tokens(conn: Connection, message_ids: Iterable[int], now: datetime) -> dict[int, str]:
    """One PURL token per message, in one INSERT; returns {message_id: token}."""
    minted = {message_id: new_token() for message_id in dict.fromkeys(message_ids)}
    if minted:
        conn.execute(
            tracking_links.insert(),
            [
                {"token": token, "message_id": message_id, "kind": KIND, "url": None, "created_at": now}
                for message_id, token in minted.items()
            ],
        )
    return minted


@dataclass(frozen=True, kw_only=True)
class Purl:
    """Who a PURL belongs to: enough to greet the customer and find the survey, nothing more."""

    link_id: int
    message_id: int
    customer_id: int
    step_id: int
    campaign_id: int
    locale: str
    first_name: str | None


def resolve_purl(conn: Connection, token: str) -> Purl | None:
    """The PURL behind `token`, or None for anything that is not one (same query either way).

    A customer merged into another since the message was sent is followed to the surviving record, so
    answers land on the golden record that segments see.
    """
    probe = token if is_well_formed(token) else never_minted()
    row = (
        conn.execute(
            select(
                tracking_links.c.id,
                tracking_links.c.message_id,
                messages.c.customer_id,
                messages.c.step_id,
                campaign_steps.c.campaign_id,
                customers.c.merged_into,
            )
            .join(messages, messages.c.id == tracking_links.c.message_id)
            .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
            .join(customers, customers.c.id == messages.c.customer_id)
            .where(tracking_links.c.token == probe, tracking_links.c.kind == KIND)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    customer_id = int(row["customer_id"])
    merged_into = row["merged_into"]
    for _ in range(10):  # merge chains are short; the bound only guards against a cycle
        if merged_into is None:
            break
        customer_id = int(merged_into)
        merged_into = conn.execute(select(customers.c.merged_into).where(customers.c.id == customer_id)).scalar()
    person = conn.execute(select(customers.c.locale, customers.c.first_name).where(customers.c.id == customer_id)).one()
    return Purl(
        link_id=int(row["id"]),
        message_id=int(row["message_id"]),
        customer_id=customer_id,
        step_id=int(row["step_id"]),
        campaign_id=int(row["campaign_id"]),
        locale=person.locale or "en",
        first_name=person.first_name,
    )


def record_visit(conn: Connection, purl: Purl, *, machine: bool, now: datetime) -> None:
    """A PURL visit is engagement like a click; link scanners' visits are kept but flagged `machine`."""
    conn.execute(
        tracking_events.insert().values(
            message_id=purl.message_id, link_id=purl.link_id, kind="visit", machine=machine, occurred_at=now
        )
    )


def wants_purl(conn: Connection, step_id: int) -> bool:
    """Whether a step's messages get a personal page: its design links to one, or a survey is attached."""
    if conn.execute(select(step_surveys.c.step_id).where(step_surveys.c.step_id == step_id)).first() is not None:
        return True
    row = conn.execute(
        select(template_versions.c.body, template_versions.c.definition)
        .join(campaign_steps, campaign_steps.c.template_version_id == template_versions.c.id)
        .where(campaign_steps.c.id == step_id)
    ).first()
    return row is not None and "links.purl" in f"{row.body} {row.definition}"
