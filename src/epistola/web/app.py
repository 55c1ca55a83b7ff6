"""The HTTP API: `create_api` builds it around one `Epistola` instance, `serve` runs it under uvicorn.

To add routes, write a module with an ``APIRouter`` and add it to `ROUTERS`; `mount` makes every
route require an API key unless the router was built with ``route_class=PublicRoute``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence

import uvicorn
from fastapi import APIRouter, Depends, FastAPI

from epistola import __version__
from epistola.app import Epistola, create_app
from epistola.config import load_settings
from epistola.web import (
    admin,
    campaigns,
    customers,
    privacy_api,
    privacy_pages,
    purl,
    sms_webhook,
    system,
    tracking,
    ui,
)
from epistola.web import audience as audience_api
from epistola.web import content as content_api
from epistola.web import events as events_api
from epistola.web import hooks as feedback_hooks
from epistola.web import hub as hub_api
from epistola.web import identity as identity_api
from epistola.web import inbox as inbox_api
from epistola.web.deps import PublicRoute, current_key
from epistola.web.edge import install_public_edge
from epistola.web.errors import install_error_handlers

ROUTERS: Sequence[APIRouter] = (
    system.router,
    tracking.router,
    purl.router,
    feedback_hooks.router,
    events_api.router,
    admin.router,
    customers.router,
    identity_api.router,
    campaigns.router,
    hub_api.router,
    hub_api.ui_router,
    audience_api.router,
    content_api.router,
    inbox_api.router,
    privacy_pages.router,
    privacy_api.router,
    sms_webhook.router,
    ui.router,
)


def mount(api: FastAPI, router: APIRouter) -> None:
    """Include `router`; unless it is a public router, each of its routes requires a valid API key."""
    public = issubclass(router.route_class, PublicRoute)
    api.include_router(router, dependencies=[] if public else [Depends(current_key)])


def create_api(app: Epistola, *, routers: Sequence[APIRouter] = ROUTERS) -> FastAPI:
    """The FastAPI application for `app`; no globals, so tests may build as many as they like."""
    api = FastAPI(
        title="Epistola",
        version=__version__,
        summary="Customer communications: one customer record, the right message in every channel.",
        # Our own public routes serve /openapi.json and an offline /docs page: no CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # No redirect the API did not decide on: the only redirects are tracked clicks.
        redirect_slashes=False,
    )
    api.state.epistola = app
    install_error_handlers(api)
    ui.install(api)
    for router in routers:
        mount(api, router)
    install_public_edge(api, app)  # rate limits, and the click and pixel hot path
    return api


_TOKEN_PATH = re.compile(r"(/t/[a-z]/|/p/|/preferences/|/unsubscribe/)[^ ?\"]+")  # tracking tokens and personal pages


class RedactTrackingTokens(logging.Filter):
    """Keep tracking tokens out of the access log: each one stands for a customer and a message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_PATH.sub(r"\1…", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def build_server(
    app: Epistola, host: str | None = None, port: int | None = None, *, log_level: str | None = None
) -> uvicorn.Server:
    """A uvicorn server for `app` (not started); `serve` runs it, tests run it in a thread."""
    settings = app.settings
    config = uvicorn.Config(
        create_api(app),
        host=host or settings.api_host,
        port=port if port is not None else settings.api_port,
        log_level=(log_level or settings.log_level).lower(),
        proxy_headers=True,
        server_header=False,
    )
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTrackingTokens) for f in access_log.filters):
        access_log.addFilter(RedactTrackingTokens())
    return uvicorn.Server(config)


def serve(app: Epistola, host: str | None = None, port: int | None = None) -> None:
    """Run the API until interrupted (Ctrl-C or SIGTERM); EPISTOLA_API_WORKERS > 1 starts that many processes."""
    settings = app.settings
    if settings.api_workers <= 1:
        build_server(app, host, port).run()
        return
    # Each worker process builds its own instance from the environment, so pass on what the CLI overrode.
    os.environ["EPISTOLA_DATABASE_URL"] = settings.database_url
    os.environ["EPISTOLA_OUTPUT_DIR"] = str(settings.output_dir)
    app.close()
    uvicorn.run(
        "epistola.web.app:api_from_environment",
        factory=True,
        host=host or settings.api_host,
        port=port if port is not None else settings.api_port,
        workers=settings.api_workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        server_header=False,
    )


def api_from_environment() -> FastAPI:
    """The API of one worker process (`serve` with several workers): settings from the environment."""
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTrackingTokens) for f in access_log.filters):
        access_log.addFilter(RedactTrackingTokens())
    return create_api(create_app(load_settings()))
