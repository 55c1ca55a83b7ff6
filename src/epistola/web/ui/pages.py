"""The marketer UI: server-rendered pages over the same services as the API and the CLI.

No JavaScript framework and no CDN: HTML from Jinja2 (autoescaped), one stylesheet, and a few lines of
script that poll live counters. Sign-in is with an API key; the session cookie is signed (see
`session.py`), and every page checks the key's permissions like the API does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection, func, select

from epistola.accounts import ApiKey, Permission, authenticate
from epistola.audience.segments import count_segment, list_segments
from epistola.campaigns.report import campaign_report, money
from epistola.campaigns.service import change_status, get_campaign, list_campaigns
from epistola.charts import bar_chart
from epistola.consent.ledger import current_state
from epistola.delivery.control import campaign_progress
from epistola.errors import AuthError, EpistolaError, Forbidden, NotFound
from epistola.store.schema import (
    customer_lineage,
    customers,
    events,
    imports,
    messages,
    segments,
    source_records,
    sources,
)
from epistola.web.deps import AppDep, ConnDep, PublicRoute
from epistola.web.ui import session

router = APIRouter(prefix="/ui", route_class=PublicRoute, include_in_schema=False)
_env = Environment(loader=PackageLoader("epistola.web.ui", "templates"), autoescape=select_autoescape(default=True))
_env.filters["money"] = money
STATIC = {"ui.css": "text/css", "ui.js": "text/javascript"}
CHANNELS = ("email", "sms", "post")


class LoginRequired(AuthError):
    """Raised by page dependencies; turned into a redirect to the sign-in page."""


def page_key(request: Request, app: AppDep, conn: ConnDep) -> ApiKey:
    key = session.read(app.secret, request.cookies.get(session.COOKIE), conn, app.clock())
    if key is None:
        raise LoginRequired("sign in to continue")
    return key


PageKey = Annotated[ApiKey, Depends(page_key)]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    app = request.app.state.epistola
    cookie = request.cookies.get(session.COOKIE)
    csrf = session.csrf_token(app.secret, cookie) if cookie else ""
    html = _env.get_template(template).render(request=request, csrf=csrf, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _require(key: ApiKey, permission: Permission) -> None:
    if not key.can(permission):
        raise Forbidden(f"the {key.role.value} role may not do this")


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise NotFound("no such file")
    body = resources.files("epistola.web.ui").joinpath(f"static/{name}").read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"})


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", error=None)


@router.post("/login")
def login(request: Request, app: AppDep, conn: ConnDep, api_key: Annotated[str, Form()] = "") -> Response:
    key = authenticate(conn, api_key.strip())
    if key is None:
        return render(request, "login.html", status=401, error="That key is not valid or has been revoked.")
    response = RedirectResponse("/ui/", status_code=303)
    secure = app.settings.public_base_url.startswith("https://")
    response.set_cookie(
        session.COOKIE,
        session.issue(app.secret, key, app.clock()),
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=int(session.LIFETIME.total_seconds()),
        path="/ui",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/ui")
    return response


@router.get("/")
def dashboard(request: Request, app: AppDep, conn: ConnDep, key: PageKey) -> HTMLResponse:
    total = conn.execute(select(func.count()).select_from(customers).where(customers.c.merged_into.is_(None)))
    kpis = {
        "customers": total.scalar_one(),
        "source records": conn.execute(select(func.count()).select_from(source_records)).scalar_one(),
        "events": conn.execute(select(func.count()).select_from(events)).scalar_one(),
        "segments": conn.execute(select(func.count()).select_from(segments)).scalar_one(),
    }
    campaigns = [(c, campaign_progress(conn, c.id)) for c in reversed(list_campaigns(conn))]
    recent = conn.execute(
        select(sources.c.name, imports.c.status, imports.c.started_at, imports.c.stats)
        .join(sources, sources.c.id == imports.c.source_id)
        .order_by(imports.c.id.desc())
        .limit(8)
    ).all()
    return render(request, "dashboard.html", key=key, kpis=kpis, campaigns=campaigns, imports=recent)


def _progress(conn: Connection, campaign_id: int) -> dict[str, Any]:
    counts = {str(k): v for k, v in campaign_progress(conn, campaign_id).items()}
    total = sum(counts.values())
    done = total - counts.get("queued", 0) - counts.get("rendering", 0) - counts.get("sending", 0)
    return {"counts": counts, "total": total, "done": done, "percent": round(100 * done / total, 1) if total else 0}


@router.get("/campaigns/{ref}")
def campaign_page(ref: str, request: Request, app: AppDep, conn: ConnDep, key: PageKey) -> HTMLResponse:
    campaign = get_campaign(conn, ref)
    report = campaign_report(conn, campaign.id, now=app.clock())
    response_chart = bar_chart(
        [("target", report.target.rate * 100), ("control", report.control.rate * 100)],
        unit=" %",
        decimals=2,
        width=480,
    )
    funnel = bar_chart([("sent", report.sent), ("opened", report.opened), ("clicked", report.clicked),
                        ("responded", report.target.responders)], width=480)  # fmt: skip
    return render(
        request,
        "campaign.html",
        key=key,
        c=campaign,
        r=report,
        progress=_progress(conn, campaign.id),
        response_chart=response_chart,
        funnel=funnel,
        can_manage=key.can(Permission.MANAGE_CAMPAIGNS),
    )


@router.get("/campaigns/{ref}/progress.json")
def campaign_progress_json(ref: str, conn: ConnDep, key: PageKey) -> dict[str, Any]:
    campaign = get_campaign(conn, ref)
    return {"status": campaign.status, **_progress(conn, campaign.id)}


@router.post("/campaigns/{ref}/{action}")
def campaign_action(ref: str, action: str, request: Request, app: AppDep, conn: ConnDep, key: PageKey,
                    csrf: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    if not session.csrf_ok(app.secret, request.cookies.get(session.COOKIE), csrf):
        raise Forbidden("the form has expired; reload the page and try again")
    _require(key, Permission.MANAGE_CAMPAIGNS)
    campaign = get_campaign(conn, ref)
    change_status(conn, campaign.id, action, now=app.clock(), actor=key.name)
    return RedirectResponse(f"/ui/campaigns/{campaign.id}", status_code=303)


@router.get("/customers")
def customers_page(request: Request, conn: ConnDep, key: PageKey, q: str = "") -> HTMLResponse:
    query = select(customers).where(customers.c.merged_into.is_(None)).order_by(customers.c.id).limit(50)
    term = q.strip()
    if term.isdigit():
        query = query.where(customers.c.id == int(term))
    elif "@" in term:
        query = query.where(customers.c.email == term.lower())
    elif term:
        query = query.where(func.lower(customers.c.last_name).startswith(term.lower()))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    return render(request, "customers.html", key=key, rows=rows, q=q)


@router.get("/customers/{customer_id}")
def customer_page(customer_id: int, request: Request, app: AppDep, conn: ConnDep, key: PageKey) -> HTMLResponse:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).mappings().first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    lineage = conn.execute(
        select(customer_lineage.c.field, sources.c.name, source_records.c.source_key, customer_lineage.c.observed_at)
        .join(source_records, source_records.c.id == customer_lineage.c.source_record_id)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(customer_lineage.c.customer_id == customer_id)
        .order_by(customer_lineage.c.field)
    ).all()
    records = conn.execute(
        select(sources.c.name, source_records.c.source_key, source_records.c.normalized)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(source_records.c.customer_id == customer_id)
    ).all()
    now = app.clock()
    consent = {ch: current_state(conn, [customer_id], channel=ch, purpose="marketing", now=now).get(customer_id)
               for ch in CHANNELS}  # fmt: skip
    history = conn.execute(
        select(events.c.type, events.c.category, events.c.amount, events.c.currency, events.c.occurred_at)
        .where(events.c.customer_id == customer_id, events.c.occurred_at >= now - timedelta(days=730))
        .order_by(events.c.occurred_at.desc())
        .limit(25)
    ).all()
    sent = conn.execute(
        select(messages.c.channel, messages.c.state, messages.c.sent_at, messages.c.error)
        .where(messages.c.customer_id == customer_id)
        .order_by(messages.c.id.desc())
        .limit(25)
    ).all()
    return render(request, "customer.html", key=key, c=dict(row), lineage=lineage, records=records, consent=consent,
                  history=history, sent=sent)  # fmt: skip


@router.get("/segments")
def segments_page(request: Request, app: AppDep, conn: ConnDep, key: PageKey) -> HTMLResponse:
    now = app.clock()
    rows = [(s, count_segment(conn, s, now)) for s in list_segments(conn)]
    chart = bar_chart([(s.name, n) for s, n in rows])
    return render(request, "segments.html", key=key, rows=rows, chart=chart, counted_at=now)


def ui_error(request: Request, exc: EpistolaError) -> Response | None:
    """Pages answer errors with pages: a sign-in redirect, or a readable error page."""
    if not request.url.path.startswith("/ui") or request.url.path.endswith(".json"):
        return None
    if isinstance(exc, LoginRequired):
        return RedirectResponse("/ui/login", status_code=303)
    return render(request, "error.html", status=exc.http_status, message=exc.message, hint=exc.hint,
                  now=datetime.now())  # fmt: skip
