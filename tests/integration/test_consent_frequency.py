"""The frequency customers choose in the preference centre, honoured at send time on both engines: a message
beyond it is suppressed with the reason, never silently dropped, and only marketing counts."""

from __future__ import annotations

from datetime import timedelta

from consent_fixtures import add_customers, claimed, grant, queue_campaign
from sqlalchemy import insert, update

from epistola.app import Epistola, email_composer
from epistola.campaigns.compose import EmailComposer
from epistola.delivery import outbox
from epistola.delivery.ports import Envelope, Skip
from epistola.store.schema import customer_preferences, messages


def composer(app: Epistola) -> EmailComposer:
    return email_composer(app)


def test_a_weekly_customer_gets_one_marketing_message_a_week(app: Epistola) -> None:
    now = app.clock()
    with app.engine.begin() as conn:
        weekly, monthly, anything = add_customers(
            conn, [{"email": f"{n}@example.com", "country": "PL"} for n in ("weekly", "monthly", "any")], now
        )
        grant(
            conn,
            [weekly, monthly, anything],
            channel="email",
            purposes=("marketing", "service"),
            at=now - timedelta(days=60),
            source="test",
        )
        conn.execute(
            insert(customer_preferences),
            [
                {"customer_id": weekly, "topics": [], "frequency": "weekly", "updated_at": now},
                {"customer_id": monthly, "topics": [], "frequency": "monthly", "updated_at": now},
                {"customer_id": anything, "topics": [], "frequency": "any", "updated_at": now},
            ],
        )
        earlier = queue_campaign(conn, [monthly], now)  # the monthly customer had one 8 days ago
        conn.execute(
            update(messages)
            .where(messages.c.id == earlier.message_ids[monthly])
            .values(state="sent", sent_at=now - timedelta(days=8))
        )
        everyone = [weekly, monthly, anything]
        first, second = queue_campaign(conn, everyone, now), queue_campaign(conn, everyone, now)
        service = queue_campaign(conn, everyone, now, purpose="service")
        batch = claimed(conn, first) + claimed(conn, second) + claimed(conn, service)
        owner = {mid: cid for q in (first, second, service) for cid, mid in q.message_ids.items()}

    results = {r.message_id: r for r in composer(app).compose(batch)}

    went = sorted((owner[m], m in service.message_ids.values()) for m, r in results.items() if isinstance(r, Envelope))
    assert went == sorted(
        [(weekly, False), (anything, False), (anything, False), (weekly, True), (monthly, True), (anything, True)]
    ), "one marketing message for the weekly customer, none for the monthly one, service for all"
    skips = {owner[r.message_id]: r.reason for r in results.values() if isinstance(r, Skip)}
    assert skips == {
        weekly: "frequency preference weekly: a marketing message went out within 7 days",
        monthly: "frequency preference monthly: a marketing message went out within 30 days",
    }
    assert isinstance(results[first.message_ids[weekly]], Envelope), "the earlier message goes"

    # the worker records the refusal on the message, with its reason
    with app.engine.begin() as conn:
        ids = [m.id for m in batch]
        conn.execute(update(messages).where(messages.c.id.in_(ids)).values(state="rendering", lease_owner="w"))
        refused = [r for r in results.values() if isinstance(r, Skip)]
        assert outbox.mark_suppressed(conn, worker_id="w", skips=refused, now=now) == 3
        row = conn.execute(messages.select().where(messages.c.id == second.message_ids[weekly])).mappings().one()
    assert (row["state"], row["error"]) == ("suppressed", skips[weekly])

    # a week later there is room again
    app.clock.advance(days=7, seconds=1)  # type: ignore[attr-defined]
    with app.engine.begin() as conn:
        conn.execute(
            update(messages).where(messages.c.id == first.message_ids[weekly]).values(state="sent", sent_at=now)
        )
        later = queue_campaign(conn, [weekly], app.clock())
        batch = claimed(conn, later)
    (result,) = composer(app).compose(batch)
    assert isinstance(result, Envelope)
