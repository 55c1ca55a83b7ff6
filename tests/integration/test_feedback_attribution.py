"""Conversions attributed to campaign steps for target and control alike, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from delivery_fixtures import seed_campaign
from sqlalchemy import Engine, insert, select, update

from epistola.app import Epistola
from epistola.feedback.attribution import attribute, attribution_table
from epistola.store.schema import (
    campaign_members,
    campaign_steps,
    campaigns,
    customers,
    events,
    messages,
)
from epistola.testing import FixedClock


def buy(engine: Engine, customer_id: int, at: datetime, amount: str, n: int, currency: str = "PLN") -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(events).values(
                event_uid=f"shop:{n}", customer_id=customer_id, type="purchase", occurred_at=at,
                amount=Decimal(amount), currency=currency, properties={}, received_at=at,
            )
        )  # fmt: skip


def test_conversions_are_attributed_to_steps_for_target_and_control(app: Epistola, clock: FixedClock) -> None:
    start = clock.now
    seeded = seed_campaign(app.engine, now=start, count=4, name="birthday")
    with app.engine.begin() as conn:
        target = list(conn.execute(select(messages.c.customer_id).order_by(messages.c.id)).scalars())
        control = list(
            conn.execute(
                insert(customers).returning(customers.c.id, sort_by_parameter_order=True),
                [{"attributes": {}, "created_at": start, "updated_at": start} for _ in range(4)],
            ).scalars()
        )
        conn.execute(
            insert(campaign_members),
            [{"campaign_id": seeded.campaign_id, "customer_id": c, "grp": "target"} for c in target]
            + [{"campaign_id": seeded.campaign_id, "customer_id": c, "grp": "control"} for c in control],
        )
        conn.execute(update(campaigns).values(started_at=start, response_window_days=14))
        conn.execute(update(messages).values(state="sent", sent_at=start + timedelta(minutes=5)))
        version = conn.execute(select(campaign_steps.c.template_version_id)).scalar_one()
        step2 = conn.execute(
            insert(campaign_steps).values(
                campaign_id=seeded.campaign_id, position=2, channel="email", template_version_id=version
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(messages),
            [
                {"step_id": step2, "customer_id": c, "channel": "email", "state": "sent", "recipient": f"{c}@x.test",
                 "next_attempt_at": start, "created_at": start, "updated_at": start,
                 "sent_at": start + timedelta(days=7)}
                for c in target
            ],
        )  # fmt: skip
    first = start + timedelta(minutes=5)
    buy(app.engine, target[0], first + timedelta(days=1), "100.00", 1)  # step 1
    buy(app.engine, target[0], first + timedelta(days=8), "50.00", 2)  # step 2 (after its start)
    buy(app.engine, target[1], first + timedelta(days=2), "20.00", 3, "EUR")  # step 1, another currency
    buy(app.engine, control[0], first + timedelta(days=3), "80.00", 4)  # control: same clock as the target
    buy(app.engine, control[1], first - timedelta(days=1), "10.00", 5)  # before the campaign: not attributed
    buy(app.engine, target[2], first + timedelta(days=30), "10.00", 6)  # after every window: not attributed
    clock.advance(days=40)
    with app.engine.begin() as conn:
        run = attribute(conn, now=clock.now, actor="test")
    assert run.attributed == 4 and run.by_group == {"target": 3, "control": 1}

    with app.engine.connect() as conn:
        step1, step2_line = attribution_table(conn, "birthday")
    assert (step1.target.members, step1.target.converters, step1.target.conversions) == (4, 2, 2)
    assert step1.target.revenue == {"EUR": Decimal("20.00"), "PLN": Decimal("100.00")}
    assert (step1.control.members, step1.control.converters) == (4, 1)
    assert step1.control.revenue == {"PLN": Decimal("80.00")}
    assert step1.lift == 1.0  # 50 % against 25 %
    assert step2_line.target.conversions == 1 and step2_line.control.conversions == 0

    buy(app.engine, control[2], first + timedelta(days=9), "5.00", 7)  # arrives late: the next run adds it
    with app.engine.begin() as conn:
        again = attribute(conn, now=clock.now, actor="test")
    assert again.attributed == 1 and again.by_group == {"control": 1}
