"""Identity resolution on a file, with no database: `epistola identity resolve INPUT.csv --mapping
MAPPING.yaml --out clusters.csv` writes `record_id,cluster_id` for every record.

The mapping is the hub's mapping format (docs/mappings.md): which column is the record's key and which
columns are names, birth date, e-mail, phone, address. Records are normalised exactly as an import would
normalise them (in a pool of processes for big files), then matched with a model trained on the file
itself (or a saved one), so a data engineer can try Epistola's matcher on their own data in one command.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from epistola.errors import InputError, Problem
from epistola.hub.canonical_pool import CanonicalPool
from epistola.hub.mapping import SourceMapping, load_mapping
from epistola.hub.readers import Rejected, Row, lookup, read_records
from epistola.identity.features import features
from epistola.identity.matcher import FeatureColumns, MatchConfig, MatchResult, match
from epistola.identity.params import ModelParams

_BATCH = 5000


@dataclass(frozen=True, kw_only=True)
class FileResolution:
    records: int
    clusters: int
    rejected: int
    review: int
    trained: bool
    problems: list[Problem]


def read_features(
    path: Path, mapping: SourceMapping, *, today: date, workers: int = 1
) -> tuple[FeatureColumns, list[str], list[Problem]]:
    """Matching keys of every readable record, the records' keys in file order, and what was rejected."""
    keys: list[str] = []
    seen: set[str] = set()
    problems: list[Problem] = []
    out = FeatureColumns()

    def batches() -> Any:
        batch: list[Row] = []
        for item in read_records(path, mapping):
            if isinstance(item, Rejected):
                problems.append(Problem(message=item.reason, file=path.name, row=item.number, field=item.field))
                continue
            key = lookup(item.values, mapping.key)
            if key in (None, ""):
                problems.append(Problem(message="no record key", file=path.name, row=item.number, field=mapping.key))
                continue
            if str(key) in seen:
                problems.append(
                    Problem(message=f"duplicate key {key!r}", file=path.name, row=item.number, field=mapping.key)
                )
                continue
            seen.add(str(key))
            keys.append(str(key))
            batch.append(item)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    with CanonicalPool(mapping, today=today, workers=workers) as pool:
        for _batch, normalised in pool.map(batches(), lambda b: [r.values for r in b]):
            for canonical in normalised:
                out.add(features(len(out), json.loads(canonical.json)))
    return out, keys, problems


def resolve_file(
    path: Path,
    mapping_path: Path,
    out: Path,
    *,
    config: MatchConfig | None = None,
    params: ModelParams | None = None,
    pairs_out: Path | None = None,
    model_out: Path | None = None,
    today: date | None = None,
    workers: int | None = None,
    spark_master: str | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> FileResolution:
    """Resolve the records of one file; writes `out` (record_id,cluster_id), and optionally the scored
    pairs and the trained model. With `spark_master` (local[*], spark://host:7077, ...) Splink runs on
    Spark instead of an in-process DuckDB (`identity/spark.py`)."""
    mapping = load_mapping(mapping_path)
    if not isinstance(mapping, SourceMapping):
        raise InputError(f"mapping {mapping_path.name} describes events, not person records")
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    say(f"reading and normalising {path.name}")
    feats, keys, problems = read_features(
        path, mapping, today=today or date.today(), workers=workers or max(1, min(4, os.cpu_count() or 1))
    )
    if not keys:
        raise InputError(f"{path.name} has no usable records", problems=problems)
    say(f"matching {len(keys):,} records")
    if spark_master is None:
        result = match(feats, params=params, config=config)
    else:
        from epistola.identity import spark

        result = spark.match(feats, spark.session(spark_master), params=params, config=config)
    _write_clusters(out, keys, result)
    if pairs_out is not None:
        _write_pairs(pairs_out, keys, result)
    if model_out is not None:
        model_out.write_text(json.dumps(result.params.as_json(), indent=2), encoding="utf-8")
    return FileResolution(
        records=len(keys),
        clusters=len(set(result.clusters.values())),
        rejected=len(problems),
        review=len(result.review),
        trained=result.trained,
        problems=problems,
    )


def _write_clusters(out: Path, keys: list[str], result: MatchResult) -> None:
    """One row per record, in file order; a cluster is named by the key of its first record."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("record_id", "cluster_id"))
        for i, key in enumerate(keys):
            writer.writerow((key, keys[result.clusters[i]]))


def _write_pairs(out: Path, keys: list[str], result: MatchResult) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("record_id_l", "record_id_r", "match_probability", "match_weight", "kind"))
        for kind, links in (("merge", result.merged), ("review", result.review)):
            for x in links:
                weight = "" if x.weight is None else f"{x.weight:.3f}"
                writer.writerow((keys[x.left], keys[x.right], f"{x.probability:.6f}", weight, kind))


def load_params(path: Path) -> ModelParams:
    try:
        return ModelParams.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"model file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"model file {path.name} is not JSON: {exc}") from None
