"""The HTTP API (FastAPI): REST routes, API-key authentication, one error shape, public tracking routes."""

from epistola.web.app import build_server, create_api, mount, serve

__all__ = ["build_server", "create_api", "mount", "serve"]
