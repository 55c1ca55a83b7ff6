"""The public edge of the API: rate limits on public paths, and the two hottest routes answered directly.

An ASGI middleware in front of FastAPI. For every path under a public route (tracking, personal pages,
webhooks) it takes a token from the client IP's bucket first. Tracked clicks (``GET /t/c/{token}``) and the
open pixel (``GET /t/o/{token}.gif``) are then answered here without FastAPI's routing and dependency
machinery, which would cost more than the lookup itself: the click is what recipients wait for, and a
campaign's clicks come in bursts. The FastAPI routes in `web/tracking.py` declare the same two endpoints
(and answer them when this edge is not installed); both use `feedback.tracking` for the rules, so there
is one behaviour. Events go through the `EventWriter`, batched in the background.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from epistola.app import Epistola
from epistola.feedback import tracking
from epistola.feedback.survey_page import render_page
from epistola.feedback.survey_texts import ui_text
from epistola.feedback.writer import EventWriter
from epistola.web.deps import is_public
from epistola.web.errors import error_body
from epistola.web.ratelimit import RateLimiter, Verdict
from epistola.web.tracking import NO_STORE, TRANSPARENT_GIF

log = logging.getLogger("epistola.web.edge")

_NOT_RATE_LIMITED = ("/health", "/openapi.json", "/docs")
_CLICK, _OPEN = "/t/c/", "/t/o/"
_NO_STORE = [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]


def public_prefixes(api: FastAPI) -> tuple[str, ...]:
    """The static start of every public route's path (``/t/c/``, ``/p/``, ``/sms/inbound``…)."""
    out = set()
    for context in iter_route_contexts(api.routes):
        path = str(context.path)
        if is_public(context.original_route) and path not in _NOT_RATE_LIMITED:
            out.add(path.split("{", 1)[0])
    return tuple(sorted(out))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _answer(send: Send, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes, head: bool) -> None:
    all_headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _json(status: int, message: str) -> bytes:
    return json.dumps(error_body(status, message, [{"message": message}]), separators=(",", ":")).encode()


class PublicEdge:
    def __init__(
        self, app: ASGIApp, *, epistola: Epistola, limiter: RateLimiter, writer: EventWriter, prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.epistola = epistola
        self.limiter = limiter
        self.writer = writer
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._watch_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.prefixes and path.startswith(self.prefixes) and self.limiter.enabled:
            client = scope.get("client")
            verdict = self.limiter.check(client[0] if client else "-")
            if not verdict.allowed:
                await self._too_many(scope, send, verdict)
                return
        method = scope["method"]
        if method in ("GET", "HEAD"):
            if path.startswith(_CLICK):
                await self._click(scope, send, path[len(_CLICK) :], head=method == "HEAD")
                return
            if path.startswith(_OPEN) and path.endswith(".gif"):
                await self._open(scope, send, path[len(_OPEN) : -len(".gif")], head=method == "HEAD")
                return
        await self.app(scope, receive, send)

    def _watch_shutdown(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.writer.close()
            return message

        return watched

    async def _too_many(self, scope: Scope, send: Send, verdict: Verdict) -> None:
        retry = (b"retry-after", self.limiter.retry_after_header(verdict).encode())
        if scope["path"].startswith("/p/"):  # a person's browser: a page, not JSON
            html = render_page(locale="en", title=ui_text("en", "too_many_title"), message=ui_text("en", "too_many"))
            headers = [(b"content-type", b"text/html; charset=utf-8"), retry, *_NO_STORE]
            await _answer(send, 429, headers, html.encode(), scope["method"] == "HEAD")
            return
        body = _json(429, "too many requests; slow down and retry later")
        await _answer(send, 429, [(b"content-type", b"application/json"), retry], body, scope["method"] == "HEAD")

    async def _click(self, scope: Scope, send: Send, token: str, *, head: bool) -> None:
        now = self.epistola.clock()
        try:
            with self.epistola.engine.connect() as conn:
                hit = tracking.click_event(conn, token, user_agent=_header(scope, b"user-agent"), now=now)
        except SQLAlchemyError as exc:
            log.warning("click lookup failed (%s)", type(exc).__name__)
            await _answer(send, 503, [(b"content-type", b"application/json")], _json(503, "Service Unavailable"), head)
            return
        if hit is None:
            await _answer(send, 404, [(b"content-type", b"application/json")], _json(404, "unknown link"), head)
            return
        url, row = hit
        self._store(row)
        headers: list[tuple[bytes, bytes]] = [
            (b"location", url.encode("utf-8")),
            *_NO_STORE,
            (b"referrer-policy", b"no-referrer"),
        ]
        await _answer(send, 302, headers, b"", head)

    async def _open(self, scope: Scope, send: Send, token: str, *, head: bool) -> None:
        try:
            with self.epistola.engine.connect() as conn:
                row = tracking.open_event(
                    conn, token, user_agent=_header(scope, b"user-agent"), now=self.epistola.clock()
                )
            if row is not None:
                self._store(row)
        except SQLAlchemyError as exc:  # a broken image in a customer's mail is worse than a lost open
            log.warning("could not record an open (%s)", type(exc).__name__)
        await _answer(send, 200, [(b"content-type", b"image/gif"), *_NO_STORE], TRANSPARENT_GIF, head)

    def _store(self, row: dict[str, Any]) -> None:
        try:
            self.writer.add(row)
        except SQLAlchemyError as exc:  # unbuffered mode: the visitor still gets where they were going
            log.warning("could not record a tracking event (%s)", type(exc).__name__)


def install_public_edge(api: FastAPI, app: Epistola) -> None:
    """Put the edge in front of `api` (call after every router is mounted)."""
    settings = app.settings
    limiter = RateLimiter(rate=settings.public_rate_per_s, burst=settings.public_burst)
    writer = EventWriter(app.engine, interval=settings.tracking_flush_seconds)
    api.state.tracking_writer = writer
    api.state.rate_limiter = limiter
    api.add_middleware(PublicEdge, epistola=app, limiter=limiter, writer=writer, prefixes=public_prefixes(api))
