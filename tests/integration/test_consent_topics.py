"""Topics chosen in the preference centre, honoured at send time on both engines: a customer who unticked a
topic gets none of that topic's marketing (suppressed, with the reason), every other topic and every service
message still go, and a campaign's topic must be one the preference centre offers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

from consent_fixtures import add_customers, claimed, grant, queue_campaign
from sqlalchemy import select, update

from epistola import accounts
from epistola.app import Epistola, create_worker, email_composer
from epistola.audience.segments import save_segment
from epistola.consent import preferences as prefs
from epistola.consent.gate import ConsentGate
from epistola.consent.links import PrivacyLinks
from epistola.content.templates import approve, save_version
from epistola.delivery import outbox
from epistola.delivery.ports import Envelope, Skip
from epistola.store.schema import campaign_steps, campaigns, messages
from epistola.testing.web import api_client

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
TOPICS = "news, offers, events, surveys"


class Collected:
    """An e-mail `Channel` that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []

    async def send(self, envelope: Envelope) -> str:
        self.sent.append(envelope)
        return f"collected-{envelope.message_id}"

    async def close(self) -> None: ...


def people(app: Epistola, *emails: str) -> list[int]:
    """Customers in Poland who granted e-mail marketing (and service) a month ago."""
    now = app.clock()
    with app.engine.begin() as conn:
        ids = add_customers(conn, [{"email": e, "country": "PL"} for e in emails], now)
        grant(conn, ids, channel="email", purposes=("marketing", "service"), at=now - timedelta(days=30))
    return ids


def manager(app: Epistola) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name='mia', role='marketer', now=app.clock())}"}


def plan_content(app: Epistola) -> None:
    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="with-email", definition={"field": "email", "exists": True}, now=now)
        save_version(conn, name="hello", subject="Hi", body="Hello {{ customer.first_name or 'there' }}", now=now)
        approve(conn, name="hello", version=None, by="test", now=now)


def outcomes(app: Epistola) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(campaign name, customer id) -> (state, error) of every message."""
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(campaigns.c.name, messages.c.customer_id, messages.c.state, messages.c.error)
            .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
            .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
        ).all()
    return {(r.name, r.customer_id): (r.state, r.error) for r in rows}


def test_a_topic_unticked_on_the_preference_centre_stops_that_topic_only(app: Epistola) -> None:
    ola, ben = people(app, "ola@example.pl", "ben@example.pl")
    plan_content(app)
    url = PrivacyLinks.from_settings(app.settings).preferences_url(ola, 1).removeprefix(app.settings.public_base_url)
    marketer = manager(app)
    with api_client(app) as http:
        page = http.get(url, headers=BROWSER)
        assert 'value="offers" checked' in page.text, "no stored choice: every topic is ticked"
        saved = http.post(
            url,
            data={"form": "preferences", "channel": ["email"], "topic": ["news", "events"], "frequency": "any"},
            headers=BROWSER,
        )
        assert saved.status_code == 200 and 'value="offers">' in saved.text
        for name, topic in (("offers-june", "offers"), ("news-june", "news"), ("untopical", None)):
            body = {"name": name, "segment": "with-email", "template": "hello", "control_pct": 0, "topic": topic}
            created = http.post("/api/v1/campaigns", json=body, headers=marketer)
            assert created.status_code == 201 and created.json()["topic"] == topic, created.text
            assert http.post(f"/api/v1/campaigns/{name}/start", headers=marketer).json()["queued"] == 2
        shown = http.get("/api/v1/campaigns/offers-june", headers=marketer).json()
        assert shown["topic"] == "offers"

    channel = Collected()
    asyncio.run(create_worker(app, channels={"email": channel}, handle_signals=False).run(until_idle=True))

    assert sorted(e.recipient for e in channel.sent) == sorted(["ola@example.pl"] * 2 + ["ben@example.pl"] * 3)
    assert outcomes(app) == {
        ("offers-june", ola): ("suppressed", "topic preference: offers unsubscribed"),
        ("offers-june", ben): ("sent", None),  # never chose: every topic
        ("news-june", ola): ("sent", None),
        ("news-june", ben): ("sent", None),
        ("untopical", ola): ("sent", None),
        ("untopical", ben): ("sent", None),
    }


def test_the_topic_rule_spares_service_messages_and_leaves_room_in_the_frequency(app: Epistola) -> None:
    (cid,) = people(app, "weekly@example.pl")
    now = app.clock()
    with app.engine.begin() as conn:
        current = prefs.load(conn, cid, policy=ConsentGate().policy, topics=app.settings.topic_keys, now=now)
        assert current is not None
        prefs.save(
            conn,
            current,
            prefs.Change(topics=["news"], frequency="weekly"),
            topics=app.settings.topic_keys,
            proof={"kind": "test"},
            now=now,
        )
        offers, news = queue_campaign(conn, [cid], now), queue_campaign(conn, [cid], now)
        service = queue_campaign(conn, [cid], now, purpose="service")
        for queued, topic in ((offers, "offers"), (news, "news"), (service, "offers")):
            conn.execute(update(campaigns).where(campaigns.c.id == queued.campaign_id).values(topic=topic))
        batch = claimed(conn, offers) + claimed(conn, news) + claimed(conn, service)
    composer = email_composer(app)

    results = {r.message_id: r for r in composer.compose(batch)}

    refused = results[offers.message_ids[cid]]
    assert isinstance(refused, Skip) and refused.reason == "topic preference: offers unsubscribed"
    assert isinstance(results[news.message_ids[cid]], Envelope), "the refused offer took no room in the week"
    assert isinstance(results[service.message_ids[cid]], Envelope), "service messages are never topic-filtered"

    with app.engine.begin() as conn:
        ids = [m.id for m in batch]
        conn.execute(update(messages).where(messages.c.id.in_(ids)).values(state="rendering", lease_owner="w"))
        assert outbox.mark_suppressed(conn, worker_id="w", skips=[refused], now=now) == 1
        row = conn.execute(select(messages.c.state, messages.c.error).where(messages.c.id == refused.message_id)).one()
    assert tuple(row) == ("suppressed", "topic preference: offers unsubscribed")


def test_the_api_refuses_a_topic_the_preference_centre_does_not_offer(app: Epistola) -> None:
    plan_content(app)
    marketer = manager(app)
    with api_client(app) as http:
        body = {"name": "typo", "segment": "with-email", "template": "hello", "topic": "offerz"}
        refused = http.post("/api/v1/campaigns", json=body, headers=marketer)
        assert refused.status_code == 400
        assert refused.json() == {
            "ok": False,
            "error": "invalid campaign. Choose one of the keys in EPISTOLA_PREFERENCE_TOPICS, or no topic.",
            "errors": [{"message": f"unknown topic 'offerz'; use one of {TOPICS}", "field": "topic"}],
            "status": 400,
        }
        assert http.get("/api/v1/campaigns/typo", headers=marketer).status_code == 404, "nothing was planned"
        plain = http.post("/api/v1/campaigns", json={**body, "topic": None}, headers=marketer)
        assert plain.status_code == 201 and plain.json()["topic"] is None


def cli(app: Epistola, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTOLA_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "epistola", "--database-url", app.settings.database_url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_cli_takes_a_topic_and_names_the_allowed_ones(app: Epistola) -> None:
    plan_content(app)
    base = ("campaign", "create", "--segment", "with-email", "--template", "hello")
    out = cli(app, *base, "typo", "--topic", "offerz")
    assert out.returncode == 65, out.stderr
    assert f"field 'topic': unknown topic 'offerz'; use one of {TOPICS}" in out.stderr
    assert "EPISTOLA_PREFERENCE_TOPICS" in out.stderr, "says where the topics come from"

    out = cli(app, *base, "summer", "--topic", "offers")
    assert out.returncode == 0, out.stderr
    assert "summer" in out.stdout and "about offers" in out.stdout
    with app.engine.connect() as conn:
        stored = conn.execute(select(campaigns.c.name, campaigns.c.topic).order_by(campaigns.c.id)).all()
    assert [tuple(r) for r in stored] == [("summer", "offers")]

    helped = cli(app, "campaign", "create", "--help")
    assert "--topic" in helped.stdout and "--topic offers" in helped.stdout
