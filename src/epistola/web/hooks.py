"""``POST /hooks/{provider}``: bounces and complaints from e-mail providers (ses, sendgrid, mailgun, postmark).

Off unless EPISTOLA_BOUNCE_WEBHOOK_SECRET is set. Mailgun's calls carry its HMAC signature (the secret is
the Mailgun signing key); the others present the secret as ``?key=`` in the URL configured at the
provider, or as the ``X-Epistola-Webhook-Key`` header. Every failure to authenticate, and every unknown
provider, looks the same. Reports go through `feedback.deliverability.record_reports`, like bounce mail.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel

from epistola.errors import AuthError, InputError, Problem
from epistola.feedback.deliverability import FeedbackPolicy, record_reports
from epistola.feedback.suppress import ListSuppressor
from epistola.feedback.webhooks import READERS, check_key, check_mailgun
from epistola.web.deps import AppDep, ConnDep, PublicRoute

router = APIRouter(prefix="/hooks", route_class=PublicRoute, tags=["feedback"])
MAX_BODY = 1_000_000


class HookResult(BaseModel):
    ok: bool = True
    reports: int
    duplicates: int
    suppressed: int


async def raw_body(request: Request) -> bytes:
    """The body, read before the (synchronous) route runs, and refused when it is too large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InputError("the body is too large", problems=[Problem(message="at most 1 MB", field="body")])
    return body


@router.post(
    "/{provider}",
    summary="Bounce and complaint notifications from an e-mail provider",
    response_model=HookResult,
    responses={401: {"description": "Webhooks off, unknown provider, or not authenticated"}},
)
def provider_hook(
    provider: str,
    body_bytes: Annotated[bytes, Depends(raw_body)],
    conn: ConnDep,
    app: AppDep,
    key: Annotated[str | None, Query(include_in_schema=False)] = None,
    x_epistola_webhook_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> HookResult:
    secret = app.settings.bounce_webhook_secret
    refused = AuthError("webhook call refused", hint="Check the provider's URL and EPISTOLA_BOUNCE_WEBHOOK_SECRET.")
    if secret is None or provider not in READERS:
        raise refused
    try:
        body: Any = json.loads(body_bytes or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("the body is not JSON", problems=[Problem(message="invalid JSON", field="body")]) from None
    secret_bytes = secret.get_secret_value().encode()
    if provider == "mailgun":
        if not isinstance(body, dict) or not check_mailgun(body, secret_bytes):
            raise refused
    elif not check_key(key or x_epistola_webhook_key, secret_bytes):
        raise refused
    reports = READERS[provider](body)
    outcome = record_reports(
        conn,
        reports,
        source=f"webhook:{provider}",
        suppressor=ListSuppressor.from_settings(app.settings),
        now=app.clock(),
        actor=f"webhook:{provider}",
        policy=FeedbackPolicy.from_settings(app.settings),
    )
    return HookResult(reports=outcome.reports, duplicates=outcome.duplicates, suppressed=outcome.suppressed)
