"""The Life Changes Assessment answered in a real browser (Debian's Chromium): the profile changes and the
answers become events."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from epistola.app import Epistola
from epistola.testing.browser import browser_page, served

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))
from feedback_fixtures import attributes, event_rows, seed_page

pytestmark = pytest.mark.e2e


def test_a_customer_answers_the_survey_in_a_browser_and_the_profile_changes(app: Epistola) -> None:
    seeded = seed_page(app.engine, now=app.clock(), locale="ru", first_name="Ольга")
    with served(app) as base, browser_page() as page:
        page.goto(f"{base}/p/{seeded.token}")
        assert page.text_content("h2") == "Оценка жизненных перемен"
        assert "Здравствуйте, Ольга!" in page.text_content("main"), "the design's web rendition, around the survey"

        # forgetting the required question keeps what was entered and says what is missing, in Russian
        page.check("input[name=life_events][value=new_child]")
        page.fill("input[name=dependants]", "2")
        page.click("button[type=submit]")
        assert "Пожалуйста, ответьте на этот вопрос." in page.text_content("#q-cover_priority")
        assert page.is_checked("input[name=life_events][value=new_child]")

        page.check("input[name=life_events][value=new_home]")
        page.check("input[name=marital_status][value=partner]")
        page.check("input[name=cover_priority][value=education]")
        page.fill("input[name=retirement_age]", "60")
        page.fill("input[name=next_change]", "2027-04-15")
        page.fill("textarea[name=note]", "Звонить после 18:00")
        page.check("input[name=agent_call]")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/p/{seeded.token}?saved=1")
        assert "Спасибо!" in page.text_content("[role=status]")

        # coming back later: the answers are there and can be changed
        page.goto(f"{base}/p/{seeded.token}")
        assert page.is_checked("input[name=cover_priority][value=education]")
        page.check("input[name=cover_priority][value=retirement]")
        page.click("button:has-text('Изменить ответы')")
        page.wait_for_url(f"{base}/p/{seeded.token}?saved=1")

    profile = attributes(app.engine, seeded.customer_id)
    assert profile == {
        "life_events": ["new_child", "new_home"],
        "marital_status": "partner",
        "dependants": 2,
        "cover_priority": "retirement",
        "retirement_age": 60,
        "next_life_change": "2027-04-15",
    }
    answers = [e["category"] for e in event_rows(app.engine, seeded.customer_id, "survey.answer")]
    assert "life-changes:cover_priority=education" in answers
    assert answers[-1] == "life-changes:cover_priority=retirement", "the change is the latest event"
    assert len(event_rows(app.engine, seeded.customer_id, "survey.completed")) == 2
