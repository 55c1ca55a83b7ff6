"""The public edge, on both databases: rate limits per client IP on public paths only, and clicks written in
the background without losing any."""

from __future__ import annotations

from typing import Any

import pytest
from feedback_fixtures import seed_page
from sqlalchemy import func, select

from epistola.app import Epistola, create_app
from epistola.config import Settings, load_settings
from epistola.feedback import tracking
from epistola.store.schema import tracking_events
from epistola.testing import FixedClock
from epistola.testing.web import TestClient, api_client
from epistola.web.app import api_from_environment


def limited(settings: Settings, clock: FixedClock, **overrides: Any) -> Epistola:
    values = {"env": "test", "database_url": settings.database_url, "public_rate_per_s": 0.001, "public_burst": 3}
    return create_app(load_settings(**{**values, **overrides}), clock=clock)


def test_public_paths_are_rate_limited_per_client(settings: Settings, clock: FixedClock) -> None:
    app = limited(settings, clock)
    page = seed_page(app.engine, now=clock.now)
    try:
        client = api_client(app)
        answers = [client.get(f"/t/c/{tracking.new_token()}").status_code for _ in range(4)]
        assert answers == [404, 404, 404, 429], "three in a burst, then the bucket is empty"
        refused = client.get(f"/t/c/{tracking.new_token()}")
        assert int(refused.headers["retry-after"]) > 900, "one token per 1,000 s"
        assert refused.json() == {
            "ok": False,
            "error": "too many requests; slow down and retry later",
            "errors": [{"message": "too many requests; slow down and retry later"}],
            "status": 429,
        }
        html = client.get(f"/p/{page.token}")
        assert html.status_code == 429 and "Too many requests" in html.text, "a person's browser gets a page"
        assert client.get("/health").status_code == 200, "health checks are not public pages"
        assert client.get("/api/v1/campaigns").status_code == 401, "the authenticated API is not limited by IP"
        other = api_client(app, client=("198.51.100.7", 50000))
        assert other.get(f"/p/{page.token}").status_code == 200, "another client has its own bucket"
    finally:
        app.close()


def count_clicks(app: Epistola) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tracking_events)).scalar_one())


def test_buffered_clicks_are_all_written_by_a_clean_stop(settings: Settings, clock: FixedClock) -> None:
    app = limited(settings, clock, public_rate_per_s=0, tracking_flush_ms=6000)  # nothing flushes by itself
    page = seed_page(app.engine, now=clock.now)
    with app.engine.begin() as conn:
        links = tracking.mint_click_links(conn, page.message_id, ["https://shop.example/a"], clock.now)
    clock.advance(hours=1)
    try:
        with api_client(app) as client:  # `with` runs the lifespan: startup, then shutdown at the end
            for _ in range(25):
                response = client.get(f"/t/c/{links['https://shop.example/a']}", follow_redirects=False)
                assert response.status_code == 302
            assert count_clicks(app) == 0, "answered before they are written"
        assert count_clicks(app) == 25, "the shutdown wrote every buffered click"
    finally:
        app.close()


def test_a_worker_process_builds_its_api_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each of `epistola serve`'s worker processes runs when EPISTOLA_API_WORKERS > 1."""
    monkeypatch.setenv("EPISTOLA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("EPISTOLA_ENV", "test")
    api = api_from_environment()
    app = api.state.epistola
    try:
        assert TestClient(api).get("/health").json()["ok"] is True
    finally:
        app.close()
