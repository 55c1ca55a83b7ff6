"""SMS keywords through the signed webhook, on both engines: STOP withdraws in three languages, START
restores, HELP only answers, and each inbound message gets exactly one confirmation however often the
provider delivers it."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from consent_fixtures import phone_suppressions, sms_customer, sms_state
from sqlalchemy import func, select

from epistola.app import Epistola, create_app
from epistola.config import load_settings
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.consent.sms_keywords import mark_reply_failed, mark_reply_sent, pending_replies
from epistola.consent.texts import SMS_REPLIES
from epistola.store.schema import consents, sms_replies
from epistola.testing import FixedClock
from epistola.testing.web import TestClient, api_client

SECRET = "webhook-secret-for-tests-0123456789"


@pytest.fixture
def sms_app(app: Epistola, clock: FixedClock) -> Iterator[Epistola]:
    settings = load_settings(env="test", database_url=app.settings.database_url, sms_webhook_secret=SECRET)
    instance = create_app(settings, clock=clock)
    yield instance
    instance.close()


@pytest.fixture
def client(sms_app: Epistola) -> TestClient:
    return api_client(sms_app)


def post(client: TestClient, payload: dict[str, Any], *, secret: str = SECRET) -> Any:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, "sha256").hexdigest()
    return client.post(
        "/sms/inbound", content=body, headers={"Content-Type": "application/json", "X-Epistola-Signature": signature}
    )


@pytest.mark.parametrize(
    ("phone", "locale", "word", "language"),
    [
        ("+447700900123", "en", "STOP", "en"),
        ("+79161234567", "ru", "СТОП", "ru"),
        ("+48601234567", "pl", "Rezygnuję", "pl"),
        ("+48601234567", "pl", "STOP", "pl"),  # a shared word: the reply is in the customer's language
    ],
)
def test_stop_withdraws_and_is_confirmed_once(
    sms_app: Epistola, client: TestClient, phone: str, locale: str, word: str, language: str
) -> None:
    cid = sms_customer(sms_app, phone, locale)
    payload = {"id": "in-1", "provider": "acme", "from": phone, "text": word}
    first = post(client, payload)
    assert first.status_code == 200 and first.json() == {
        "ok": True,
        "keyword": "stop",
        "duplicate": False,
        "customers": 1,
    }
    assert phone not in first.text
    assert sms_state(sms_app, cid) == "withdrawn"
    assert phone_suppressions(sms_app, phone) == ["sms:keyword"]

    with sms_app.engine.connect() as conn:
        ledger_rows = conn.execute(select(func.count()).select_from(consents)).scalar_one()
    again = post(client, payload)  # the provider retries
    assert again.json()["duplicate"] is True
    with sms_app.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == ledger_rows
        (reply,) = pending_replies(conn)
        assert (reply.recipient, reply.body, reply.language) == (phone, SMS_REPLIES[language]["stop"], language)
        assert mark_reply_sent(conn, reply.id, now=sms_app.clock()) is True
        assert mark_reply_sent(conn, reply.id, now=sms_app.clock()) is False, "handed over at most once"
        assert pending_replies(conn) == []
        assert conn.execute(select(sms_replies.c.recipient)).scalar_one() is None, "the number is not kept"


def test_start_restores_and_help_only_answers(sms_app: Epistola, client: TestClient) -> None:
    phone = "+48601234567"
    cid = sms_customer(sms_app, phone, "pl")
    post(client, {"id": "1", "from": phone, "text": "STOP"})
    sms_app.clock.advance(minutes=5)  # type: ignore[attr-defined]
    assert post(client, {"id": "2", "from": phone, "text": "ZAPISZ"}).json()["keyword"] == "start"
    assert sms_state(sms_app, cid) == "granted"
    assert phone_suppressions(sms_app, phone) == []
    sms_app.clock.advance(minutes=5)  # type: ignore[attr-defined]
    with sms_app.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(consents)).scalar_one()
    assert post(client, {"id": "3", "from": phone, "text": "pomoc"}).json()["keyword"] == "help"
    assert post(client, {"id": "4", "from": phone, "text": "Thanks, see you"}).json()["keyword"] is None
    with sms_app.engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == before
        replies = pending_replies(conn)
        assert [r.body for r in replies] == [SMS_REPLIES["pl"][k] for k in ("stop", "start", "help")]
        assert mark_reply_failed(conn, replies[0].id, now=sms_app.clock()) is True


def test_a_start_does_not_lift_a_legal_suppression(sms_app: Epistola, client: TestClient) -> None:
    phone = "+447700900999"
    with sms_app.engine.begin() as conn:
        ident = suppression.identifier("phone", phone)
        keyring = Keyring.from_settings(sms_app.settings)
        suppression.add(conn, keyring, [ident], scope="all", reason="legal", source="t", now=sms_app.clock(), actor="t")
    assert post(client, {"id": "x", "from": phone, "text": "START"}).json()["customers"] == 0
    assert phone_suppressions(sms_app, phone) == ["all:legal"]


def test_stop_from_an_unknown_number_still_suppresses_it(sms_app: Epistola, client: TestClient) -> None:
    phone = "+447700900555"
    assert post(client, {"id": "u", "from": phone, "text": "unsubscribe"}).json()["customers"] == 0
    assert phone_suppressions(sms_app, phone) == ["sms:keyword"]


@pytest.mark.parametrize(
    ("secret", "status"),
    [("wrong-secret", 401), (None, 401)],
)
def test_unsigned_calls_are_refused(client: TestClient, secret: str | None, status: int) -> None:
    body = json.dumps({"id": "1", "from": "+447700900123", "text": "STOP"}).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Epistola-Signature"] = "sha256=" + hmac.new(secret.encode(), body, "sha256").hexdigest()
    response = client.post("/sms/inbound", content=body, headers=headers)
    assert response.status_code == status and response.json()["ok"] is False


def test_bad_bodies_name_the_field(client: TestClient) -> None:
    response = post(client, {"id": "1", "text": "STOP"})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["from"]


def test_the_webhook_is_off_without_a_secret(app: Epistola) -> None:
    response = api_client(app).post("/sms/inbound", json={"id": "1", "from": "+1", "text": "STOP"})
    assert response.status_code == 404


def test_confirmations_reach_a_real_smsc_exactly_once(sms_app: Epistola, client: TestClient) -> None:
    from epistola.consent.replies import send_pending
    from epistola.delivery.smpp import SmppChannel
    from epistola.delivery.smpp_sink import SmppPolicy, SmppSink

    phones = ["+48601234567", "+79161234567"]
    sms_customer(sms_app, phones[0], "pl")
    sms_customer(sms_app, phones[1], "ru")
    post(client, {"id": "a", "from": phones[0], "text": "STOP"})
    post(client, {"id": "b", "from": phones[1], "text": "СТОП"})
    post(client, {"id": "b", "from": phones[1], "text": "СТОП"})  # the provider retries

    def run(smsc: SmppSink) -> Any:
        async def go() -> Any:
            channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret")
            try:
                return await send_pending(sms_app.engine, channel, sender="Epistola", clock=sms_app.clock)
            finally:
                await channel.close()

        return asyncio.run(go())

    with SmppSink() as smsc:
        smsc.policy = SmppPolicy(throttle_once=("79161234567",), receipts=False)
        first = run(smsc)
        assert (first.sent, first.retry) == (1, 1), "a throttled confirmation waits for the next run"
        second = run(smsc)
        third = run(smsc)
        received = smsc.received
    assert (second.sent, third.sent) == (1, 0)
    assert sorted((m.destination, m.text) for m in received) == sorted(
        [("48601234567", SMS_REPLIES["pl"]["stop"]), ("79161234567", SMS_REPLIES["ru"]["stop"])]
    )
    with sms_app.engine.connect() as conn:
        rows = conn.execute(select(sms_replies.c.state, sms_replies.c.recipient)).all()
    assert sorted(rows) == [("sent", None), ("sent", None)]
