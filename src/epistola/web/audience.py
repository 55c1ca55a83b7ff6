"""Audience routes: segments (save, list, delete), live counts with reach and freshness (also for a draft
definition, as the marketer types), overlaps, profiles with charts, snapshots, micro-segment proposals,
and the mart's status and refresh — what `epistola segment` and `epistola mart` do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from epistola.accounts import ApiKey, Permission
from epistola.app import Epistola
from epistola.audience.counts import count_with_reach, overlap
from epistola.audience.engines import Audience, MartAudience, open_audience
from epistola.audience.language import PURPOSES, parse_definition
from epistola.audience.profile import profile
from epistola.audience.segments import (
    Segment,
    delete_segment,
    get_segment,
    list_segments,
    save_segment,
    segment_loader,
    take_snapshot,
)
from epistola.errors import InputError
from epistola.web.deps import ConnDep, ReaderKey, get_app, require

if TYPE_CHECKING:  # DuckDB, Arrow and scikit-learn load with the first request that needs them
    from epistola.audience.mart import Mart

router = APIRouter(prefix="/api/v1", tags=["audience"])
ManagerKey = Annotated[ApiKey, require(Permission.MANAGE_CAMPAIGNS)]
DataKey = Annotated[ApiKey, require(Permission.MANAGE_DATA)]
Engine = Literal["mart", "store"]
_mart_lock = threading.Lock()


def get_mart(request: Request) -> Mart:
    """One mart per API process: its DuckDB connection (and cache) stays open between requests."""
    from epistola.audience.mart import Mart

    state = request.app.state
    with _mart_lock:
        mart = getattr(state, "audience_mart", None)
        if mart is None:
            mart = Mart(get_app(request).settings.mart_path)
            state.audience_mart = mart
    return mart


@contextmanager
def _audience(request: Request, conn: Connection, engine: str | None) -> Iterator[Audience]:
    app: Epistola = get_app(request)
    kind = engine or app.settings.audience_engine
    yield open_audience(
        kind=kind,
        engine=app.engine,
        conn=conn,
        mart=get_mart(request) if kind == "mart" else None,
        now=app.clock(),
        load=segment_loader(conn),
        max_age_s=app.settings.mart_max_age_s,
    )


def _mart_audience(request: Request, conn: Connection) -> MartAudience:
    with _audience(request, conn, "mart") as audience:
        assert isinstance(audience, MartAudience)  # noqa: S101 - "mart" always opens the mart
        return audience


class SegmentIn(BaseModel):
    definition: dict[str, Any] = Field(description="The segment definition (see docs/segments.md).")
    description: str = Field("", max_length=2000)


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str
    definition: dict[str, Any]

    @classmethod
    def of(cls, s: Segment) -> SegmentOut:
        return cls(id=s.id, name=s.name, description=s.description, definition=s.definition)


class DraftIn(BaseModel):
    definition: dict[str, Any] = Field(description="A definition to count without saving it.")
    purpose: str = Field("marketing", description="Consent purpose for the reach figures.")
    engine: Engine | None = None


class OverlapIn(BaseModel):
    segments: list[str] = Field(min_length=2, max_length=12, description="Saved segments to compare.")
    engine: Engine | None = None


class ProposeIn(BaseModel):
    within: str | None = Field(None, description="Split this saved segment (default: every customer).")
    clusters: int | None = Field(None, ge=2, le=12, description="How many; default: chosen automatically.")
    sample: int = Field(20_000, ge=100, le=200_000, description="Customers the clustering learns from.")


def _purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InputError(f"unknown purpose {purpose!r}; known: {sorted(PURPOSES)}")
    return purpose


@router.get("/segments", summary="List segments")
def segments_list(conn: ConnDep, key: ReaderKey) -> list[SegmentOut]:
    return [SegmentOut.of(s) for s in list_segments(conn)]


@router.post("/segments/count", summary="Count a draft definition live, with reach and freshness")
def segments_count_draft(body: DraftIn, request: Request, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    condition = parse_definition(body.definition, source="draft")
    with _audience(request, conn, body.engine) as audience:
        return count_with_reach(audience, condition, purpose=_purpose(body.purpose)).as_dict()


@router.post("/segments/overlap", summary="How saved segments intersect (with an SVG chart)")
def segments_overlap(body: OverlapIn, request: Request, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    named = {n: parse_definition(get_segment(conn, n).definition, source=f"segment {n!r}") for n in body.segments}
    with _audience(request, conn, body.engine) as audience:
        result = overlap(audience, named)
    return {**result.as_dict(), "svg": str(result.chart())}


@router.post("/segments/propose", summary="Propose micro-segments, each with a definition to save")
def segments_propose(body: ProposeIn, request: Request, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    from epistola.audience.clusters import propose

    if body.within:
        get_segment(conn, body.within)
    base = {"segment": body.within} if body.within else None
    return propose(_mart_audience(request, conn), base=base, clusters=body.clusters, sample=body.sample).as_dict()


@router.get("/segments/{name}", summary="One segment and its definition")
def segments_get(name: str, conn: ConnDep, key: ReaderKey) -> SegmentOut:
    return SegmentOut.of(get_segment(conn, name))


@router.put("/segments/{name}", summary="Create or replace a segment (validated first)")
def segments_put(name: str, body: SegmentIn, request: Request, conn: ConnDep, key: ManagerKey) -> SegmentOut:
    app = get_app(request)
    saved = save_segment(
        conn, name=name, definition=body.definition, description=body.description, now=app.clock(), actor=key.name
    )
    return SegmentOut.of(saved)


@router.delete("/segments/{name}", summary="Delete a segment no campaign or segment uses")
def segments_delete(name: str, request: Request, conn: ConnDep, key: ManagerKey) -> dict[str, Any]:
    delete_segment(conn, name, now=get_app(request).clock(), actor=key.name)
    return {"ok": True, "deleted": name}


@router.get("/segments/{name}/count", summary="Count a saved segment live, with reach and freshness")
def segments_count(
    name: str,
    request: Request,
    conn: ConnDep,
    key: ReaderKey,
    purpose: str = "marketing",
    engine: Annotated[Engine | None, Query()] = None,
) -> dict[str, Any]:
    condition = parse_definition(get_segment(conn, name).definition, source=f"segment {name!r}")
    with _audience(request, conn, engine) as audience:
        return {"segment": name, **count_with_reach(audience, condition, purpose=_purpose(purpose)).as_dict()}


@router.get("/segments/{name}/profile", summary="Age, gender, regions, purchases and spend, with SVG charts")
def segments_profile(name: str, request: Request, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    condition = parse_definition(get_segment(conn, name).definition, source=f"segment {name!r}")
    result = profile(_mart_audience(request, conn), condition)
    return {"segment": name, **result.as_dict(), "svg": str(result.charts())}


@router.post("/segments/{name}/snapshots", status_code=201, summary="Freeze the segment's members now")
def segments_snapshot(
    name: str,
    request: Request,
    conn: ConnDep,
    key: ManagerKey,
    engine: Annotated[Engine | None, Query()] = None,
) -> dict[str, Any]:
    segment = get_segment(conn, name)
    with _audience(request, conn, engine) as audience:
        members = audience.members(parse_definition(segment.definition, source=f"segment {name!r}"))
        freshness = audience.freshness()
    snap = take_snapshot(conn, segment, get_app(request).clock(), members=members, actor=key.name)
    return {"id": snap.id, "segment": name, "size": snap.size, "freshness": freshness.as_dict()}


@router.get("/mart", summary="The mart's freshness and size")
def mart_status(request: Request, key: ReaderKey) -> dict[str, Any]:
    mart = get_mart(request)
    if not mart.exists() or "as_of" not in mart.meta():
        return {"built": False, "path": str(mart.path)}
    freshness = mart.freshness(get_app(request).clock())
    customers = mart.query("SELECT count(*) FROM customers")[0][0]
    events = mart.query("SELECT count(*) FROM events")[0][0]
    return {
        "built": True,
        "customers": customers,
        "events": events,
        "freshness": freshness.as_dict(),
        "freshness_text": freshness.describe(),
    }


@router.post("/mart/refresh", summary="Refresh the mart now (a full build if it has none yet)")
def mart_refresh(request: Request, key: DataKey, full: bool = False) -> dict[str, Any]:
    app = get_app(request)
    mart = get_mart(request)
    report = mart.build(app.engine, app.clock()) if full else mart.refresh(app.engine, app.clock())
    return {
        "kind": report.kind,
        "customers": report.customers,
        "events": report.events,
        "consents": report.consents,
        "models": report.models,
        "as_of": report.as_of.isoformat(),
        "seconds": round(report.seconds, 3),
    }
