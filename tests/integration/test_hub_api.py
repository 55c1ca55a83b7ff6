"""Records and events sent to the REST API: validated by the source's mapping, rejected precisely, stored
atomically per batch, audited; the quality report over HTTP. Both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from epistola import accounts
from epistola.app import Epistola
from epistola.errors import InputError
from epistola.hub.ingest import MAX_API_BATCH, import_source
from epistola.hub.pipeline import source_mapping
from epistola.hub.sources import mapping_for
from epistola.store.schema import audit_log, events, import_rejects, source_records
from epistola.testing.web import TestClient, api_client


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return api_client(app)


def _key(app: Epistola, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name=f"{role}-key", role=role, now=app.clock())
    return {"Authorization": f"Bearer {key}"}


MEMBER = {
    "card_no": "770000000016",
    "card_issued": "2016-01-01",
    "store": "OVB-01",
    "given_name": "ТАТЬЯНА",
    "surname": "Соколова",
    "sex": "F",
    "age_group": "2",
    "phone": "+7 (926) 754-61-39",
    "email": "tatiana72@yandex.ru",
    "address": "ул. Ленина, д. 5, кв. 12",
    "city": "Новосибирск",
    "postcode": "630045",
    "country": "Russia",
}


def test_a_batch_of_records_is_validated_by_the_mapping_and_rejects_are_precise(
    app: Epistola, client: TestClient
) -> None:
    headers = _key(app, "analyst")
    batch = [
        MEMBER,
        {**MEMBER, "card_no": "770000000024", "phone": "n/a", "age_group": "9"},
        {**MEMBER, "card_no": ""},
        "not an object",
        {**MEMBER, "email": "second@example.org"},  # the first card again
    ]
    response = client.post("/api/v1/sources/loyalty/records", json={"records": batch}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["seen"], body["new"], body["rejected"]) == (2, 2, 3)
    assert body["invalid"] == {"phone": 1, "age": 1}
    assert [(r["row"], r["field"]) for r in body["rejects"]] == [(3, "card_no"), (4, None), (5, "card_no")]
    assert "duplicate key" in body["rejects"][2]["reason"]
    with app.engine.connect() as conn:
        stored = conn.execute(
            select(source_records.c.normalized).where(source_records.c.source_key == "770000000016")
        ).scalar_one()
        assert (stored["first_name"], stored["street"], stored["house"], stored["flat"]) == (
            "Татьяна",
            "улица Ленина",
            "5",
            "12",
        )
        assert (stored["age_min"], stored["age_max"], stored["age_as_of"]) == (36, 55, "2016-01-01")
        assert conn.execute(select(func.count()).select_from(import_rejects)).scalar_one() == 3
        entry = conn.execute(select(audit_log.c.actor, audit_log.c.details).where(audit_log.c.action == "import")).one()
        assert entry.actor == "analyst-key" and entry.details["rejected"] == 3

    again = client.post("/api/v1/sources/loyalty/records", json={"records": batch[:2]}, headers=headers).json()
    assert (again["new"], again["unchanged"]) == (0, 2), "sending a batch twice changes nothing"


def test_an_api_source_registers_its_mapping_first(app: Epistola, client: TestClient, tmp_path: Path) -> None:
    headers = _key(app, "admin")
    unknown = client.post("/api/v1/sources/kiosk/records", json={"records": [{"id": "1"}]}, headers=headers)
    assert unknown.status_code == 404 and "PUT /api/v1/sources/kiosk/mapping" in unknown.json()["error"] + str(
        unknown.json()
    )
    bad = client.put(
        "/api/v1/sources/kiosk/mapping",
        json={"source": "kiosk", "format": {"type": "api"}, "key": "id", "fields": {"shoe_size": "s"}},
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "fields"
    mapping = {
        "source": "kiosk",
        "format": {"type": "api"},
        "key": "id",
        "phone_region": "PL",
        "fields": {"full_name": "name", "phone": "tel", "email": "mail"},
    }
    assert client.put("/api/v1/sources/kiosk/mapping", json=mapping, headers=headers).status_code == 200
    records = [{"id": "k1", "name": "Anna Nowak", "tel": "601 234 567", "mail": "ANNA@Example.org"}]
    body = client.post("/api/v1/sources/kiosk/records", json={"records": records}, headers=headers).json()
    assert body["new"] == 1 and not body["rejects"]
    with app.engine.connect() as conn:
        stored = conn.execute(select(source_records.c.normalized)).scalar_one()
        assert (stored["phone"], stored["email"], stored["last_name"]) == ("+48601234567", "anna@example.org", "Nowak")
        kiosk = mapping_for(conn, "kiosk")
    listed = {s["name"]: s for s in client.get("/api/v1/sources", headers=headers).json()}
    assert listed["kiosk"]["records"] == 1
    with pytest.raises(InputError, match="receives its records through the REST API"):
        import_source(app.engine, tmp_path / "x.csv", kiosk, clock=app.clock)  # type: ignore[arg-type]


def test_permissions_and_batch_limits(app: Epistola, client: TestClient) -> None:
    viewer = _key(app, "viewer")
    forbidden = client.post("/api/v1/sources/loyalty/records", json={"records": [MEMBER]}, headers=viewer)
    assert forbidden.status_code == 403
    assert client.get("/api/v1/quality", headers=viewer).status_code == 200
    analyst = _key(app, "analyst")
    empty = client.post("/api/v1/sources/loyalty/records", json={"records": []}, headers=analyst)
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "records"
    huge = client.post("/api/v1/sources/loyalty/records", json={"records": [{}] * (MAX_API_BATCH + 1)}, headers=analyst)
    assert huge.status_code == 400 and "at most" in huge.json()["error"]
    wrong_kind = client.post("/api/v1/events/loyalty", json={"events": [{}]}, headers=analyst)
    assert wrong_kind.status_code == 400


def test_events_arrive_in_batches_idempotently(app: Epistola, client: TestClient) -> None:
    headers = _key(app, "analyst")
    client.post("/api/v1/sources/loyalty/records", json={"records": [MEMBER]}, headers=headers)
    from epistola.identity.exact import resolve

    with app.engine.begin() as conn:
        resolve(conn, now=app.clock())
    batch = [
        {"event_id": "T1", "card_no": "770000000016", "occurred_at": "2026-10-26T12:00:00+03:00", "amount": "19,90",
         "currency": "rub", "category": "shoes", "product": "Sandals", "store": "OVB-01", "channel": "store"},
        {"event_id": "T2", "card_no": "779999999999", "occurred_at": "2026-10-27T12:00:00Z", "amount": "5"},
        {"event_id": "T3", "card_no": "770000000016", "occurred_at": "yesterday"},
        {"event_id": "T4", "card_no": "770000000016", "occurred_at": "2026-10-27T12:00:00Z", "currency": "roubles"},
    ]  # fmt: skip
    first = client.post("/api/v1/events/transactions", json={"events": batch}, headers=headers).json()
    assert (first["inserted"], first["linked"], first["unlinked"], first["rejected"]) == (2, 1, 1, 2)
    assert [(r["row"], r["field"]) for r in first["rejects"]] == [(3, "occurred_at"), (4, "currency")]
    again = client.post("/api/v1/events/transactions", json={"events": batch}, headers=headers).json()
    assert (again["inserted"], again["duplicates"]) == (0, 2)
    with app.engine.connect() as conn:
        row = conn.execute(select(events).where(events.c.event_uid == "transactions:T1")).mappings().one()
    assert (str(row["amount"]), row["currency"], row["occurred_at"].hour) == ("19.90", "RUB", 9)
    assert row["properties"]["_ident"] == {"source": "loyalty", "key": "770000000016"}
    report = client.get("/api/v1/quality", headers=headers).json()
    assert {e["source"]: e["orphans"] for e in report["events"]} == {"transactions": 1}
    page = client.get("/api/v1/quality.html", headers=headers)
    assert page.status_code == 200 and "<svg" in page.text


def test_the_shipped_mapping_is_used_until_one_is_stored(app: Epistola) -> None:
    with app.engine.connect() as conn:
        assert mapping_for(conn, "loyalty") == source_mapping("loyalty")
