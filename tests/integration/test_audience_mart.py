"""The mart's own promises: a parallel build reads exactly what a sequential one does, missing event ids
are looked for again, model scores and consent reach it, it refuses another store's data, and it is
built or refreshed only when a count needs it."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from epistola.app import Epistola, create_app
from epistola.audience import extract
from epistola.audience import mart as mart_module
from epistola.audience.mart import Mart
from epistola.config import load_settings
from epistola.errors import StorageError
from epistola.hub.pipeline import import_dataset
from epistola.store import make_engine
from epistola.store.schema import consents, customers, events, model_scores
from epistola.synth import generate
from epistola.testing import FixedClock

TABLES = ("customers", "attributes", "consents", "scores", "events")


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


@pytest.fixture
def loaded(app: Epistola, tmp_path: Path) -> Epistola:
    generate(tmp_path / "data", customers=120, seed=8, events_per_customer=8)
    import_dataset(app, tmp_path / "data", _NoBar)
    return app


def _content(mart: Mart) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(mart.query(f"SELECT * FROM {t}"), key=repr) for t in TABLES}  # noqa: S608


@pytest.mark.parametrize("shell", [True, False], ids=["sqlite3-shell", "python-workers"])
def test_parallel_build_reads_what_a_sequential_build_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: bool
) -> None:
    """SQLite only: PostgreSQL streams COPY output and needs no worker processes."""
    if shell and shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 shell is not installed here; the Python workers are tested below")
    app = create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", output_dir=tmp_path / "out"))
    app.migrate()
    generate(tmp_path / "data", customers=60, seed=8, events_per_customer=8)
    import_dataset(app, tmp_path / "data", _NoBar)
    sequential = Mart(tmp_path / "one.duckdb")
    sequential.build(app.engine, app.clock())
    events_read = len(_content(sequential)["events"])
    monkeypatch.setattr(extract, "PARALLEL_FROM", 0)
    monkeypatch.setattr(extract, "USE_SQLITE_SHELL", shell)
    monkeypatch.setattr(mart_module, "BUILD_BATCH", events_read // 3 + 1)  # three ranges, one process each
    monkeypatch.setattr(mart_module, "CUSTOMER_BATCH", len(_content(sequential)["customers"]) // 2 + 1)
    parallel = Mart(tmp_path / "two.duckdb")
    parallel.build(app.engine, app.clock())
    assert _content(parallel) == _content(sequential)
    sequential.close()
    parallel.close()
    app.close()


def test_refresh_finds_late_ids_scores_and_consent(loaded: Epistola, clock: FixedClock, tmp_path: Path) -> None:
    app = loaded
    mart = Mart(tmp_path / "mart.duckdb")
    mart.build(app.engine, clock.now)
    with app.engine.begin() as conn:
        newest = conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).scalar_one()
        someone = conn.execute(select(customers.c.id).limit(1)).scalar_one()
        row = {
            "customer_id": someone,
            "type": "purchase",
            "occurred_at": clock.now,
            "received_at": clock.now,
            "properties": {},
        }
        conn.execute(insert(events).values(id=newest + 3, event_uid="late:3", **row))  # ids +1, +2 still missing
        conn.execute(insert(model_scores).values(model="churn", customer_id=someone, score=0.9, scored_at=clock.now))
        conn.execute(
            insert(consents).values(
                customer_id=someone,
                channel="push",
                purpose="marketing",
                status="granted",
                source="test",
                proof={},
                recorded_at=clock.now,
            )
        )
    clock.advance(minutes=1)
    mart.refresh(app.engine, clock.now)
    assert mart.query("SELECT count(*) FROM events WHERE id > ?", [newest])[0][0] == 1
    gaps = mart.meta()["event_gaps"]
    assert f"[{newest + 1}, {newest + 2}," in gaps
    assert mart.query("SELECT score FROM scores WHERE model = 'churn'") == [(0.9,)]
    assert mart.query("SELECT status FROM consents WHERE channel = 'push'") == [("granted",)]

    with app.engine.begin() as conn:  # the transaction that held id + 1 commits at last
        conn.execute(insert(events).values(id=newest + 1, event_uid="late:1", **row))
    clock.advance(minutes=1)
    mart.refresh(app.engine, clock.now)
    assert mart.query("SELECT count(*) FROM events WHERE id > ?", [newest])[0][0] == 2
    clock.advance(days=2)  # after a day a gap is given up
    mart.refresh(app.engine, clock.now)
    assert mart.meta()["event_gaps"] == "[]"
    mart.close()


def test_the_mart_belongs_to_one_store(loaded: Epistola, tmp_path: Path) -> None:
    mart = Mart(tmp_path / "mart.duckdb")
    mart.build(loaded.engine, loaded.clock())
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(StorageError, match="was built from"):
        mart.refresh(other, loaded.clock())
    other.dispose()
    mart.close()


def test_counts_build_or_refresh_only_when_needed(loaded: Epistola, clock: FixedClock, tmp_path: Path) -> None:
    mart = Mart(tmp_path / "mart.duckdb")
    assert not mart.exists()
    first = mart.ensure_fresh(loaded.engine, clock.now, max_age_s=300)
    assert first.age_s == 0 and mart.meta()["built_at"] == clock.now.isoformat()
    clock.advance(minutes=4)
    assert mart.ensure_fresh(loaded.engine, clock.now, max_age_s=300).age_s == 240  # fresh enough: as it was
    clock.advance(minutes=2)
    assert mart.ensure_fresh(loaded.engine, clock.now, max_age_s=300).age_s == 0  # refreshed
    assert mart.meta()["refreshed_at"] == clock.now.isoformat()
    assert mart.freshness(clock.now + timedelta(hours=3)).describe().endswith("(3 h ago)")
    mart.close()
