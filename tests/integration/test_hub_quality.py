"""The quality report finds exactly the problems the generator planted, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

import pytest
from hub_fixtures import import_customers, link_by_truth, run_cli
from sqlalchemy import select

from epistola.app import Epistola
from epistola.hub.events import import_events
from epistola.hub.pipeline import event_mapping
from epistola.hub.quality import birth_interval, quality_report
from epistola.hub.quality_html import render_quality
from epistola.store.schema import source_records, sources
from epistola.synth import generate
from epistola.synth.model import age_on
from epistola.synth.people import build_people

PEOPLE = 1_500
SEED = 11
LOYALTY_BOXES = {"1": (18, 25), "2": (36, 55), "3": (56, None)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("quality-data")
    generate(folder, customers=PEOPLE, seed=SEED, events_per_customer=2.0)
    return folder


def _planted(folder: Path) -> dict[str, int]:
    return dict(json.loads((folder / "dataset.json").read_text(encoding="utf-8"))["planted"])


def _wrong_boxes(folder: Path) -> tuple[set[str], set[str]]:
    """Persons whose loyalty form has a box that does not fit their age on the day, and the subset
    whose CRM record carries a usable birth date (their conflict is certain to be visible)."""
    people = {p.person_id: p for p in build_people(PEOPLE, SEED)}
    truth = {}
    with (folder / "ground_truth.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            truth[(row["source"], row["source_key"])] = row["person_id"]
    wrong = set()
    with (folder / "loyalty_members.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row["age_group"]:
                continue
            person = people[truth[("loyalty", row["card_no"])]]
            low, high = LOYALTY_BOXES[row["age_group"]]
            age = age_on(person.birth_date, date.fromisoformat(row["card_issued"]))
            if not (low <= age and (high is None or age <= high)):
                wrong.add(person.person_id)
    with_birth = set()
    for (source, _key), person_id in truth.items():
        if source.startswith("crm") and person_id in wrong and people[person_id].birth_date.year < 2026:
            with_birth.add(person_id)
    return wrong, with_birth


def test_the_planted_problems_are_found(app: Epistola, dataset: Path) -> None:
    planted = _planted(dataset)
    import_customers(app, dataset)
    with app.engine.begin() as conn:
        person_of = {cid: pid for pid, cid in link_by_truth(conn, dataset).items()}
    import_events(app.engine, dataset / "transactions.csv", event_mapping("transactions"), clock=app.clock)
    with app.engine.connect() as conn:
        report = quality_report(conn, now=app.clock())

    checks = report.checks
    for kind in ("invalid_phone", "invalid_email", "unknown_country", "future_birth_date"):
        assert checks[kind] == planted[kind], kind
    events = {e.source: e for e in report.events}
    assert events["transactions"].orphans == planted["orphan_transactions"]

    by_source = {s.source: s for s in report.sources}
    extra = {name: s.duplicates - s.duplicate_customers for name, s in by_source.items()}
    assert extra["crm_ru"] + extra["crm_intl"] == planted["crm_duplicates"]
    assert extra["web"] == planted["web_duplicates"]

    wrong, visible = _wrong_boxes(dataset)
    assert len(wrong) == planted["conflicting_age"]
    age = next(c for c in report.conflicts if c.field == "age")
    flagged = _customers_with_age_conflicts(app, person_of)
    assert age.customers == len(flagged) <= planted["conflicting_age"]
    assert flagged <= wrong, "a customer flagged for age had a correct box"
    assert visible <= flagged, "a wrong box against a known birth date was missed"
    assert checks["conflicting_age"] == age.customers > 0

    html = render_quality(report)
    assert "<svg" in html and "Conflicts between sources" in html
    assert re.search(r"[\w.+-]+@[\w-]+\.\w+", html) is None, "the report must not show anyone's address"


def _customers_with_age_conflicts(app: Epistola, person_of: dict[int, str]) -> set[str]:
    """Recomputed here from the stored values, customer by customer, as a cross-check of the report."""
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(source_records.c.customer_id, source_records.c.normalized).where(
                source_records.c.customer_id.is_not(None)
            )
        ).all()
    spans: dict[int, list[tuple[date, date]]] = {}
    for customer_id, normalized in rows:
        values = {k: None if normalized.get(k) is None else str(normalized[k]) for k in normalized}
        span = birth_interval(values)
        if span is not None:
            spans.setdefault(customer_id, []).append(span)
    return {person_of[c] for c, s in spans.items() if len(s) > 1 and max(a for a, _ in s) > min(b for _, b in s)}


def test_quality_cli_prints_and_writes_html(app: Epistola, dataset: Path, tmp_path: Path) -> None:
    import_customers(app, dataset)
    target = tmp_path / "quality.html"
    result = run_cli(app, "quality", "--html", str(target))
    assert result.exit_code == 0, result.output
    assert "phone numbers no numbering plan accepts" in result.output
    assert "crm_ru" in result.output and "Rejected rows" not in result.output
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    as_json = run_cli(app, "quality", "--json")
    data = json.loads(as_json.output)
    assert {s["source"] for s in data["sources"]} == {"crm_ru", "crm_intl", "web", "loyalty"}
    with app.engine.connect() as conn:
        assert (
            conn.execute(select(sources.c.mapping).where(sources.c.name == "loyalty")).scalar_one()["key"] == "card_no"
        )
