"""What the e-mail composer does for feedback: a personal page per recipient where the step wants one, and no
marketing to a domain whose complaint rate paused it."""

from __future__ import annotations

from datetime import timedelta

from delivery_fixtures import seed_campaign
from feedback_fixtures import LIFE_CHANGES
from sqlalchemy import select, update

from epistola.app import Epistola
from epistola.campaigns.compose import EmailComposer
from epistola.consent.ledger import ConsentEntry, append_entries
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.feedback.survey_store import attach_survey, save_survey
from epistola.feedback.surveys import parse_survey
from epistola.store.schema import campaign_steps, domain_pauses, messages, template_versions, tracking_links

BODY = "Hello!\n\n[Tell us what changed]({{ links.purl }})"


def test_recipients_get_a_personal_page_and_paused_domains_get_nothing(app: Epistola) -> None:
    now = app.clock()
    recipients = ["anna@example.org", "bob@complained.example"]
    seeded = seed_campaign(app.engine, now=now, count=2, recipient=lambda i: recipients[i])
    with app.engine.begin() as conn:
        version = conn.execute(
            select(campaign_steps.c.template_version_id).where(campaign_steps.c.id == seeded.step_id)
        ).scalar_one()
        conn.execute(update(template_versions).where(template_versions.c.id == version).values(body=BODY))
        customers = dict(conn.execute(select(messages.c.id, messages.c.customer_id)).all())
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=c,
                    channel="email",
                    purpose="marketing",
                    status="granted",
                    source="test",
                    recorded_at=now - timedelta(days=1),
                )
                for c in customers.values()
            ],
        )
        save_survey(conn, parse_survey(LIFE_CHANGES), now=now, actor="test")
        attach_survey(conn, campaign="autumn", position=1, survey="life-changes", now=now, actor="test")
        conn.execute(
            domain_pauses.insert().values(
                domain="complained.example",
                channel="email",
                reason="complaint rate 0.50 %",
                complaints=5,
                sent=1000,
                paused_at=now,
            )
        )
    batch = [
        ClaimedMessage(
            id=m,
            step_id=seeded.step_id,
            campaign_id=seeded.campaign_id,
            customer_id=customers[m],
            channel="email",
            recipient=r,
            attempts=1,
        )
        for m, r in zip(seeded.message_ids, seeded.recipients, strict=True)
    ]
    composer = EmailComposer(
        app.engine, clock=app.clock, sender="News <news@epistola.example>", base_url="https://x.example"
    )
    anna, bob = composer.compose(batch)
    assert isinstance(anna, Envelope)
    assert isinstance(bob, Skip) and "marketing to complained.example is paused" in bob.reason
    with app.engine.connect() as conn:
        links = conn.execute(
            select(tracking_links.c.kind, tracking_links.c.url, tracking_links.c.token).where(
                tracking_links.c.message_id == anna.message_id
            )
        ).all()
    (purl,) = [link for link in links if link.kind == "purl"]
    (click,) = [link for link in links if link.kind == "click"]
    assert click.url == f"https://x.example/p/{purl.token}", "the message links (tracked) to the customer's own page"
