"""One error shape for every failure the API can return, whatever raised it.

``{"ok": false, "error": "<message>", "errors": [{"message", "field"?, "row"?, "file"?}], "status": N}``

Clients handle one shape; `tests/integration/test_error_shape.py` holds every kind of failure to it.
Server errors say nothing about their cause (no stack trace, no input values): that goes to the log,
which gets the exception's type and traceback but not its message, as messages may quote personal data.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from epistola.errors import AuthError, EpistolaError, Problem

log = logging.getLogger("epistola.web")

VALIDATION_STATUS = 400  # the same status as `InputError`, so bad input is 400 however it is caught
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def error_body(status: int, message: str, errors: Iterable[Mapping[str, object]] = ()) -> dict[str, Any]:
    return {"ok": False, "error": message, "errors": [dict(e) for e in errors], "status": status}


def error_response(
    status: int,
    message: str,
    errors: Iterable[Mapping[str, object]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, errors), status_code=status, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _route_of(request: Request) -> str:
    """The route template, not the path: paths carry tokens and ids."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "<no route>"))


def _log_server_error(request: Request, exc: BaseException) -> None:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s while handling %s %s\n%s", type(exc).__name__, request.method, _route_of(request), frames)


def _problems(problems: Sequence[Problem]) -> list[dict[str, object]]:
    return [p.as_dict() for p in problems]


async def epistola_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EpistolaError)  # noqa: S101 - registered for this type only
    status = exc.http_status
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 and isinstance(exc, AuthError) else None
    if status >= 500:
        _log_server_error(request, exc)
        return error_response(status, _phrase(status), [{"message": _phrase(status)}])
    message = exc.message if not exc.hint else f"{exc.message.rstrip('.')}. {exc.hint}"
    errors = _problems(exc.problems) or [{"message": exc.message}]
    return error_response(status, message, errors, headers)


def _field(loc: Sequence[str | int]) -> str:
    parts = list(loc[1:]) if loc and loc[0] in _LOCATIONS else list(loc)
    return ".".join(str(p) for p in parts) or (str(loc[0]) if loc else "request")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors: list[dict[str, object]] = []
    for err in exc.errors():
        # Never echo `input`: it is whatever the client sent, personal data included.
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            errors.append({"message": f"the body is not valid JSON{at}", "field": "body"})
        else:
            errors.append({"message": str(err.get("msg", "invalid value")), "field": _field(loc)})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return error_response(VALIDATION_STATUS, f"invalid request: {summary}", errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) and status < 500 else _phrase(status)
    return error_response(status, detail, [{"message": detail}], exc.headers)


class UnexpectedErrors:
    """Turn any unhandled exception into the error shape, and stop it there.

    Starlette's own last-resort handler re-raises after answering, so the server would log the
    exception's message (which may quote personal data) a second time; this middleware does not.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as exc:
            _log_server_error(Request(scope), exc)
            if started:  # too late for a body: let the server drop the connection
                raise
            response = error_response(500, "Internal Server Error", [{"message": "an unexpected error occurred"}])
            await response(scope, receive, send)


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(EpistolaError, epistola_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_middleware(UnexpectedErrors)
