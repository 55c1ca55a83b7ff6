"""The marketer UI in a real browser: sign in with a key, watch a campaign, pause it, see the results."""

from __future__ import annotations

from pathlib import Path

import pytest

from epistola import accounts
from epistola.app import Epistola
from epistola.audience.segments import save_segment
from epistola.campaigns.service import create_campaign, start_campaign
from epistola.content.templates import approve, save_version
from epistola.hub.pipeline import import_dataset
from epistola.testing.browser import browser_page, served

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


def test_marketer_signs_in_watches_and_pauses_a_campaign(app: Epistola) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="with-email", definition={"field": "email", "exists": True}, now=now)
        save_version(conn, name="hello", subject="Hi", body="Hello {{ customer.first_name or 'there' }}", now=now)
        approve(conn, name="hello", version=None, by="test", now=now)
        create_campaign(conn, name="autumn", segment="with-email", template="hello", control_pct=20, now=now)
        figures = start_campaign(conn, "autumn", now=now)
        marketer = accounts.create_key(conn, name="mia", role="marketer", now=now)
        viewer = accounts.create_key(conn, name="vic", role="viewer", now=now)

    with served(app) as base, browser_page() as page:
        page.goto(f"{base}/ui/")
        assert page.url.endswith("/ui/login"), "pages need a session"
        page.fill("#api_key", "ep_m_not-a-real-key")
        page.click("button[type=submit]")
        assert "not valid" in page.text_content("[role=alert]")
        page.fill("#api_key", marketer)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/ui/")
        assert page.text_content(".kpi b") == "8"  # customers
        page.click("text=autumn")
        page.wait_for_selector("#lift")
        assert page.text_content("[data-count=queued]") == str(figures["target"])
        assert page.locator("svg").count() >= 2, "response and engagement charts"
        page.click("button:has-text('Pause')")
        page.wait_for_selector(".pill:has-text('paused')")
        page.click("button:has-text('Resume')")
        page.wait_for_selector(".pill:has-text('running')")
        page.goto(f"{base}/ui/customers?q=kowalska")
        page.click("table a")
        assert "Kowalska" in page.text_content("h1")
        assert "loyalty" in page.text_content("body")
        page.click("text=Sign out")
        page.goto(f"{base}/ui/")
        assert page.url.endswith("/ui/login")

        page.fill("#api_key", viewer)
        page.click("button[type=submit]")
        page.goto(f"{base}/ui/campaigns/autumn")
        assert page.locator("button:has-text('Pause')").count() == 0, "a viewer cannot manage campaigns"


def test_forms_without_the_csrf_token_are_refused(app: Epistola) -> None:
    import httpx

    now = app.clock()
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name="mia", role="marketer", now=now)
    with served(app) as base, httpx.Client(base_url=base) as http:
        login = http.post("/ui/login", data={"api_key": key}, follow_redirects=False)
        assert login.status_code == 303 and "epistola_session" in login.headers["set-cookie"]
        assert "SameSite=strict" in login.headers["set-cookie"] and "HttpOnly" in login.headers["set-cookie"]
        refused = http.post("/ui/campaigns/1/pause", data={"csrf": "forged"})
        assert refused.status_code == 403 and "form has expired" in refused.text
        forged_cookie = {"epistola_session": login.cookies["epistola_session"] + "x"}
        with httpx.Client(base_url=base, cookies=forged_cookie) as tampered:
            assert tampered.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"
