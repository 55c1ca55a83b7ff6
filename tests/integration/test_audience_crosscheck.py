"""The two compilers agree: the mart (DuckDB) and the operational store (SQLite / PostgreSQL) select
exactly the same members, on generated data with planted edge cases (nulls, time zones on both sides of
the date line, 29 February, window boundaries, future events, expired consent, unlinked events), after a
full build and again after an incremental refresh that saw updates, a merge and new events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select, update

from epistola.app import Epistola
from epistola.audience.duck import DuckCompiler
from epistola.audience.language import parse_definition
from epistola.audience.mart import Mart
from epistola.audience.sql import SqlCompiler
from epistola.hub.pipeline import import_dataset
from epistola.store.schema import consents, customers, events, model_scores
from epistola.synth import generate
from epistola.testing import FixedClock

BUSINESS = {"type": "purchase", "category": "business_clothes", "within_days": 180}
DEFINITIONS: list[dict[str, Any]] = [
    {"field": "gender", "eq": "m"},
    {"not": {"field": "gender", "eq": "m"}},
    {"field": "gender", "ne": "f"},
    {"field": "country", "not_in": ["PL"]},
    {"field": "city", "gte": "M"},
    {"field": "region", "exists": False},
    {"field": "age", "gte": 30},
    {"field": "age", "gt": 29.5},
    {"field": "age", "lt": 40},
    {"field": "age", "lte": 25},
    {"not": {"field": "age", "eq": 35}},
    {"field": "age", "exists": True},
    {"field": "birth_date", "lt": "1980-01-01"},
    {"field": "created_at", "within_days": 2},
    {"field": "created_at", "older_than_days": 1},
    {"consent": "email"},
    {"consent": "sms"},
    {"not": {"consent": "sms"}},
    {"consent": "post"},
    {"consent": "push"},
    {"event": BUSINESS, "count": {"gte": 2}},
    {"event": {"type": "purchase"}, "count": {"eq": 1}},
    {"event": {"type": "purchase", "within_days": 30}, "count": {"lt": 2}},
    {"event": {"type": "purchase", "within_days": 30}, "count": {"eq": 0}},
    {"event": {"type": "purchase", "within_days": 365}, "sum": {"gte": 100.5}},
    {"event": {"type": "purchase", "within_days": 365}, "sum": {"lte": 1000}},
    {"event": {"type": "purchase", "within_days": 365}, "avg": {"gte": 2500}},
    {"event": {"type": "purchase"}, "recency": {"lte": 30}},
    {"event": {"type": "purchase"}, "recency": {"eq": 0}},
    {"event": {"type": "purchase"}, "recency": {"gt": 200}},
    {"event": {"type": "purchase", "properties": {"channel": "online"}}, "count": {"gte": 1}},
    {"event": {"type": "purchase", "properties": {"flag": True, "score": 3}}, "count": {"gte": 1}},
    {"event": {"type": "page_view", "within_days": 30}, "count": {"gte": 3}},
    {"birthday": {"within_days": 1}},
    {"birthday": {"within_days": 7}},
    {"birthday": {"within_days": 366}},
    {"rfm": {"recency": {"gte": 4}, "frequency": {"gte": 3}}},
    {"rfm": {"monetary": {"eq": 5}, "within_days": 730}},
    {"model": "churn", "score": {"gte": 0.5}},
    {"not": {"model": "churn", "score": {"lt": 0.2}}},
    {"sample": {"percent": 30, "seed": 2}},
    {"sample": {"percent": 30, "offset": 30, "seed": 2}},
    {"field": "attributes.card_issued", "within_days": 14},
    {"field": "attributes.card_issued", "older_than_days": 365},
    {"field": "attributes.tier", "in": ["gold", "silver"]},
    {"field": "attributes.visits", "gte": 3},
    {"field": "attributes.vip", "eq": True},
    {"field": "attributes.vip", "exists": False},
    {"all": [{"field": "gender", "eq": "m"}, {"field": "age", "gte": 30}, {"event": BUSINESS, "count": {"gte": 2}}]},
    {"any": [{"consent": "email"}, {"consent": "sms"}]},
    {"all": [{"not": {"any": [{"field": "country", "eq": "RU"}, {"birthday": {"within_days": 30}}]}}]},
]


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


def _plant(conn: Connection, now: datetime) -> None:
    """Edge cases the generator does not make on purpose."""
    ids = list(conn.execute(select(customers.c.id).order_by(customers.c.id).limit(40)).scalars())
    zones = [
        "Pacific/Kiritimati",  # UTC+14: already tomorrow
        "Pacific/Pago_Pago",  # UTC-11: still yesterday
        "Asia/Tokyo",
        "America/Los_Angeles",
        None,
        "Not/A_Zone",
    ]
    today = now.date()
    births = [
        today,
        today + timedelta(days=1),
        today - timedelta(days=1),
        today + timedelta(days=6),
        today + timedelta(days=7),
        date(1992, 2, 29),
        None,
    ]
    for i, cid in enumerate(ids):
        birth = births[i % len(births)]
        if birth is not None and birth.year == today.year:
            birth = birth.replace(year=1990 - i)
        attrs: dict[str, Any] = {
            "card_issued": (today - timedelta(days=[0, 14, 15, 400][i % 4])).isoformat(),
            "tier": ["gold", "silver", "basic", None][i % 4],
            "visits": [1, 3, 7.5, "3"][i % 4],
        }
        if i % 3 == 0:
            attrs["vip"] = i % 2 == 0
        conn.execute(
            update(customers)
            .where(customers.c.id == cid)
            .values(timezone=zones[i % len(zones)], birth_date=birth, attributes=attrs, age_min=None, age_max=None)
        )
    day = timedelta(days=1)
    planted = [
        (ids[0], "purchase", now - 30 * day, 10.0, {"channel": "online", "flag": True, "score": 3}),  # boundary
        (ids[0], "purchase", now, 5.0, {}),  # recency 0
        (ids[1], "purchase", now + 2 * day, 99.0, {}),  # in the future
        (ids[1], "purchase", now - 31 * day + timedelta(seconds=1), None, {"channel": 1}),  # no amount
        (ids[2], "purchase", now - 365 * day, 100.5, {"flag": "true"}),
        (None, "purchase", now - day, 20.0, {"_ident": {"email": "nobody@example.com"}}),  # never linked
    ]
    conn.execute(
        insert(events),
        [
            {
                "event_uid": f"plant:{n}",
                "customer_id": cid,
                "type": t,
                "occurred_at": at,
                "amount": amount,
                "currency": "EUR",
                "category": "business_clothes",
                "properties": props,
                "received_at": now,
            }
            for n, (cid, t, at, amount, props) in enumerate(planted)
        ],
    )
    conn.execute(
        insert(consents),
        [
            {
                "customer_id": ids[3],
                "channel": "email",
                "purpose": "marketing",
                "status": "granted",
                "source": "test",
                "proof": {},
                "recorded_at": now - day,
                "expires_at": now - timedelta(hours=1),  # expired
            },
            {
                "customer_id": ids[4],
                "channel": "sms",
                "purpose": "marketing",
                "status": "granted",
                "source": "test",
                "proof": {},
                "recorded_at": now + timedelta(hours=6),  # comes into force later
                "expires_at": None,
            },
            {
                "customer_id": ids[5],
                "channel": "push",
                "purpose": "marketing",
                "status": "granted",
                "source": "test",
                "proof": {},
                "recorded_at": now - day,
                "expires_at": now + day,
            },
        ],
    )
    conn.execute(
        insert(model_scores),
        [{"model": "churn", "customer_id": cid, "score": (i % 10) / 10, "scored_at": now} for i, cid in enumerate(ids)],
    )


def _change(conn: Connection, now: datetime) -> None:
    """What happens between two refreshes: profile edits, a merge, new and linked events, consent, scores."""
    ids = list(conn.execute(select(customers.c.id).where(customers.c.merged_into.is_(None)).order_by(customers.c.id)))
    first, second, third = (int(r[0]) for r in ids[6:9])
    conn.execute(update(customers).where(customers.c.id == first).values(gender="f", updated_at=now))
    conn.execute(update(customers).where(customers.c.id == second).values(merged_into=third, updated_at=now))
    conn.execute(update(events).where(events.c.customer_id == second).values(customer_id=third))
    conn.execute(update(events).where(events.c.event_uid == "plant:5").values(customer_id=first))
    conn.execute(
        insert(events),
        [
            {
                "event_uid": f"later:{n}",
                "customer_id": third,
                "type": "purchase",
                "occurred_at": now - timedelta(hours=n),
                "amount": 250,
                "currency": "EUR",
                "category": "business_clothes",
                "properties": {},
                "received_at": now,
            }
            for n in range(3)
        ],
    )
    conn.execute(
        insert(consents).values(
            customer_id=third,
            channel="email",
            purpose="marketing",
            status="withdrawn",
            source="test",
            proof={},
            recorded_at=now,
        )
    )
    conn.execute(update(model_scores).where(model_scores.c.customer_id == first).values(score=0.99, scored_at=now))


def _mismatches(app: Epistola, mart: Mart, now: datetime) -> list[str]:
    out = []
    with app.engine.connect() as conn:
        for definition in DEFINITIONS:
            condition = parse_definition(definition)
            expected = sorted(int(x) for x in conn.execute(SqlCompiler(now=now).members(condition)).scalars())
            query = DuckCompiler(now=now).members(condition)
            found = [int(r[0]) for r in mart.query(query.text, query.params)]
            if found != expected:
                out.append(f"{definition}: store {len(expected)}, mart {len(found)}")
    return out


@pytest.mark.parametrize("hour", [23, 3], ids=["late-utc", "early-utc"])
def test_mart_and_store_select_the_same_members(app: Epistola, clock: FixedClock, tmp_path: Path, hour: int) -> None:
    clock.now = datetime(2026, 11, 2, hour, 30, tzinfo=UTC)
    generate(tmp_path / "data", customers=250, seed=11, events_per_customer=10)
    import_dataset(app, tmp_path / "data", _NoBar)
    with app.engine.begin() as conn:
        _plant(conn, clock.now)
    mart = Mart(tmp_path / "mart.duckdb")
    mart.build(app.engine, clock.now)
    assert _mismatches(app, mart, clock.now) == []

    clock.advance(hours=14)  # crosses midnight in UTC and in every zone
    with app.engine.begin() as conn:
        _change(conn, clock.now)
    report = mart.refresh(app.engine, clock.now)
    assert report.kind == "refresh" and report.customers >= 2
    assert _mismatches(app, mart, clock.now) == []
    mart.close()
