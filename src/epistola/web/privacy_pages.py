"""Public pages every message links to: the preference centre (``/preferences/<token>``) and unsubscribe
(``/unsubscribe/<token>``).

Server-rendered HTML (Jinja2, autoescaped), in the customer's language (en, ru, pl; ``?lang=`` overrides),
no script, no CDN and no cookies: the signed token in the path is the only credential. A GET never
changes anything, because mail scanners and link previewers fetch every URL in a message; a POST to the
unsubscribe URL (the RFC 8058 one-click request a mailbox provider sends, or the button on the page)
withdraws at once. Every invalid, forged, unknown or erased-customer token gets the very same 404 page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData

from epistola.app import Epistola
from epistola.consent import preferences as prefs
from epistola.consent.keys import Keyring
from epistola.consent.links import PREFERENCES_PATH
from epistola.consent.policy import ConsentPolicy, parse_policy
from epistola.consent.texts import LANGUAGES, language, page_text, statement, topic_label
from epistola.consent.tokens import TokenKind, sign, verify
from epistola.web.deps import AppDep, ConnDep, PublicRoute, client_ip

router = APIRouter(route_class=PublicRoute, tags=["privacy pages"], include_in_schema=False)

_env = Environment(
    loader=PackageLoader("epistola.web", "privacy_templates"), autoescape=select_autoescape(default=True)
)
LANGUAGE_NAMES = (("en", "English"), ("ru", "Русский"), ("pl", "Polski"))
HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}
Lang = Annotated[str | None, Query(max_length=10, description="en, ru or pl")]
UserAgent = Annotated[str | None, Header(include_in_schema=False)]
AcceptLanguage = Annotated[str | None, Header(include_in_schema=False)]


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = context.setdefault("lang", "en")
    context.setdefault("t", page_text(lang))
    html = _env.get_template(name).render(brand="Epistola Demo", languages=LANGUAGE_NAMES, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _invalid(lang: str | None, accept: str | None) -> HTMLResponse:
    """One answer for every bad link, whatever was wrong with it."""
    chosen = lang if lang in LANGUAGES else language((accept or "en").split(",")[0].strip())
    return _render("invalid.html", status=404, lang=chosen)


def _policy(app: Epistola) -> ConsentPolicy:
    return parse_policy(app.settings.consent_policy)


def _topics(app: Epistola) -> list[str]:
    return app.settings.preference_topics.split(",")


def _proof(request: Request, kind: str, page: str, message_id: int | None, user_agent: str | None) -> dict[str, Any]:
    proof: dict[str, Any] = {
        "kind": kind,
        "page": page,
        "ip": client_ip(request),
        "user_agent": (user_agent or "")[:300],
    }
    if message_id is not None:
        proof["message_id"] = message_id
    return proof


def _preferences_page(app: Epistola, current: prefs.Preferences, lang: str, *, saved: bool) -> HTMLResponse:
    t = page_text(lang)
    channels = [
        {
            "key": c,
            "label": t[f"channel.{c}"],
            "allowed": current.channels[c],
            "contact": current.contact.get(c),
            "statement": statement(c, lang).text,
        }
        for c in prefs.CENTRE_CHANNELS
    ]
    topics = [{"key": k, "label": topic_label(k, lang), "chosen": k in current.topics} for k in _topics(app)]
    frequencies = [
        {"key": f, "label": t[f"frequency.{f}"], "chosen": f == current.frequency} for f in prefs.FREQUENCIES
    ]
    return _render(
        "preferences.html",
        lang=lang,
        t=t,
        saved=saved,
        contact=current.contact,
        channels=channels,
        topics=topics,
        frequencies=frequencies,
    )


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preference_centre(
    token: str, conn: ConnDep, app: AppDep, lang: Lang = None, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    claims = verify(Keyring.from_settings(app.settings), TokenKind.PREFERENCES, token)
    current = None
    if claims is not None:
        current = prefs.load(conn, claims.customer_id, policy=_policy(app), topics=_topics(app), now=app.clock())
    if current is None:
        return _invalid(lang, accept_language)
    return _preferences_page(app, current, lang if lang in LANGUAGES else language(current.locale), saved=False)


async def _form(request: Request) -> FormData:
    """The submitted form, read on the event loop so that the route itself can be synchronous."""
    return await request.form()


async def _body_start(request: Request) -> bytes:
    """The first 2000 bytes of the body (enough for RFC 8058's ``List-Unsubscribe=One-Click``)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) >= 2000:
            break
    return body[:2000]


@router.post("/preferences/{token}", response_class=HTMLResponse)
def save_preferences(
    token: str,
    request: Request,
    form: Annotated[FormData, Depends(_form)],
    conn: ConnDep,
    app: AppDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
    user_agent: UserAgent = None,
) -> HTMLResponse:
    claims = verify(Keyring.from_settings(app.settings), TokenKind.PREFERENCES, token)
    now = app.clock()
    policy, topics = _policy(app), _topics(app)
    current = None if claims is None else prefs.load(conn, claims.customer_id, policy=policy, topics=topics, now=now)
    if claims is None or current is None:
        return _invalid(lang, accept_language)
    chosen = {str(v) for v in form.getlist("channel")}
    if form.get("action") == "unsubscribe_all":
        change = prefs.Change(channels=dict.fromkeys(prefs.CENTRE_CHANNELS, False))
    else:
        frequency = str(form.get("frequency") or current.frequency)
        change = prefs.Change(
            channels={c: c in chosen for c in prefs.CENTRE_CHANNELS},
            topics=[str(v) for v in form.getlist("topic") if str(v) in topics],
            frequency=frequency if frequency in prefs.FREQUENCIES else current.frequency,
        )
    page_lang = lang if lang in LANGUAGES else language(current.locale)
    proof = _proof(request, "form", "preference_centre", claims.message_id, user_agent)
    prefs.save(conn, current, change, topics=topics, proof=proof, now=now)
    updated = prefs.load(conn, current.customer_id, policy=policy, topics=topics, now=now)
    assert updated is not None  # noqa: S101 - the same transaction just read it
    return _preferences_page(app, updated, page_lang, saved=True)


def _unsubscribe_page(app: Epistola, customer_id: int, lang: str, *, done: bool) -> HTMLResponse:
    # A path, not a full URL: the page links to the host it was served from.
    url = PREFERENCES_PATH + sign(Keyring.from_settings(app.settings), TokenKind.PREFERENCES, customer_id)
    return _render("unsubscribe.html", lang=lang, done=done, preferences_url=url)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_confirmation(
    token: str, conn: ConnDep, app: AppDep, lang: Lang = None, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    """Only asks: a GET changes nothing (scanners follow links)."""
    claims = verify(Keyring.from_settings(app.settings), TokenKind.UNSUBSCRIBE, token)
    customer = None if claims is None else prefs.resolve(conn, claims.customer_id)
    if customer is None:
        return _invalid(lang, accept_language)
    locale = prefs.customer_locale(conn, customer)
    return _unsubscribe_page(app, customer, lang if lang in LANGUAGES else language(locale), done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(
    token: str,
    request: Request,
    body: Annotated[bytes, Depends(_body_start)],
    conn: ConnDep,
    app: AppDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
    user_agent: UserAgent = None,
) -> HTMLResponse:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) or the page's button: withdraws at once."""
    claims = verify(Keyring.from_settings(app.settings), TokenKind.UNSUBSCRIBE, token)
    customer = None if claims is None else prefs.resolve(conn, claims.customer_id)
    if claims is None or customer is None:
        return _invalid(lang, accept_language)
    kind = "one_click" if b"List-Unsubscribe=One-Click" in body else "form"
    proof = _proof(request, kind, "unsubscribe", claims.message_id, user_agent)
    prefs.unsubscribe(conn, customer, proof=proof, now=app.clock())
    locale = prefs.customer_locale(conn, customer)
    return _unsubscribe_page(app, customer, lang if lang in LANGUAGES else language(locale), done=True)
