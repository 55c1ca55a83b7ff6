"""The data quality page in a real browser: reached from the UI's navigation, charts drawn, no values shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from epistola import accounts
from epistola.app import Epistola
from epistola.hub.pipeline import import_dataset
from epistola.testing.browser import browser_page, served

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


def test_a_viewer_reads_the_quality_report(app: Epistola) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    with app.engine.begin() as conn:
        viewer = accounts.create_key(conn, name="vic", role="viewer", now=app.clock())
    with served(app) as base, browser_page() as page:
        page.goto(f"{base}/ui/quality")
        assert page.url.endswith("/ui/login"), "the page needs a session"
        page.fill("#api_key", viewer)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/ui/")
        page.click("text=Data quality")
        page.wait_for_selector("h1:has-text('Data quality')")
        assert page.locator("#source-loyalty svg").count() == 1, "completeness chart per source"
        assert "Rejected rows" in page.text_content("#rejects")
        assert "loyalty_members.csv" in page.text_content("#rejects"), "rejects name their file"
        body = page.text_content("body") or ""
        assert re.search(r"[\w.+-]+@[\w-]+\.\w+", body) is None, "no customer's address on the page"
