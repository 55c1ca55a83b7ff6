"""API keys and roles: who may call the API, and what each role may do.

A key is shown once, when it is created, and only its SHA-256 is stored: a leaked database does not leak
working keys. Routes ask for a `Permission`, never a role name, so the role table below is the only place
that decides who may do what.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, RowMapping, func, select
from sqlalchemy.exc import IntegrityError

from epistola import audit
from epistola.errors import ConfigError, Conflict, InputError, NotFound, Problem
from epistola.store.schema import api_keys


class Permission(StrEnum):
    """What a route needs; roles grant sets of these."""

    READ = "read"  # look at anything the API shows
    MANAGE_CAMPAIGNS = "manage_campaigns"  # segments, offers, campaigns, journeys
    MANAGE_CONTENT = "manage_content"  # templates, brand layouts, renditions
    MANAGE_DATA = "manage_data"  # sources, imports, identity resolution, models
    PRIVACY = "privacy"  # data-subject export and erasure, consent corrections
    AUDIT = "audit"  # read and verify the audit log
    ADMIN = "admin"  # API keys and instance administration


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    ANALYST = "analyst"
    VIEWER = "viewer"
    PRIVACY = "privacy"  # the data protection officer


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MARKETER: frozenset({Permission.READ, Permission.MANAGE_CAMPAIGNS, Permission.MANAGE_CONTENT}),
    Role.ANALYST: frozenset({Permission.READ, Permission.MANAGE_DATA}),
    Role.VIEWER: frozenset({Permission.READ}),
    Role.PRIVACY: frozenset({Permission.READ, Permission.PRIVACY, Permission.AUDIT}),
}

# The letter after `ep_` tells a human (and a secret scanner) what a key is; 'a' is admin's, so the
# analyst gets 'n'.
KEY_PREFIX: Mapping[Role, str] = {
    Role.ADMIN: "a",
    Role.MARKETER: "m",
    Role.ANALYST: "n",
    Role.VIEWER: "v",
    Role.PRIVACY: "p",
}
KEY_RANDOM_BYTES = 32  # 256 bits -> 43 URL-safe characters
MAX_KEY_LENGTH = 200  # longer input is refused before hashing: no key is that long
BOOTSTRAP_NAME = "bootstrap-admin"


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A key as stored: never the plaintext, never the hash."""

    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InputError(
            f"unknown role {role!r}", problems=[Problem(message=f"must be one of: {allowed}", field="role")]
        ) from None


def new_key(role: Role) -> str:
    return f"ep_{KEY_PREFIX[role]}_{secrets.token_urlsafe(KEY_RANDOM_BYTES)}"


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable():
        raise InputError(
            "invalid key name",
            problems=[Problem(message="must be 1 to 100 printable characters", field="name")],
        )
    return cleaned


def _from_row(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


_COLUMNS = (api_keys.c.id, api_keys.c.name, api_keys.c.role, api_keys.c.created_at, api_keys.c.revoked_at)


def _insert(
    conn: Connection, *, name: str, role: Role, key: str, now: datetime, actor: str, origin: str | None
) -> ApiKey:
    if conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first() is not None:
        raise Conflict(f"an API key named {name!r} already exists", hint="Choose another name.")
    try:
        key_id: int = conn.execute(
            api_keys.insert()
            .values(name=name, key_hash=hash_key(key), role=role.value, created_at=now)
            .returning(api_keys.c.id)
        ).scalar_one()
    except IntegrityError:  # a concurrent request took the name first
        raise Conflict(f"an API key named {name!r} already exists", hint="Choose another name.") from None
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="api_key.create",
        entity="api_key",
        entity_id=key_id,
        details={"name": name, "role": role.value},
        origin=origin,
    )
    return ApiKey(id=key_id, name=name, role=role, created_at=now)


def issue_key(
    conn: Connection,
    *,
    name: str,
    role: str | Role,
    now: datetime,
    actor: str = "system",
    origin: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; return its record and its plaintext, which is never available again."""
    checked_role = parse_role(role)
    checked_name = _check_name(name)
    key = new_key(checked_role)
    record = _insert(conn, name=checked_name, role=checked_role, key=key, now=now, actor=actor, origin=origin)
    return record, key


def create_key(
    conn: Connection,
    *,
    name: str,
    role: str | Role,
    now: datetime,
    actor: str = "system",
    origin: str | None = None,
) -> str:
    """Create a key and return its plaintext, which is never available again."""
    return issue_key(conn, name=name, role=role, now=now, actor=actor, origin=origin)[1]


def authenticate(conn: Connection, key: str | None) -> ApiKey | None:
    """The active key matching `key`, or None. Unknown, malformed and revoked keys look the same."""
    candidate = key if key and len(key) <= MAX_KEY_LENGTH else "-"
    digest = hash_key(candidate)
    row = conn.execute(select(*_COLUMNS, api_keys.c.key_hash).where(api_keys.c.key_hash == digest)).mappings().first()
    # The index lookup already matched; the constant-time comparison keeps the decision itself free of
    # timing differences should the lookup ever become a scan or a prefix match.
    if row is None or not hmac.compare_digest(row["key_hash"], digest) or row["revoked_at"] is not None:
        return None
    return _from_row(row)


def get_key(conn: Connection, key_id: int) -> ApiKey:
    row = conn.execute(select(*_COLUMNS).where(api_keys.c.id == key_id)).mappings().first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return _from_row(row)


def list_keys(conn: Connection, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(*_COLUMNS).order_by(api_keys.c.id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [_from_row(row) for row in conn.execute(query).mappings()]


def revoke_key(
    conn: Connection, key_id: int, *, now: datetime, actor: str = "system", origin: str | None = None
) -> ApiKey:
    """Revoke a key for good. The last active admin key cannot be revoked: that would lock the API."""
    key = get_key(conn, key_id)
    if not key.active:
        raise Conflict(f"API key {key.name!r} is already revoked")
    if key.role is Role.ADMIN:
        admins = conn.execute(
            select(func.count())
            .select_from(api_keys)
            .where(api_keys.c.role == Role.ADMIN.value, api_keys.c.revoked_at.is_(None))
        ).scalar_one()
        if admins <= 1:
            raise Conflict(
                "cannot revoke the last active admin key",
                hint="Create another admin key first (`epistola keys create --role admin`).",
            )
    conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=now))
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="api_key.revoke",
        entity="api_key",
        entity_id=key_id,
        details={"name": key.name, "role": key.role.value},
        origin=origin,
    )
    return ApiKey(id=key.id, name=key.name, role=key.role, created_at=key.created_at, revoked_at=now)


def ensure_admin_key(conn: Connection, key_plaintext: str, now: datetime) -> ApiKey:
    """Make the operator-chosen `EPISTOLA_ADMIN_API_KEY` a working admin key; safe to call on every start."""
    if len(key_plaintext) < 32 or len(key_plaintext) > MAX_KEY_LENGTH or not key_plaintext.isprintable():
        raise ConfigError(
            "EPISTOLA_ADMIN_API_KEY must be 32 to 200 printable characters",
            hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    row = conn.execute(select(*_COLUMNS).where(api_keys.c.key_hash == hash_key(key_plaintext))).mappings().first()
    if row is not None:
        existing = _from_row(row)
        if not existing.active:
            raise ConfigError(
                "EPISTOLA_ADMIN_API_KEY was revoked and cannot be used again",
                hint="Set EPISTOLA_ADMIN_API_KEY to a new random value.",
            )
        if existing.role is not Role.ADMIN:
            raise ConfigError("EPISTOLA_ADMIN_API_KEY is already in use by a key without the admin role")
        return existing
    taken = set(conn.execute(select(api_keys.c.name).where(api_keys.c.name.like(f"{BOOTSTRAP_NAME}%"))).scalars())
    name = BOOTSTRAP_NAME
    suffix = 1
    while name in taken:
        suffix += 1
        name = f"{BOOTSTRAP_NAME}-{suffix}"
    return _insert(conn, name=name, role=Role.ADMIN, key=key_plaintext, now=now, actor="bootstrap", origin=None)
