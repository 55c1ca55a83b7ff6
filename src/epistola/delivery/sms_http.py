"""SMS through a provider's HTTP API, described by settings instead of code: URL, headers, a JSON body
template and where the message id is in the answer. Most aggregators (and an in-house gateway) fit.

The template is filled by plain replacement of `{to}`, `{sender}`, `{text}` and `{reference}` with
JSON-escaped values, then checked to be JSON, so a customer's text can never break out of its string.
Status codes mean what `httpcall.classify_status` says; one HTTP request is one message (the provider
splits long texts itself).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from epistola.config import Settings
from epistola.delivery import httpcall
from epistola.delivery.ports import Envelope
from epistola.errors import ConfigError, PermanentDeliveryError

# httpx is imported when the first client is made: keeps CLI start-up fast.
if TYPE_CHECKING:
    import httpx

PLACEHOLDERS = ("to", "sender", "text", "reference")


def parse_headers(value: str, *, setting: str = "EPISTOLA_SMS_HTTP_HEADERS") -> dict[str, str]:
    """``Authorization: Bearer x; X-Account: 7`` -> a dict; a clear error naming the bad pair."""
    headers = {}
    for item in (part.strip() for part in value.split(";")):
        if not item:
            continue
        name, sep, content = item.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \r\n"):
            raise ConfigError(f"{setting}: {name.strip() or item[:20]!r} is not `Name: value`")
        headers[name.strip()] = content.strip()
    return headers


def render_body(template: str, values: Mapping[str, str]) -> bytes:
    """The request body: placeholders replaced by JSON-escaped values, then parsed to prove it is JSON."""
    body = template
    for name in PLACEHOLDERS:
        body = body.replace("{" + name + "}", json.dumps(values.get(name, ""), ensure_ascii=False)[1:-1])
    try:
        json.loads(body)
    except ValueError as exc:
        raise ConfigError(
            f"EPISTOLA_SMS_HTTP_BODY is not a JSON template: {exc}",
            hint='Example: {"to": "{to}", "from": "{sender}", "text": "{text}"}',
        ) from None
    return body.encode("utf-8")


def find(answer: Any, path: str) -> Any:
    """The value at a dotted `path` (`messages.0.id`) in parsed JSON, or None."""
    node = answer
    for key in path.split("."):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return None
    return node


class HttpSmsChannel:
    """`Channel` for SMS over an HTTP provider API."""

    def __init__(
        self,
        url: str,
        *,
        body: str,
        id_path: str = "id",
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        connections: int = 8,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigError("EPISTOLA_SMS_HTTP_URL must be an http(s) URL")
        render_body(body, {})  # refuse a broken template at start, not at the first message
        self.url = url
        self.body = body
        self.id_path = id_path
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self.timeout = timeout
        self.connections = connections
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpSmsChannel:
        if not settings.sms_http_url:
            raise ConfigError("EPISTOLA_SMS_PROVIDER=http needs EPISTOLA_SMS_HTTP_URL")
        headers = parse_headers(settings.sms_http_headers.get_secret_value()) if settings.sms_http_headers else {}
        return cls(
            settings.sms_http_url,
            body=settings.sms_http_body,
            id_path=settings.sms_http_id_path,
            headers=headers,
            timeout=settings.sms_http_timeout_s,
        )

    def __repr__(self) -> str:
        return "HttpSmsChannel()"  # URL and headers may carry credentials

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import httpx

            limits = httpx.Limits(max_connections=self.connections, max_keepalive_connections=self.connections)
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits, follow_redirects=False)
            self._loop = loop
        return self._client

    async def send(self, envelope: Envelope) -> str:
        text = envelope.data.decode("utf-8")
        if not text:
            raise PermanentDeliveryError(f"message {envelope.message_id}: an SMS needs some text")
        body = render_body(
            self.body,
            {"to": envelope.recipient, "sender": envelope.sender, "text": text, "reference": str(envelope.message_id)},
        )
        response = await httpcall.post(self._http(), self.url, content=body, headers=self._headers)
        httpcall.check(response, "the SMS provider")
        try:
            provider_id = find(response.json(), self.id_path)
        except ValueError:
            provider_id = None
        return str(provider_id)[:200] if provider_id not in (None, "") else f"http-{envelope.message_id}"

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
