"""Live counts: how many customers a segment has, how many of them each channel can reach (consent in
force and a contact to use), and how segments overlap — each answer in one query, with its freshness."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from epistola.audience.engines import Audience
from epistola.audience.freshness import Freshness
from epistola.audience.language import Any_, Condition, ConsentCond
from epistola.charts import bar_chart, matrix_chart

REACH_CHANNELS = ("email", "sms", "post", "phone")


@dataclass(frozen=True, kw_only=True)
class SegmentCount:
    """A segment's size, its reach per channel for a purpose, and how fresh the figures are."""

    total: int
    reachable: dict[str, int]
    reachable_any: int
    purpose: str
    freshness: Freshness
    elapsed_ms: float

    @property
    def unreachable(self) -> int:
        return self.total - self.reachable_any

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "reachable": self.reachable,
            "reachable_any": self.reachable_any,
            "unreachable": self.unreachable,
            "purpose": self.purpose,
            "freshness": self.freshness.as_dict(),
            "freshness_text": self.freshness.describe(),
            "elapsed_ms": round(self.elapsed_ms, 2),
        }

    def chart(self) -> Markup:
        items = [(f"by {ch}", float(n)) for ch, n in self.reachable.items()]
        items += [("any channel", float(self.reachable_any)), ("no channel", float(self.unreachable))]
        return bar_chart(items)


def count_with_reach(
    audience: Audience,
    condition: Condition,
    *,
    purpose: str = "marketing",
    channels: Sequence[str] = REACH_CHANNELS,
) -> SegmentCount:
    """The segment's size and, in the same query, how many members each channel may contact."""
    freshness = audience.freshness()
    consent = [ConsentCond(channel=ch, purpose=purpose) for ch in channels]
    started = time.perf_counter()
    values = audience.tally(condition, [[c] for c in consent] + [[Any_(items=tuple(consent))]])
    elapsed = (time.perf_counter() - started) * 1000
    return SegmentCount(
        total=values[0],
        reachable=dict(zip(channels, values[1:-1], strict=True)),
        reachable_any=values[-1],
        purpose=purpose,
        freshness=freshness,
        elapsed_ms=elapsed,
    )


@dataclass(frozen=True, kw_only=True)
class Overlap:
    """Pairwise intersections of segments: ``both[i][j]`` customers are in segment i and in segment j
    (the diagonal is each segment's size)."""

    names: tuple[str, ...]
    both: tuple[tuple[int, ...], ...]
    customers: int  # everyone (the base the shares are of)
    freshness: Freshness

    def size(self, i: int) -> int:
        return self.both[i][i]

    def share(self, i: int, j: int) -> float:
        """Of segment i's members, the share that is also in segment j."""
        return self.both[i][j] / self.size(i) if self.size(i) else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "segments": list(self.names),
            "sizes": [self.size(i) for i in range(len(self.names))],
            "both": [list(row) for row in self.both],
            "customers": self.customers,
            "freshness": self.freshness.as_dict(),
            "freshness_text": self.freshness.describe(),
        }

    def chart(self) -> Markup:
        return matrix_chart(list(self.names), [list(r) for r in self.both])


def overlap(audience: Audience, named: Mapping[str, Condition]) -> Overlap:
    """How segments intersect, counted in one pass over the customers."""
    names = list(named)
    pairs = [(i, j) for i in range(len(names)) for j in range(i, len(names))]
    values = audience.tally(None, [[named[names[i]], named[names[j]]] for i, j in pairs])
    both = [[0] * len(names) for _ in names]
    for (i, j), n in zip(pairs, values[1:], strict=True):
        both[i][j] = both[j][i] = n
    return Overlap(
        names=tuple(names),
        both=tuple(tuple(r) for r in both),
        customers=values[0],
        freshness=audience.freshness(),
    )
