"""Micro-segmentation: cluster customers on mart features, then say in words what sets each cluster
apart and write it as a segment definition a marketer can save, read and edit.

K-means finds the groups; a shallow decision tree (cluster versus the rest) then finds the few
thresholds that describe each group best, on features that map one-to-one onto the segment language
(age, gender, country, purchases and spend in a year, days since the last purchase, web visits, category
purchases, reachability, tenure). The proposal's count is the definition's count on the whole base, so
what the marketer sees is exactly what saving it gives.
"""

# ruff: noqa: S608 - values always travel as ? parameters; only compiled fragments are formatted in

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.cluster import KMeans  # type: ignore[import-untyped]
from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from sklearn.tree import DecisionTreeClassifier  # type: ignore[import-untyped]

from epistola.audience.engines import MartAudience
from epistola.audience.freshness import Freshness
from epistola.audience.language import Condition, parse_definition
from epistola.errors import InputError

NEVER = 9_999  # "days since the last purchase" of a customer who never bought
TOP_COUNTRIES = 4
TOP_CATEGORIES = 4
Rule = Callable[[bool, float], dict[str, Any]]  # (above the threshold?, threshold) -> condition


@dataclass(frozen=True, kw_only=True)
class Feature:
    name: str
    label: str  # for sentences: "purchases in a year"
    rule: Rule
    flag: bool = False  # 0/1 features read as shares


@dataclass(frozen=True, kw_only=True)
class MicroSegment:
    title: str
    highlights: list[str]
    definition: dict[str, Any]
    rule_text: str
    count: int  # members of the definition on the whole base
    share: float  # of the base
    precision: float  # of the rule against the cluster, on the sample
    recall: float
    cluster_size: int  # customers of the sample in the cluster


@dataclass(frozen=True, kw_only=True)
class Proposal:
    segments: list[MicroSegment]
    sample_size: int
    base_size: int
    freshness: Freshness
    features: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segments": [vars(s) for s in self.segments],
            "sample_size": self.sample_size,
            "base_size": self.base_size,
            "features": self.features,
            "freshness": self.freshness.as_dict(),
            "freshness_text": self.freshness.describe(),
        }


def _count(kind: str, days: int, category: str | None = None) -> Rule:
    def rule(above: bool, t: float) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "within_days": days}
        if category:
            event["category"] = category
        return {"event": event, "count": {"gte": math.floor(t) + 1} if above else {"lte": math.floor(t)}}

    return rule


def _spend(above: bool, t: float) -> dict[str, Any]:
    value = round(t / 100, 2)
    return {"event": {"type": "purchase", "within_days": 365}, "sum": {"gt": value} if above else {"lte": value}}


def _recency(above: bool, t: float) -> dict[str, Any]:
    recent = {"event": {"type": "purchase"}, "recency": {"lte": math.floor(t)}}
    return {"not": recent} if above else recent


def _age(above: bool, t: float) -> dict[str, Any]:
    return {"field": "age", "gte": math.floor(t) + 1} if above else {"field": "age", "lte": math.floor(t)}


def _tenure(above: bool, t: float) -> dict[str, Any]:
    days = max(1, math.floor(t))
    return {"field": "created_at", "older_than_days": days} if above else {"field": "created_at", "within_days": days}


def _flag(condition: dict[str, Any]) -> Rule:
    return lambda above, _t: condition if above else {"not": condition}


def _features(countries: list[str], categories: list[str]) -> list[Feature]:
    out = [
        Feature(name="age", label="age", rule=_age),
        Feature(name="is_m", label="men", rule=_flag({"field": "gender", "eq": "m"}), flag=True),
        Feature(name="is_f", label="women", rule=_flag({"field": "gender", "eq": "f"}), flag=True),
        Feature(name="purchases", label="purchases in a year", rule=_count("purchase", 365)),
        Feature(name="spend", label="spend in a year", rule=_spend),
        Feature(name="recency", label="days since the last purchase", rule=_recency),
        Feature(name="visits", label="page views in 90 days", rule=_count("page_view", 90)),
        Feature(name="email", label="reachable by e-mail", rule=_flag({"consent": "email"}), flag=True),
        Feature(name="sms", label="reachable by SMS", rule=_flag({"consent": "sms"}), flag=True),
        Feature(name="tenure", label="days as a customer", rule=_tenure),
    ]
    out += [
        Feature(name=f"c_{i}", label=f"from {c}", rule=_flag({"field": "country", "eq": c}), flag=True)
        for i, c in enumerate(countries)
    ]
    out += [
        Feature(name=f"k_{i}", label=f"{c.replace('_', ' ')} purchases in a year", rule=_count("purchase", 365, c))
        for i, c in enumerate(categories)
    ]
    return out


def _feature_rows(audience: MartAudience, base: Condition | None, sample: int) -> tuple[list[Feature], np.ndarray, int]:
    where = audience.compiler.compile(base) if base is not None else None
    base_sql = where.text if where else "TRUE"
    base_params = where.params if where else []
    moment = audience.compiler.moment
    today = audience.now.date()
    year, quarter = moment - timedelta(days=365), moment - timedelta(days=90)
    seg = f"WITH seg AS (SELECT c.* FROM customers c WHERE {base_sql}) "
    size = int(audience.mart.query(seg + "SELECT count(*) FROM seg", base_params)[0][0])
    if size < 20:
        raise InputError(f"the base has {size} customers; micro-segments need at least 20")
    countries = [
        str(r[0])
        for r in audience.mart.query(
            seg + f"SELECT country FROM seg WHERE country IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 "
            f"LIMIT {TOP_COUNTRIES}",
            base_params,
        )
    ]
    categories = [
        str(r[0])
        for r in audience.mart.query(
            "SELECT category FROM events WHERE type = 'purchase' AND category IS NOT NULL AND occurred_at >= ? "
            f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {TOP_CATEGORIES}",
            [year],
        )
    ]
    features = _features(countries, categories)
    age = (
        "CASE WHEN birth_date IS NOT NULL THEN date_diff('year', birth_date, ?::DATE) - "
        "CASE WHEN strftime(birth_date, '%m%d') > strftime(?::DATE, '%m%d') THEN 1 ELSE 0 END END"
    )
    columns = [
        f"{age} AS age",
        "CASE WHEN gender = 'm' THEN 1 ELSE 0 END",
        "CASE WHEN gender = 'f' THEN 1 ELSE 0 END",
        "coalesce(b.n, 0)",
        "coalesce(b.spend, 0)",
        f"coalesce(date_diff('day', b.last, ?::TIMESTAMP), {NEVER})",
        "coalesce(w.n, 0)",
        "CASE WHEN e.customer_id IS NOT NULL AND s.email IS NOT NULL THEN 1 ELSE 0 END",
        "CASE WHEN m.customer_id IS NOT NULL AND s.phone IS NOT NULL THEN 1 ELSE 0 END",
        "date_diff('day', s.created_at, ?::TIMESTAMP)",
        *("CASE WHEN country = ? THEN 1 ELSE 0 END" for _ in countries),
        *(f"coalesce(b.k{i}, 0)" for i in range(len(categories))),
    ]
    per_category = "".join(f", count(*) FILTER (WHERE category = ?) AS k{i}" for i in range(len(categories)))
    granted = (
        "SELECT customer_id FROM consents WHERE channel = ? AND purpose = 'marketing' AND status = 'granted' "
        "AND (expires_at IS NULL OR expires_at > ?)"
    )
    sql = (
        seg + ", picked AS (SELECT * FROM seg ORDER BY (id * 2654435761) % 4294967296, id LIMIT ?) "
        f"SELECT {', '.join(columns)} FROM picked s "
        f"LEFT JOIN (SELECT customer_id, count(*) AS n, coalesce(sum(amount_cents), 0) AS spend, "
        f"max(occurred_at) AS last{per_category} FROM events WHERE type = 'purchase' AND occurred_at >= ? "
        "AND occurred_at <= ? AND customer_id IN (SELECT id FROM picked) GROUP BY 1) b ON b.customer_id = s.id "
        "LEFT JOIN (SELECT customer_id, count(*) AS n FROM events WHERE type = 'page_view' AND occurred_at >= ? "
        "AND occurred_at <= ? AND customer_id IN (SELECT id FROM picked) GROUP BY 1) w ON w.customer_id = s.id "
        f"LEFT JOIN ({granted}) e ON e.customer_id = s.id LEFT JOIN ({granted}) m "
        "ON m.customer_id = s.id ORDER BY s.id"
    )
    params: list[Any] = [
        *base_params,
        sample,
        today,
        today,
        moment,
        moment,
        *countries,
        *categories,
        year,
        moment,
        quarter,
        moment,
        "email",
        moment,
        "sms",
        moment,
    ]
    rows = audience.mart.query(sql, params)
    data = np.array([[np.nan if v is None else float(v) for v in r] for r in rows], dtype=float)
    ages = data[:, 0]
    ages[np.isnan(ages)] = np.nanmedian(ages) if np.isfinite(ages).any() else 40.0
    return features, data, size


def _choose_k(scaled: np.ndarray, wanted: int | None) -> int:
    if wanted is not None:
        if not 2 <= wanted <= 12:
            raise InputError("ask for 2 to 12 micro-segments")
        return wanted
    probe = scaled[: min(len(scaled), 3000)]
    best, best_score = 4, -1.0
    for k in range(3, 9):
        if k >= len(probe):
            break
        labels = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(probe)
        score = float(silhouette_score(probe, labels))
        if score > best_score:
            best, best_score = k, score
    return best


def _rule(
    tree: DecisionTreeClassifier, x: np.ndarray, y: np.ndarray
) -> tuple[list[tuple[int, bool, float]], float, float]:
    """The leaf (path of splits) that best recovers the cluster: highest F1 of the rule against it."""
    t = tree.tree_
    best: tuple[list[tuple[int, bool, float]], float, float, float] = ([], 0.0, 0.0, -1.0)
    leaves = tree.apply(x)

    def walk(node: int, path: list[tuple[int, bool, float]]) -> None:
        nonlocal best
        if t.children_left[node] == -1:
            inside = leaves == node
            hit = int((inside & (y == 1)).sum())
            if hit == 0:
                return
            precision, recall = hit / int(inside.sum()), hit / int((y == 1).sum())
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best[3]:
                best = (path, precision, recall, f1)
            return
        feature, threshold = int(t.feature[node]), float(t.threshold[node])
        walk(int(t.children_left[node]), [*path, (feature, False, threshold)])
        walk(int(t.children_right[node]), [*path, (feature, True, threshold)])

    walk(0, [])
    return best[0], best[1], best[2]


def _tightest(path: list[tuple[int, bool, float]]) -> list[tuple[int, bool, float]]:
    """One bound per feature and side: the tightest one on the path."""
    bounds: dict[tuple[int, bool], float] = {}
    for feature, above, threshold in path:
        key = (feature, above)
        bounds[key] = (
            max(bounds.get(key, threshold), threshold) if above else min(bounds.get(key, threshold), threshold)
        )
    return [(f, a, t) for (f, a), t in sorted(bounds.items())]


def _days(value: float) -> str:
    return "never" if value >= NEVER else f"{value:,.0f}"


def _describe(feature: Feature, mean: float, overall: float, median: float, overall_median: float) -> str:
    if feature.flag:
        return f"{feature.label}: {mean:.0%} (base {overall:.0%})"
    if feature.name == "spend":
        return f"{feature.label}: median {median / 100:,.0f} (base {overall_median / 100:,.0f})"
    if feature.name == "recency":
        return f"{feature.label}: median {_days(median)} (base {_days(overall_median)})"
    return f"{feature.label}: median {median:,.0f}, mean {mean:,.1f} (base {overall_median:,.0f}, {overall:,.1f})"


def propose(
    audience: MartAudience,
    *,
    base: dict[str, Any] | None = None,
    clusters: int | None = None,
    sample: int = 20_000,
) -> Proposal:
    """Cluster the base (or everyone) into micro-segments and describe each as a segment definition.

    Args:
        base: the customers to split, as a condition of the language (``{segment: reachable}`` or a whole
            definition); every proposal starts with it. None: every customer.
        clusters: how many micro-segments; None chooses 3 to 8 by silhouette.
        sample: how many customers the clustering learns from.
    """
    if not 100 <= sample <= 200_000:
        raise InputError("the sample must hold 100 to 200,000 customers")
    base_condition = parse_definition(base, source="base") if base is not None else None
    features, data, size = _feature_rows(audience, base_condition, sample)
    scaled = StandardScaler().fit_transform(data)
    k = _choose_k(scaled, clusters)
    labels = KMeans(n_clusters=k, n_init=4, random_state=0).fit_predict(scaled)
    means, medians = data.mean(axis=0), np.median(data, axis=0)
    stds = data.std(axis=0) + 1e-9
    proposals: list[MicroSegment] = []
    for cluster in range(k):
        y = (labels == cluster).astype(int)
        members = data[y == 1]
        if len(members) == 0:
            continue
        z = (members.mean(axis=0) - means) / stds
        order = [int(i) for i in np.argsort(-np.abs(z))[:3]]
        highlights = [
            _describe(
                features[i],
                float(members[:, i].mean()),
                float(means[i]),
                float(np.median(members[:, i])),
                float(medians[i]),
            )
            for i in order
        ]
        tree = DecisionTreeClassifier(
            max_depth=3, min_samples_leaf=max(5, len(data) // 100), class_weight="balanced", random_state=0
        ).fit(data, y)
        path, precision, recall = _rule(tree, data, y)
        conditions = [features[f].rule(above, threshold) for f, above, threshold in _tightest(path)]
        if base is not None:
            conditions.insert(0, base)
        definition: dict[str, Any] = {"all": conditions} if conditions else {"sample": {"percent": 100}}
        condition = parse_definition(definition)
        count_sql = audience.compiler.count(condition)
        count = int(audience.mart.query(count_sql.text, count_sql.params)[0][0])
        top = features[order[0]]
        direction = "more" if z[order[0]] > 0 else "less"
        title = (
            f"{top.label}: {direction} than the base"
            if not top.flag
            else (f"mostly {top.label}" if z[order[0]] > 0 else f"rarely {top.label}")
        )
        proposals.append(
            MicroSegment(
                title=title,
                highlights=highlights,
                definition=definition,
                rule_text=" and ".join(_plain(c) for c in conditions),
                count=count,
                share=count / size if size else 0.0,
                precision=precision,
                recall=recall,
                cluster_size=int(y.sum()),
            )
        )
    proposals.sort(key=lambda m: -m.cluster_size)
    return Proposal(
        segments=proposals,
        sample_size=len(data),
        base_size=size,
        freshness=audience.freshness(),
        features=[f.label for f in features],
    )


def _plain(condition: dict[str, Any]) -> str:
    """A condition in one line of plain text."""
    if "not" in condition:
        return f"not ({_plain(condition['not'])})"
    if "segment" in condition:
        return f"in {condition['segment']}"
    if set(condition) & {"all", "any"}:
        return "(the base)"
    if "consent" in condition:
        return f"reachable by {condition['consent']}"
    if "field" in condition:
        op = next(k for k in condition if k != "field")
        return f"{condition['field']} {op.replace('_', ' ')} {condition[op]}"
    event = condition["event"]
    measure = next(k for k in condition if k != "event")
    ((op, value),) = condition[measure].items()
    what = event["type"] + (f" of {event['category']}" if "category" in event else "")
    window = f" in {event['within_days']} days" if "within_days" in event else ""
    symbol = {"gte": "≥", "gt": ">", "lte": "≤", "lt": "<", "eq": "="}[op]
    noun = {"count": "", "sum": " spend", "recency": " days since last", "avg": " average"}[measure]
    return f"{what}{noun}{window} {symbol} {value}"
