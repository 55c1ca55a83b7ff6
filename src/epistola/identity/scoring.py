"""Scoring one record pair in Python, with the reasons: the same arithmetic as Splink's prediction SQL
(prior, plus log2(m/u) for the level each comparison falls on, plus the term-frequency adjustment), so
the incremental matcher agrees with batch runs and every merge can be explained as a waterfall.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from epistola.identity.comparisons import COMPARISONS, Row
from epistola.identity.params import ModelParams, probability

# (column, value) -> share of non-empty values that are this value; None when unknown (no adjustment)
Frequencies = Callable[[str, Any], float | None]


def no_frequencies(column: str, value: Any) -> float | None:
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Contribution:
    """One bar of the waterfall: what a comparison found and how many bits it added."""

    comparison: str
    level: str
    weight: float  # log2(m/u) of the level
    tf_adjustment: float  # extra bits because this value is rarer (or commoner) than average
    left: Any
    right: Any

    @property
    def total(self) -> float:
        return self.weight + self.tf_adjustment

    def as_json(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "level": self.level,
            "weight": round(self.weight, 3),
            "tf_adjustment": round(self.tf_adjustment, 3),
            "left": self.left,
            "right": self.right,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Score:
    prior_weight: float
    contributions: tuple[Contribution, ...]

    @property
    def weight(self) -> float:
        return self.prior_weight + sum(c.total for c in self.contributions)

    @property
    def probability(self) -> float:
        return probability(self.weight)

    def deciding(self, n: int = 3) -> list[Contribution]:
        """The comparisons that moved the score most, strongest first."""
        return sorted(self.contributions, key=lambda c: abs(c.total), reverse=True)[:n]

    def as_json(self) -> dict[str, Any]:
        return {
            "match_weight": round(self.weight, 3),
            "match_probability": round(self.probability, 6),
            "prior_weight": round(self.prior_weight, 3),
            "waterfall": [c.as_json() for c in self.contributions],
        }


def _shown(row: Row, columns: tuple[str, ...]) -> Any:
    values = {c: row[c] for c in columns if row.get(c) not in (None, [], ())}
    if len(values) == 1:
        return next(iter(values.values()))
    return values or None


def score(left: Row, right: Row, params: ModelParams, frequencies: Frequencies = no_frequencies) -> Score:
    """Score a pair of feature rows (see `features.features`)."""
    parts: list[Contribution] = []
    for comp in COMPARISONS:
        index = comp.level_of(left, right)
        shown = tuple(c for c in comp.columns if not c.endswith("_groups"))
        if index < 0:
            parts.append(
                Contribution(
                    comparison=comp.name,
                    level="null",
                    weight=0.0,
                    tf_adjustment=0.0,
                    left=_shown(left, shown),
                    right=_shown(right, shown),
                )
            )
            continue
        label = comp.labels[index]
        level = params.level(comp.name, label)
        adjustment = 0.0
        tf_column = comp.levels[index].tf if index < len(comp.levels) else None
        if tf_column:
            found = (frequencies(tf_column, left[tf_column]), frequencies(tf_column, right[tf_column]))
            shares = [s for s in found if s]
            if shares:
                exact_u = params.level(comp.name, _exact_label(comp.name, tf_column)).u
                adjustment = math.log2(exact_u) - math.log2(max(shares))
        parts.append(
            Contribution(
                comparison=comp.name,
                level=label,
                weight=level.weight,
                tf_adjustment=adjustment,
                left=_shown(left, shown),
                right=_shown(right, shown),
            )
        )
    return Score(prior_weight=params.prior_weight, contributions=tuple(parts))


def _exact_label(comparison: str, column: str) -> str:
    """The level whose u a term-frequency adjustment is measured against: the plain exact match on the
    column (as Splink does)."""
    return _EXACT_LEVEL[(comparison, column)]


def _exact_levels() -> Mapping[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for comp in COMPARISONS:
        for lv in comp.levels:
            if lv.tf and lv.test.sql("duckdb") == f"{lv.tf}_l = {lv.tf}_r":
                out[(comp.name, lv.tf)] = lv.label
    return out


_EXACT_LEVEL = _exact_levels()
