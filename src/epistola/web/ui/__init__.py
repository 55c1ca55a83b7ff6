"""The marketer UI (server-rendered pages under /ui)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from epistola.errors import EpistolaError
from epistola.web.errors import epistola_error
from epistola.web.ui.pages import router, ui_error


def install(api: FastAPI) -> None:
    """Pages answer errors as pages (or a sign-in redirect); the API keeps its JSON error shape."""

    async def handler(request: Request, exc: Exception) -> Response:
        if isinstance(exc, EpistolaError):
            page = ui_error(request, exc)
            if page is not None:
                return page
        return await epistola_error(request, exc)

    api.add_exception_handler(EpistolaError, handler)


__all__ = ["install", "router"]
