"""Templates and their versions: every save is a new version, validated first; only approved versions
go out, so an edit never changes a campaign that is already running.

A version stores the whole design (`definition`: slots, variants, settings and the text of every snippet
it includes), plus its default subject and body in their own columns for listings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from epistola import audit
from epistola.content.design import Design, included_names, parse_design, referenced_snippets
from epistola.content.snippets import latest_snippets
from epistola.content.validate import validate_design
from epistola.errors import Conflict, InputError, NotFound
from epistola.store.dialect import insert_id
from epistola.store.schema import template_versions, templates


@dataclass(frozen=True, kw_only=True)
class TemplateVersion:
    id: int
    template: str
    version: int
    status: str
    subject: str
    body: str
    definition: Mapping[str, Any] = field(default_factory=dict)
    approved_by: str | None = None

    def design(self) -> Design:
        data = dict(self.definition) if self.definition else {"subject": self.subject, "body": self.body}
        return parse_design(data, name=self.template, version=self.version)


def _version(row: Mapping[str, Any], name: str) -> TemplateVersion:
    return TemplateVersion(
        id=int(row["id"]),
        template=name,
        version=int(row["version"]),
        status=str(row["status"]),
        subject=str(row["subject"]),
        body=str(row["body"]),
        definition=dict(row.get("definition") or {}),
        approved_by=row.get("approved_by"),
    )


def prepare_design(
    conn: Connection, definition: Mapping[str, Any], *, name: str, version: int, file: str | None = None
) -> Design:
    """Parse a design, copy in the snippets it includes (their newest versions), and validate it."""
    draft = parse_design(
        {k: v for k, v in definition.items() if k != "snippets"}, name=name, version=version, file=file
    )
    wanted = referenced_snippets(draft)
    found = latest_snippets(conn, wanted)
    # Snippets include snippets: follow them (three levels, as `expand_snippets` allows).
    for _ in range(3):
        more = {n for text in found.values() for n in included_names(text)} - set(found)
        if not more:
            break
        found.update(latest_snippets(conn, more))
    design = parse_design(
        {**{k: v for k, v in definition.items() if k != "snippets"}, "snippets": found},
        name=name,
        version=version,
        file=file,
    )
    validate_design(design)
    return design


def save_version(
    conn: Connection,
    *,
    name: str,
    now: datetime,
    definition: Mapping[str, Any] | None = None,
    subject: str | None = None,
    body: str | None = None,
    description: str = "",
    actor: str = "system",
    file: str | None = None,
) -> TemplateVersion:
    """Validate and store a new draft version (creating the template on first save).

    Pass the whole design as `definition` (what a design file holds), or just a `subject` and a `body`.
    Nothing is written unless the design passes every check.
    """
    if definition is None:
        if subject is None or body is None:
            raise InputError("a design needs a definition, or a subject and a body")
        definition = {"subject": subject, "body": body, "description": description}
    template_id = conn.execute(select(templates.c.id).where(templates.c.name == name)).scalar()
    number = 1
    if template_id is not None:
        number += int(
            conn.execute(
                select(func.coalesce(func.max(template_versions.c.version), 0)).where(
                    template_versions.c.template_id == template_id
                )
            ).scalar_one()
        )
    design = prepare_design(conn, definition, name=name, version=number, file=file)
    if template_id is None:
        template_id = insert_id(
            conn,
            insert(templates).values(name=name, description=design.description or description, created_at=now),
        )
    stored = design.to_dict()
    version_id = insert_id(
        conn,
        insert(template_versions).values(
            template_id=template_id,
            version=number,
            status="draft",
            subject=design.slots.subject or "",
            body=design.slots.body or design.slots.letter or design.slots.sms or "",
            definition=stored,
            created_at=now,
        ),
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="create",
        entity="template_version",
        entity_id=version_id,
        details={"template": name, "version": number, "channels": list(design.channels)},
    )
    return TemplateVersion(
        id=int(version_id),
        template=name,
        version=number,
        status="draft",
        subject=design.slots.subject or "",
        body=design.slots.body or "",
        definition=stored,
    )


def get_version(conn: Connection, name: str, version: int | None = None, *, approved: bool = False) -> TemplateVersion:
    """A given version, or the newest (approved, when asked) one."""
    query = (
        select(template_versions)
        .join(templates, templates.c.id == template_versions.c.template_id)
        .where(templates.c.name == name)
    )
    if version is not None:
        query = query.where(template_versions.c.version == version)
    if approved:
        query = query.where(template_versions.c.status == "approved")
    row = conn.execute(query.order_by(template_versions.c.version.desc()).limit(1)).mappings().first()
    if row is None:
        what = f"version {version} of " if version else ("an approved version of " if approved else "")
        raise NotFound(
            f"no {what}template {name!r}",
            hint="Approve a version with `epistola template approve NAME`." if approved else None,
        )
    return _version(dict(row), name)


def get_version_by_id(conn: Connection, version_id: int) -> TemplateVersion:
    row = (
        conn.execute(
            select(template_versions, templates.c.name.label("template_name"))
            .join(templates, templates.c.id == template_versions.c.template_id)
            .where(template_versions.c.id == version_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no template version with id {version_id}")
    return _version(dict(row), str(row["template_name"]))


def list_versions(conn: Connection, name: str) -> list[TemplateVersion]:
    rows = conn.execute(
        select(template_versions)
        .join(templates, templates.c.id == template_versions.c.template_id)
        .where(templates.c.name == name)
        .order_by(template_versions.c.version)
    ).mappings()
    found = [_version(dict(r), name) for r in rows]
    if not found:
        raise NotFound(f"no template {name!r}", hint="List templates with `epistola template list`.")
    return found


def approve(conn: Connection, *, name: str, version: int | None, by: str, now: datetime) -> TemplateVersion:
    """Approve a draft (the newest one when `version` is None); older approved versions retire.

    `by` is the actor recorded in the version and in the audit log.
    """
    approved = _approve(conn, name=name, version=version, by=by, now=now)
    audit.record(
        conn,
        at=now,
        actor=by,
        action="approve",
        entity="template_version",
        entity_id=approved.id,
        details={"template": name, "version": approved.version},
    )
    return approved


def _approve(conn: Connection, *, name: str, version: int | None, by: str, now: datetime) -> TemplateVersion:
    target = get_version(conn, name, version)
    if target.status != "draft":
        raise Conflict(f"template {name!r} version {target.version} is {target.status}, not a draft")
    template_id = conn.execute(select(templates.c.id).where(templates.c.name == name)).scalar_one()
    conn.execute(
        update(template_versions)
        .where(template_versions.c.template_id == template_id, template_versions.c.status == "approved")
        .values(status="retired")
    )
    conn.execute(
        update(template_versions)
        .where(template_versions.c.id == target.id)
        .values(status="approved", approved_at=now, approved_by=by)
    )
    return get_version_by_id(conn, target.id)


def list_templates(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(
        select(
            templates.c.name,
            templates.c.description,
            func.max(template_versions.c.version).label("latest"),
            func.max(template_versions.c.approved_at).label("approved_at"),
        )
        .join(template_versions, template_versions.c.template_id == templates.c.id)
        .group_by(templates.c.name, templates.c.description)
        .order_by(templates.c.name)
    ).mappings()
    return [dict(r) for r in rows]
