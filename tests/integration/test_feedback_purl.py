"""Personal pages with the Life Changes Assessment, through the real routes, on both databases."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from feedback_fixtures import attributes, event_rows, seed_page
from sqlalchemy import select, update

from epistola.app import Epistola
from epistola.audience.segments import count_segment, save_segment
from epistola.consent.ledger import current_state
from epistola.feedback.tracking import new_token
from epistola.hub.enrich import apply_profiles
from epistola.store.schema import audit_log, consents, customers, profile_attributes, survey_responses, tracking_events
from epistola.testing import FixedClock
from epistola.testing.web import TestClient, api_client

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
ANSWERS: dict[str, Any] = {
    "life_events": ["new_child", "new_home"],
    "marital_status": "partner",
    "dependants": "2",
    "cover_priority": "protect_family",
    "retirement_age": "62",
    "next_change": "2027-03-01",
    "note": "Call after 6 pm <b>please</b>",
    "agent_call": "on",
}


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return api_client(app, headers={"User-Agent": CHROME})


def post(client: TestClient, token: str, answers: dict[str, Any]) -> Any:
    return client.post(f"/p/{token}", data=answers, follow_redirects=False)


def test_the_page_is_in_the_customers_language_and_counts_a_visit(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock(), locale="ru", first_name="Ольга")
    response = client.get(f"/p/{page.token}")
    assert response.status_code == 200
    assert "Оценка жизненных перемен" in response.text
    assert "Здравствуйте, Ольга!" in response.text, "the design's own web rendition, in her language"
    assert response.text.index('class="ep-survey"') < response.text.index("</main>"), "the survey sits inside"
    assert 'lang="ru"' in response.text
    assert response.headers["cache-control"].startswith("no-store")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "Ocena zmian życiowych" in client.get(f"/p/{page.token}?lang=pl").text
    with app.engine.connect() as conn:
        visits = conn.execute(select(tracking_events.c.kind, tracking_events.c.machine)).all()
    assert [(v.kind, v.machine) for v in visits] == [("visit", False), ("visit", False)]


def test_answers_update_the_profile_emit_events_and_record_the_consent(
    app: Epistola, client: TestClient, clock: FixedClock
) -> None:
    page = seed_page(app.engine, now=app.clock())
    response = post(client, page.token, ANSWERS)
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{page.token}?saved=1"
    saved = client.get(response.headers["location"])
    assert "Your agent will use your answers" in saved.text
    assert "Call after 6 pm &lt;b&gt;please&lt;/b&gt;" in saved.text, "earlier answers are shown, escaped"

    assert attributes(app.engine, page.customer_id) == {
        "life_events": ["new_child", "new_home"],
        "marital_status": "partner",
        "dependants": 2,
        "cover_priority": "protect_family",
        "retirement_age": 62,
        "next_life_change": "2027-03-01",
    }
    categories = sorted(e["category"] for e in event_rows(app.engine, page.customer_id, "survey.answer"))
    assert "life-changes:life_events=new_child" in categories
    assert "life-changes:life_events=new_home" in categories
    assert "life-changes:cover_priority=protect_family" in categories
    assert "life-changes:agent_call=yes" in categories
    (done,) = event_rows(app.engine, page.customer_id, "survey.completed")
    assert done["properties"]["revision"] == 1 and done["properties"]["message_id"] == page.message_id
    with app.engine.connect() as conn:
        assert current_state(conn, [page.customer_id], channel="phone", purpose="marketing", now=clock.now) == {
            page.customer_id: "granted"
        }
        proof = conn.execute(select(consents.c.proof)).scalar_one()
        assert proof["text"].startswith("I agree that my agent may call me")
        assert proof["survey"] == "life-changes" and proof["locale"] == "en"
        audit = conn.execute(select(audit_log.c.details).where(audit_log.c.action == "survey.answer")).scalar_one()
    assert "Call after" not in str(audit), "the audit log names questions, not answers"


def test_a_customer_comes_back_and_changes_answers(app: Epistola, client: TestClient, clock: FixedClock) -> None:
    page = seed_page(app.engine, now=app.clock(), locale="pl")
    post(client, page.token, ANSWERS)
    first_events = len(event_rows(app.engine, page.customer_id))
    clock.advance(days=3)
    again = client.get(f"/p/{page.token}")
    assert "Zmień odpowiedzi" in again.text, "a returning customer sees the update button"
    assert 'value="new_child" checked' in again.text

    changed = {**ANSWERS, "life_events": ["new_child"], "dependants": "3"}
    del changed["agent_call"]  # unticks the consent box
    assert post(client, page.token, changed).status_code == 303
    assert attributes(app.engine, page.customer_id)["life_events"] == ["new_child"]
    assert attributes(app.engine, page.customer_id)["dependants"] == 3
    new = event_rows(app.engine, page.customer_id)[first_events:]
    assert sorted(e["category"] for e in new if e["type"] == "survey.answer") == [
        "life-changes:agent_call=no",
        "life-changes:dependants",
        "life-changes:life_events=new_child",
    ]
    with app.engine.connect() as conn:
        response = conn.execute(select(survey_responses)).mappings().one()
        state = current_state(conn, [page.customer_id], channel="phone", purpose="marketing", now=clock.now)
    assert response["revision"] == 2
    assert state == {page.customer_id: "withdrawn"}

    # the same answers once more change nothing and emit nothing
    assert post(client, page.token, changed).status_code == 303
    assert len(event_rows(app.engine, page.customer_id)) == first_events + len(new)


def test_invalid_answers_are_shown_localised_and_nothing_is_stored(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock(), locale="ru")
    bad = {**ANSWERS, "dependants": "два", "cover_priority": "", "life_events": ["new_child", "lottery"]}
    response = post(client, page.token, bad)
    assert response.status_code == 400
    assert "Пожалуйста, ответьте на этот вопрос." in response.text  # cover_priority is required
    assert "Введите число." in response.text
    assert "Выберите один из предложенных вариантов." in response.text
    assert 'value="два"' in response.text, "what was typed is kept"
    assert attributes(app.engine, page.customer_id) == {}
    assert event_rows(app.engine, page.customer_id) == []


def test_unknown_malformed_and_forged_page_tokens_get_one_identical_404(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock())
    altered = page.token[:-1] + ("A" if page.token[-1] != "A" else "B")
    bodies = set()
    for token in [
        new_token(),
        altered,
        page.token[:-2],
        page.token + "x",
        "short",
        quote("../../etc/passwd", safe=""),
        "x" * 3000,
    ]:
        for method in ("GET", "POST"):
            response = client.request(method, f"/p/{token}", data=ANSWERS if method == "POST" else None)
            assert response.status_code == 404, (method, token)
            bodies.add(response.text)
    assert len(bodies) == 1
    assert event_rows(app.engine, page.customer_id) == []


def test_a_page_without_a_survey_shows_the_design(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock(), survey=False)  # type: ignore[arg-type]
    response = client.get(f"/p/{page.token}")
    assert response.status_code == 200
    assert "A birthday is a good moment" in response.text and "ep-survey" not in response.text
    assert post(client, page.token, ANSWERS).status_code == 404


def test_a_design_without_a_web_rendition_gets_the_plain_page(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock(), locale="pl", first_name="Zofia", web=False)
    response = client.get(f"/p/{page.token}")
    assert "Dzień dobry, Zofia" in response.text and "Ocena zmian życiowych" in response.text
    assert post(client, page.token, ANSWERS).status_code == 303
    bare = seed_page(app.engine, now=app.clock(), survey=False, web=False, name="bare")  # type: ignore[arg-type]
    assert "Thank you for reading our message." in client.get(f"/p/{bare.token}").text


def test_json_answers_are_accepted_for_app_clients(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock())
    body = {**ANSWERS, "dependants": 1, "agent_call": False}
    response = client.post(f"/p/{page.token}", json=body, follow_redirects=False)
    assert response.status_code == 303
    assert attributes(app.engine, page.customer_id)["dependants"] == 1


def test_answers_live_in_the_enrichment_store_and_survive_a_rebuilt_profile(app: Epistola, client: TestClient) -> None:
    page = seed_page(app.engine, now=app.clock())
    post(client, page.token, ANSWERS)
    with app.engine.begin() as conn:
        stored = dict(
            conn.execute(
                select(profile_attributes.c.name, profile_attributes.c.value).where(
                    profile_attributes.c.customer_id == page.customer_id, profile_attributes.c.origin == "survey"
                )
            ).all()
        )
        assert stored["cover_priority"] == "protect_family" and stored["dependants"] == 2
        # identity resolution rebuilds the column from source records; the enrichment store puts answers back
        conn.execute(update(customers).where(customers.c.id == page.customer_id).values(attributes={}))
        apply_profiles(conn, [page.customer_id], now=app.clock())
    assert attributes(app.engine, page.customer_id)["cover_priority"] == "protect_family"
    cleared = {k: v for k, v in ANSWERS.items() if k != "marital_status"}
    post(client, page.token, cleared)
    assert "marital_status" not in attributes(app.engine, page.customer_id), "a cleared answer leaves the profile"


def test_segments_can_use_the_answers(app: Epistola, client: TestClient, clock: FixedClock) -> None:
    page = seed_page(app.engine, now=app.clock())
    post(client, page.token, ANSWERS)
    definitions = {
        "new-parents": {"event": {"type": "survey.answer", "category": "life-changes:life_events=new_child",
                                  "within_days": 30}},
        "agent-may-call": {"event": {"type": "survey.answer", "category": "life-changes:agent_call=yes"}},
        "partnered": {"field": "attributes.marital_status", "eq": "partner"},
        "retired-soon": {"field": "attributes.retirement_age", "lte": 62},
        "married": {"event": {"type": "survey.answer", "category": "life-changes:life_events=married"}},
    }  # fmt: skip
    with app.engine.begin() as conn:
        counts = {
            name: count_segment(conn, save_segment(conn, name=name, definition=d, now=clock.now), clock.now)
            for name, d in definitions.items()
        }
    assert counts == {"new-parents": 1, "agent-may-call": 1, "partnered": 1, "retired-soon": 1, "married": 0}


def test_the_visitors_address_stays_out_of_the_audit_log(app: Epistola) -> None:
    visitor = "198.51.100.7"
    client = api_client(app, headers={"User-Agent": CHROME}, client=(visitor, 50000))
    page = seed_page(app.engine, now=app.clock())
    assert post(client, page.token, ANSWERS).status_code == 303
    with app.engine.connect() as conn:
        audit_rows = conn.execute(select(audit_log)).mappings().all()
        proof = conn.execute(select(consents.c.proof)).scalar_one()
    answered = [r for r in audit_rows if r["action"] == "survey.answer"]
    assert [r["origin"] for r in answered] == ["purl"], "the page kind, not who was on it"
    assert audit_rows and not any(visitor in str(dict(r)) for r in audit_rows)
    assert proof["ip"] == visitor, "kept only as proof of the consent, which an erasure scrubs"
