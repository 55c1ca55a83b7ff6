"""Link and open tracking through the public routes, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, event, select

from epistola.app import Epistola
from epistola.errors import InputError
from epistola.feedback import tracking
from epistola.store.schema import (
    campaign_steps,
    campaigns,
    customers,
    messages,
    segments,
    template_versions,
    templates,
    tracking_events,
    tracking_links,
)
from epistola.testing import FixedClock
from epistola.testing.web import TestClient, api_client
from epistola.web.tracking import TRANSPARENT_GIF

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
URLS = [
    "https://shop.example/offer?id=7&utm_source=mail",
    "https://shop.example/unsubscribe-help",
    "http://blog.example/",
]


def make_messages(conn: Connection, count: int, *, sent_at: datetime | None) -> list[int]:
    """The smallest chain of rows a message needs: segment, template, campaign, step, customers."""
    now = sent_at or datetime(2026, 11, 2, 9, tzinfo=FixedClock()().tzinfo)
    segment = conn.execute(
        segments.insert().values(name="all", definition={}, created_at=now, updated_at=now)
    ).inserted_primary_key[0]
    template = conn.execute(templates.insert().values(name="t", created_at=now)).inserted_primary_key[0]
    version = conn.execute(
        template_versions.insert().values(template_id=template, version=1, status="approved", body="x", created_at=now)
    ).inserted_primary_key[0]
    campaign = conn.execute(
        campaigns.insert().values(name="c", status="running", segment_id=segment, created_at=now)
    ).inserted_primary_key[0]
    step = conn.execute(
        campaign_steps.insert().values(campaign_id=campaign, position=1, channel="email", template_version_id=version)
    ).inserted_primary_key[0]
    ids = []
    for _ in range(count):
        customer = conn.execute(
            customers.insert().values(created_at=now, updated_at=now, attributes={})
        ).inserted_primary_key[0]
        ids.append(
            conn.execute(
                messages.insert().values(
                    step_id=step,
                    customer_id=customer,
                    channel="email",
                    state="sent" if sent_at else "sending",
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                    sent_at=sent_at,
                )
            ).inserted_primary_key[0]
        )
    return ids


@pytest.fixture
def sent(app: Epistola, clock: FixedClock) -> dict[str, Any]:
    """One message sent now, with three tracked links and an open pixel; the clock is then an hour on."""
    with app.engine.begin() as conn:
        (message_id,) = make_messages(conn, 1, sent_at=clock.now)
        links = tracking.mint_click_links(conn, message_id, URLS, clock.now)
        pixel = tracking.mint_open_token(conn, message_id, clock.now)
    clock.advance(hours=1)
    return {"message_id": message_id, "links": links, "pixel": pixel}


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return api_client(app)


def events(app: Epistola) -> list[tuple[str, bool, int | None]]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(tracking_events.c.kind, tracking_events.c.machine, tracking_events.c.link_id).order_by(
                tracking_events.c.id
            )
        )
        return [(kind, bool(machine), link_id) for kind, machine, link_id in rows]


def link_id(app: Epistola, token: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(tracking_links.c.id).where(tracking_links.c.token == token)).scalar_one())


def test_click_redirects_to_the_recorded_url_and_records_it(
    app: Epistola, client: TestClient, sent: dict[str, Any]
) -> None:
    for url, token in sent["links"].items():
        response = client.get(f"/t/c/{token}", headers={"User-Agent": FIREFOX}, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] == url
        assert response.headers["cache-control"].startswith("no-store")
    assert events(app) == [("click", False, link_id(app, t)) for t in sent["links"].values()]


def test_query_parameters_cannot_choose_the_destination(client: TestClient, sent: dict[str, Any]) -> None:
    url, token = next(iter(sent["links"].items()))
    for query in [
        "?url=https://evil.example",
        "?next=//evil.example",
        "?redirect=https%3A%2F%2Fevil.example",
    ]:
        response = client.get(f"/t/c/{token}{query}", follow_redirects=False)
        assert response.headers["location"] == url


def test_unknown_forged_and_altered_tokens_get_one_identical_404(
    app: Epistola, client: TestClient, sent: dict[str, Any]
) -> None:
    real = next(iter(sent["links"].values()))
    altered = real[:-1] + ("A" if real[-1] != "A" else "B")
    attempts = [
        tracking.new_token(),  # well formed, never minted
        altered,
        real[:-1],
        real + "x",
        real.upper() if real.upper() != real else real.lower(),
        sent["pixel"],  # an open token is not a click token
        "short",
        "x" * 5000,
        "%00" + real,
        quote("../../etc/passwd", safe=""),
        real + "/https://evil.example",
        "",
    ]
    bodies = set()
    for token in attempts:
        response = client.get(f"/t/c/{token}", follow_redirects=False)
        assert response.status_code == 404, token
        assert "location" not in response.headers
        bodies.add(response.content)
    assert bodies == {b'{"ok":false,"error":"unknown link","errors":[{"message":"unknown link"}],"status":404}'}
    assert events(app) == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_path_ever_redirects_anywhere_but_a_recorded_url(
    client: TestClient, sent: dict[str, Any], data: st.DataObject
) -> None:
    recorded = set(sent["links"])
    tokens = list(sent["links"].values())
    mutated = st.sampled_from(tokens).flatmap(
        lambda t: st.tuples(st.integers(0, len(t) - 1), st.sampled_from("AZaz09-_~/%.")).map(
            lambda edit: t[: edit[0]] + edit[1] + t[edit[0] + 1 :]
        )
    )
    raw = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80)
    anything = st.text(max_size=80).map(lambda s: quote(s, safe=""))
    suffix = st.sampled_from(["", "?url=https://evil.example", "/", "/..", "//evil.example", "%2F", "#x"])
    token = data.draw(st.one_of(st.sampled_from(tokens), mutated, raw, anything), label="token")
    path = "/t/c/" + token + data.draw(suffix, label="suffix")
    try:
        response = client.get(path, follow_redirects=False)
    except ValueError:  # httpx refuses to build the URL: nothing reached the server
        assume(False)
        return
    if response.status_code == 302:
        assert response.headers["location"] in recorded
    else:
        assert response.status_code == 404
        assert "location" not in response.headers


def test_pixel_returns_a_gif_and_records_an_open(app: Epistola, client: TestClient, sent: dict[str, Any]) -> None:
    response = client.get(f"/t/o/{sent['pixel']}.gif", headers={"User-Agent": FIREFOX})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"].startswith("no-store")
    gif = response.content
    assert gif == TRANSPARENT_GIF
    assert gif[:6] == b"GIF89a" and gif[6:10] == b"\x01\x00\x01\x00"  # 1 x 1
    assert b"\x21\xf9\x04\x01" in gif  # graphic control extension with the transparency flag
    assert events(app) == [("open", False, link_id(app, sent["pixel"]))]


@pytest.mark.parametrize("token", ["unknown-token-aaaaaaaaaaaa", "x", "%00", "a/b/c"])
def test_pixel_is_always_a_gif_but_records_only_known_tokens(
    app: Epistola, client: TestClient, sent: dict[str, Any], token: str
) -> None:
    response = client.get(f"/t/o/{token}.gif")
    assert response.status_code == 200 and response.content == TRANSPARENT_GIF
    click_token = next(iter(sent["links"].values()))
    assert client.get(f"/t/o/{click_token}.gif").status_code == 200  # a click token is no pixel
    assert events(app) == []


@pytest.mark.parametrize(
    "agent",
    [
        "Barracuda Sentinel (EE)",
        "python-requests/2.32.3",
        None,
    ],
)
def test_scanners_are_recorded_as_machine(
    app: Epistola, client: TestClient, sent: dict[str, Any], agent: str | None
) -> None:
    headers = {"User-Agent": agent} if agent else {"User-Agent": ""}
    token = next(iter(sent["links"].values()))
    assert client.get(f"/t/c/{token}", headers=headers, follow_redirects=False).status_code == 302
    assert client.get(f"/t/o/{sent['pixel']}.gif", headers=headers).status_code == 200
    assert [(kind, machine) for kind, machine, _ in events(app)] == [("click", True), ("open", True)]


def test_a_webmail_image_proxy_open_is_a_person(app: Epistola, client: TestClient, sent: dict[str, Any]) -> None:
    proxy = {"User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"}
    assert client.get(f"/t/o/{sent['pixel']}.gif", headers=proxy).status_code == 200
    assert [(kind, machine) for kind, machine, _ in events(app)] == [("open", False)]


def test_a_click_seconds_after_sending_is_a_machine(app: Epistola, client: TestClient, clock: FixedClock) -> None:
    with app.engine.begin() as conn:
        (message_id,) = make_messages(conn, 1, sent_at=clock.now)
        (token,) = tracking.mint_click_links(conn, message_id, URLS[:1], clock.now).values()
    clock.advance(seconds=3)
    client.get(f"/t/c/{token}", headers={"User-Agent": FIREFOX}, follow_redirects=False)
    clock.advance(minutes=20)
    client.get(f"/t/c/{token}", headers={"User-Agent": FIREFOX}, follow_redirects=False)
    assert [machine for _, machine, _ in events(app)] == [True, False]


def test_minting_for_many_messages_is_one_insert(app: Epistola, clock: FixedClock) -> None:
    with app.engine.begin() as conn:
        ids = make_messages(conn, 3, sent_at=None)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "tracking_links" in statement:
            statements.append(statement)

    event.listen(app.engine, "before_cursor_execute", count)
    try:
        with app.engine.begin() as conn:
            minted = tracking.mint_for_messages(conn, {i: [*URLS, URLS[0]] for i in ids}, clock.now)
            opens = tracking.mint_open_tokens(conn, ids, clock.now)
    finally:
        event.remove(app.engine, "before_cursor_execute", count)
    assert len(statements) == 2 and all(s.lstrip().upper().startswith("INSERT") for s in statements)
    assert set(minted) == set(ids) and all(list(links) == URLS for links in minted.values())
    all_tokens = [t for links in minted.values() for t in links.values()] + list(opens.values())
    assert len(set(all_tokens)) == len(all_tokens) == 3 * len(URLS) + 3
    with app.engine.connect() as conn:
        stored = conn.execute(select(tracking_links.c.token, tracking_links.c.url, tracking_links.c.kind)).all()
    assert {(t, u) for t, u, k in stored if k == "click"} == {
        (token, url) for links in minted.values() for url, token in links.items()
    }


def test_untrackable_links_are_refused_and_nothing_is_written(app: Epistola, clock: FixedClock) -> None:
    with app.engine.begin() as conn:
        ids = make_messages(conn, 2, sent_at=None)
    with pytest.raises(InputError) as caught, app.engine.begin() as conn:
        tracking.mint_for_messages(conn, {ids[0]: URLS, ids[1]: [URLS[0], "javascript:alert(1)"]}, clock.now)
    assert [(p.field, p.row) for p in caught.value.problems] == [("url", 1)]
    with app.engine.connect() as conn:
        assert conn.execute(select(tracking_links.c.id)).all() == []


def test_resolve_click_store_api(app: Epistola, clock: FixedClock) -> None:
    with app.engine.begin() as conn:
        (message_id,) = make_messages(conn, 1, sent_at=clock.now - timedelta(days=1))
        (token,) = tracking.mint_click_links(conn, message_id, URLS[:1], clock.now).values()
        assert tracking.resolve_click(conn, token, user_agent=FIREFOX, now=clock.now) == URLS[0]
        assert tracking.resolve_click(conn, "\x00" + token, user_agent=FIREFOX, now=clock.now) is None
        assert tracking.record_open(conn, token, user_agent=FIREFOX, now=clock.now) is False


def test_planned_tokens_are_stored_together_after_rendering(
    app: Epistola, client: TestClient, clock: FixedClock
) -> None:
    with app.engine.begin() as conn:
        ids = make_messages(conn, 2, sent_at=clock.now - timedelta(hours=1))
    planned = {i: tracking.plan_click_tokens(i, [*URLS, "mailto:help@shop.example", URLS[0]]) for i in ids}
    assert all(list(tokens) == URLS for tokens in planned.values())
    with app.engine.begin() as conn:
        tracking.store_click_tokens(conn, planned, clock.now)
    for tokens in planned.values():
        for url, token in tokens.items():
            assert client.get(f"/t/c/{token}", follow_redirects=False).headers["location"] == url
    with pytest.raises(InputError), app.engine.begin() as conn:
        tracking.store_click_tokens(conn, {ids[0]: {"javascript:alert(1)": tracking.new_token()}}, clock.now)
    with pytest.raises(InputError), app.engine.begin() as conn:
        tracking.store_click_tokens(conn, {ids[0]: {URLS[0]: "not a token"}}, clock.now)
