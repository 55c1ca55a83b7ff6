"""Shared by the hub's integration tests: a small generated dataset, imported, and linked by its ground
truth (so quality checks are tested on their own, whatever identity resolution currently finds)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, bindparam, insert, select, update
from typer.testing import CliRunner, Result

from epistola.app import Epistola
from epistola.hub.ingest import ImportReport, import_source
from epistola.hub.pipeline import CUSTOMER_FILES, source_mapping
from epistola.store.schema import customers, source_records, sources

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def run_cli(app: Epistola, *args: str) -> Result:
    """The `epistola` CLI in this process, on the test's database."""
    from epistola.cli import app as cli
    from epistola.cli.common import CliState

    options = ["--database-url", app.settings.database_url, "--output-dir", str(app.settings.output_dir)]
    state = CliState()
    try:
        return CliRunner().invoke(cli, [*options, *args], env={"COLUMNS": "200"}, catch_exceptions=False, obj=state)
    finally:
        if state.app is not None:
            state.app.close()


def import_customers(app: Epistola, folder: Path, *, workers: int = 1) -> list[ImportReport]:
    return [
        import_source(app.engine, folder / filename, source_mapping(name), clock=app.clock, workers=workers)
        for filename, name in CUSTOMER_FILES
    ]


def link_by_truth(conn: Connection, folder: Path) -> dict[str, int]:
    """One customer per real person, every source record tied to its person's customer: person -> id."""
    people: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with (folder / "ground_truth.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            people[row["person_id"]].append((row["source"], row["source_key"]))
    ids = {}
    for person in sorted(people):
        ids[person] = conn.execute(
            insert(customers).values(locale="en", attributes={}, created_at=NOW, updated_at=NOW)
        ).inserted_primary_key[0]
    record_ids = {
        (name, key): rid
        for rid, name, key in conn.execute(
            select(source_records.c.id, sources.c.name, source_records.c.source_key).join(
                sources, sources.c.id == source_records.c.source_id
            )
        )
    }
    updates = [
        {"b_id": record_ids[(source, key)], "b_customer": ids[person]}
        for person, keys in people.items()
        for source, key in keys
        if (source, key) in record_ids
    ]
    conn.execute(
        update(source_records)
        .where(source_records.c.id == bindparam("b_id"))
        .values(customer_id=bindparam("b_customer")),
        updates,
    )
    return ids
