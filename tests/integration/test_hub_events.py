"""Event files: the bulk (DuckDB) path stores exactly what the row-by-row path stores, rejects the same
rows for the same fields, and leaves the events index in place. Both engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, inspect, select

from epistola import accounts
from epistola.app import Epistola
from epistola.errors import StorageError
from epistola.hub import events_bulk
from epistola.hub.events import CustomerIndex, EventImportReport, import_events
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import event_mapping, source_mapping
from epistola.identity.exact import resolve
from epistola.store.schema import events, import_rejects, imports
from epistola.testing.web import api_client

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"

TRANSACTIONS = '''event_id,card_no,occurred_at,amount,currency,category,product,store,channel
T1,L-000001,2026-10-26T12:00:00+02:00,199.00,PLN,accessories,scarf,Warszawa Centrum,store
T2,L-000002,2026-06-01 12:00:00,"5400,50",rub,business_clothes,"suit, grey",Moscow,online
T3,L-000002,2026-09-01T12:00:00Z,,,,,,
,L-000002,2026-09-01T12:00:00Z,1,RUB,x,y,z,store
T5,L-000003,not a date,10.00,USD,shoes,boots,Baltimore Harbor,store
T6,L-000003,2026-09-01T12:00:00Z,ten,USD,shoes,boots,B,store
T7,L-000003,2026-09-01T12:00:00Z,1.00,DOLLARS,shoes,boots,B,store
T8,too,many,fields,here,a,b,c,d,e
T9,L-999999,2026-09-01T12:00:00+03:00,10.00,RUB,beauty,lipstick,"Moscow ""Tverskaya""",store
T1,L-000001,2026-10-26T12:00:00+02:00,199.00,PLN,accessories,scarf,Warszawa Centrum,store
'''

WEB_EVENTS = [
    '{"event_id": "E1", "reg_id": "W000003", "email": null, "type": "page_view", '
    '"occurred_at": "2026-10-01T10:00:00Z", "properties": {"path": "/sale/shoes", "n": 2}}',
    '{"event_id": "E2", "reg_id": null, "email": " Maria.Petrova@Yandex.ru ", "type": "app_open", '
    '"occurred_at": "2026-10-02T10:00:00Z", "properties": {}}',
    "",
    "not json at all",
    "[1, 2]",
    '{"event_id": "E6", "type": "", "occurred_at": "2026-10-02T10:00:00Z"}',
    '{"event_id": "E7", "type": "location", "occurred_at": "2026-10-03T08:00:00+03:00", '
    '"properties": {"lat": 55.75, "lon": 37.61}}',
    '  {"event_id": "E8", "type": "page_view", "occurred_at": "2026-10-04T08:00:00Z", "properties": ""}',
    '{"event_id": "E9", "reg_id": "W000003", "type": "search", "occurred_at": "2026-10-04T09:00:00Z", '
    '"properties": {"q": "boots \\"red\\"\\u00e9", "none": null, "empty": ""}}',
]


@pytest.fixture
def customers_known(app: Epistola) -> None:
    for name, file in (("loyalty", "loyalty_members.csv"), ("web", "web_registrations.jsonl")):
        import_source(app.engine, FIXTURES / file, source_mapping(name), clock=app.clock)
    with app.engine.begin() as conn:
        resolve(conn, now=app.clock())


def _stored(app: Epistola) -> dict[str, tuple[Any, ...]]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(events).order_by(events.c.id)).mappings().all()
    return {
        r["event_uid"]: (
            r["customer_id"],
            r["type"],
            r["occurred_at"],
            None if r["amount"] is None else float(r["amount"]),
            r["currency"],
            r["category"],
            json.dumps(r["properties"], sort_keys=True),
        )
        for r in rows
    }


def _rejects(app: Epistola, report: EventImportReport) -> list[tuple[int, str | None]]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(import_rejects.c.row, import_rejects.c.field)
            .where(import_rejects.c.import_id == report.import_id)
            .order_by(import_rejects.c.row)
        )
        return [(int(r), f) for r, f in rows]


def _both_ways(app: Epistola, path: Path, mapping_name: str) -> tuple[Any, ...]:
    mapping = event_mapping(mapping_name)
    bulk = import_events(app.engine, path, mapping, clock=app.clock, bulk=True)
    assert bulk.path == "bulk"
    stored_bulk, rejects_bulk = _stored(app), _rejects(app, bulk)
    with app.engine.begin() as conn:
        conn.execute(delete(events))
    rows = import_events(app.engine, path, mapping, clock=app.clock, bulk=False)
    assert rows.path == "rows"
    assert _stored(app) == stored_bulk
    assert _rejects(app, rows) == rejects_bulk
    figures = ("seen", "inserted", "duplicates", "linked", "unlinked", "rejected")
    assert [getattr(bulk, f) for f in figures] == [getattr(rows, f) for f in figures]
    return stored_bulk, rejects_bulk, bulk


def test_bulk_and_row_paths_agree_on_csv(app: Epistola, tmp_path: Path, customers_known: None) -> None:
    path = tmp_path / "transactions.csv"
    path.write_text(TRANSACTIONS, encoding="utf-8")
    stored, rejects, report = _both_ways(app, path, "transactions")
    assert rejects == [(4, "event_id"), (5, "occurred_at"), (6, "amount"), (7, "currency"), (8, None)]
    assert set(stored) == {"transactions:T1", "transactions:T2", "transactions:T3", "transactions:T9"}
    assert (report.inserted, report.duplicates) == (4, 1)
    t2 = stored["transactions:T2"]
    assert (t2[3], t2[4], json.loads(t2[6])["product"]) == (5400.5, "RUB", "suit, grey")
    assert stored["transactions:T1"][0] is not None and stored["transactions:T9"][0] is None


def test_bulk_and_row_paths_agree_on_json_lines(app: Epistola, tmp_path: Path, customers_known: None) -> None:
    path = tmp_path / "web_events.jsonl"
    path.write_text("\n".join(WEB_EVENTS) + "\n", encoding="utf-8")
    stored, rejects, _ = _both_ways(app, path, "web_events")
    assert rejects == [(4, None), (5, None), (6, "type")]
    assert json.loads(stored["web_events:E1"][6])["properties"] == {"path": "/sale/shoes", "n": 2}
    assert json.loads(stored["web_events:E2"][6])["_ident"] == {"email": "maria.petrova@yandex.ru"}
    assert stored["web_events:E7"][2].hour == 5
    assert "properties" not in json.loads(stored["web_events:E8"][6])  # "" is left out, as None is
    nested = json.loads(stored["web_events:E9"][6])["properties"]
    assert nested == {"q": 'boots "red"\u00e9', "none": None, "empty": ""}  # inside the value, kept as sent


def test_bulk_and_row_paths_agree_batch_by_batch(
    app: Epistola, tmp_path: Path, customers_known: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many small batches, read in one thread and stored in another: the same events, rejects (their
    row numbers counted past a malformed line and a blank one) and figures, and ids in file order."""
    monkeypatch.setattr(events_bulk, "BATCH", 2)
    csv_path, jsonl_path = tmp_path / "transactions.csv", tmp_path / "web_events.jsonl"
    csv_path.write_text(TRANSACTIONS, encoding="utf-8")
    jsonl_path.write_text("\n".join(WEB_EVENTS) + "\n", encoding="utf-8")
    _, rejects, _ = _both_ways(app, csv_path, "transactions")
    assert rejects == [(4, "event_id"), (5, "occurred_at"), (6, "amount"), (7, "currency"), (8, None)]
    with app.engine.begin() as conn:
        conn.execute(delete(events))
    _, rejects, _ = _both_ways(app, jsonl_path, "web_events")
    assert rejects == [(4, None), (5, None), (6, "type")]
    with app.engine.begin() as conn:
        conn.execute(delete(events))
    import_events(app.engine, csv_path, event_mapping("transactions"), clock=app.clock, bulk=True)
    with app.engine.connect() as conn:
        uids = conn.execute(select(events.c.event_uid).order_by(events.c.id)).scalars().all()
    assert uids == [f"transactions:T{n}" for n in (1, 2, 3, 9)]


def test_a_file_overlapping_stored_events_adds_only_the_new_ones(app: Epistola, tmp_path: Path) -> None:
    """A batch whose first and last ids are new but not all the others: nothing is stored twice."""
    header, *lines = TRANSACTIONS.splitlines()
    good = [line for line in lines if line.split(",")[0] in ("T2", "T3", "T9")]  # T2, T3, T9 in file order
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("\n".join([header, good[1]]) + "\n", encoding="utf-8")  # T3 only
    second.write_text("\n".join([header, *good]) + "\n", encoding="utf-8")
    mapping = event_mapping("transactions")
    assert import_events(app.engine, first, mapping, clock=app.clock).inserted == 1
    report = import_events(app.engine, second, mapping, clock=app.clock)
    assert (report.path, report.inserted, report.duplicates) == ("bulk", 2, 1)
    with app.engine.connect() as conn:
        uids = conn.execute(select(events.c.event_uid).order_by(events.c.id)).scalars().all()
    assert uids == ["transactions:T3", "transactions:T2", "transactions:T9"]


def test_a_customer_that_is_not_there_fails_the_batch(
    app: Epistola, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk path keeps the foreign key: a batch naming a customer who does not exist is refused
    whole, on PostgreSQL too, where the batch's customers are checked in one statement."""
    monkeypatch.setattr(CustomerIndex, "source_keys", lambda self, source: {"L-000001": 987_654})
    path = tmp_path / "transactions.csv"
    path.write_text("\n".join(TRANSACTIONS.splitlines()[:4]) + "\n", encoding="utf-8")  # T1 to T3, no repeat
    with pytest.raises(StorageError, match=r"importing events from transactions\.csv failed"):
        import_events(app.engine, path, event_mapping("transactions"), clock=app.clock)
    with app.engine.connect() as conn:
        assert conn.execute(select(events.c.id)).first() is None
        assert conn.execute(select(imports.c.status)).scalars().all() == ["failed"]


def test_a_big_first_load_rebuilds_the_index_and_a_rerun_is_a_no_op(
    app: Epistola, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_bulk, "BULK_INDEX_MIN", 1)
    monkeypatch.setattr(events_bulk, "BATCH", 3)
    path = tmp_path / "transactions.csv"
    path.write_text(TRANSACTIONS, encoding="utf-8")
    first = import_events(app.engine, path, event_mapping("transactions"), clock=app.clock)
    names = {ix["name"] for ix in inspect(app.engine).get_indexes("events")}
    assert events_bulk.SECONDARY_INDEX in names
    again = import_events(app.engine, path, event_mapping("transactions"), clock=app.clock)
    assert (first.inserted, again.inserted, again.duplicates) == (4, 0, 5)
    with app.engine.connect() as conn:
        statuses = conn.execute(select(imports.c.status).order_by(imports.c.id)).scalars().all()
    assert statuses == ["done", "done"]


def test_a_missing_index_is_restored(app: Epistola) -> None:
    with app.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {events_bulk.SECONDARY_INDEX}")
    events_bulk.ensure_secondary_index(app.engine)
    assert events_bulk.SECONDARY_INDEX in {ix["name"] for ix in inspect(app.engine).get_indexes("events")}


def test_a_batch_sent_to_the_api_ties_events_through_every_kind_of_identifier(
    app: Epistola, customers_known: None
) -> None:
    """The API resolves only the batch's own identifiers; it finds what the full index finds."""
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name="feed", role="analyst", now=app.clock())
    client, headers = api_client(app), {"Authorization": f"Bearer {key}"}
    mapping = {
        "source": "app_events",
        "kind": "events",
        "format": {"type": "jsonl"},
        "key": "id",
        "type_from": "type",
        "identity": {"source": "web", "key": "reg", "email": "mail"},
        "occurred_at": {"from": "at", "type": "datetime"},
    }
    assert client.put("/api/v1/sources/app_events/mapping", json=mapping, headers=headers).status_code == 200
    at = "2026-10-01T10:00:00Z"
    batch = [
        {"id": "A1", "type": "open", "at": at, "reg": "W000003"},  # by source key
        {"id": "A2", "type": "open", "at": at, "mail": " A.Ivanov@mail.ru "},  # by e-mail
        {"id": "A3", "type": "open", "at": at, "reg": "W-404", "mail": "KASIA.kowalska@wp.pl"},  # key unknown
        {"id": "A4", "type": "open", "at": at, "reg": "W000001", "mail": "kasia.kowalska@wp.pl"},  # key wins
        {"id": "A5", "type": "open", "at": at, "reg": "W-405", "mail": "nobody@example.org"},
        {"id": "A6", "type": "open", "at": at},
    ]
    body = client.post("/api/v1/events/app_events", json={"events": batch}, headers=headers).json()
    assert (body["inserted"], body["linked"], body["unlinked"]) == (6, 4, 2)
    with app.engine.connect() as conn:
        stored = conn.execute(select(events.c.event_uid, events.c.customer_id, events.c.properties)).all()
        full = CustomerIndex(conn)
        expected = {uid: full.resolve(props["_ident"]) for uid, _, props in stored}
    got = {uid: cid for uid, cid, _ in stored}
    assert got == expected
    linked = {uid.removeprefix("app_events:") for uid, cid in got.items() if cid is not None}
    assert linked == {"A1", "A2", "A3", "A4"} and got["app_events:A3"] != got["app_events:A4"]


def test_the_store_connection_checks_foreign_keys_again_after_a_load(app: Epistola) -> None:
    """SQLite's per-row check is off only while a load writes, even when the load fails."""
    if app.engine.dialect.name != "sqlite":
        pytest.skip("the per-row check is SQLite's")
    with app.engine.connect() as conn:
        store = events_bulk._Sqlite("loading", "2026-01-01 00:00:00.000000", event_mapping("transactions"))
        with store.session(conn):
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 0 and store.checks_keys
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        conn.rollback()
        with pytest.raises(RuntimeError), store.session(conn):
            raise RuntimeError("the load failed")
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
