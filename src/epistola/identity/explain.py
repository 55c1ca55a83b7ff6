"""Why records are one customer: for every link that joined them, the match probability and the
comparisons that decided it (a waterfall: prior, then each comparison's bits for or against), scored
again with the model version that made the link. Also why a pair waits for review, and the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from epistola.errors import NotFound
from epistola.identity import store
from epistola.identity.comparisons import AUTO_MERGE_EVIDENCE
from epistola.identity.labels import rows_for
from epistola.identity.params import ModelParams
from epistola.identity.scoring import Score, score


@dataclass(frozen=True, kw_only=True)
class PairExplanation:
    left: int
    right: int
    left_label: tuple[str, str]
    right_label: tuple[str, str]
    model_version: int
    score: Score
    evidence_for_auto_merge: bool
    stored: dict[str, Any] | None  # the link as the last run stored it, if any
    decision: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "records": [
                {"id": self.left, "source": self.left_label[0], "key": self.left_label[1]},
                {"id": self.right, "source": self.right_label[0], "key": self.right_label[1]},
            ],
            "model_version": self.model_version,
            **self.score.as_json(),
            "deciding": [c.comparison for c in self.score.deciding()],
            "evidence_for_auto_merge": self.evidence_for_auto_merge,
            "link": _jsonable(self.stored),
            "decision": _jsonable(self.decision),
        }


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _params(conn: Connection, version: int | None) -> tuple[ModelParams, int]:
    model = store.model_version(conn, version) if version else store.latest_model(conn)
    if model is None:
        raise NotFound(
            "there is no identity model yet", hint="run `epistola customers resolve` or `epistola identity train`"
        )
    return ModelParams.from_json(model.params), model.version


def explain_pair(conn: Connection, left: int, right: int, *, version: int | None = None) -> PairExplanation:
    """Score two records as the model sees them (the version that linked them, else the latest)."""
    a, b = min(left, right), max(left, right)
    stored = next(iter(store.links_among(conn, [a, b])), None)
    if version is None and stored is not None and stored.get("model_version"):
        version = int(stored["model_version"])
    params, used = _params(conn, version)
    features = store.load_features(conn, [a, b])
    rows = rows_for(features, {a, b})
    missing = [r for r in (a, b) if r not in rows]
    if missing:
        raise NotFound(
            f"no active source record {missing[0]} with matching keys", hint="run `epistola customers resolve`"
        )
    labels = store.record_labels(conn, [a, b])
    decided = [d for d in store.decisions_for(conn, [a, b]) if {d["record_l"], d["record_r"]} == {a, b}]
    return PairExplanation(
        left=a,
        right=b,
        left_label=labels[a],
        right_label=labels[b],
        model_version=used,
        score=score(rows[a], rows[b], params, store.Frequencies(conn, params.trained.get("non_null_share"))),
        evidence_for_auto_merge=AUTO_MERGE_EVIDENCE.py(rows[a], rows[b]),
        stored=stored,
        decision=decided[-1] if decided else None,
    )


@dataclass(frozen=True, kw_only=True)
class CustomerExplanation:
    customer_id: int
    merged_into: int | None
    records: list[dict[str, Any]]
    links: list[PairExplanation]
    decisions: list[dict[str, Any]]
    history: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "merged_into": self.merged_into,
            "records": self.records,
            "links": [x.as_json() for x in self.links],
            "decisions": [_jsonable(d) for d in self.decisions],
            "history": [_jsonable(h) for h in self.history],
        }


def explain_customer(conn: Connection, customer_id: int, *, limit: int = 50) -> CustomerExplanation:
    """Every record of the customer, every link that joined them with its waterfall, the decisions people
    made about them and the merge history."""
    row = store.active_customer(conn, customer_id)
    records = store.records_of(conn, customer_id)
    labels = store.record_labels(conn, records)
    links = [
        explain_pair(conn, x["record_l"], x["record_r"]) for x in store.links_among(conn, records, "merge")[:limit]
    ]
    return CustomerExplanation(
        customer_id=customer_id,
        merged_into=row["merged_into"],
        records=[{"id": r, "source": labels[r][0], "key": labels[r][1]} for r in records],
        links=links,
        decisions=store.decisions_for(conn, records),
        history=store.history_of(conn, customer_id),
    )


def waterfall_lines(explanation: PairExplanation) -> Sequence[tuple[str, str, float, float]]:
    """(comparison, level, bits, running total) for printing; the prior first."""
    total = explanation.score.prior_weight
    out = [("prior", "two records chosen at random", total, total)]
    for c in explanation.score.contributions:
        total += c.total
        out.append((c.comparison, c.level, c.total, total))
    return out
