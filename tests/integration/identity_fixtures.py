"""Shared by the identity integration tests: two small sources (a CRM and shop cards) with nicknames,
transliterations, typos, a household and two namesakes, imported and resolved."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, select

from epistola.app import Epistola
from epistola.hub.ingest import import_source
from epistola.hub.mapping import SourceMapping, load_mapping
from epistola.identity import store
from epistola.identity.resolve import resolve
from epistola.store.schema import source_records, sources

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "identity"


def mapping(name: str) -> SourceMapping:
    loaded = load_mapping(FIXTURES / f"{name}.yaml")
    assert isinstance(loaded, SourceMapping)
    return loaded


def load(app: Epistola, *names: str) -> None:
    for name in names or ("crm", "shop"):
        import_source(app.engine, FIXTURES / f"{name}.csv", mapping(name), clock=app.clock)


def resolved_app(app: Epistola) -> Epistola:
    app.migrate()
    load(app)
    with app.engine.begin() as conn:
        resolve(conn, now=app.clock())
    return app


def customer_of(conn: Connection, source: str, key: str) -> int:
    return int(
        conn.execute(
            select(source_records.c.customer_id)
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(sources.c.name == f"test_{source}", source_records.c.source_key == key)
        ).scalar_one()
    )


def rid(conn: Connection, source: str, key: str) -> int:
    return store.record_id_for(conn, f"test_{source}", key)
