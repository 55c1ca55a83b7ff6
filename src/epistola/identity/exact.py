"""The deterministic baseline: source records that share a normalised e-mail are one customer.

Kept as the yardstick the probabilistic matcher (`resolve.resolve`) is measured against, and for bases
where an e-mail address is a verified identifier. It writes customers the same way (`apply.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from epistola import audit
from epistola.identity.apply import apply_clusters, load_candidates
from epistola.identity.golden import Candidate


@dataclass(frozen=True, kw_only=True)
class ResolveReport:
    records: int
    customers: int
    created: int
    updated: int
    merged_away: int
    consents_recorded: int


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def cluster_by_email(records: Iterable[Candidate]) -> list[list[Candidate]]:
    uf = _UnionFind()
    by_email: dict[str, int] = {}
    items = list(records)
    for rec in items:
        uf.find(rec.record_id)
        email = rec.values.get("email")
        if email:
            if email in by_email:
                uf.union(by_email[email], rec.record_id)
            else:
                by_email[email] = rec.record_id
    groups: dict[int, list[Candidate]] = defaultdict(list)
    for rec in items:
        groups[uf.find(rec.record_id)].append(rec)
    return list(groups.values())


def resolve(conn: Connection, *, now: datetime, actor: str = "system") -> ResolveReport:
    """Cluster active source records by e-mail and write customers, golden records, lineage, consents."""
    candidates = load_candidates(conn)
    clusters = {c.record_id: min(m.record_id for m in group) for group in cluster_by_email(candidates) for c in group}
    applied = apply_clusters(conn, clusters, now=now, actor=actor)
    report = ResolveReport(
        records=len(candidates),
        customers=applied.customers,
        created=applied.created,
        updated=applied.updated,
        merged_away=applied.merged_away,
        consents_recorded=applied.consents_recorded,
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="resolve",
        entity="customers",
        details={**vars(report), "method": "exact e-mail"},
    )
    return report
