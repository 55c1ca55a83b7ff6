"""Situational context from websites and apps: page views, app actions, searches, locations — typed events
a front end sends as they happen, stored in `events` next to purchases and survey answers.

This is the fixed-schema sibling of the hub's mapped event import (``/api/v1/events/{source}``, any
layout, described by a mapping): here the layout is Epistola's own, so an app needs no mapping, and
every event is checked against its type (a location needs a latitude and a longitude within range).
Identity is the customer's id when the app knows it (a signed-in user), else an e-mail or a source key;
an event nobody can be tied to yet keeps its identifiers (``properties._ident``, as the hub does) and is
linked later by `hub.events.link_events`. Idempotent by event id: a retried batch stores nothing twice.
An event of an erased person — by an identifier kept only as a keyed hash since, or by the id of an
erased customer — is not stored at all, only counted (`skipped`), so nothing of theirs is written again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, select

from epistola import audit
from epistola.consent.keys import Keyring
from epistola.errors import InputError, Problem
from epistola.hub.erased import ErasedCheck
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import customers, erasures, events, source_records, sources

ActivityType = Literal["page_view", "app_open", "app_action", "search", "location", "beacon", "cart", "purchase"]
MAX_PROPERTIES_BYTES = 8_192


class Who(BaseModel):
    """At least one way to find the customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int | None = Field(None, ge=1, description="Epistola's customer id (a signed-in user).")
    email: str | None = Field(None, max_length=320)
    source: str | None = Field(None, max_length=100, description="A source name, with `key`.")
    key: str | None = Field(None, max_length=200, description="The customer's key in that source.")

    @model_validator(mode="after")
    def _something(self) -> Who:
        if self.id is None and not self.email and not (self.source and self.key):
            raise ValueError("give the customer's id, e-mail, or source and key")
        if bool(self.source) != bool(self.key):
            raise ValueError("source and key go together")
        return self


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=80, pattern=r"^[\x21-\x7e]+$", description="Unique per source.")
    type: ActivityType
    occurred_at: AwareDatetime
    customer: Who
    url: str | None = Field(None, max_length=2000, description="page_view: the page.")
    screen: str | None = Field(None, max_length=200, description="app_open, app_action: the app's screen.")
    action: str | None = Field(None, max_length=100, description="app_action, cart: what was done.")
    query: str | None = Field(None, max_length=500, description="search: what was searched.")
    location: Location | None = None
    beacon: str | None = Field(None, max_length=100, description="beacon: the beacon's id.")
    amount: Decimal | None = Field(None, max_digits=14, decimal_places=2)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    category: str | None = Field(None, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_type(self) -> Activity:
        needs = {
            "page_view": ("url",),
            "app_action": ("action",),
            "search": ("query",),
            "location": ("location",),
            "beacon": ("beacon",),
            "purchase": ("amount", "currency"),
        }.get(self.type, ())
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.type} event needs {' and '.join(missing)}")
        if self.amount is not None and self.currency is None:
            raise ValueError("an amount needs its currency")
        if len(json.dumps(self.properties, default=str)) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties are larger than {MAX_PROPERTIES_BYTES:,} bytes")
        return self


class ActivityBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "app", min_length=1, max_length=19, pattern=r"^[a-z][a-z0-9_-]*$", description="Which front end sent it."
    )
    events: Annotated[list[Activity], Field(min_length=1)]


@dataclass(frozen=True, kw_only=True)
class Stored:
    received: int
    inserted: int
    duplicates: int
    linked: int
    unlinked: int
    skipped: int = 0  # events of erased people: not stored


def _resolve(conn: Connection, people: Sequence[Who]) -> dict[Who, int]:
    """Customer ids for the identities that match one (merged customers lead to the survivor)."""
    out: dict[Who, int] = {}
    ids = {w.id for w in people if w.id is not None}
    emails = {w.email.strip().lower() for w in people if w.email}
    keys = {(w.source, w.key) for w in people if w.source and w.key}
    known_ids = {
        int(i): int(m or i)
        for i, m in conn.execute(select(customers.c.id, customers.c.merged_into).where(customers.c.id.in_(ids)))
    }
    by_email = {
        str(e): int(i)
        for e, i in conn.execute(
            select(customers.c.email, customers.c.id).where(
                customers.c.email.in_(emails), customers.c.merged_into.is_(None)
            )
        )
    }
    by_key: dict[tuple[str, str], int] = {}
    for source, key in keys:
        found = conn.execute(
            select(source_records.c.customer_id)
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(sources.c.name == source, source_records.c.source_key == key)
        ).scalar()
        if found is not None:
            by_key[(str(source), str(key))] = int(found)
    for who in people:
        found_id = (
            (known_ids.get(who.id) if who.id is not None else None)
            or (by_email.get(who.email.strip().lower()) if who.email else None)
            or (by_key.get((who.source, who.key)) if who.source and who.key else None)
        )
        if found_id is not None:
            out[who] = found_id
    return out


def _row(batch: ActivityBatch, event: Activity, customer_id: int | None, now: datetime) -> dict[str, Any]:
    properties = dict(event.properties)
    for name in ("url", "screen", "action", "query", "beacon"):
        value = getattr(event, name)
        if value is not None:
            properties[name] = value
    if event.location is not None:
        properties["location"] = event.location.model_dump(exclude_none=True)
    who = event.customer
    properties["_ident"] = {
        k: v
        for k, v in {
            "email": who.email.strip().lower() if who.email else None,
            "source": who.source,
            "key": who.key,
        }.items()
        if v
    }
    return {
        "event_uid": f"{batch.source}:{event.id}",
        "customer_id": customer_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "amount": event.amount,
        "currency": event.currency,
        "category": event.category,
        "properties": properties,
        "received_at": now,
    }


def _erased_events(conn: Connection, check: ErasedCheck, rows: list[dict[str, Any]], who: list[Who]) -> set[int]:
    """Positions of the events that belong to an erased person: unlinked ones by their identifiers, linked
    ones when the customer they name (by id) was erased."""
    theirs = check.unlinked_events(conn, rows)
    ids = sorted({int(r["customer_id"]) for r, w in zip(rows, who, strict=True) if r["customer_id"] and w.id})
    gone = {
        int(i)
        for start in range(0, len(ids), 500)
        for i in conn.execute(
            select(erasures.c.customer_id).where(erasures.c.customer_id.in_(ids[start : start + 500]))
        ).scalars()
    }
    return theirs | {n for n, r in enumerate(rows) if r["customer_id"] in gone}


def store_activity(
    conn: Connection,
    batch: ActivityBatch,
    *,
    now: datetime,
    actor: str,
    origin: str | None = None,
    max_batch: int,
    keyring: Keyring | None = None,
) -> Stored:
    """Store a validated batch in the caller's transaction: all of it, or (on an error) none of it.

    `keyring` recognises erased people, whose events are skipped; without it, a store holding erasures
    refuses the batch.
    """
    if len(batch.events) > max_batch:
        raise InputError(
            f"the batch has {len(batch.events):,} events; at most {max_batch:,} per request",
            problems=[Problem(message="too many events", field="events")],
            hint="Split it into several requests (EPISTOLA_EVENTS_MAX_BATCH).",
        )
    late = [
        Problem(message="is more than a day in the future", field=f"events.{i}.occurred_at")
        for i, e in enumerate(batch.events)
        if e.occurred_at > now + timedelta(days=1)
    ]
    if late:
        raise InputError("events from the future", problems=late, hint="Send times with their UTC offset.")
    found = _resolve(conn, [e.customer for e in batch.events])
    rows = [_row(batch, e, found.get(e.customer), now) for e in batch.events]
    check = ErasedCheck.open(conn, keyring)
    skipped = 0
    if check is not None:
        theirs = _erased_events(conn, check, rows, [e.customer for e in batch.events])
        skipped = len(theirs)
        rows = [r for n, r in enumerate(rows) if n not in theirs]
    unique = list({r["event_uid"]: r for r in rows}.values())  # the same id twice in one batch counts once
    inserted = insert_ignoring_conflicts(conn, events, unique, ["event_uid"])
    linked = sum(1 for r in rows if r["customer_id"] is not None)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="events.receive",
        entity="events",
        entity_id=batch.source,
        details={
            "received": len(rows) + skipped,
            "inserted": inserted,
            "unlinked": len(rows) - linked,
            "skipped": skipped,
        },
        origin=origin,
    )
    return Stored(
        received=len(rows) + skipped,
        inserted=inserted,
        duplicates=len(rows) - inserted,
        linked=linked,
        unlinked=len(rows) - linked,
        skipped=skipped,
    )
