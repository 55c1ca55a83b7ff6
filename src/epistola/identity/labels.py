"""Labelled pairs improve an unsupervised model: pairs people accepted as the same person show where true
matches fall on each comparison, which is exactly what m measures.

The estimate from labels is blended with the unsupervised one as pseudo-counts, so ten labels nudge m and
a thousand decide it; u (from random pairs) and the prior stay as trained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from epistola.identity.comparisons import COMPARISONS
from epistola.identity.matcher import FeatureColumns
from epistola.identity.params import LevelParams, ModelParams

PSEUDO_COUNT = 50.0  # how many labels the unsupervised estimate is worth


def rows_for(features: FeatureColumns, record_ids: set[int]) -> dict[int, dict[str, Any]]:
    columns = features.columns
    out: dict[int, dict[str, Any]] = {}
    for i, rid in enumerate(columns["record_id"]):
        if rid in record_ids:
            out[rid] = {name: values[i] for name, values in columns.items()}
    return out


def m_from_labels(
    params: ModelParams, features: FeatureColumns, matches: Iterable[tuple[int, int]], *, weight: float = PSEUDO_COUNT
) -> ModelParams:
    pairs = list(matches)
    rows = rows_for(features, {r for pair in pairs for r in pair})
    pairs = [(a, b) for a, b in pairs if a in rows and b in rows]
    if not pairs:
        return params
    updates: dict[str, dict[str, LevelParams]] = {}
    for comp in COMPARISONS:
        counts: Counter[str] = Counter()
        for a, b in pairs:
            level = comp.level_of(rows[a], rows[b])
            if level >= 0:
                counts[comp.labels[level]] += 1
        n = sum(counts.values())
        if not n:
            continue
        updates[comp.name] = {
            label: LevelParams(
                m=max((counts[label] + weight * old.m) / (n + weight), 1e-6),
                u=old.u,
            )
            for label, old in params.levels[comp.name].items()
        }
    trained = {**params.trained, "labelled": len(pairs), "label_weight": weight}
    return replace(params.with_levels(updates), trained=trained)
