"""Webhook and HTTP SMS channels against a real local HTTP server: signatures, mappings, what failures mean."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest
from delivery_fixtures import seed_campaign, states
from sqlalchemy import Engine

from epistola.delivery import Worker
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.delivery.sms_http import HttpSmsChannel, find, parse_headers, render_body
from epistola.delivery.webhook import SIGNATURE_HEADER, WebhookChannel, payload, verify_signature
from epistola.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from epistola.testing import FixedClock
from epistola.testing.http_sink import HttpAnswer, HttpRequest, HttpSink

SECRET = b"webhook-secret-0123456789abcdef"


def send(channel: WebhookChannel | HttpSmsChannel, envelope: Envelope) -> str:
    async def main() -> str:
        try:
            return await channel.send(envelope)
        finally:
            await channel.close()

    return asyncio.run(main())


def webhook_envelope(i: int = 1, recipient: str = "customer-1") -> Envelope:
    return Envelope(message_id=i, sender="epistola", recipient=recipient, data=payload(customer=i, text="Hi"))


def test_webhook_posts_a_signed_body_that_verifies(clock: FixedClock) -> None:
    with HttpSink(lambda request, seen: HttpAnswer(body=b'{"id": "evt_42"}')) as sink:
        provider_id = send(WebhookChannel(sink.url + "/hooks", secret=SECRET, clock=clock), webhook_envelope())
    (request,) = sink.requests
    assert provider_id == "evt_42" and request.path == "/hooks"
    assert request.json() == {"customer": 1, "text": "Hi"}
    assert request.headers["Epistola-Message-Id"] == "1"
    signature = request.headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, signature, request.body, clock())
    assert not verify_signature(SECRET, signature, request.body + b" ", clock())  # body changed
    assert not verify_signature(b"another-secret-0123456789", signature, request.body, clock())
    assert not verify_signature(SECRET, signature, request.body, clock() + timedelta(minutes=10))  # replayed later


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (HttpAnswer(status=500), TransientDeliveryError),
        (HttpAnswer(status=429), TransientDeliveryError),
        (HttpAnswer(status=410), PermanentDeliveryError),
        (HttpAnswer(status=301), PermanentDeliveryError),  # redirects are not followed
        (HttpAnswer(hang_up=True), UncertainDeliveryError),  # it got the call, we got no answer
    ],
)
def test_webhook_failures_mean_what_the_answer_says(answer: HttpAnswer, error: type, clock: FixedClock) -> None:
    with HttpSink(lambda request, seen: answer) as sink, pytest.raises(error):
        send(WebhookChannel(sink.url, secret=SECRET, clock=clock), webhook_envelope())


def test_webhook_that_cannot_connect_is_temporary(clock: FixedClock) -> None:
    with HttpSink() as sink:
        url = sink.url
    with pytest.raises(TransientDeliveryError, match="cannot reach"):
        send(WebhookChannel(url, secret=SECRET, clock=clock), webhook_envelope())


def test_webhook_refuses_a_short_secret() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        WebhookChannel("http://x", secret=b"short")


class WebhookComposer:
    def compose(self, batch: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        return [webhook_envelope(m.id, m.recipient or "") for m in batch]


def test_worker_retries_a_failed_webhook_later_and_calls_it_once_more(engine: Engine, clock: FixedClock) -> None:
    def flaky(request: HttpRequest, seen: int) -> HttpAnswer:
        customer = json.loads(request.body)["customer"]
        return HttpAnswer(status=503) if customer % 4 == 0 and seen == 0 else HttpAnswer()

    with HttpSink(flaky) as sink:
        seeded = seed_campaign(engine, now=clock(), count=20, recipient=lambda i: sink.url, channel="webhook")
        worker = Worker(
            engine,
            WebhookComposer(),
            {"webhook": WebhookChannel(None, secret=SECRET, clock=clock)},
            clock=clock,
            handle_signals=False,
        )
        first = asyncio.run(worker.run(until_idle=True))
        clock.advance(hours=2)
        second = asyncio.run(worker.run(until_idle=True))

    assert first.retried == 5 and second.sent == 5
    assert set(states(engine, seeded.step_id).values()) == {"sent"}
    calls = Counter(json.loads(r.body)["customer"] for r in sink.requests)
    assert all(n == (2 if message_id % 4 == 0 else 1) for message_id, n in calls.items())


# --- HTTP SMS ---------------------------------------------------------------------------------------------

TEMPLATE = '{"messages": [{"to": "{to}", "from": "{sender}", "body": "{text}", "ref": "{reference}"}]}'


def sms(text: str = 'He said "hi" \\ bye', i: int = 7) -> Envelope:
    return Envelope(message_id=i, sender="Epistola", recipient="+48600100200", data=text.encode())


def test_http_sms_fills_the_template_and_reads_the_id(clock: FixedClock) -> None:
    answer = HttpAnswer(body=b'{"messages": [{"id": "sm-991", "status": "queued"}]}')
    with HttpSink(lambda request, seen: answer) as sink:
        channel = HttpSmsChannel(
            sink.url + "/v1/sms", body=TEMPLATE, id_path="messages.0.id", headers={"Authorization": "Bearer k"}
        )
        provider_id = send(channel, sms())
    (request,) = sink.requests
    assert provider_id == "sm-991"
    assert request.headers["Authorization"] == "Bearer k"
    assert request.json() == {
        "messages": [{"to": "+48600100200", "from": "Epistola", "body": 'He said "hi" \\ bye', "ref": "7"}]
    }


def test_http_sms_refusals(clock: FixedClock) -> None:
    with HttpSink(lambda request, seen: HttpAnswer(status=400, body=b'{"error": "bad number"}')) as sink:
        with pytest.raises(PermanentDeliveryError, match="bad number"):
            send(HttpSmsChannel(sink.url, body=TEMPLATE), sms())


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Authorization: Bearer a:b; X-Account: 7", {"Authorization": "Bearer a:b", "X-Account": "7"}), ("", {})],
)
def test_headers_parse(value: str, expected: dict[str, str]) -> None:
    assert parse_headers(value) == expected


def test_bad_headers_and_templates_are_named() -> None:
    with pytest.raises(ConfigError, match="EPISTOLA_SMS_HTTP_HEADERS"):
        parse_headers("Authorization Bearer")
    with pytest.raises(ConfigError, match="EPISTOLA_SMS_HTTP_BODY"):
        HttpSmsChannel("http://x", body='{"to": {to}}')
    assert json.loads(render_body('{"t": "{text}"}', {"text": '"}, "x": "injected'})) == {"t": '"}, "x": "injected'}


@pytest.mark.parametrize(
    ("answer", "path", "value"),
    [({"id": 5}, "id", 5), ({"messages": [{"id": "a"}]}, "messages.0.id", "a"), ({"x": 1}, "messages.0.id", None)],
)
def test_find(answer: object, path: str, value: object) -> None:
    assert find(answer, path) == value
