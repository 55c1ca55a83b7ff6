"""The audit log: who changed what, when and from where; append-only and hash-chained.

Each row's hash covers its content and the previous row's hash, so editing or deleting any row breaks
the chain from that row on, and `verify` finds it.

The hash covers a row's details and origin through their SHA-256, which is what lets an erasure remove
personal data from old rows without breaking the chain (GDPR art. 17): `redact` replaces them with a
marker that keeps their digest and names the erasure, and `verify` accepts a marker only when a later
row of that erasure lists the redacted row. Content cannot be changed this way, only withdrawn, and
every withdrawal is itself on the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text, update

from epistola.store.schema import audit_log

GENESIS = "0" * 64
REDACTED = "_redacted"  # the key of a redaction marker in `details`
REDACTION_LIST = "redacted_audit_rows"  # the key under which an erasure's own row lists what it redacted


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def personal_digest(details: dict[str, Any], origin: str | None) -> str:
    """The digest the chain keeps of the redactable part of a row; a redacted row carries it in its marker."""
    marker = details.get(REDACTED) if isinstance(details, dict) else None
    if isinstance(marker, dict) and isinstance(marker.get("sha256"), str) and len(details) == 1 and origin is None:
        return str(marker["sha256"])
    return hashlib.sha256(_canonical([details, origin]).encode()).hexdigest()


def _digest(
    prev_hash: str,
    occurred_at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None,
    details: dict[str, Any],
    origin: str | None,
) -> str:
    payload = _canonical(
        [prev_hash, occurred_at.isoformat(), actor, action, entity, entity_id, personal_digest(details, origin)]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    details: dict[str, Any] | None = None,
    origin: str | None = None,
) -> None:
    """Append one audit row in the caller's transaction. `details` must not hold personal data."""
    if conn.dialect.name == "postgresql":
        # Serialise writers so the chain never forks; released at commit.
        conn.execute(text("SELECT pg_advisory_xact_lock(727001)"))
    prev = conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).scalar()
    prev_hash = prev or GENESIS
    entity_key = None if entity_id is None else str(entity_id)
    details = json.loads(json.dumps(details or {}, default=str))
    at = at.replace(microsecond=at.microsecond)  # stored precision: microseconds on both engines
    conn.execute(
        audit_log.insert().values(
            occurred_at=at,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_key,
            details=details,
            origin=origin,
            prev_hash=prev_hash,
            hash=_digest(prev_hash, at, actor, action, entity, entity_key, details, origin),
        )
    )


def redact(conn: Connection, row_ids: Iterable[int], *, by: str) -> list[int]:
    """Withdraw the details and origin of these rows (an erasure), keeping their digest; returns the ids
    redacted now. The caller must then `record` a row whose details list them under ``redacted_audit_rows``,
    or `verify` reports the first of them as altered."""
    done = []
    for row_id in sorted(set(row_ids)):
        row = conn.execute(select(audit_log.c.details, audit_log.c.origin).where(audit_log.c.id == row_id)).first()
        if row is None or (isinstance(row.details, dict) and REDACTED in row.details):
            continue
        marker = {REDACTED: {"sha256": personal_digest(row.details, row.origin), "by": by}}
        conn.execute(update(audit_log).where(audit_log.c.id == row_id).values(details=marker, origin=None))
        done.append(row_id)
    return done


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    rows: int
    first_broken_id: int | None
    redacted: int = 0  # rows whose personal part an erasure withdrew (and listed)

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def verify(conn: Connection) -> ChainReport:
    """Recompute the chain; report the first row whose content or link was altered."""
    prev_hash = GENESIS
    count = 0
    redacted: list[int] = []
    declared: set[int] = set()
    for row in conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
        count += 1
        details = row["details"] if isinstance(row["details"], dict) else {}
        if REDACTED in details:
            redacted.append(row["id"])
        listed = details.get(REDACTION_LIST)
        if isinstance(listed, list):
            declared.update(int(i) for i in listed if isinstance(i, int))
        expected = _digest(
            prev_hash,
            row["occurred_at"],
            row["actor"],
            row["action"],
            row["entity"],
            row["entity_id"],
            row["details"],
            row["origin"],
        )
        if row["prev_hash"] != prev_hash or row["hash"] != expected:
            return ChainReport(rows=count, first_broken_id=row["id"], redacted=len(redacted))
        prev_hash = row["hash"]
    unexplained = [i for i in redacted if i not in declared]
    return ChainReport(rows=count, first_broken_id=unexplained[0] if unexplained else None, redacted=len(redacted))
