"""The preference centre and unsubscribe over HTTP, on both engines: GET never changes anything, a one-click
POST withdraws at once without cookies, every bad link looks the same, and a real campaign honours it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from consent_fixtures import add_customers, queue_campaign
from sqlalchemy import func, select

from epistola.app import Epistola, create_worker
from epistola.consent.keys import Keyring
from epistola.consent.ledger import append_entries, current_state, history
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import ConsentEntry
from epistola.consent.texts import statement
from epistola.consent.tokens import TokenKind, sign
from epistola.delivery.sink import SmtpSink
from epistola.delivery.smtp import SmtpChannel
from epistola.store.schema import audit_log, consents, customer_preferences, customers, erasures, messages
from epistola.testing.web import TestClient, api_client

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Google-Mail-Unsubscribe/1.0"}


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return api_client(app)


def links(app: Epistola) -> PrivacyLinks:
    return PrivacyLinks.from_settings(app.settings)


def path(url: str, app: Epistola) -> str:
    return url.removeprefix(app.settings.public_base_url)


def person(app: Epistola, *, locale: str = "en", granted: tuple[str, ...] = ("email",)) -> int:
    now = app.clock()
    with app.engine.begin() as conn:
        (cid,) = add_customers(
            conn, [{"email": "ola@example.pl", "phone": "+48601234567", "locale": locale, "country": "PL"}], now
        )
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=cid,
                    channel=c,
                    purpose="marketing",
                    status="granted",
                    source="crm",
                    recorded_at=now - timedelta(days=30),
                )
                for c in granted
            ],
        )
    return cid


def counts(app: Epistola) -> tuple[int, int]:
    with app.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(consents)).scalar_one(),
            conn.execute(select(func.count()).select_from(audit_log)).scalar_one(),
        )


def email_state(app: Epistola, cid: int) -> str | None:
    with app.engine.connect() as conn:
        return current_state(conn, [cid], channel="email", purpose="marketing", now=app.clock()).get(cid)


def test_get_only_asks_and_post_one_click_withdraws_at_once(app: Epistola, client: TestClient) -> None:
    cid = person(app)
    url = path(links(app).unsubscribe_url(cid, message_id=None), app)
    before = counts(app)
    for _ in range(3):  # scanners, previewers, the person
        page = client.get(url, headers=BROWSER)
        assert page.status_code == 200 and 'method="post"' in page.text
        assert "set-cookie" not in page.headers
    assert counts(app) == before, "a GET changed something"
    assert email_state(app, cid) == "granted"

    response = client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200 and 'id="done"' in response.text
    assert "set-cookie" not in response.headers
    assert email_state(app, cid) == "withdrawn"
    with app.engine.connect() as conn:
        last = history(conn, [cid])[-1].entry
        actor, action, origin = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.origin).order_by(audit_log.c.id.desc()).limit(1)
        ).one()
    assert (last.status, last.source, last.proof["kind"]) == ("withdrawn", "unsubscribe", "one_click")
    assert last.proof["user_agent"] == "Google-Mail-Unsubscribe/1.0" and last.proof["ip"]
    assert (actor, action, origin) == ("data-subject", "consent.record", "unsubscribe")

    after = counts(app)
    assert client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK).status_code == 200
    assert counts(app) == after, "unsubscribing twice writes nothing twice"


def test_the_confirmation_button_also_withdraws_and_links_the_preferences(app: Epistola, client: TestClient) -> None:
    cid = person(app, locale="ru")
    url = path(links(app).unsubscribe_url(cid, 77), app)
    page = client.get(url)
    assert "Вы хотите отказаться от рекламных писем?" in page.text
    done = client.post(url, data={"confirm": "yes"})
    assert "Вы отписаны" in done.text and "/preferences/" in done.text
    with app.engine.connect() as conn:
        proof = history(conn, [cid])[-1].entry.proof
    assert proof["kind"] == "form" and proof["message_id"] == 77


def bad_tokens(app: Epistola, erased: int) -> list[str]:
    keyring = Keyring.from_settings(app.settings)
    good = sign(keyring, TokenKind.UNSUBSCRIBE, erased)
    return [
        "nonsense",
        "a" * 53,
        good[:-1] + ("a" if good[-1] != "a" else "b"),  # tampered
        sign(keyring, TokenKind.PREFERENCES, erased),  # the other kind
        sign(Keyring.single("another-secret-" * 3), TokenKind.UNSUBSCRIBE, erased),  # another key
        sign(keyring, TokenKind.UNSUBSCRIBE, 999_999),  # nobody
        good,  # an erased customer
        good.upper(),
    ]


def test_every_bad_link_gets_the_same_answer(app: Epistola, client: TestClient) -> None:
    cid = person(app)
    with app.engine.begin() as conn:
        conn.execute(erasures.insert().values(customer_id=cid, actor="t", erased_at=app.clock(), summary={}))
    before = counts(app)
    answers = set()
    for token in bad_tokens(app, cid):
        for method in ("GET", "POST"):
            for prefix in ("/unsubscribe/", "/preferences/"):
                r = client.request(method, prefix + token, headers={"Accept-Language": "en"})
                assert r.status_code == 404
                answers.add((r.text, tuple(sorted((k, v) for k, v in r.headers.items() if k != "content-length"))))
    assert len(answers) == 1
    assert "This link is not valid" in next(iter(answers))[0]
    assert counts(app) == before


def test_preference_centre_shows_and_changes_channels_topics_and_frequency(app: Epistola, client: TestClient) -> None:
    cid = person(app, locale="pl", granted=("email", "post"))
    url = path(links(app).preferences_url(cid, 5), app)
    page = client.get(url, headers=BROWSER)
    assert page.status_code == 200 and "Twoje preferencje" in page.text
    assert "o•••@example.pl" in page.text and "ola@example.pl" not in page.text, "the address is masked"
    assert 'value="email" checked' in page.text and 'value="sms">' in page.text
    assert client.get(url + "?lang=ru").text.count("Настройки рассылок") >= 1
    before = counts(app)
    assert counts(app) == before

    saved = client.post(
        url,
        data={"form": "preferences", "channel": ["sms", "post"], "topic": ["offers"], "frequency": "monthly"},
        headers=BROWSER,
    )
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    assert 'value="sms" checked' in saved.text and 'value="email">' in saved.text
    now = app.clock()
    with app.engine.connect() as conn:
        states = {
            ch: current_state(conn, [cid], channel=ch, purpose="marketing", now=now).get(cid)
            for ch in ("email", "sms", "post")
        }
        entries = {r.entry.channel: r.entry for r in history(conn, [cid]) if r.entry.source == "preference_centre"}
        prefs_row = conn.execute(select(customer_preferences).where(customer_preferences.c.customer_id == cid)).one()
    assert states == {"email": "withdrawn", "sms": "granted", "post": "granted"}
    assert set(entries) == {"email", "sms"}, "only what changed is written"
    sms_proof = entries["sms"].proof
    assert sms_proof["text_hash"] == statement("sms", "pl").sha256 and sms_proof["text_version"]
    assert sms_proof["kind"] == "form" and sms_proof["message_id"] == 5 and "Mozilla" in sms_proof["user_agent"]
    assert (prefs_row.topics, prefs_row.frequency) == (["offers"], "monthly")

    everything_off = client.post(url, data={"form": "preferences", "action": "unsubscribe_all"})
    assert everything_off.status_code == 200
    with app.engine.connect() as conn:
        allowed = [
            current_state(conn, [cid], channel=ch, purpose="marketing", now=now).get(cid) for ch in ("sms", "post")
        ]
    assert allowed == ["withdrawn", "withdrawn"]


def test_links_of_a_merged_customer_act_for_the_customer_they_became(app: Epistola, client: TestClient) -> None:
    old, keeper = person(app), person(app)
    with app.engine.begin() as conn:
        conn.execute(customers.update().where(customers.c.id == old).values(merged_into=keeper))
    client.post(path(links(app).unsubscribe_url(old), app), content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert email_state(app, keeper) == "withdrawn" and email_state(app, old) == "granted"


def test_pages_escape_and_carry_safe_headers(app: Epistola, client: TestClient) -> None:
    cid = person(app)
    page = client.get(path(links(app).preferences_url(cid), app) + "?lang=<script>")
    assert page.status_code == 200 and "<script>" not in page.text
    assert page.headers["cache-control"].startswith("no-store")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_one_click_unsubscribe_from_a_real_message_stops_the_next_campaign(app: Epistola, tmp_path: Path) -> None:
    cid = person(app)
    with app.engine.begin() as conn:
        first = queue_campaign(conn, [cid], app.clock())
    with SmtpSink(tmp_path / "mail") as sink:
        channel = SmtpChannel(sink.host, sink.port, connections=1, timeout=10)
        asyncio.run(create_worker(app, channels={"email": channel}, handle_signals=False).run(until_idle=True))
        (received,) = sink.received
        header = message_from_bytes(received.data, policy=policy.default)["List-Unsubscribe"]
        https = next(p.strip().strip("<>") for p in str(header).split(",") if "https" in p or "http:" in p)

        with api_client(app) as http:
            assert http.post(path(https, app), content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK).is_success

        with app.engine.begin() as conn:
            second = queue_campaign(conn, [cid], app.clock())
        channel = SmtpChannel(sink.host, sink.port, connections=1, timeout=10)
        asyncio.run(create_worker(app, channels={"email": channel}, handle_signals=False).run(until_idle=True))
        assert len(sink.received) == 1, "nothing more was sent"
    with app.engine.connect() as conn:
        state, error = conn.execute(
            select(messages.c.state, messages.c.error).where(messages.c.id == second.message_ids[cid])
        ).one()
    assert (state, error) == ("suppressed", "email marketing consent withdrawn")
    assert first.message_ids[cid] != second.message_ids[cid]
