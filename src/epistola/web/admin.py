"""Administration routes: API keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from epistola import accounts, audit
from epistola.accounts import ApiKey, Permission, Role
from epistola.store.schema import audit_log
from epistola.web.deps import API_ORIGIN, AdminKey, AuditKey, ConnDep, get_app

router = APIRouter(prefix="/api/v1")


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="A unique name, shown in the audit log.")
    role: Role


class KeyOut(BaseModel):
    id: int
    name: str
    role: Role
    permissions: list[Permission]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            name=key.name,
            role=key.role,
            permissions=sorted(key.permissions),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself. It is shown this once and cannot be retrieved again.")


@router.post("/keys", status_code=201, tags=["keys"], summary="Create an API key (shown once)")
def create_key(body: KeyIn, conn: ConnDep, key: AdminKey, request: Request) -> NewKeyOut:
    created, plaintext = accounts.issue_key(
        conn,
        name=body.name,
        role=body.role,
        now=get_app(request).clock(),
        actor=key.name,
        origin=API_ORIGIN,
    )
    return NewKeyOut(**KeyOut.of(created).model_dump(), key=plaintext)


@router.get("/keys", tags=["keys"], summary="List API keys (never the keys themselves)")
def list_keys(conn: ConnDep, key: AdminKey, include_revoked: bool = True) -> list[KeyOut]:
    return [KeyOut.of(k) for k in accounts.list_keys(conn, include_revoked=include_revoked)]


@router.delete("/keys/{key_id}", tags=["keys"], summary="Revoke an API key for good")
def revoke_key(key_id: int, conn: ConnDep, key: AdminKey, request: Request) -> KeyOut:
    revoked = accounts.revoke_key(conn, key_id, now=get_app(request).clock(), actor=key.name, origin=API_ORIGIN)
    return KeyOut.of(revoked)


class AuditEntry(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, Any]
    origin: str | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before: int | None = Field(description="Pass as `before` to get the next (older) page; null at the end.")


@router.get("/audit", tags=["audit"], summary="The audit log, newest first, paged by id")
def audit_entries(
    conn: ConnDep,
    key: AuditKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="Only entries with a smaller id.")] = None,
    entity: Annotated[str | None, Query(max_length=50)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
) -> AuditPage:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    if entity_id is not None:
        query = query.where(audit_log.c.entity_id == entity_id)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    rows = conn.execute(query).mappings().all()
    items = [AuditEntry.model_validate(dict(row)) for row in rows[:limit]]
    return AuditPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


class ChainOut(BaseModel):
    intact: bool
    rows: int
    first_broken_id: int | None


@router.get("/audit/verify", tags=["audit"], summary="Recompute the audit hash chain")
def audit_verify(conn: ConnDep, key: AuditKey) -> ChainOut:
    report = audit.verify(conn)
    return ChainOut(intact=report.ok, rows=report.rows, first_broken_id=report.first_broken_id)
