"""Shared snippets: a signature, a legal paragraph, an offer box used by many designs.

A design includes one with ``{% include "name" %}``. Every save is a new version; a design version copies
the text of the snippets it includes when it is saved (`templates.prepare_design`), so changing a snippet
never changes a version that is already approved. Saving a snippet checks it like a slot: syntax, sandbox,
unknown variables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from epistola import audit
from epistola.content.blocks import check_source
from epistola.content.sandbox import check_template
from epistola.errors import InputError, NotFound
from epistola.store.dialect import insert_id
from epistola.store.schema import content_snippets

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@dataclass(frozen=True, kw_only=True)
class Snippet:
    id: int
    name: str
    version: int
    body: str


def save_snippet(conn: Connection, *, name: str, body: str, now: datetime, actor: str = "system") -> Snippet:
    """Validate and store a new version of a snippet."""
    if not _NAME.fullmatch(name):
        raise InputError(f"snippet name {name!r} must be 1-100 letters, digits, '-', '_' or '.'")
    label = f"snippet {name}"
    check_source(body, name=label)
    check_template(body, name=label)
    current = conn.execute(
        select(func.coalesce(func.max(content_snippets.c.version), 0)).where(content_snippets.c.name == name)
    ).scalar_one()
    version = int(current) + 1
    snippet_id = insert_id(
        conn,
        insert(content_snippets).values(name=name, version=version, body=body, created_at=now, created_by=actor),
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="create",
        entity="snippet",
        entity_id=snippet_id,
        details={"name": name, "version": version},
    )
    return Snippet(id=int(snippet_id), name=name, version=version, body=body)


def latest_snippets(conn: Connection, names: Iterable[str]) -> dict[str, str]:
    """The newest text of each named snippet that exists (missing ones are reported by the design check)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    newest = (
        select(content_snippets.c.name, func.max(content_snippets.c.version).label("version"))
        .where(content_snippets.c.name.in_(wanted))
        .group_by(content_snippets.c.name)
        .subquery()
    )
    rows = conn.execute(
        select(content_snippets.c.name, content_snippets.c.body).join(
            newest,
            (newest.c.name == content_snippets.c.name) & (newest.c.version == content_snippets.c.version),
        )
    )
    return {str(name): str(body) for name, body in rows}


def get_snippet(conn: Connection, name: str) -> Snippet:
    row = (
        conn.execute(
            select(content_snippets)
            .where(content_snippets.c.name == name)
            .order_by(content_snippets.c.version.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no snippet {name!r}", hint="Save one with `epistola template snippet NAME FILE`.")
    return Snippet(id=int(row["id"]), name=str(row["name"]), version=int(row["version"]), body=str(row["body"]))


def list_snippets(conn: Connection) -> list[Snippet]:
    rows = conn.execute(
        select(content_snippets).order_by(content_snippets.c.name, content_snippets.c.version.desc())
    ).mappings()
    newest: dict[str, Snippet] = {}
    for row in rows:
        newest.setdefault(
            str(row["name"]),
            Snippet(id=int(row["id"]), name=str(row["name"]), version=int(row["version"]), body=str(row["body"])),
        )
    return list(newest.values())
