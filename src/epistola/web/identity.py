"""Identity routes: the review queue and decisions, explanations (waterfalls), merge history, merge,
unmerge and split, matching one record, and the stored model versions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from epistola.accounts import ApiKey, Permission
from epistola.errors import InputError
from epistola.identity import explain, merging, review, store
from epistola.identity.incremental import match_record
from epistola.identity.params import ModelParams
from epistola.identity.resolve import train_model
from epistola.web.deps import ConnDep, ReaderKey, get_app, require

router = APIRouter(prefix="/api/v1/identity", tags=["identity"])
DataKey = Annotated[ApiKey, require(Permission.MANAGE_DATA)]


def _when(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


class DecisionIn(BaseModel):
    decision: Literal["match", "no_match"]
    note: str = Field("", max_length=500)


class MergeIn(BaseModel):
    keeper: int = Field(description="The customer that stays.")
    other: int = Field(description="The customer found to be the same person.")
    note: str = Field("", max_length=500)


class NoteIn(BaseModel):
    note: str = Field("", max_length=500)


class SplitIn(BaseModel):
    records: list[int] = Field(min_length=1, description="Source record ids that are someone else.")
    note: str = Field("", max_length=500)


class MatchIn(BaseModel):
    record_id: int | None = None
    source: str | None = None
    key: str | None = None


class TrainIn(BaseModel):
    note: str = Field("", max_length=500)


def _change(done: merging.Change) -> dict[str, Any]:
    return {
        "history_id": done.history_id,
        "kind": done.kind,
        "customer_id": done.customer_id,
        "other_id": done.other_id,
        "records": done.records,
        "consent_entries": done.consent_entries,
        "events_moved": done.events_moved,
    }


@router.get("/review", summary="Pairs waiting for a person, most likely matches first")
def list_review(
    conn: ConnDep,
    key: ReaderKey,
    limit: int = Query(50, ge=1, le=500),
    below: float | None = Query(None, ge=0, le=1, description="Only pairs below this probability (paging)."),
) -> dict[str, Any]:
    return {
        "total": store.review_count(conn),
        "items": [_when(r) for r in review.pending(conn, limit=limit, below=below)],
    }


@router.post("/review/{link_id}", summary="Decide a pair: match (merges now) or no_match (kept apart for good)")
def decide(link_id: int, body: DecisionIn, conn: ConnDep, key: DataKey, request: Request) -> dict[str, Any]:
    done = review.decide_link(
        conn, link_id, body.decision, now=get_app(request).clock(), actor=key.name, note=body.note
    )
    return {
        "records": [done.left, done.right],
        "decision": done.decision,
        "merged": _change(done.merged) if done.merged else None,
    }


@router.get("/pairs", summary="How the model scores two records: probability and waterfall")
def explain_pair(
    conn: ConnDep,
    key: ReaderKey,
    left: int = Query(..., description="Source record id."),
    right: int = Query(..., description="Source record id."),
) -> dict[str, Any]:
    return explain.explain_pair(conn, left, right).as_json()


@router.get("/customers/{customer_id}", summary="Why a customer's records are one person")
def explain_customer(customer_id: int, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    return explain.explain_customer(conn, customer_id).as_json()


@router.get("/customers/{customer_id}/history", summary="Merges, unmerges and splits of a customer")
def history(customer_id: int, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    store.active_customer(conn, customer_id)
    return {"items": [_when(h) for h in store.history_of(conn, customer_id)]}


@router.post("/merges", status_code=201, summary="Merge two customers found to be one person")
def merge(body: MergeIn, conn: ConnDep, key: DataKey, request: Request) -> dict[str, Any]:
    return _change(
        merging.merge(conn, body.keeper, body.other, now=get_app(request).clock(), actor=key.name, note=body.note)
    )


@router.post("/merges/{entry_id}/undo", summary="Unmerge: restore the absorbed customer as it was")
def unmerge(entry_id: int, body: NoteIn, conn: ConnDep, key: DataKey, request: Request) -> dict[str, Any]:
    return _change(merging.unmerge(conn, entry_id, now=get_app(request).clock(), actor=key.name, note=body.note))


@router.post("/customers/{customer_id}/split", status_code=201, summary="Move records into a new customer")
def split(customer_id: int, body: SplitIn, conn: ConnDep, key: DataKey, request: Request) -> dict[str, Any]:
    return _change(
        merging.split(conn, customer_id, body.records, now=get_app(request).clock(), actor=key.name, note=body.note)
    )


@router.post("/match", summary="Match one new or changed record against the customers (incremental)")
def match(body: MatchIn, conn: ConnDep, key: DataKey, request: Request) -> dict[str, Any]:
    if body.record_id is not None:
        record_id = body.record_id
    elif body.source and body.key:
        record_id = store.record_id_for(conn, body.source, body.key)
    else:
        raise InputError("give record_id, or source and key")
    done = match_record(conn, record_id, now=get_app(request).clock(), actor=key.name)
    return {
        "record_id": done.record_id,
        "customer_id": done.customer_id,
        "action": done.action,
        "probability": done.probability,
        "candidates": done.candidates,
        "review": done.review,
        "absorbed": list(done.absorbed),
    }


@router.get("/models", summary="Stored model versions (parameters, configuration, how trained)")
def models(conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    out = []
    for m in store.list_models(conn):
        params = ModelParams.from_json(m.params)
        out.append(
            {
                "version": m.version,
                "created_at": m.created_at.isoformat(),
                "created_by": m.created_by,
                "note": m.note,
                "config": m.config,
                "prior": params.prior,
                "trained": params.trained,
                "levels": {
                    c: {lab: {"m": p.m, "u": p.u, "weight": round(p.weight, 3)} for lab, p in lv.items()}
                    for c, lv in params.levels.items()
                },
            }
        )
    return {"items": out}


@router.post("/models", status_code=201, summary="Train a new model version on the records in the store")
def train(body: TrainIn, conn: ConnDep, key: DataKey, request: Request) -> dict[str, Any]:
    version = train_model(conn, now=get_app(request).clock(), actor=key.name, note=body.note)
    return {"version": version}
