"""SQL sources: the rows of a query against any database SQLAlchemy can reach.

The mapping names the query and the URL (or the environment variable holding it, so a password need
not sit in a YAML file). The URL's password never appears in a message or a log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from epistola.errors import InputError
from epistola.hub.mapping import FormatSpec
from epistola.hub.readers import ClosingRows, Rejected, Row, check_columns

FETCH = 5_000


def source_url(fmt: FormatSpec, source: str) -> URL:
    """The database URL of a sql source, from the mapping or its environment variable."""
    raw = fmt.url
    if fmt.url_env is not None:
        raw = os.environ.get(fmt.url_env)
        if not raw:
            raise InputError(
                f"source {source!r} reads its database URL from ${fmt.url_env}, which is not set",
                hint=f"export {fmt.url_env}=postgresql://user:password@host/db",
            )
    try:
        url = make_url(raw or "")
    except ArgumentError:
        raise InputError(f"source {source!r}: format.url is not a database URL") from None
    if url.get_backend_name() in ("postgresql", "postgres") and "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    return url


def redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def read_query(fmt: FormatSpec, source: str, required: set[str]) -> Iterator[Row | Rejected]:
    """Run the query now (so a refused query or a missing column fails here); stream its rows later."""
    url = source_url(fmt, source)
    where = f"source {source!r} ({redacted(url)})"
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise InputError(f"{where}: cannot use this database URL: {exc}") from None
    try:
        conn = engine.connect()
        result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(text(fmt.query or ""))
        columns = [str(c) for c in result.keys()]
        check_columns(f"the query of {where}", columns, required, hint="Name the columns in the SELECT.")
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InputError(f"{where}: the query failed: {reason}", hint="Check format.query and format.url.") from None
    except BaseException:
        engine.dispose()
        raise

    def close() -> None:
        conn.close()
        engine.dispose()

    return ClosingRows(_rows(result, columns, where), close)


def _rows(result: Any, columns: list[str], where: str) -> Iterator[Row | Rejected]:
    try:
        number = 0
        for record in result:
            number += 1
            yield Row(number=number, values=dict(zip(columns, record, strict=True)))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InputError(f"{where}: reading the query's rows failed: {reason}") from None
