"""The adapter to Splink: unsupervised training and batch prediction over a table of features.

Everything Splink-specific lives here. The comparisons come from `comparisons.py` and the parameters go
in and out as `ModelParams`, so the same model runs on DuckDB in one process (this module) or on Spark
through Splink's Spark backend with `settings(params, "spark")` (see docs/identity.md).

Training needs no labels (Fellegi-Sunter by expectation maximisation): the prior comes from rules that
admit almost no false matches, u from random record pairs (nearly all non-matches), and m by EM over
pairs blocked on one field at a time, so every comparison is estimated from pairs it did not select.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from epistola.identity.comparisons import AUTO_MERGE_EVIDENCE, COMPARISONS, Dialect
from epistola.identity.features import COLUMNS
from epistola.identity.params import LevelParams, ModelParams, default_params

# duckdb and pyarrow are only named in hints here (splink is imported where used): keeps CLI start-up fast.
if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped]

UNIQUE_ID = "record_id"
TF_COLUMNS = tuple(sorted({lv.tf for c in COMPARISONS for lv in c.levels if lv.tf}))

# Pairs worth scoring: every true pair shares at least one of these in realistic data (a changed e-mail
# still leaves the phone, a nickname still leaves surname and birth date, a moved person keeps the names).
# Each rule is a conjunction of equalities (left record's column, right record's column), declared as data
# so the incremental matcher looks a new record up by exactly the blocks a batch run compares it in.
BLOCKING_RULES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("email", "email"),),
    (("phone", "phone"),),
    (("fn_block", "fn_block"), ("ln", "ln"), ("pc_area", "pc_area")),
    (("fn_block", "fn_block"), ("ln", "ln"), ("city", "city")),
    (("ln", "ln"), ("dob", "dob")),
    (("ln", "ln"), ("postcode", "postcode")),
    (("fn_block", "fn_block"), ("dob", "dob")),
    (("fn_block", "fn_block"), ("postcode", "postcode")),
    (("fn", "ln"), ("ln", "fn")),
    (("fn", "ln"), ("ln_block", "fn_block")),
    (("ln", "fn"), ("fn_block", "ln_block")),
    (("street", "street"), ("house", "house"), ("city", "city")),
    (("fn_block", "fn_block"), ("street", "street"), ("city", "city")),
)
PREDICT_RULES: tuple[str, ...] = tuple(
    " AND ".join(f"l.{left} = r.{right}" for left, right in rule) for rule in BLOCKING_RULES
)
# Rules that admit almost only true matches, and how many of all matches they are assumed to find.
DETERMINISTIC_RULES: tuple[str, ...] = (
    "l.email = r.email",
    "l.fn = r.fn AND l.ln = r.ln AND l.dob = r.dob",
)
DETERMINISTIC_RECALL = 0.6
# EM sessions: each blocks on fields it then cannot estimate; together they cover every comparison.
# EM sessions: (blocking rule, the comparisons taken from it). A comparison is estimated from pairs chosen
# by a rule that does not involve it, and no rule admits a household on its own: family members share a
# landline, an address and sometimes an e-mail, and EM would learn them as matches.
TRAINING_SESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("l.email = r.email AND l.phone = r.phone", ("name",)),
    ("l.phone = r.phone AND l.fn = r.fn", ("email", "birth_date", "age", "gender")),
    ("l.email = r.email AND l.fn = r.fn", ("contact",)),
)


# No level is impossible among matches: a typo can put a true pair anywhere, so m never drops below this
# (a clean training set would otherwise make one wrong digit an absolute veto).
M_FLOOR = 1e-3
U_FLOOR = 1e-9


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    seed: int = 42
    u_pairs: float = 2e6  # random pairs for u; more is steadier and slower
    em_pairs: float | None = 2e6  # cap on blocked pairs per EM session (sampled by hash)


def settings(
    params: ModelParams | None = None,
    dialect: Dialect = "duckdb",
    *,
    rules: Sequence[str] = PREDICT_RULES,
) -> dict[str, Any]:
    """A Splink settings dictionary for `dialect`, carrying `params` when given."""
    params = params or default_params()
    comparisons = []
    for c in COMPARISONS:
        levels: list[dict[str, Any]] = [
            {"sql_condition": c.null.sql(dialect), "label_for_charts": "null", "is_null_level": True}
        ]
        for lv in c.levels:
            p = params.level(c.name, lv.label)
            level: dict[str, Any] = {
                "sql_condition": lv.test.sql(dialect),
                "label_for_charts": lv.label,
                "m_probability": p.m,
                "u_probability": p.u,
            }
            if lv.tf:
                level["tf_adjustment_column"] = lv.tf
                level["tf_adjustment_weight"] = 1.0
            levels.append(level)
        p = params.level(c.name, "else")
        levels.append({"sql_condition": "ELSE", "label_for_charts": "else", "m_probability": p.m, "u_probability": p.u})
        comparisons.append(
            {"output_column_name": c.name, "comparison_description": c.description, "comparison_levels": levels}
        )
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": UNIQUE_ID,
        "probability_two_random_records_match": params.prior,
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [{"blocking_rule": r, "sql_dialect": dialect} for r in rules],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 20,
        "em_convergence": 0.001,
    }


@dataclass(frozen=True, kw_only=True)
class Backend:
    """Where the feature table lives for Splink: an in-process DuckDB here, or a Spark session
    (`identity/spark.py`). Training and prediction below are written once against this."""

    dialect: Dialect
    table: str  # the features table's name in that database
    api: Callable[[], Any]  # a fresh Splink database API (DuckDBAPI, SparkAPI) over it
    query: Callable[[str], pa.Table]  # runs one query of ours, the result as Arrow


def duckdb_backend(con: duckdb.DuckDBPyConnection, table: str) -> Backend:
    from splink import DuckDBAPI

    return Backend(
        dialect="duckdb",
        table=table,
        api=lambda: DuckDBAPI(connection=con),
        query=lambda sql: con.sql(sql).to_arrow_table(),
    )


def _linker(backend: Backend, params: ModelParams | None) -> Any:
    from splink import Linker

    frame = backend.api().register(backend.table)
    return Linker(frame, settings(params, backend.dialect), log_level=None)


def params_from_linker(linker: Any, trained: dict[str, Any]) -> ModelParams:
    """Read m, u and the prior back from a trained Splink linker (levels it could not estimate keep
    their previous values, which Splink reports as untrained)."""
    start = default_params()
    model = linker.misc.save_model_to_json()
    levels: dict[str, dict[str, LevelParams]] = {}
    for comp in model["comparisons"]:
        name = comp["output_column_name"]
        out: dict[str, LevelParams] = {}
        for lv in comp["comparison_levels"]:
            if lv.get("is_null_level"):
                continue
            label = lv["label_for_charts"]
            fallback = start.level(name, label)
            m = lv.get("m_probability")
            u = lv.get("u_probability")
            m = fallback.m if m is None else m
            u = fallback.u if u is None else u
            out[label] = LevelParams(m=max(float(m), M_FLOOR), u=max(float(u), U_FLOOR))
        levels[name] = out
    return ModelParams(prior=float(model["probability_two_random_records_match"]), levels=levels, trained=trained)


def _count(backend: Backend, where: str = "TRUE") -> int:
    rows = backend.query(f"SELECT count(*) AS n FROM {backend.table} l WHERE {where}")  # noqa: S608 - our own SQL
    return int(rows.column(0)[0].as_py())


def train(con: duckdb.DuckDBPyConnection, table: str, options: TrainingOptions | None = None) -> ModelParams:
    """Estimate a model from the records in `table` alone (no labels)."""
    return train_on(duckdb_backend(con, table), options)


def train_on(backend: Backend, options: TrainingOptions | None = None) -> ModelParams:
    """Estimate a model from the records in the backend's table alone (no labels). A session that finds
    no pairs (a file without e-mails, say) is skipped: its comparisons keep the starting values, and the
    stored model says so."""
    from splink.internals.exceptions import SplinkException

    options = options or TrainingOptions()
    logging.getLogger("splink").setLevel(logging.ERROR)
    records = _count(backend)
    linker = _linker(backend, None)
    linker.training.estimate_probability_two_random_records_match(
        list(DETERMINISTIC_RULES), recall=DETERMINISTIC_RECALL
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=options.u_pairs, seed=options.seed)
    params = params_from_linker(linker, {})
    if not 0 < params.prior < 1:  # the rules found no pair at all: expect about one duplicate in three records
        params = replace(params, prior=min(0.5, 0.6 / max(records, 2)))
    sessions: dict[str, str] = {}
    skipped: list[str] = []
    for rule, taken in TRAINING_SESSIONS:
        session = _linker(backend, params)
        try:
            session.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, max_pairs=options.em_pairs
            )
        except (SplinkException, ValueError, ZeroDivisionError):
            skipped.append(rule)
            session.table_management.delete_tables_created_by_splink_from_db()
            continue
        found = params_from_linker(session, {})
        updates = {}
        for name in taken:
            updates[name] = {
                label: LevelParams(m=found.level(name, label).m, u=params.level(name, label).u)
                for label in params.levels[name]
            }
            sessions[name] = rule
        params = params.with_levels(updates)
        session.table_management.delete_tables_created_by_splink_from_db()
    linker.table_management.delete_tables_created_by_splink_from_db()
    shares = {c: _count(backend, f"l.{c} IS NOT NULL") / max(records, 1) for c in TF_COLUMNS}
    return replace(
        params,
        trained={
            "non_null_share": shares,
            "method": "unsupervised: prior from deterministic rules, u from random pairs, m by EM",
            "records": records,
            "u_pairs": options.u_pairs,
            "em_pairs": options.em_pairs,
            "seed": options.seed,
            "deterministic_recall": DETERMINISTIC_RECALL,
            "em_sessions": sessions,
            "em_sessions_without_pairs": skipped,
        },
    )


def predict(con: duckdb.DuckDBPyConnection, table: str, params: ModelParams, *, min_probability: float) -> pa.Table:
    """Scored pairs at or above `min_probability` (see `predict_on`)."""
    return predict_on(duckdb_backend(con, table), params, min_probability=min_probability)


def predict_on(backend: Backend, params: ModelParams, *, min_probability: float) -> pa.Table:
    """Scored pairs at or above `min_probability`: record_id_l < record_id_r, match_weight,
    match_probability, and `agree` (whether the pair has the evidence an automatic merge needs)."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    table = backend.table
    linker = _linker(backend, params)
    frame = linker.inference.predict(threshold_match_probability=min_probability, warning_mode="never")
    renamed = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in COLUMNS if c != UNIQUE_ID)
    query = f"""
        SELECT record_id_l, record_id_r, match_weight, match_probability,
               coalesce({AUTO_MERGE_EVIDENCE.sql(backend.dialect)}, false) AS agree
        FROM (
            SELECT p.record_id_l, p.record_id_r, p.match_weight, p.match_probability, {renamed}
            FROM {frame.physical_name} p
            JOIN {table} l ON l.{UNIQUE_ID} = p.record_id_l
            JOIN {table} r ON r.{UNIQUE_ID} = p.record_id_r
        )
    """  # noqa: S608 - table names are ours, conditions come from comparisons.py
    result = backend.query(query)
    frame.drop_table_from_database_and_remove_from_cache()
    linker.table_management.delete_tables_created_by_splink_from_db()
    return result
