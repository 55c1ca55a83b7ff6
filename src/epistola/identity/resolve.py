"""Identity resolution over the operational store: keys for new and changed records, the stored model
(trained on first use, versioned), Splink's prediction, clustering that honours review decisions, then
customers, golden records, history, links and the review queue — in the caller's transaction. The big
writes of a run go through a second thread (`bulk.Background`); docs/identity.md says why and how.
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from epistola import audit
from epistola.errors import InputError
from epistola.identity import bulk, matcher, store
from epistola.identity.apply import apply_clusters, load_candidates
from epistola.identity.features import features as keys_of
from epistola.identity.golden import Survivorship
from epistola.identity.matcher import MatchConfig, MatchResult
from epistola.identity.params import ModelParams
from epistola.identity.splink_backend import Backend, TrainingOptions

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """Say nothing."""


@dataclass(frozen=True, kw_only=True)
class IdentityConfig:
    """Everything a run needs besides the model's parameters; stored with each model version."""

    match: MatchConfig = field(default_factory=MatchConfig)
    survivorship: Survivorship = field(default_factory=Survivorship)

    def as_json(self) -> dict[str, Any]:
        return {**self.match.as_json(), "survivorship": self.survivorship.as_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> IdentityConfig:
        data = dict(data or {})
        known = {"auto_threshold", "review_threshold", "deterministic", "survivorship"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"identity configuration has unknown keys {unknown}; known keys: {sorted(known)}")
        try:
            match = MatchConfig(
                auto_threshold=float(data.get("auto_threshold", MatchConfig.auto_threshold)),
                review_threshold=float(data.get("review_threshold", MatchConfig.review_threshold)),
                deterministic=tuple(data.get("deterministic") or ()),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"identity configuration: {exc}") from None
        return cls(match=match, survivorship=Survivorship.from_json(data.get("survivorship")))


@dataclass(frozen=True, kw_only=True)
class ResolveReport:
    records: int
    customers: int
    created: int
    updated: int
    merged_away: int
    split_off: int
    consents_recorded: int
    model_version: int
    trained: bool
    review_pairs: int
    contradictions: int
    keys_computed: int


def current_config(conn: Connection) -> tuple[IdentityConfig, ModelParams | None, int | None]:
    """The latest stored configuration and parameters (None before the first model)."""
    model = store.latest_model(conn)
    if model is None:
        return IdentityConfig(), None, None
    config = IdentityConfig.from_json(model.config)
    try:
        params = ModelParams.from_json(model.params)
    except InputError:  # the comparisons changed since it was trained: a new model is due
        return config, None, model.version
    return config, params, model.version


def train_model(
    conn: Connection,
    *,
    now: datetime,
    actor: str,
    config: IdentityConfig | None = None,
    options: TrainingOptions | None = None,
    note: str = "",
    features: matcher.FeatureColumns | None = None,
) -> int:
    """Train on the records in the store (no labels needed; accepted review pairs refine m) and store
    the result as a new model version. `features`: the records' keys, when already loaded."""
    if features is None:
        store.refresh_features(conn, now)
        features = store.load_features(conn)
    stored, _, _ = current_config(conn)
    config = config or stored
    yes, _ = store.decisions(conn)
    params = fit_model(features, options or config.match.training, accepted=yes)
    return store_model(conn, params, config=config, records=len(features), now=now, actor=actor, note=note)


def fit_model(
    features: matcher.FeatureColumns,
    options: TrainingOptions,
    *,
    accepted: Sequence[tuple[int, int]],
    backend: Backend | None = None,
) -> ModelParams:
    """A model trained on `features` (on `backend` when it already holds them), pairs people accepted
    refining m as pseudo-counts against the unsupervised estimate (a handful of labels nudges it,
    hundreds dominate it). Touches no database of ours."""
    from epistola.identity.labels import m_from_labels

    return m_from_labels(matcher.train(features, options, backend=backend), features, accepted)


def store_model(
    conn: Connection,
    params: ModelParams,
    *,
    config: IdentityConfig,
    records: int,
    now: datetime,
    actor: str,
    note: str = "",
) -> int:
    """A trained model as a new version, audited."""
    untrained = records < matcher.MIN_RECORDS_TO_TRAIN  # `train` kept the starting model
    default_note = f"starting model: fewer than {matcher.MIN_RECORDS_TO_TRAIN:,} records" if untrained else "trained"
    version = store.save_model(
        conn, params=params.as_json(), config=config.as_json(), note=note or default_note, actor=actor, now=now
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.train",
        entity="identity_model",
        entity_id=version,
        details={
            "records": records,
            "method": params.trained.get("method"),
            "labelled": params.trained.get("labelled", 0),
        },
    )
    return version


def configure(conn: Connection, config: IdentityConfig, *, now: datetime, actor: str, note: str = "") -> int:
    """A new model version with the same parameters and a new configuration (thresholds, rules)."""
    _, params, _ = current_config(conn)
    if params is None:
        raise InputError("there is no trained identity model yet", hint="run `epistola identity train` first")
    version = store.save_model(
        conn, params=params.as_json(), config=config.as_json(), note=note or "configured", actor=actor, now=now
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.configure",
        entity="identity_model",
        entity_id=version,
        details=config.as_json(),
    )
    return version


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the duration of a batch run. A run holds millions of long-lived
    objects (records, keys, golden records) and makes next to no reference cycles, yet every few
    thousand allocations the collector would walk them again: a quarter of a run's time, for nothing.
    Whatever cycles the run leaves are collected as usual once it is back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def resolve(
    conn: Connection,
    *,
    now: datetime,
    actor: str = "system",
    retrain: bool = False,
    say: Say = _quiet,
) -> ResolveReport:
    """Resolve every active source record into customers."""
    with collector_paused(), bulk.large_cache(conn):
        return _resolve(conn, now=now, actor=actor, retrain=retrain, say=say)


def _resolve(conn: Connection, *, now: datetime, actor: str, retrain: bool, say: Say) -> ResolveReport:
    say("reading the records")
    candidates = load_candidates(conn)
    stale = store.stale_ids(conn)
    config, params, version = current_config(conn)
    yes, no = store.decisions(conn)
    train = params is None or retrain
    say(f"matching keys for {len(stale):,} new and changed records")
    fresh_keys = [keys_of(c.record_id, c.values) for c in candidates if c.record_id in stale]
    computed = len(stale)
    # Writes go through a second thread while this one prepares the next (see bulk.Background): the keys
    # are written and indexed while DuckDB trains and matches on them, customers and records while
    # golden records, lineage and ledger rows are worked out. Nothing here touches the connection
    # without `writing.wait()` first.
    with bulk.Background() as writing:
        writing.run(partial(store.save_features, conn, fresh_keys, now))
        if computed == len(candidates):  # every key was just computed: no need to read them back
            loaded = matcher.columns_of(sorted(fresh_keys, key=lambda row: row["record_id"]))
        else:
            writing.wait()
            loaded = store.load_features(conn)
        del fresh_keys  # a million dicts: gone (once written) before the matcher needs its memory
        records = len(loaded)
        with matcher.duckdb_session(loaded) as backend:
            if train:
                say("training the matching model (no labels needed)")
                fitted = fit_model(loaded, config.match.training, accepted=yes, backend=backend)
                params = ModelParams.from_json(_stored(fitted.as_json()))  # as it will be read back
            assert params is not None  # noqa: S101 - trained above when there was none
            say(f"matching {records:,} records")
            result = matcher.match(
                loaded, params=params, config=config.match, must_link=yes, cannot_link=no, backend=backend
            )
        del loaded
        writing.wait()
        if train:
            version = store_model(conn, fitted, config=config, records=records, now=now, actor=actor)
        assert version is not None  # noqa: S101 - stored above when there was none
        say("writing customers, golden records and history")
        applied = apply_clusters(
            conn,
            result.clusters,
            now=now,
            actor=actor,
            policy=config.survivorship,
            why=_why(result),
            candidates=candidates,
            changed_records=stale,
            writing=writing,
        )
        links = store.link_rows(result.merged, result.review, version=version, stamp=bulk.db_time(conn, now))
        writing.run(partial(store.replace_links, conn, links))
        writing.wait()
    report = ResolveReport(
        records=records,
        customers=applied.customers,
        created=applied.created,
        updated=applied.updated,
        merged_away=applied.merged_away,
        split_off=applied.split_off,
        consents_recorded=applied.consents_recorded,
        model_version=version,
        trained=train,
        review_pairs=len(result.review),
        contradictions=result.contradictions,
        keys_computed=computed,
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="resolve",
        entity="customers",
        details={k: v for k, v in vars(report).items()},
    )
    return report


def _stored(data: dict[str, Any]) -> Any:
    """JSON as a JSON column gives it back."""
    return json.loads(json.dumps(data))


def _why(result: MatchResult) -> dict[int, dict[str, Any]]:
    """cluster -> the links that joined it (kept with each merge in the history)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for link in result.merged:
        out[result.clusters[link.left]].append(
            {"records": [link.left, link.right], "probability": round(link.probability, 6), "reason": link.reason}
        )
    return {cl: {"links": links[:20]} for cl, links in out.items()}
