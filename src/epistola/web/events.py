"""``POST /api/v1/events``: situational context from websites and apps (see `feedback.activity`).

A batch is one request and one transaction. Invalid events make the whole batch a 400 that names each
problem by its position (``events.3.location.lat``); an event id already stored is a duplicate, not an
error, so a client may send a batch again after a timeout.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from epistola.accounts import ApiKey, Permission
from epistola.consent.keys import Keyring
from epistola.feedback.activity import ActivityBatch, store_activity
from epistola.web.deps import API_ORIGIN, ConnDep, get_app, require

router = APIRouter(prefix="/api/v1", tags=["events"])
DataKey = Annotated[ApiKey, require(Permission.MANAGE_DATA)]


class ActivityOut(BaseModel):
    ok: bool = True
    received: int
    inserted: int
    duplicates: int = Field(description="Events whose id (per source) was stored before: nothing done again.")
    linked: int = Field(description="Events tied to a customer now.")
    unlinked: int = Field(description="Events kept with their identifiers, tied once the customer is known.")
    skipped: int = Field(0, description="Events of people who were erased: not stored at all.")


@router.post(
    "/events",
    summary="Web and app activity (page views, app actions, searches, locations), batched, idempotent by id",
    response_model=ActivityOut,
)
def post_activity(body: ActivityBatch, conn: ConnDep, key: DataKey, request: Request) -> ActivityOut:
    app = get_app(request)
    stored = store_activity(
        conn,
        body,
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
        max_batch=app.settings.events_max_batch,
        keyring=Keyring.from_settings(app.settings),
    )
    return ActivityOut(
        received=stored.received,
        inserted=stored.inserted,
        duplicates=stored.duplicates,
        linked=stored.linked,
        unlinked=stored.unlinked,
        skipped=stored.skipped,
    )
