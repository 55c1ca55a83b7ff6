"""Sources as the API sees them: which mapping a source's records are checked against, and registering one.

A source's mapping is stored with the source each time it is imported or registered, so records sent to
the REST API later are read by exactly the rules the files were; a source never imported falls back to
the mapping shipped under its name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from epistola import audit
from epistola.errors import InputError, NotFound, Problem
from epistola.hub import store
from epistola.hub.mapping import EventMapping, Mapping, SourceMapping


def parse_mapping(raw: Any, *, where: str = "mapping") -> Mapping:
    """A mapping from JSON (or YAML already loaded); errors name the path inside it."""
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be an object")
    model: type[SourceMapping] | type[EventMapping] = EventMapping if raw.get("kind") == "events" else SourceMapping
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(message=e["msg"].removeprefix("Value error, "), field=".".join(str(p) for p in e["loc"]) or None)
            for e in exc.errors()
        ]
        raise InputError(f"{where} is invalid", problems=problems) from None


def mapping_for(conn: Connection, name: str) -> Mapping:
    """The mapping records of source `name` are read with: the stored one, else the shipped one."""
    from epistola.hub.pipeline import shipped_mapping, shipped_mapping_names

    stored = store.source_mapping_of(conn, name)
    if stored:
        return parse_mapping(stored, where=f"the stored mapping of {name!r}")
    if name in shipped_mapping_names():
        return shipped_mapping(name)
    raise NotFound(
        f"no source {name!r} with a mapping",
        hint=f"Register one first: PUT /api/v1/sources/{name}/mapping with the mapping as JSON.",
    )


def register_mapping(
    conn: Connection, name: str, raw: Any, *, now: datetime, actor: str, origin: str | None
) -> Mapping:
    """Validate and store a source's mapping (creating the source); the audit log keeps who and when."""
    mapping = parse_mapping(raw)
    if mapping.source != name:
        raise InputError(
            f"the mapping is for source {mapping.source!r}, not {name!r}",
            problems=[Problem(message="must match the source in the URL", field="source")],
        )
    stored = mapping.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    kind: str = mapping.format.type if isinstance(mapping, SourceMapping) else "events"
    trust = mapping.trust if isinstance(mapping, SourceMapping) else 0
    description = mapping.description
    store.ensure_source(conn, name=name, kind=kind, description=description, trust=trust, mapping=stored, now=now)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="mapping.register",
        entity="source",
        entity_id=name,
        details={"kind": kind},
        origin=origin,
    )
    return mapping
