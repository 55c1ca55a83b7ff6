"""Engines for the two supported backends, through one code path.

SQLite runs in WAL mode with foreign keys on, so the embedded default behaves like a real database;
PostgreSQL goes through psycopg 3. Driver errors are wrapped into `StorageError` at this edge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from epistola.errors import ConfigError, StorageError


def normalise_url(url: str) -> URL:
    """Map the user-facing URL forms onto the drivers Epistola ships with."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"EPISTOLA_DATABASE_URL is not a database URL: {redact(url)!r}",
            hint="Use sqlite:///./epistola.db or postgresql://user@host:5432/dbname",
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ConfigError(
        f"unsupported database backend {backend!r} in EPISTOLA_DATABASE_URL",
        hint="Epistola runs on SQLite (embedded) or PostgreSQL.",
    )


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    with contextlib.suppress(ArgumentError):
        return make_url(url).render_as_string(hide_password=True)
    return "<unparseable URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create (but do not connect) an engine for `url`."""
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.drivername == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"cannot use EPISTOLA_DATABASE_URL {redact(url)!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def check_connection(engine: Engine) -> None:
    """Connect once, so a wrong URL fails with a clear message instead of deep inside a job."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StorageError(
            f"cannot connect to the database at {engine.url.render_as_string(hide_password=True)}: {reason}",
            hint="Check EPISTOLA_DATABASE_URL and that the server is running.",
        ) from None


@contextlib.contextmanager
def wrap_db_errors(what: str) -> Iterator[None]:
    """Translate driver errors into `StorageError` naming the operation that failed."""
    try:
        yield
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = str(orig or exc).strip().splitlines()[0]
        raise StorageError(f"{what} failed: {reason}") from exc
