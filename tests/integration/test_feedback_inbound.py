"""Everything that comes in from outside, through the real routes on both databases: web and app activity,
provider webhooks for bounces and complaints, and SMS replies that are no keyword."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from delivery_fixtures import seed_campaign, states
from sqlalchemy import select, update

from epistola import accounts
from epistola.app import Epistola, create_app
from epistola.config import Settings, load_settings
from epistola.feedback.suppress import ListSuppressor
from epistola.store.schema import customers, events, messages
from epistola.testing import FixedClock
from epistola.testing.web import TestClient, api_client

HOOKS = Path(__file__).parent.parent / "fixtures" / "webhooks"
SECRET = "whsec-0123456789abcdef0123456789"


@pytest.fixture
def wired(settings: Settings, clock: FixedClock) -> Any:
    app = create_app(
        load_settings(
            env="test",
            database_url=settings.database_url,
            bounce_webhook_secret=SECRET,
            sms_webhook_secret=SECRET,
        ),
        clock=clock,
    )
    yield app
    app.close()


def key(app: Epistola, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=role, role=role, now=app.clock())}"}


def stored(app: Epistola, etype: str) -> list[dict[str, Any]]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(events).where(events.c.type == etype).order_by(events.c.id)).mappings()
        return [dict(r) for r in rows]


# --- web and app activity -------------------------------------------------------------------------------


def test_activity_is_stored_once_and_tied_to_customers(app: Epistola, clock: FixedClock) -> None:
    seeded = seed_campaign(app.engine, now=clock.now, count=2)
    anna, bob = seeded.recipients
    with app.engine.connect() as conn:
        bob_id = conn.execute(select(messages.c.customer_id).where(messages.c.recipient == bob)).scalar_one()
    client = api_client(app, headers=key(app, "analyst"))
    when = clock.now.isoformat()
    batch = {
        "source": "shop-web",
        "events": [
            {"id": "pv-1", "type": "page_view", "occurred_at": when, "customer": {"email": anna.upper()},
             "url": "https://shop.example/autumn", "properties": {"referrer": "mail"}},
            {"id": "loc-1", "type": "location", "occurred_at": when, "customer": {"id": bob_id},
             "location": {"lat": 52.2297, "lon": 21.0122, "accuracy_m": 25}},
            {"id": "act-1", "type": "app_action", "occurred_at": when, "customer": {"email": "new@example.com"},
             "action": "add_to_wishlist", "screen": "product"},
        ],
    }  # fmt: skip
    first = client.post("/api/v1/events", json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "ok": True,
        "received": 3,
        "inserted": 3,
        "duplicates": 0,
        "linked": 2,
        "unlinked": 1,
        "skipped": 0,
    }
    again = client.post("/api/v1/events", json=batch)
    assert again.json()["inserted"] == 0 and again.json()["duplicates"] == 3, "a retried batch stores nothing twice"
    (location,) = stored(app, "location")
    assert location["customer_id"] == bob_id
    assert location["properties"]["location"] == {"lat": 52.2297, "lon": 21.0122, "accuracy_m": 25.0}
    (unknown,) = stored(app, "app_action")
    assert unknown["customer_id"] is None and unknown["properties"]["_ident"] == {"email": "new@example.com"}


def test_an_invalid_batch_names_each_problem_and_stores_nothing(app: Epistola, clock: FixedClock) -> None:
    client = api_client(app, headers=key(app, "analyst"))
    when = clock.now.isoformat()
    batch = {
        "events": [
            {"id": "ok", "type": "search", "occurred_at": when, "customer": {"id": 1}, "query": "boots"},
            {"id": "bad-1", "type": "location", "occurred_at": when, "customer": {"id": 1},
             "location": {"lat": 91, "lon": 0}},
            {"id": "bad-2", "type": "page_view", "occurred_at": "2026-11-02T09:00:00", "customer": {}},
        ]
    }  # fmt: skip
    response = client.post("/api/v1/events", json=batch)
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"events.1.location.lat", "events.2.occurred_at", "events.2.customer"} <= fields
    assert stored(app, "search") == []
    assert api_client(app, headers=key(app, "viewer")).post("/api/v1/events", json=batch).status_code == 403
    assert api_client(app).post("/api/v1/events", json=batch).status_code == 401


# --- provider webhooks --------------------------------------------------------------------------------------


def sent_to(app: Epistola, address: str, name: str) -> int:
    seeded = seed_campaign(app.engine, now=app.clock(), count=1, name=name, recipient=lambda i: address)
    with app.engine.begin() as conn:
        conn.execute(
            update(messages).where(messages.c.id == seeded.message_ids[0]).values(state="sent", sent_at=app.clock())
        )
    return seeded.message_ids[0]


def payload(name: str, message_id: int) -> str:
    return (HOOKS / name).read_text().replace("MESSAGE_ID", f"{message_id}.0123456789abcdef@epistola.example")


def test_provider_webhooks_bounce_and_suppress(wired: Epistola) -> None:
    client = api_client(wired)
    suppressions = ListSuppressor.from_settings(wired.settings)
    gone = sent_to(wired, "gone@example.com", "ses")
    ses = payload("ses-bounce.json", gone)
    assert client.post("/hooks/ses", content=ses).status_code == 401, "no key"
    assert client.post("/hooks/ses?key=wrong", content=ses).status_code == 401
    assert client.post("/hooks/nosuch?key=" + SECRET, content=ses).status_code == 401, "unknown provider looks the same"
    answer = client.post(f"/hooks/ses?key={SECRET}", content=ses)
    assert answer.json() == {"ok": True, "reports": 1, "duplicates": 0, "suppressed": 1}
    assert client.post(f"/hooks/ses?key={SECRET}", content=ses).json()["duplicates"] == 1, "SNS retries are harmless"
    assert states(wired.engine)[gone] == "bounced"

    angry = sent_to(wired, "angry@example.com", "sendgrid")
    sendgrid = payload("sendgrid-events.json", angry)
    result = client.post("/hooks/sendgrid", content=sendgrid, headers={"X-Epistola-Webhook-Key": SECRET}).json()
    assert result["reports"] == 3 and result["suppressed"] == 1, "the complaint suppresses; deferred and blocked do not"

    postmark = (HOOKS / "postmark-bounce.json").read_text()
    assert client.post(f"/hooks/postmark?key={SECRET}", content=postmark).json()["suppressed"] == 1

    nobody = sent_to(wired, "nobody@mailgun-example.org", "mailgun")
    body = json.loads(payload("mailgun-failed.json", nobody))
    sig = body["signature"]
    sig["signature"] = hmac.new(SECRET.encode(), (sig["timestamp"] + sig["token"]).encode(), hashlib.sha256).hexdigest()
    assert client.post("/hooks/mailgun", json=body).json()["suppressed"] == 1
    assert states(wired.engine)[nobody] == "bounced"
    sig["signature"] = "0" * 64
    assert client.post("/hooks/mailgun", json=body).status_code == 401, "a wrong signature is refused"

    with wired.engine.connect() as conn:
        for address in (
            "gone@example.com",
            "angry@example.com",
            "jane@postmark-example.org",
            "nobody@mailgun-example.org",
        ):
            assert suppressions.is_suppressed(conn, address), address
        assert not suppressions.is_suppressed(conn, "slow@example.com")
        assert not suppressions.is_suppressed(conn, "blocked@example.com"), "a policy block is about us, not them"


def test_webhooks_are_off_without_a_secret(app: Epistola) -> None:
    response = api_client(app).post("/hooks/postmark?key=", content=(HOOKS / "postmark-bounce.json").read_text())
    assert response.status_code == 401


# --- SMS replies ----------------------------------------------------------------------------------------------


def sms(client: TestClient, message_id: str, text: str, sender: str = "+48601234567") -> Any:
    body = json.dumps({"id": message_id, "provider": "smsapi", "from": sender, "text": text}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/sms/inbound", content=body, headers={"X-Epistola-Signature": signature})


def test_sms_replies_that_are_no_keyword_become_events(wired: Epistola, clock: FixedClock) -> None:
    seeded = seed_campaign(wired.engine, now=clock.now, count=1, channel="sms", recipient=lambda i: "+48601234567")
    with wired.engine.begin() as conn:
        conn.execute(update(messages).values(state="sent", sent_at=clock.now))
        customer_id = conn.execute(select(messages.c.customer_id)).scalar_one()
        conn.execute(update(customers).where(customers.c.id == customer_id).values(phone="+48601234567"))
    clock.advance(minutes=5)
    client = api_client(wired)
    reply = sms(client, "in-1", "Tak, proszę o telefon")
    assert reply.status_code == 200 and reply.json()["keyword"] is None
    assert sms(client, "in-1", "Tak, proszę o telefon").json()["duplicate"] is True
    (event,) = stored(wired, "sms.reply")
    assert event["customer_id"] == customer_id
    assert event["properties"]["in_reply_to"] == seeded.message_ids[0]
    assert event["properties"]["text"] == "Tak, proszę o telefon"
    assert sms(client, "in-2", "STOP").json()["keyword"] == "stop", "keywords still go to the consent ledger"
    assert len(stored(wired, "sms.reply")) == 1
    unknown = sms(client, "in-3", "who is this?", sender="+48601999888")
    assert unknown.json()["customers"] == 0
    assert stored(wired, "sms.reply")[-1]["customer_id"] is None
