"""Segments as stored objects: save (validated), count, list members, freeze a snapshot, delete."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from epistola import audit
from epistola.audience.language import Condition, parse_definition, referenced_segments
from epistola.audience.sql import SqlCompiler
from epistola.errors import Conflict, InputError, NotFound, Problem
from epistola.store.dialect import insert_id
from epistola.store.schema import campaigns, segment_snapshots, segments, snapshot_members


@dataclass(frozen=True, kw_only=True)
class Segment:
    id: int
    name: str
    description: str
    definition: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    id: int
    segment_id: int
    size: int
    created_at: datetime


def get_segment(conn: Connection, name: str) -> Segment:
    row = conn.execute(select(segments).where(segments.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no segment named {name!r}", hint="List segments with `epistola segment list`.")
    return Segment(id=row["id"], name=row["name"], description=row["description"], definition=row["definition"])


def get_segment_by_id(conn: Connection, segment_id: int) -> Segment:
    name = conn.execute(select(segments.c.name).where(segments.c.id == segment_id)).scalar()
    if name is None:
        raise NotFound(f"no segment with id {segment_id}")
    return get_segment(conn, name)


def list_segments(conn: Connection) -> list[Segment]:
    rows = conn.execute(select(segments).order_by(segments.c.name)).mappings()
    return [Segment(id=r["id"], name=r["name"], description=r["description"], definition=r["definition"]) for r in rows]


def segment_loader(conn: Connection) -> Callable[[str], Condition]:
    """Resolves `{segment: name}` references from the operational store."""
    return lambda name: parse_definition(get_segment(conn, name).definition, source=f"segment {name!r}")


_loader = segment_loader
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def save_segment(
    conn: Connection,
    *,
    name: str,
    definition: dict[str, Any],
    description: str = "",
    now: datetime,
    actor: str = "system",
) -> Segment:
    """Create or replace a segment; the definition is validated and compiled before anything is stored."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InputError(
            f"segment name {name!r} is not valid",
            problems=[Problem(message="use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")],
        )
    condition = parse_definition(definition, source=f"segment {name!r}")
    if name in referenced_segments(condition):
        raise InputError(f"segment {name!r} cannot include itself")
    SqlCompiler(now=now, load=_loader(conn)).count(condition)  # unknown references fail here, not later
    existing = conn.execute(select(segments.c.id).where(segments.c.name == name)).scalar()
    if existing is None:
        conn.execute(
            insert(segments).values(
                name=name, description=description, definition=definition, created_at=now, updated_at=now
            )
        )
    else:
        conn.execute(
            update(segments)
            .where(segments.c.id == existing)
            .values(description=description, definition=definition, updated_at=now)
        )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="create" if existing is None else "update",
        entity="segment",
        entity_id=name,
        details={"definition": definition},
    )
    return get_segment(conn, name)


def compile_segment(conn: Connection, segment: Segment, now: datetime) -> tuple[SqlCompiler, Condition]:
    condition = parse_definition(segment.definition, source=f"segment {segment.name!r}")
    return SqlCompiler(now=now, load=_loader(conn)), condition


def count_segment(conn: Connection, segment: Segment, now: datetime) -> int:
    compiler, condition = compile_segment(conn, segment, now)
    return int(conn.execute(compiler.count(condition)).scalar_one())


def segment_members(conn: Connection, segment: Segment, now: datetime) -> list[int]:
    compiler, condition = compile_segment(conn, segment, now)
    return [int(x) for x in conn.execute(compiler.members(condition).order_by("id")).scalars()]


def take_snapshot(
    conn: Connection,
    segment: Segment,
    now: datetime,
    *,
    members: Sequence[int] | None = None,
    actor: str = "system",
) -> Snapshot:
    """Freeze today's members, so a campaign step targets exactly who was in the segment when it started.

    `members` may come from a freshly refreshed mart; by default they are selected here, on the store.
    """
    members = sorted(set(members)) if members is not None else segment_members(conn, segment, now)
    snap_id = insert_id(
        conn, insert(segment_snapshots).values(segment_id=segment.id, size=len(members), created_at=now)
    )
    if members:
        conn.execute(insert(snapshot_members), [{"snapshot_id": snap_id, "customer_id": m} for m in members])
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="snapshot",
        entity="segment",
        entity_id=segment.name,
        details={"snapshot_id": snap_id, "size": len(members)},
    )
    return Snapshot(id=snap_id, segment_id=segment.id, size=len(members), created_at=now)


def snapshot_member_ids(conn: Connection, snapshot_id: int) -> list[int]:
    rows = conn.execute(
        select(snapshot_members.c.customer_id)
        .where(snapshot_members.c.snapshot_id == snapshot_id)
        .order_by(snapshot_members.c.customer_id)
    )
    return [int(x) for x in rows.scalars()]


def snapshot_size(conn: Connection, snapshot_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(snapshot_members).where(snapshot_members.c.snapshot_id == snapshot_id)
        ).scalar_one()
    )


def delete_segment(conn: Connection, name: str, *, now: datetime, actor: str = "system") -> None:
    """Delete a segment no campaign and no other segment uses (its snapshots go with it)."""
    segment = get_segment(conn, name)
    used_by = conn.execute(select(campaigns.c.name).where(campaigns.c.segment_id == segment.id)).scalars().all()
    if used_by:
        raise Conflict(f"segment {name!r} is the audience of campaign(s) {sorted(used_by)}")
    referring = [s.name for s in list_segments(conn) if name in _references(s)]
    if referring:
        raise Conflict(f"segment {name!r} is used by segment(s) {sorted(referring)}", hint="Change those first.")
    snapshot_ids = select(segment_snapshots.c.id).where(segment_snapshots.c.segment_id == segment.id)
    conn.execute(delete(snapshot_members).where(snapshot_members.c.snapshot_id.in_(snapshot_ids)))
    conn.execute(delete(segment_snapshots).where(segment_snapshots.c.segment_id == segment.id))
    conn.execute(delete(segments).where(segments.c.id == segment.id))
    audit.record(conn, at=now, actor=actor, action="delete", entity="segment", entity_id=name, details={})


def _references(segment: Segment) -> set[str]:
    try:
        return referenced_segments(parse_definition(segment.definition))
    except InputError:
        return set()
