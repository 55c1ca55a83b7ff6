"""A trained matching model as plain data: the prior and an m and a u probability per comparison level.

Kept separate from Splink's own JSON so a model can be stored in the database (versioned, with how it
was trained), shown to people, rebuilt into Splink settings for any backend (DuckDB here, Spark beyond one
machine), and used in pure Python by the incremental matcher and the explanations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from epistola.errors import InputError
from epistola.identity.comparisons import COMPARISONS

# A starting model: what person matching typically finds (m: share of true pairs on the level; u: share of
# random pairs). Used before the first training, for bases too small to train on, and for any level that
# training could not estimate. Generic orders of magnitude, not fitted to any data set.
STARTING_LEVELS: dict[str, dict[str, tuple[float, float]]] = {
    "name": {
        "same full name": (0.65, 1e-4),
        "same family name, given name a form of it": (0.15, 4e-5),
        "one typo": (0.06, 2e-5),
        "both similar": (0.025, 4e-5),
        "given and family name swapped": (0.05, 1e-5),
        "same family name only": (0.01, 3e-3),
        "same given name only": (0.005, 8e-3),
        "else": (0.02, 0.99),
    },
    "birth_date": {"exact": (0.95, 5e-5), "one keystroke apart": (0.03, 1.5e-3), "else": (0.02, 0.998)},
    "age": {"consistent": (0.97, 0.5), "else": (0.03, 0.5)},
    "gender": {"same": (0.995, 0.5), "else": (0.005, 0.5)},
    "email": {"exact": (0.75, 1e-5), "else": (0.25, 1.0)},
    "contact": {
        "same phone and home": (0.15, 2e-6),
        "same phone": (0.45, 2e-5),
        "same home": (0.08, 5e-6),
        "same street": (0.02, 4e-4),
        "same postcode": (0.2, 1e-4),
        "same area or city": (0.015, 0.02),
        "different phones, no address to compare": (0.015, 0.1),
        "else": (0.01, 0.88),
    },
}
PRIOR = 1e-4


@dataclass(frozen=True, kw_only=True)
class LevelParams:
    m: float
    u: float

    @property
    def weight(self) -> float:
        """log2(m/u): how many bits of evidence this level adds for (or, when negative, against) a match."""
        return math.log2(self.m / self.u)


@dataclass(frozen=True, kw_only=True)
class ModelParams:
    """probability_two_random_records_match, and per comparison, per level label, m and u."""

    prior: float
    levels: Mapping[str, Mapping[str, LevelParams]]
    trained: Mapping[str, Any] = field(default_factory=dict)  # how: method, sample sizes, labelled pairs

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def level(self, comparison: str, label: str) -> LevelParams:
        return self.levels[comparison][label]

    def as_json(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "levels": {c: {lab: {"m": p.m, "u": p.u} for lab, p in lv.items()} for c, lv in self.levels.items()},
            "trained": dict(self.trained),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelParams:
        try:
            levels = {
                c: {lab: LevelParams(m=float(p["m"]), u=float(p["u"])) for lab, p in lv.items()}
                for c, lv in data["levels"].items()
            }
            params = cls(prior=float(data["prior"]), levels=levels, trained=dict(data.get("trained") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"identity model parameters are malformed: {exc}") from None
        missing = [f"{c.name}.{lab}" for c in COMPARISONS for lab in c.labels if lab not in levels.get(c.name, {})]
        if missing:
            raise InputError(
                f"identity model parameters lack levels: {', '.join(missing)}",
                hint="the comparisons changed since this model was trained: run `epistola identity train`",
            )
        return params

    def with_levels(self, updates: Mapping[str, Mapping[str, LevelParams]]) -> ModelParams:
        merged = {c: {**lv, **updates.get(c, {})} for c, lv in self.levels.items()}
        return replace(self, levels=merged)


def default_params() -> ModelParams:
    """The starting model (see STARTING_LEVELS)."""
    levels: dict[str, dict[str, LevelParams]] = {}
    for c in COMPARISONS:
        table = STARTING_LEVELS.get(c.name, {})
        levels[c.name] = {
            label: LevelParams(m=table[label][0], u=table[label][1]) if label in table else LevelParams(m=0.05, u=0.5)
            for label in c.labels
        }
    return ModelParams(prior=PRIOR, levels=levels, trained={"method": "starting model (not trained)"})


def probability(weight: float) -> float:
    """Match weight (bits) to probability."""
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    odds: float = 2.0**weight
    return odds / (1 + odds)
