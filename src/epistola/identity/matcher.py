"""Matching a set of records end to end, with no database: features in, clusters, merge links and the
review queue out. The operational store (`resolve.py`) and the stand-alone command (`standalone.py`)
both call `match`; Splink runs on an in-process DuckDB.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from epistola.errors import InputError
from epistola.identity import splink_backend
from epistola.identity.clustering import Traits, cluster
from epistola.identity.features import COLUMNS
from epistola.identity.params import ModelParams, default_params
from epistola.identity.splink_backend import TrainingOptions

# duckdb and pyarrow are imported inside the functions that use them: keeps CLI start-up fast.
if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped]

LIST_COLUMNS = frozenset({"fn_groups", "ln_groups"})
INT_COLUMNS = frozenset({"record_id", "by_lo", "by_hi"})
MIN_RECORDS_TO_TRAIN = 1000  # fewer and EM has too few pairs: the starting model is used instead
_TABLE = "features"


@dataclass(frozen=True, kw_only=True)
class MatchConfig:
    """How sure is sure enough. Pairs at or above `auto_threshold` (with agreeing names or a personal
    identifier) merge; pairs from `review_threshold` up that do not merge wait for a person."""

    auto_threshold: float = 0.8
    review_threshold: float = 0.4
    deterministic: tuple[str, ...] = ()  # feature columns whose equality links records outright
    training: TrainingOptions = field(default_factory=TrainingOptions)

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.review_threshold <= self.auto_threshold <= 1:
            problems.append(
                f"thresholds must satisfy 0 < review ({self.review_threshold}) <= auto ({self.auto_threshold}) <= 1"
            )
        unknown = [c for c in self.deterministic if c not in COLUMNS or c in LIST_COLUMNS or c == "record_id"]
        if unknown:
            problems.append(f"deterministic rules name unknown columns {unknown}; use some of {list(COLUMNS[1:])}")
        if problems:
            raise InputError("identity configuration is invalid: " + "; ".join(problems))

    def as_json(self) -> dict[str, Any]:
        return {
            "auto_threshold": self.auto_threshold,
            "review_threshold": self.review_threshold,
            "deterministic": list(self.deterministic),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Link:
    left: int
    right: int
    probability: float
    weight: float | None  # None for links a rule or a person made
    reason: str  # model | rule:<column> | decision


@dataclass(frozen=True, kw_only=True)
class MatchResult:
    clusters: dict[int, int]  # record -> cluster (smallest record id in it)
    merged: list[Link]  # the links that joined records
    review: list[Link]  # uncertain pairs left apart, for a person to decide
    params: ModelParams
    trained: bool
    contradictions: int  # strong links refused because their groups disagree on birth date or gender


class FeatureColumns:
    """Feature rows kept column by column (a million records as dicts would not fit comfortably)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}

    def add(self, row: dict[str, Any]) -> None:
        for name, values in self.columns.items():
            values.append(row[name])

    def __len__(self) -> int:
        return len(self.columns["record_id"])

    def arrow(self) -> pa.Table:
        import pyarrow as pa

        arrays = {}
        for name, values in self.columns.items():
            if name in LIST_COLUMNS:
                arrays[name] = pa.array(values, type=pa.list_(pa.string()))
            elif name in INT_COLUMNS:
                arrays[name] = pa.array(values, type=pa.int64())
            else:
                arrays[name] = pa.array(values, type=pa.string())
        return pa.table(arrays)

    def traits(self, among: Container[int] | None = None) -> dict[int, Traits]:
        """record -> its birth date and gender, for the records that have either (and are `among`)."""
        ids, births, genders = self.columns["record_id"], self.columns["dob"], self.columns["gender"]
        return {
            rid: Traits(birth=b, gender=g)
            for rid, b, g in zip(ids, births, genders, strict=True)
            if (b or g) and (among is None or rid in among)
        }

    def deterministic_links(self, column: str) -> list[Link]:
        """Records sharing a value of `column` are one person: a chain through each group of equal values."""
        first: dict[Any, int] = {}
        out = []
        for rid, value in zip(self.columns["record_id"], self.columns[column], strict=True):
            if value is None:
                continue
            if value in first:
                out.append(Link(left=first[value], right=rid, probability=1.0, weight=None, reason=f"rule:{column}"))
            else:
                first[value] = rid
        return out


def _connect(table: pa.Table) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    con.register("features_arrow", table)
    con.execute(f"CREATE TABLE {_TABLE} AS SELECT * FROM features_arrow")  # noqa: S608 - our own name
    con.unregister("features_arrow")
    return con


@contextmanager
def duckdb_session(features: FeatureColumns) -> Iterator[splink_backend.Backend]:
    """One in-process DuckDB holding `features`, for a run that trains and then predicts on them
    (loading a million records into DuckDB once rather than twice)."""
    con = _connect(features.arrow())
    try:
        yield splink_backend.duckdb_backend(con, _TABLE)
    finally:
        con.close()


def train(
    features: FeatureColumns,
    options: TrainingOptions | None = None,
    *,
    backend: splink_backend.Backend | None = None,
) -> ModelParams:
    """A model learned from these records alone (the starting model when there are too few); on an
    in-process DuckDB unless `backend` already holds the same features."""
    if len(features) < MIN_RECORDS_TO_TRAIN:
        return default_params()
    if backend is not None:
        return splink_backend.train_on(backend, options)
    with duckdb_session(features) as own:
        return splink_backend.train_on(own, options)


def match(
    features: FeatureColumns,
    *,
    params: ModelParams | None = None,
    config: MatchConfig | None = None,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
    backend: splink_backend.Backend | None = None,
) -> MatchResult:
    """Resolve the records: train when no model is given, predict, then cluster with the decisions.
    Splink runs on an in-process DuckDB unless `backend` holds the same features elsewhere (Spark)."""
    config = config or MatchConfig()
    con = None
    if backend is None:
        con = _connect(features.arrow())
        backend = splink_backend.duckdb_backend(con, _TABLE)
    try:
        trained = params is None and len(features) >= MIN_RECORDS_TO_TRAIN
        if params is None:
            params = splink_backend.train_on(backend, config.training) if trained else default_params()
        pairs = splink_backend.predict_on(backend, params, min_probability=config.review_threshold)
    finally:
        if con is not None:
            con.close()
    left = pairs.column("record_id_l").to_pylist()
    right = pairs.column("record_id_r").to_pylist()
    probability = pairs.column("match_probability").to_pylist()
    weight = pairs.column("match_weight").to_pylist()
    agree = pairs.column("agree").to_pylist()
    scored = {
        (a, b): Link(left=a, right=b, probability=p, weight=w, reason="model")
        for a, b, p, w in zip(left, right, probability, weight, strict=True)
    }
    decided_yes = [(min(a, b), max(a, b)) for a, b in must_link]
    rules = [link for column in config.deterministic for link in features.deterministic_links(column)]
    threshold = config.auto_threshold
    mergeable = [
        (a, b, p) for a, b, p, ok in zip(left, right, probability, agree, strict=True) if ok and p >= threshold
    ]
    joined = [*decided_yes, *((x.left, x.right) for x in rules)]
    cannot_link = list(cannot_link)
    # clustering only asks for the traits of records some link or decision involves
    involved = {r for pairs in (mergeable, joined, cannot_link) for a, b, *_ in pairs for r in (a, b)}
    result = cluster(
        features.columns["record_id"],
        mergeable,
        threshold=threshold,
        traits=features.traits(involved),
        must_link=joined,
        cannot_link=cannot_link,
    )
    by_rule = {(x.left, x.right): x for x in rules}
    merged = []
    for a, b, p in result.links_used:
        key = (min(a, b), max(a, b))
        if key in scored and p < 1.0:
            merged.append(scored[key])
        elif key in by_rule:
            merged.append(by_rule[key])
        else:
            merged.append(Link(left=key[0], right=key[1], probability=1.0, weight=None, reason="decision"))
    decided = {(min(a, b), max(a, b)) for a, b in (*decided_yes, *cannot_link)}
    clusters = result.clusters
    review = [
        link for key, link in scored.items() if key not in decided and clusters[link.left] != clusters[link.right]
    ]
    review.sort(key=lambda x: -x.probability)
    return MatchResult(
        clusters=clusters,
        merged=merged,
        review=review,
        params=params,
        trained=trained,
        contradictions=result.skipped,
    )


def columns_of(rows: Sequence[dict[str, Any]]) -> FeatureColumns:
    out = FeatureColumns()
    for row in rows:
        out.add(row)
    return out
