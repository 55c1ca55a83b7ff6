"""A first resolve writes customers, lineage and consent statements through the bulk paths (driver rows,
fanned-out lineage, indexes set aside and rebuilt, COPY on PostgreSQL). Here those paths are forced on a
small generated base and what they stored is compared with the one-at-a-time code: `rebuild_golden` for
customers and lineage, the records' own statements for the ledger, SQLAlchemy's rows for the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, select

from epistola.app import Epistola
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import CUSTOMER_FILES, source_mapping
from epistola.identity import bulk
from epistola.identity.apply import load_candidates, observed, rebuild_golden
from epistola.identity.resolve import current_config, resolve
from epistola.store.schema import consents, customer_lineage, customers, source_records
from epistola.synth import generate


@pytest.fixture
def base(app: Epistola, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Epistola:
    app.migrate()
    generate(tmp_path / "data", customers=300, seed=5, events_per_customer=0.0)
    for filename, name in CUSTOMER_FILES:
        import_source(app.engine, tmp_path / "data" / filename, source_mapping(name), clock=app.clock)
    monkeypatch.setattr(bulk, "REBUILD_FROM", 1)  # every bulk insert into an empty table sets its indexes aside
    return app


def _customers(conn: Connection) -> dict[int, dict[str, Any]]:
    rows = conn.execute(select(customers).where(customers.c.merged_into.is_(None))).mappings()
    return {r["id"]: {k: v for k, v in r.items() if k != "updated_at"} for r in rows}


def _lineage(conn: Connection) -> set[tuple[Any, ...]]:
    x = customer_lineage.c
    return {tuple(r) for r in conn.execute(select(x.customer_id, x.field, x.source_record_id, x.observed_at))}


def test_a_first_resolve_stores_what_the_one_at_a_time_code_would(base: Epistola) -> None:
    now = base.clock()
    with base.engine.begin() as conn:
        everything = load_candidates(conn)
        assert everything == load_candidates(conn, [c.record_id for c in everything])  # driver rows = SQLAlchemy's
        report = resolve(conn, now=now)
    assert report.created == report.customers > 100
    with base.engine.begin() as conn:
        # every index the bulk paths set aside is back
        for table in (customer_lineage, consents, customers):
            names = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
            assert {str(ix.name) for ix in table.indexes} <= names, table.name
        # customers and lineage: as rebuilding each golden record on its own makes them
        bulk_customers, bulk_lineage = _customers(conn), _lineage(conn)
        assert len(bulk_lineage) > 5 * len(bulk_customers)
        policy = current_config(conn)[0].survivorship
        for cid in bulk_customers:
            rebuild_golden(conn, cid, now=now, policy=policy)
        assert _customers(conn) == bulk_customers
        assert _lineage(conn) == bulk_lineage
        # the ledger: one statement per record and channel, with its proof, for the record's customer
        expected = set()
        r = source_records.c
        for rid, cid, norm, seen in conn.execute(select(r.id, r.customer_id, r.normalized, r.updated_at)):
            for channel, said in (norm.get("consents") or {}).items():
                proof = {"kind": "source_record", "source_record_id": rid, "imported_at": now.isoformat()}
                statement = (cid, channel, said["purpose"], said["status"], observed(norm, seen))
                expected.add((*statement, json.dumps(proof, sort_keys=True)))
        c = consents.c
        stored = {
            (cid, ch, pu, st, at, json.dumps(proof, sort_keys=True))
            for cid, ch, pu, st, at, proof in conn.execute(
                select(c.customer_id, c.channel, c.purpose, c.status, c.recorded_at, c.proof).where(c.source != "merge")
            )
        }
        assert len(expected) > 300
        assert stored == expected
