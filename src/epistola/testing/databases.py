"""Fresh, migrated databases for every test, on SQLite and PostgreSQL.

Migrating once and copying is much faster than migrating per test: SQLite copies a migrated file,
PostgreSQL clones a migrated template database (``CREATE DATABASE … TEMPLATE``), as procrastinate does.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from epistola.store import make_engine, upgrade

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class PostgresUnavailable(RuntimeError):
    pass


class TestDatabases:
    """Hands out database URLs; call `close()` to drop what it created."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, workdir: Path, *, tag: str = "") -> None:
        self.workdir = workdir
        self.tag = tag or uuid.uuid4().hex[:8]
        self.postgres_url = os.environ.get("EPISTOLA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_created: list[str] = []

    # --- SQLite ---------------------------------------------------------------------------------------
    def sqlite_url(self, path: Path) -> str:
        if self._sqlite_template is None:
            template = self.workdir / f"template-{self.tag}.db"
            engine = make_engine(f"sqlite:///{template}")
            upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self._sqlite_template = template
        shutil.copyfile(self._sqlite_template, path)
        return f"sqlite:///{path}"

    # --- PostgreSQL -----------------------------------------------------------------------------------
    def _admin(self) -> Engine:
        url = make_url(self.postgres_url).set(drivername="postgresql+psycopg")
        return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)

    def _url_for(self, database: str) -> str:
        return make_url(self.postgres_url).set(database=database).render_as_string(hide_password=False)

    def postgres_url_fresh(self) -> str:
        admin = self._admin()
        try:
            with admin.connect() as conn:
                if self._pg_template is None:
                    name = f"epistola_tpl_{self.tag}"
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                    self._pg_created.append(name)
                    engine = make_engine(self._url_for(name))
                    upgrade(engine)
                    engine.dispose()
                    self._pg_template = name
                name = f"epistola_t_{self.tag}_{uuid.uuid4().hex[:10]}"
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"'))
                self._pg_created.append(name)
        except OperationalError as exc:
            raise PostgresUnavailable(f"PostgreSQL at {self.postgres_url} is unreachable: {exc.orig}") from exc
        finally:
            admin.dispose()
        return self._url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        if name is None or name not in self._pg_created:
            return
        admin = self._admin()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self._pg_created.remove(name)
        finally:
            admin.dispose()

    def close(self) -> None:
        if not self._pg_created:
            return
        admin = self._admin()
        try:
            with admin.connect() as conn:
                for name in reversed(self._pg_created):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except OperationalError:
            pass
        finally:
            admin.dispose()
        self._pg_created.clear()
