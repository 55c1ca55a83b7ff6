"""Public personal pages: ``GET /p/{token}`` shows the customer's survey, ``POST /p/{token}`` answers it.

The token in the address is the customer's key to their own page, so there is no login and no CSRF
token: a forged form cannot know it. Unknown, malformed and forged tokens all get the very same 404
page after the very same query. A successful answer redirects back to the page (post/redirect/get), so
reloading never sends the answers twice, and the customer can come back and change them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from epistola.errors import InputError, Problem
from epistola.feedback.landing import web_rendition
from epistola.feedback.purls import Purl, purl_url, record_visit, resolve_purl
from epistola.feedback.responses import record_answers
from epistola.feedback.survey_page import greeting, not_found_page, render_page, render_survey_block
from epistola.feedback.survey_store import get_response, survey_for_step
from epistola.feedback.survey_texts import lang, ui_text
from epistola.feedback.surveys import pick, validate_answers
from epistola.feedback.tracking import is_machine_agent
from epistola.web.deps import AppDep, ConnDep, PublicRoute, client_ip

router = APIRouter(prefix="/p", route_class=PublicRoute, tags=["personal pages"])

MAX_FORM_BYTES = 64 * 1024
PAGE_HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Referrer-Policy": "no-referrer",  # the token must not leak to the sites the page links to
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
# The audit origin of a change made on a personal page: the page kind, never the visitor's address,
# which is personal data (it stays only in a consent's proof, where an erasure removes it).
PAGE_ORIGIN = "purl"
UserAgent = Annotated[str | None, Header(include_in_schema=False)]
LangParam = Annotated[str | None, Query(alias="lang", max_length=10, description="en, ru or pl")]


def _not_found() -> HTMLResponse:
    return HTMLResponse(not_found_page(), status_code=404, headers=PAGE_HEADERS)


async def submitted_fields(request: Request) -> dict[str, Any]:
    """The posted form (urlencoded) or JSON object, read with a size limit before anything else."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InputError("the answers are too long", problems=[Problem(message="at most 64 KiB", field="body")])
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if ctype == "application/json":
            data = json.loads(text or "{}")
            if not isinstance(data, dict):
                raise ValueError("a JSON object is expected")
            return data
        return dict(parse_qs(text, keep_blank_values=True, max_num_fields=500, strict_parsing=False))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("the answers could not be read", problems=[Problem(message=str(exc), field="body")]) from None


Fields = Annotated[dict[str, Any], Depends(submitted_fields)]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _first(value: Any) -> str | None:
    values = _as_list(value)
    return values[0] if values else None


def _page(purl: Purl, token: str, conn: ConnDep, app: AppDep, locale: str, **block: Any) -> HTMLResponse:
    """The design's web rendition with the survey inside, or the plain page where there is none."""
    stored = survey_for_step(conn, purl.step_id)
    status = int(block.pop("status", 200))
    form = None
    if stored is not None:
        if "answers" not in block:
            previous = get_response(conn, stored.id, purl.customer_id)
            block["answers"] = previous.answers if previous else {}
            if previous is not None and not block.get("saved"):
                block["answered_at"] = previous.updated_at
        form = render_survey_block(stored.survey, locale=locale, action=f"/p/{token}", **block)
    page_url = purl_url(app.settings.public_base_url, token)
    html = web_rendition(conn, purl, today=app.clock().date(), page_url=page_url, block=form, lang=locale)
    if html is None:
        hello = greeting(locale, purl.first_name)
        if form is None:
            title, message = ui_text(locale, "hello_anon"), ui_text(locale, "no_survey")
            html = render_page(locale=locale, title=title, greeting_text=hello, message=message)
        else:
            title = pick(stored.survey.title, locale) if stored else ""
            html = render_page(locale=locale, title=title, greeting_text=hello, block=form)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


@router.get(
    "/{token:path}",
    summary="A customer's personal page (survey)",
    response_class=HTMLResponse,
    responses={404: {"description": "Unknown page"}},
)
def show(
    token: str, conn: ConnDep, app: AppDep, saved: int = 0, lang_param: LangParam = None, user_agent: UserAgent = None
) -> Response:
    purl = resolve_purl(conn, token)
    if purl is None:
        return _not_found()
    if not saved:
        record_visit(conn, purl, machine=is_machine_agent(user_agent), now=app.clock())
    return _page(purl, token, conn, app, lang(lang_param or purl.locale), saved=bool(saved))


@router.post(
    "/{token:path}",
    summary="Answer the survey on a personal page",
    response_class=HTMLResponse,
    status_code=303,
    responses={303: {"description": "Saved: back to the page"}, 400: {"description": "Invalid answers"}},
)
def answer(token: str, fields: Fields, conn: ConnDep, app: AppDep, request: Request) -> Response:
    purl = resolve_purl(conn, token)
    if purl is None:
        return _not_found()
    stored = survey_for_step(conn, purl.step_id)
    if stored is None:
        return _not_found()
    locale = lang(_first(fields.get("_lang")) or purl.locale)
    now = app.clock()
    checked = validate_answers(stored.survey, fields, today=now.date())
    if not checked.ok:
        # Show what the customer typed next to each complaint, so nothing has to be typed again.
        shown = dict(checked.answers)
        for error in checked.errors:
            question = stored.survey.question(error.question)
            raw = fields.get(error.question)
            if question is not None:
                shown[error.question] = _as_list(raw) if question.type == "multiple" else _first(raw)
        return _page(purl, token, conn, app, locale, answers=shown, errors=checked.errors, status=400)
    record_answers(
        conn,
        survey=stored,
        customer_id=purl.customer_id,
        message_id=purl.message_id,
        answers=checked.answers,
        now=now,
        actor="customer",
        locale=locale,
        origin=PAGE_ORIGIN,
        ip=client_ip(request),
    )
    return RedirectResponse(f"/p/{token}?saved=1", status_code=303, headers=PAGE_HEADERS)
