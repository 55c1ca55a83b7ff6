"""Shared fixtures. Any test that asks for `db_url`, `settings`, `app` or `engine` runs twice: on SQLite
and on PostgreSQL. Under CI=true an unreachable PostgreSQL fails the test instead of skipping it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from epistola.app import Epistola, create_app
from epistola.config import Settings, load_settings
from epistola.testing import FixedClock, PostgresUnavailable, TestDatabases

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# pytest-xdist workers export COLUMNS=80, and the CLI's Rich console fixes its width when first imported;
# CLI tests pass their own COLUMNS to CliRunner, which only works while the console reads it per call.
os.environ.pop("COLUMNS", None)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's EPISTOLA_* variables or .env file."""
    for name in list(os.environ):
        if name.startswith("EPISTOLA_") and name != "EPISTOLA_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[TestDatabases]:
    dbs = TestDatabases(tmp_path_factory.mktemp("dbs"), tag=f"{os.getpid()}_{worker_id}")
    yield dbs
    dbs.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, databases: TestDatabases, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path / "epistola.db")
        return
    try:
        url = databases.postgres_url_fresh()
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true: PostgreSQL tests must not skip)")
        pytest.skip(str(exc))
    yield url
    databases.drop(url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(env="test", database_url=db_url, output_dir=tmp_path / "out")


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[Epistola]:
    instance = create_app(settings, clock=clock)
    yield instance
    instance.close()


@pytest.fixture
def engine(app: Epistola):  # type: ignore[no-untyped-def]
    return app.engine
