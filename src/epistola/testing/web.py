"""An in-process HTTP client for the API: real requests through the whole ASGI stack, no socket."""

from __future__ import annotations

import warnings
from typing import Any

from epistola.app import Epistola
from epistola.web import create_api

with warnings.catch_warnings():
    # Starlette prefers httpx2 and warns when it finds only httpx; that is a packaging matter, not a
    # problem with the test. A no-op once httpx2 is installed.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def api_client(app: Epistola, **kwargs: Any) -> TestClient:
    """A client for `create_api(app)`. Server errors come back as 500 responses, as a real client sees
    them, rather than being raised into the test."""
    kwargs.setdefault("raise_server_exceptions", False)
    return TestClient(create_api(app), **kwargs)


__all__ = ["TestClient", "api_client"]
