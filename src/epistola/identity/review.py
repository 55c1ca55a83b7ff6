"""The review queue: pairs the model was not sure about wait for a person. A decision is remembered
(`identity_decisions`) and overrides the model on every later run; accepting a pair also merges the two
customers at once, rejecting it keeps them apart for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from epistola import audit
from epistola.errors import Conflict, InputError
from epistola.identity import store
from epistola.identity.merging import Change, customer_of_record, merge

Decision = Literal["match", "no_match"]


@dataclass(frozen=True, kw_only=True)
class Decided:
    left: int
    right: int
    decision: Decision
    merged: Change | None


def pending(conn: Connection, *, limit: int = 50, below: float | None = None) -> list[dict[str, Any]]:
    """Pairs waiting for a person, most likely first, with how people name the two records."""
    rows = store.review_queue(conn, limit=limit, after=below)
    labels = store.record_labels(conn, [r for row in rows for r in (row["record_l"], row["record_r"])])
    for row in rows:
        row["left"] = {"id": row["record_l"], "source": labels[row["record_l"]][0], "key": labels[row["record_l"]][1]}
        row["right"] = {"id": row["record_r"], "source": labels[row["record_r"]][0], "key": labels[row["record_r"]][1]}
    return rows


def decide(
    conn: Connection,
    left: int,
    right: int,
    decision: Decision,
    *,
    now: datetime,
    actor: str,
    note: str = "",
) -> Decided:
    """Record a person's answer about two records; 'match' merges their customers now."""
    if decision not in ("match", "no_match"):
        raise InputError(f"a decision is 'match' or 'no_match', not {decision!r}")
    if left == right:
        raise InputError("a record is always the same person as itself")
    labels = store.record_labels(conn, [left, right])
    for rid in (left, right):
        if rid not in labels:
            raise InputError(f"no source record {rid}")
    store.decide(conn, [(left, right)], decision=decision, origin="review", actor=actor, note=note, now=now)
    store.drop_link(conn, left, right)
    merged = None
    if decision == "match":
        a, b = customer_of_record(conn, left), customer_of_record(conn, right)
        if a is None or b is None:
            raise Conflict("both records must belong to customers first", hint="run `epistola customers resolve`")
        if a != b:
            merged = merge(conn, min(a, b), max(a, b), now=now, actor=actor, note=note or "accepted in review")
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.review",
        entity="source_record_pair",
        entity_id=f"{min(left, right)}-{max(left, right)}",
        details={"decision": decision, "merged": merged.history_id if merged else None},
    )
    return Decided(left=min(left, right), right=max(left, right), decision=decision, merged=merged)


def decide_link(
    conn: Connection, link_id: int, decision: Decision, *, now: datetime, actor: str, note: str = ""
) -> Decided:
    """Decide the pair behind a review-queue entry."""
    row = store.link(conn, link_id)
    return decide(conn, int(row["record_l"]), int(row["record_r"]), decision, now=now, actor=actor, note=note)
