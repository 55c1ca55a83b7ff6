"""Rectification (GDPR art. 16): correct what the store holds about a customer.

A correction is written where the golden record is built from, not only on top of it: the customer row
and the normalised values of every active source record linked to the customer change together, so
the next identity resolution rebuilds the corrected value instead of restoring the wrong one (the raw
``data`` stays what the source said). Queued e-mail follows a corrected address. The audit row names the
fields that changed, never their values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from epistola import audit
from epistola.consent.subjects import erased_at, person_ids
from epistola.consent.suppression import normalise_email, normalise_phone
from epistola.errors import InputError, NotFound, Problem
from epistola.store.schema import customers, messages, source_records

FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "gender",
    "birth_date",
    "locale",
    "country",
    "region",
    "city",
    "postcode",
    "street",
    "timezone",
)
_LENGTHS = {
    "first_name": 200,
    "last_name": 200,
    "region": 100,
    "city": 200,
    "postcode": 20,
    "street": 300,
    "timezone": 64,
}
_LOCALE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")


def check(changes: Mapping[str, Any], *, country: str | None, today: date) -> dict[str, Any]:
    """The changes, validated and normalised the way the hub normalises imports; InputError names each field."""
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            problems.append(Problem(message=f"cannot be corrected here; use one of {', '.join(FIELDS)}", field=name))
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            clean[name] = None
            continue
        text = str(value).strip()
        try:
            if name == "email":
                clean[name] = normalise_email(text)
            elif name == "phone":
                clean[name] = normalise_phone(text, (changes.get("country") or country or None))
            elif name == "gender":
                if text not in ("f", "m", "x"):
                    raise InputError("gender", problems=[Problem(message="must be f, m or x", field=name)])
                clean[name] = text
            elif name == "birth_date":
                born = date.fromisoformat(text)
                if not date(1900, 1, 1) <= born <= today:
                    raise ValueError("out of range")
                clean[name] = born
            elif name == "country":
                if not re.fullmatch(r"[A-Za-z]{2}", text):
                    raise InputError("country", problems=[Problem(message="must be a 2-letter ISO code", field=name)])
                clean[name] = text.upper()
            elif name == "locale":
                if not _LOCALE.match(text):
                    raise InputError("locale", problems=[Problem(message="must look like en or pl-PL", field=name)])
                clean[name] = text
            else:
                if len(text) > _LENGTHS[name] or not text.isprintable():
                    raise InputError(
                        name,
                        problems=[
                            Problem(message=f"must be at most {_LENGTHS[name]} printable characters", field=name)
                        ],
                    )
                clean[name] = text
        except InputError as exc:
            problems.extend(Problem(message=p.message, field=name) for p in exc.problems)
        except ValueError:
            problems.append(Problem(message="must be a date (YYYY-MM-DD) after 1900 and not in the future", field=name))
    if not changes:
        problems.append(Problem(message="nothing to correct", field="body"))
    if problems:
        raise InputError("invalid correction", problems=problems)
    return clean


def rectify(
    conn: Connection,
    customer_id: int,
    changes: Mapping[str, Any],
    *,
    now: datetime,
    actor: str,
    origin: str | None = None,
) -> dict[str, Any]:
    """Apply validated corrections; returns the customer row as it is now."""
    ids = person_ids(conn, customer_id)
    root = ids[0]
    if erased_at(conn, root) is not None:
        raise NotFound(f"customer {root} was erased")
    current = conn.execute(select(customers).where(customers.c.id == root)).mappings().one()
    clean = check(changes, country=current["country"], today=now.date())
    changed = {k: v for k, v in clean.items() if current[k] != v}
    if changed:
        conn.execute(update(customers).where(customers.c.id == root).values(**changed, updated_at=now))
        as_json = {k: v.isoformat() if isinstance(v, date) else v for k, v in changed.items()}
        rows = conn.execute(
            select(source_records.c.id, source_records.c.normalized).where(
                source_records.c.customer_id.in_(ids), source_records.c.missing_since.is_(None)
            )
        ).all()
        if rows:
            conn.execute(
                update(source_records)
                .where(source_records.c.id == bindparam("b_id"))
                .values(normalized=bindparam("b_normalized")),
                [
                    {"b_id": rid, "b_normalized": {**(norm or {}), **as_json, "rectified_at": now.isoformat()}}
                    for rid, norm in rows
                ],
            )
        if changed.get("email"):
            conn.execute(
                update(messages)
                .where(messages.c.customer_id.in_(ids), messages.c.state == "queued", messages.c.channel == "email")
                .values(recipient=changed["email"], updated_at=now)
            )
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="customer.rectify",
            entity="customer",
            entity_id=root,
            details={"fields": sorted(changed)},
            origin=origin,
        )
    return dict(conn.execute(select(customers).where(customers.c.id == root)).mappings().one())
