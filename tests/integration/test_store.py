"""The store on both engines: migrations equal the models, time zones survive, constraints hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from epistola import audit
from epistola.store import head_revision, is_current
from epistola.store.schema import audit_log, customers, metadata


def test_migrations_produce_the_models_schema(engine: Engine) -> None:
    assert is_current(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ; write a migration for: {diff}"
    assert head_revision() is not None


def test_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    with engine.begin() as conn:
        cid = conn.execute(
            insert(customers).values(locale="ru", created_at=moment, updated_at=moment, attributes={})
        ).inserted_primary_key[0]
        stored = conn.execute(select(customers.c.created_at).where(customers.c.id == cid)).scalar_one()
    assert stored == moment
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as conn:
        conn.execute(
            insert(customers).values(
                locale="en", created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1), attributes={}
            )
        )


def test_constraints_are_enforced(engine: Engine) -> None:
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(customers).values(locale="en", gender="q", created_at=now, updated_at=now, attributes={}))


def test_audit_chain_detects_an_edited_row(engine: Engine) -> None:
    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    with engine.begin() as conn:
        for i in range(3):
            audit.record(
                conn,
                at=now + timedelta(seconds=i),
                actor="tester",
                action="update",
                entity="template",
                entity_id=i,
                details={"field": "subject"},
            )
        report = audit.verify(conn)
    assert report.ok and report.rows == 3
    with engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.id == 2).values(actor="mallory"))
        report = audit.verify(conn)
    assert not report.ok and report.first_broken_id == 2
