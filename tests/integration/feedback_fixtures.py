"""Helpers for feedback tests: a sent message with a personal page and the Life Changes Assessment on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from delivery_fixtures import seed_campaign
from sqlalchemy import Engine, select, update

from epistola.feedback.purls import mint_purl_tokens
from epistola.feedback.survey_store import attach_survey, save_survey
from epistola.feedback.surveys import parse_survey
from epistola.store.schema import campaign_steps, customers, events, messages, template_versions

LIFE_CHANGES = yaml.safe_load(
    resources.files("epistola.feedback").joinpath("examples/life-changes.yaml").read_text(encoding="utf-8")
)


BODY = "{{ greeting }}\n\n# Happy birthday!\n\nA birthday is a good moment to check your cover."


@dataclass(frozen=True, kw_only=True)
class SeededPage:
    token: str
    message_id: int
    customer_id: int
    campaign: str


def seed_page(
    engine: Engine,
    *,
    now: datetime,
    locale: str = "en",
    first_name: str | None = "Anna",
    survey: dict[str, Any] | None = None,
    name: str = "birthday",
    web: bool = True,
) -> SeededPage:
    """One sent message to one customer, a PURL for it, and a survey attached to its step.

    The step's design has a web rendition (its page holds the survey) unless `web` is false.
    """
    seeded = seed_campaign(engine, now=now, count=1, name=name)
    (message_id,) = seeded.message_ids
    with engine.begin() as conn:
        design = {"subject": "Happy birthday", "body": BODY, "channels": ["email", "web"] if web else ["email"]}
        version_id = conn.execute(
            select(campaign_steps.c.template_version_id).where(campaign_steps.c.id == seeded.step_id)
        ).scalar_one()
        conn.execute(
            update(template_versions).where(template_versions.c.id == version_id).values(body=BODY, definition=design)
        )
        conn.execute(update(messages).values(state="sent", sent_at=now).where(messages.c.id == message_id))
        customer_id = int(conn.execute(select(messages.c.customer_id).where(messages.c.id == message_id)).scalar_one())
        conn.execute(
            update(customers).values(locale=locale, first_name=first_name).where(customers.c.id == customer_id)
        )
        if survey is not False:
            save_survey(conn, parse_survey(survey or LIFE_CHANGES), now=now, actor="test")
            attach_survey(
                conn, campaign=name, position=1, survey=(survey or LIFE_CHANGES)["name"], now=now, actor="test"
            )
        token = mint_purl_tokens(conn, [message_id], now)[message_id]
    return SeededPage(token=token, message_id=message_id, customer_id=customer_id, campaign=name)


def attributes(engine: Engine, customer_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(customers.c.attributes).where(customers.c.id == customer_id)).scalar_one())


def event_rows(engine: Engine, customer_id: int, etype: str | None = None) -> list[dict[str, Any]]:
    query = select(events).where(events.c.customer_id == customer_id).order_by(events.c.id)
    if etype:
        query = query.where(events.c.type == etype)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
