"""Hub routes: sources and their mappings, records and events sent in batches, the data quality report.

A batch is one request and one transaction: valid records are stored and malformed ones come back as
rejects (with their position in the batch, the field and the reason), exactly as a file import
rejects rows; a batch the database refuses stores nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from epistola.accounts import ApiKey, Permission
from epistola.consent.keys import Keyring
from epistola.errors import InputError, Problem
from epistola.hub.events import import_event_batch
from epistola.hub.ingest import MAX_API_BATCH, import_record_batch
from epistola.hub.mapping import EventMapping, SourceMapping
from epistola.hub.quality import quality_report
from epistola.hub.quality_html import render_quality
from epistola.hub.sources import mapping_for, register_mapping
from epistola.hub.store import source_summary
from epistola.web.deps import API_ORIGIN, ConnDep, PublicRoute, ReaderKey, get_app, require
from epistola.web.ui.pages import PageKey

router = APIRouter(prefix="/api/v1", tags=["hub"])
ui_router = APIRouter(prefix="/ui", route_class=PublicRoute, include_in_schema=False)
DataKey = Annotated[ApiKey, require(Permission.MANAGE_DATA)]


class RecordsIn(BaseModel):
    records: list[Any] = Field(description=f"Source records as JSON objects, at most {MAX_API_BATCH:,} per batch.")


class EventsIn(BaseModel):
    events: list[Any] = Field(description=f"Events as JSON objects, at most {MAX_API_BATCH:,} per batch.")


class RejectOut(BaseModel):
    row: int = Field(description="Position of the item in the batch, from 1.")
    field: str | None
    reason: str


class RecordsOut(BaseModel):
    import_id: int
    seen: int
    new: int
    changed: int
    unchanged: int
    rejected: int
    skipped: dict[str, int] = Field(
        description="Records neither stored nor merged, by reason (`erased subject`: a person who was erased)."
    )
    invalid: dict[str, int] = Field(description="Fields with an unusable value (kept raw, flagged) and how often.")
    rejects: list[RejectOut]


class EventsOut(BaseModel):
    import_id: int
    seen: int
    inserted: int
    duplicates: int = Field(description="Events whose id was already stored: sending a batch twice is harmless.")
    linked: int
    unlinked: int
    rejected: int
    skipped: dict[str, int] = Field(
        description="Events (and rejected rows) not stored at all, by reason (`erased subject`: a person who was "
        "erased)."
    )
    rejects: list[RejectOut]


def _check_size(items: list[Any], what: str) -> None:
    if not items:
        raise InputError(f"the batch has no {what}", problems=[Problem(message="must not be empty", field=what)])
    if len(items) > MAX_API_BATCH:
        raise InputError(
            f"the batch has {len(items):,} {what}; at most {MAX_API_BATCH:,} per request",
            problems=[Problem(message="too many items", field=what)],
            hint="Split it into several requests; each is stored on its own.",
        )


@router.get("/sources", summary="Sources, with records held, missing and tied to customers")
def list_sources(conn: ConnDep, key: ReaderKey) -> list[dict[str, Any]]:
    return source_summary(conn)


@router.put("/sources/{name}/mapping", summary="Register (or replace) a source's mapping")
def put_mapping(
    name: str, conn: ConnDep, key: DataKey, request: Request, mapping: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    registered = register_mapping(conn, name, mapping, now=get_app(request).clock(), actor=key.name, origin=API_ORIGIN)
    return {"source": registered.source, "kind": "events" if isinstance(registered, EventMapping) else "records"}


@router.post("/sources/{name}/records", summary="Store a batch of a source's records (validated by its mapping)")
def post_records(name: str, body: RecordsIn, conn: ConnDep, key: DataKey, request: Request) -> RecordsOut:
    _check_size(body.records, "records")
    mapping = mapping_for(conn, name)
    if not isinstance(mapping, SourceMapping):
        raise InputError(f"{name!r} is an event source", hint=f"POST its events to /api/v1/events/{name}.")
    app = get_app(request)
    report = import_record_batch(
        conn,
        mapping,
        body.records,
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
        keyring=Keyring.from_settings(app.settings),
    )  # its `problems` hold every reject of an API batch
    return RecordsOut(
        import_id=report.import_id,
        seen=report.seen,
        new=report.new,
        changed=report.changed,
        unchanged=report.unchanged,
        rejected=report.rejected,
        skipped=report.skipped,
        invalid=report.invalid,
        rejects=[RejectOut(row=p.row or 0, field=p.field, reason=p.message) for p in report.problems],
    )


@router.post("/events/{name}", summary="Store a batch of events, idempotent by event id")
def post_events(name: str, body: EventsIn, conn: ConnDep, key: DataKey, request: Request) -> EventsOut:
    _check_size(body.events, "events")
    mapping = mapping_for(conn, name)
    if not isinstance(mapping, EventMapping):
        raise InputError(f"{name!r} is a source of customer records", hint=f"POST to /api/v1/sources/{name}/records.")
    app = get_app(request)
    report = import_event_batch(
        conn,
        mapping,
        body.events,
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
        keyring=Keyring.from_settings(app.settings),
    )
    return EventsOut(
        import_id=report.import_id,
        seen=report.seen,
        inserted=report.inserted,
        duplicates=report.duplicates,
        linked=report.linked,
        unlinked=report.unlinked,
        rejected=report.rejected,
        skipped=report.skipped,
        rejects=[RejectOut(row=p.row or 0, field=p.field, reason=p.message) for p in report.problems],
    )


@router.get("/quality", summary="The data quality report (counts only, never customers' values)")
def get_quality(conn: ConnDep, key: ReaderKey, request: Request) -> dict[str, Any]:
    return quality_report(conn, now=get_app(request).clock()).as_dict()


@router.get("/quality.html", summary="The data quality report as an HTML page with charts", response_class=HTMLResponse)
def get_quality_html(conn: ConnDep, key: ReaderKey, request: Request) -> HTMLResponse:
    html = render_quality(quality_report(conn, now=get_app(request).clock()))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@ui_router.get("/quality")
def quality_page(conn: ConnDep, key: PageKey, request: Request) -> HTMLResponse:
    """The report for people signed in to the UI (any role may read it: it holds counts only)."""
    html = render_quality(quality_report(conn, now=get_app(request).clock()))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
