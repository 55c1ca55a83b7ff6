"""The preference centre and unsubscribe in Debian's Chromium: a customer changes channels, topics and
frequency in their language, unsubscribes with the button, and no cookie is ever set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from epistola.app import Epistola
from epistola.consent.ledger import append_entries, current_state
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import ConsentEntry
from epistola.store.schema import consents, customer_preferences, customers
from epistola.testing.browser import browser_page, served

pytestmark = pytest.mark.e2e


def customer(app: Epistola, locale: str) -> int:
    now = app.clock()
    with app.engine.begin() as conn:
        cid = conn.execute(
            customers.insert().values(
                email="olga@example.ru",
                phone="+79161234567",
                locale=locale,
                country="RU",
                attributes={},
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=cid,
                    channel="email",
                    purpose="marketing",
                    status="granted",
                    source="web",
                    recorded_at=now - timedelta(days=2),
                )
            ],
        )
    return int(cid)


def path(app: Epistola, url: str) -> str:
    return url.removeprefix(app.settings.public_base_url)


def states(app: Epistola, cid: int) -> dict[str, str | None]:
    with app.engine.connect() as conn:
        return {
            ch: current_state(conn, [cid], channel=ch, purpose="marketing", now=app.clock()).get(cid)
            for ch in ("email", "sms", "post", "phone")
        }


def test_a_customer_changes_preferences_in_russian_then_polish(app: Epistola) -> None:
    cid = customer(app, "ru")
    url = path(app, PrivacyLinks.from_settings(app.settings).preferences_url(cid, 3))
    with served(app) as base, browser_page() as page:
        page.goto(base + url)
        assert page.text_content("h1") == "Настройки рассылок"
        assert page.is_checked("input[name=channel][value=email]")
        assert not page.is_checked("input[name=channel][value=sms]")
        assert page.is_checked("input[name=channel][value=post]"), "post is opt-out by default: allowed until refused"
        page.uncheck("input[name=channel][value=email]")
        page.check("input[name=channel][value=sms]")
        for topic in ("news", "events", "surveys"):  # every topic is chosen until the customer says otherwise
            page.uncheck(f"input[name=topic][value={topic}]")
        assert page.is_checked("input[name=topic][value=offers]")
        page.check("input[name=frequency][value=monthly]")
        page.click("button[value=save]")
        page.wait_for_selector("#saved")
        assert page.text_content("#saved") == "Настройки сохранены."

        page.reload()  # the page shows what is stored, not what was clicked
        assert not page.is_checked("input[name=channel][value=email]")
        assert page.is_checked("input[name=channel][value=sms]")
        assert page.is_checked("input[name=frequency][value=monthly]")

        page.click("a[hreflang=pl]")
        assert page.text_content("h1") == "Twoje preferencje"
        assert page.context.cookies() == []
    assert states(app, cid) == {"email": "withdrawn", "sms": "granted", "post": None, "phone": None}
    with app.engine.connect() as conn:
        row = conn.execute(select(customer_preferences).where(customer_preferences.c.customer_id == cid)).one()
    assert (row.topics, row.frequency) == (["offers"], "monthly")


def test_a_customer_unsubscribes_with_the_button_and_opening_the_link_changed_nothing(app: Epistola) -> None:
    cid = customer(app, "en")
    url = path(app, PrivacyLinks.from_settings(app.settings).unsubscribe_url(cid, 9))
    with app.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(consents)).scalar_one()
    with served(app) as base, browser_page() as page:
        page.goto(base + url)
        assert page.text_content("h1") == "Unsubscribe"
        with app.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == before
        page.click("#unsubscribe button")
        page.wait_for_selector("#done")
        assert page.text_content("#done") == "You are unsubscribed"
        page.click("text=Manage all your preferences")
        assert page.text_content("h1") == "Your preferences"
        assert not page.is_checked("input[name=channel][value=email]")
        page.goto(base + url[:-3] + "abc")
        assert page.text_content("h1") == "This link is not valid"
        assert page.context.cookies() == []
    assert states(app, cid)["email"] == "withdrawn"
