"""Public tracking routes: the click redirect and the open pixel.

Whatever follows ``/t/c/`` reaches `click`, so unknown, malformed and forged tokens all get the very same
404 body, and each costs the same database lookup. There is no parameter that names a destination: the
only place a click can lead is the URL recorded for that token at send time.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from epistola.errors import NotFound
from epistola.feedback import tracking
from epistola.web.deps import AppDep, ConnDep, PublicRoute

log = logging.getLogger("epistola.web.tracking")

router = APIRouter(prefix="/t", route_class=PublicRoute, tags=["tracking"])

TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}

UserAgent = Annotated[str | None, Header(include_in_schema=False)]


@router.get(
    "/c/{token:path}",
    summary="Follow a tracked link",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        302: {"description": "To the URL recorded at send time"},
        404: {"description": "Unknown link"},
    },
)
def click(token: str, conn: ConnDep, app: AppDep, user_agent: UserAgent = None) -> RedirectResponse:
    url = tracking.resolve_click(conn, token, user_agent=user_agent, now=app.clock())
    if url is None:
        raise NotFound("unknown link")
    return RedirectResponse(url, status_code=302, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


@router.get(
    "/o/{token:path}.gif",
    summary="The open pixel: a 1×1 transparent GIF",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}, "description": "Always, known token or not"}},
)
def pixel(token: str, app: AppDep, user_agent: UserAgent = None) -> Response:
    # Its own transaction, so a database hiccup still answers with the image: a broken image in a
    # customer's mail is worse than one lost open.
    try:
        with app.engine.begin() as conn:
            tracking.record_open(conn, token, user_agent=user_agent, now=app.clock())
    except SQLAlchemyError as exc:
        log.warning("could not record an open (%s)", type(exc).__name__)
    return Response(TRANSPARENT_GIF, media_type="image/gif", headers=NO_STORE)
