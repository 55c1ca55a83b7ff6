"""Importing sources on both engines: incremental, precise about bad rows, never losing stored data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from epistola.app import Epistola
from epistola.errors import InputError
from epistola.hub.events import import_events
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import event_mapping, source_mapping
from epistola.identity.exact import resolve
from epistola.store.schema import customers, events, import_rejects, source_records

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"


def _count(app: Epistola, table) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_reimport_writes_only_changes_and_marks_disappeared_records(app: Epistola, tmp_path: Path) -> None:
    mapping = source_mapping("crm_intl")
    path = tmp_path / "crm_intl.csv"
    shutil.copy(FIXTURES / "crm_intl.csv", path)
    first = import_source(app.engine, path, mapping, clock=app.clock)
    assert (first.new, first.changed, first.unchanged) == (3, 0, 0)
    again = import_source(app.engine, path, mapping, clock=app.clock)
    assert (again.new, again.changed, again.unchanged, again.missing) == (0, 0, 3, 0)

    lines = path.read_text(encoding="utf-8-sig").splitlines()
    lines[1] = lines[1].replace("bill.weingarten@gmail.com", "bill@weingarten.example")
    path.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8-sig")  # P-0001 disappears
    third = import_source(app.engine, path, mapping, clock=app.clock)
    assert (third.new, third.changed, third.unchanged, third.missing) == (0, 1, 1, 1)
    with app.engine.connect() as conn:
        missing = conn.execute(select(source_records.c.source_key).where(source_records.c.missing_since.is_not(None)))
        assert missing.scalars().all() == ["P-0001"]
    shutil.copy(FIXTURES / "crm_intl.csv", path)
    fourth = import_source(app.engine, path, mapping, clock=app.clock)
    assert fourth.returned == 1 and fourth.changed == 1
    assert _count(app, source_records) == 3


def test_malformed_rows_are_reported_by_row_and_the_rest_imported(app: Epistola, tmp_path: Path) -> None:
    report = import_source(
        app.engine,
        FIXTURES / "loyalty_members.csv",
        source_mapping("loyalty"),
        clock=app.clock,
        rejects_dir=tmp_path / "rejects",
    )
    assert (report.new, report.rejected) == (3, 1)
    problem = report.problems[0]
    assert (problem.file, problem.row) == ("loyalty_members.csv", 4)
    assert "expected 13 fields, found 6" in problem.message
    assert report.rejects_file is not None and "loyalty_members.csv,4," in report.rejects_file.read_text()
    assert _count(app, import_rejects) == 1


def test_an_unreadable_file_changes_nothing_already_stored(app: Epistola, tmp_path: Path) -> None:
    mapping = source_mapping("crm_intl")
    import_source(app.engine, FIXTURES / "crm_intl.csv", mapping, clock=app.clock)
    before = _count(app, source_records)
    broken = tmp_path / "crm_intl.csv"
    broken.write_bytes("customer_no,first_name\nX1,Łukasz\n".encode("utf-16"))
    with pytest.raises(InputError):
        import_source(app.engine, broken, mapping, clock=app.clock)
    assert _count(app, source_records) == before
    with app.engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(source_records).where(source_records.c.missing_since.is_not(None))
            ).scalar_one()
            == 0
        )


def test_records_sharing_an_email_become_one_customer_with_lineage(app: Epistola) -> None:
    for name, file in (
        ("crm_ru", "crm_ru.csv"),
        ("crm_intl", "crm_intl.csv"),
        ("web", "web_registrations.jsonl"),
        ("loyalty", "loyalty_members.csv"),
    ):
        import_source(app.engine, FIXTURES / file, source_mapping(name), clock=app.clock)
    with app.engine.begin() as conn:
        report = resolve(conn, now=app.clock())
        again = resolve(conn, now=app.clock())
        bill = conn.execute(select(customers).where(customers.c.email == "bill.weingarten@gmail.com")).mappings().one()
    assert report.records == 12 and report.customers == 8
    assert (again.created, again.updated, again.consents_recorded) == (0, 0, 0), "resolving twice changes nothing"
    # CRM (trust 80) wins the name; the web form adds what CRM lacked (an age range, consistent with the birth date)
    assert (bill["first_name"], bill["last_name"], bill["birth_date"].isoformat()) == (
        "William",
        "Weingarten",
        "1962-04-17",
    )
    assert (bill["age_min"], bill["age_max"]) == (41, None)
    assert bill["street"] == "1102 West Pratt Street"


def test_events_are_idempotent_and_tied_to_customers(app: Epistola) -> None:
    import_source(app.engine, FIXTURES / "loyalty_members.csv", source_mapping("loyalty"), clock=app.clock)
    with app.engine.begin() as conn:
        resolve(conn, now=app.clock())
    first = import_events(app.engine, FIXTURES / "transactions.csv", event_mapping("transactions"), clock=app.clock)
    assert (first.inserted, first.rejected, first.unlinked) == (4, 1, 1)
    assert first.problems[0].row == 5 and first.problems[0].field == "occurred_at"
    second = import_events(app.engine, FIXTURES / "transactions.csv", event_mapping("transactions"), clock=app.clock)
    assert (second.inserted, second.duplicates) == (0, 4)
    assert _count(app, events) == 4
