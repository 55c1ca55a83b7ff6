"""How good is a clustering? Pairwise precision and recall against a ground truth.

A pair of records is a true match when the truth puts them in one person; the resolver found it when it
put them in one customer. Counting pairs through the contingency table of (customer, person) is linear
in the number of records, so this scales to millions.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, select

from epistola.store.schema import source_records, sources

R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True, kw_only=True)
class Accuracy:
    records: int
    people: int
    clusters: int
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_accuracy(found: Mapping[R, Hashable], truth: Mapping[R, Hashable]) -> Accuracy:
    """`found` and `truth` map each record to its cluster; only records present in both are scored."""
    records = [r for r in found if r in truth]
    together = Counter((found[r], truth[r]) for r in records)
    by_found = Counter(found[r] for r in records)
    by_truth = Counter(truth[r] for r in records)
    right = sum(_pairs(n) for n in together.values())
    claimed = sum(_pairs(n) for n in by_found.values())
    real = sum(_pairs(n) for n in by_truth.values())
    return Accuracy(
        records=len(records),
        people=len(by_truth),
        clusters=len(by_found),
        precision=right / claimed if claimed else 1.0,
        recall=right / real if real else 1.0,
    )


def read_ground_truth(path: Path) -> dict[tuple[str, str], str]:
    """`source,source_key,person_id` rows, as `epistola generate` writes them."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {(row["source"], row["source_key"]): row["person_id"] for row in csv.DictReader(fh)}


def customers_by_record(conn: Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        select(sources.c.name, source_records.c.source_key, source_records.c.customer_id)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(source_records.c.customer_id.is_not(None), source_records.c.missing_since.is_(None))
    )
    return {(name, key): int(cid) for name, key, cid in rows}
