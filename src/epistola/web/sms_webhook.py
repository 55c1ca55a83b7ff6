"""The inbound SMS webhook: SMS providers post each message customers send to our number here.

``POST /sms/inbound`` with a JSON body ``{"id": "<provider's message id>", "provider": "<name>",
"from": "+48601234567", "text": "STOP"}`` and the header ``X-Epistola-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body under ``EPISTOLA_SMS_WEBHOOK_SECRET``. Keywords (STOP, START, HELP and their
Russian and Polish equivalents) are applied at once; the confirmation is queued for the SMS channel
exactly once per inbound message (see `epistola.consent.sms_keywords`), so a provider retrying the same
call changes nothing. Any other reply is stored as an ``sms.reply`` event (`epistola.feedback.inbound`).
The answer never echoes the number or the text.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field, ValidationError

from epistola.consent.keys import Keyring
from epistola.consent.sms_keywords import Inbound
from epistola.errors import AuthError, InputError, NotFound, Problem
from epistola.feedback.inbound import handle_sms
from epistola.web.deps import AppDep, ConnDep, PublicRoute

router = APIRouter(prefix="/sms", route_class=PublicRoute, tags=["sms"])
MAX_BODY = 16_384


class InboundSms(BaseModel):
    id: str = Field(min_length=1, max_length=150, description="The provider's id of the inbound message.")
    provider: str = Field("webhook", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    from_: str = Field(alias="from", min_length=3, max_length=40, description="The sender's number.")
    text: str = Field(max_length=2000)


class InboundResult(BaseModel):
    ok: bool = True
    keyword: str | None = Field(description="stop, start, help, or null when the message is no keyword.")
    duplicate: bool = Field(description="This message was handled before; nothing was done again.")
    customers: int = Field(description="How many customers have the sender's number.")


async def signed_body(request: Request) -> bytes:
    """The raw body (the signature covers its bytes), read before the synchronous route runs; reading
    stops just past `MAX_BODY`, which the route refuses."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            break
    return body


def check_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret, body, "sha256").hexdigest()
    return header is not None and hmac.compare_digest(expected.encode(), header.strip().encode())


@router.post(
    "/inbound",
    summary="Inbound SMS from a provider (signed); applies STOP / START / HELP keywords",
    response_model=InboundResult,
    responses={401: {"description": "Missing or wrong signature"}, 404: {"description": "Webhook not enabled"}},
)
def inbound_sms(
    body: Annotated[bytes, Depends(signed_body)],
    conn: ConnDep,
    app: AppDep,
    x_epistola_signature: Annotated[str | None, Header(description="sha256=<hex HMAC of the body>")] = None,
) -> InboundResult:
    secret = app.settings.sms_webhook_secret
    if secret is None:
        raise NotFound(
            "the SMS webhook is not enabled", hint="Set EPISTOLA_SMS_WEBHOOK_SECRET and give it to the provider."
        )
    if len(body) > MAX_BODY or not check_signature(secret.get_secret_value().encode(), body, x_epistola_signature):
        raise AuthError("the webhook signature is missing or wrong")
    try:
        sms = InboundSms.model_validate_json(body)
    except ValidationError as exc:
        problems = [
            Problem(message=str(e["msg"]), field=".".join(str(p) for p in e["loc"]) or "body") for e in exc.errors()
        ]
        raise InputError("invalid inbound SMS", problems=problems) from None
    handled = handle_sms(  # keywords to the consent ledger, other replies kept as events
        conn,
        Keyring.from_settings(app.settings),
        Inbound(inbound_key=f"{sms.provider}:{sms.id}", sender=sms.from_, text=sms.text),
        now=app.clock(),
    )
    return InboundResult(keyword=handled.keyword, duplicate=handled.duplicate, customers=len(handled.customers))
