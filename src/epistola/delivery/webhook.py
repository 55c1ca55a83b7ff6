"""The webhook channel: each message is a signed JSON POST to the company's own system.

The body is signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` (the scheme Stripe and GitHub users
know), sent as ``Epistola-Signature: t=<unix seconds>,v1=<hex>``; receivers check it with
`verify_signature` and refuse old timestamps, so a captured call cannot be replayed later.
``Epistola-Message-Id`` is an idempotency key. Retries: a connection that cannot be made is tried
again at once; 408/429/5xx answers go back to the outbox, which retries with backoff; other 4xx
answers are final; a call without an answer is uncertain and is not repeated.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING

from epistola.clock import Clock, utcnow
from epistola.config import Settings
from epistola.delivery import httpcall
from epistola.delivery.ports import Envelope
from epistola.errors import ConfigError, PermanentDeliveryError

# httpx is imported when the first client is made: keeps CLI start-up fast.
if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "Epistola-Signature"
MESSAGE_ID_HEADER = "Epistola-Message-Id"


def sign(secret: bytes, body: bytes, at: datetime) -> str:
    """The signature header value for `body` sent at `at`."""
    timestamp = int(at.timestamp())
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: bytes, header: str, body: bytes, now: datetime, *, tolerance_s: int = 300) -> bool:
    """True if `header` signs `body` with `secret` and is at most `tolerance_s` old (or early)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookChannel:
    """`Channel` that POSTs each envelope's bytes (JSON) to `url`, or to the envelope's own URL recipient."""

    def __init__(
        self, url: str | None, *, secret: bytes, timeout: float = 10.0, clock: Clock = utcnow, connections: int = 8
    ) -> None:
        if len(secret) < 16:
            raise ConfigError("the webhook secret must be at least 16 characters", hint="Set EPISTOLA_WEBHOOK_SECRET.")
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.clock = clock
        self.connections = connections
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> WebhookChannel:
        if settings.webhook_secret is None:
            raise ConfigError("the webhook channel needs EPISTOLA_WEBHOOK_SECRET", hint="Use 32 random characters.")
        return cls(
            settings.webhook_url,
            secret=settings.webhook_secret.get_secret_value().encode(),
            timeout=settings.webhook_timeout_s,
            clock=clock,
        )

    def __repr__(self) -> str:
        return "WebhookChannel()"  # the URL may carry a token

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import httpx

            limits = httpx.Limits(max_connections=self.connections, max_keepalive_connections=self.connections)
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits, follow_redirects=False)
            self._loop = loop
        return self._client

    async def send(self, envelope: Envelope) -> str:
        url = envelope.recipient if envelope.recipient.startswith(("https://", "http://")) else self.url
        if not url:
            raise PermanentDeliveryError(f"message {envelope.message_id}: no webhook URL (set EPISTOLA_WEBHOOK_URL)")
        headers = {
            "Content-Type": "application/json",
            MESSAGE_ID_HEADER: str(envelope.message_id),
            SIGNATURE_HEADER: sign(self._secret, envelope.data, self.clock()),
        }
        response = await httpcall.post(self._http(), url, content=envelope.data, headers=headers)
        httpcall.check(response, "the webhook")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
            return str(answer["id"])[:200]
        return f"webhook-{envelope.message_id}"

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def payload(**fields: object) -> bytes:
    """A compact JSON body (what a composer for this channel produces)."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str).encode()
