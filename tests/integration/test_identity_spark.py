"""Splink on Spark in local mode scores the same pairs and makes the same clusters as on DuckDB, from the
same stored model: the predictions, the clusters with people's decisions, and the stand-alone command
with --backend spark. One Spark session (local[2]) for the module; a few thousand generated records.

pyspark is in the dev environment and Java 17 is on every machine of this project: under CI=true a
session that cannot start fails the tests instead of skipping them."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from epistola.errors import ConfigError
from epistola.hub.pipeline import CUSTOMER_FILES, source_mapping
from epistola.identity import matcher, splink_backend
from epistola.identity import spark as on_spark
from epistola.identity.features import COLUMNS
from epistola.identity.matcher import FeatureColumns, MatchConfig
from epistola.identity.params import ModelParams
from epistola.identity.standalone import read_features
from epistola.synth import generate

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MAPPINGS = Path(on_spark.__file__).resolve().parents[1] / "hub" / "mappings"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        session = on_spark.session("local[2]", shuffle_partitions=2)
    except ConfigError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true: the Spark tests must not skip)")
        pytest.skip(str(exc))
    yield session
    session.stop()


@dataclass(frozen=True)
class People:
    folder: Path
    features: FeatureColumns
    params: ModelParams


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> People:
    """About 3,400 records of 2,000 generated people in four sources, and a model trained on DuckDB."""
    folder = tmp_path_factory.mktemp("people")
    generate(folder, customers=2000, seed=11, events_per_customer=0)
    features = FeatureColumns()
    for filename, name in CUSTOMER_FILES:
        found, _, _ = read_features(folder / filename, source_mapping(name), today=date(2026, 11, 1))
        for i in range(len(found)):
            row = {c: found.columns[c][i] for c in COLUMNS}
            features.add(row | {"record_id": len(features)})
    return People(folder=folder, features=features, params=matcher.train(features))


def _pairs(table: Any) -> dict[tuple[int, int], tuple[float, bool]]:
    cols = [table.column(c).to_pylist() for c in ("record_id_l", "record_id_r", "match_weight", "agree")]
    return {(a, b): (w, ok) for a, b, w, ok in zip(*cols, strict=True)}


def test_spark_scores_every_pair_as_duckdb(spark: Any, people: People) -> None:
    """Every blocked pair from 1e-9 up: the same pairs, the same weights (to float rounding), and the
    same verdict on whether the pair has the evidence an automatic merge needs."""
    con = matcher._connect(people.features.arrow())
    try:
        duck = _pairs(splink_backend.predict(con, "features", people.params, min_probability=1e-9))
    finally:
        con.close()
    frame = on_spark.frame(spark, people.features)
    found = _pairs(on_spark.predict(spark, frame, people.params, min_probability=1e-9))
    assert len(duck) > 2000 and len({round(w, 6) for w, _ in duck.values()}) > 200  # many levels met
    assert sum(ok for _, ok in duck.values()) > 500
    # pairs far from the cut-off are in both; their weights and verdicts agree
    away = {k for k, (w, _) in (duck | found).items() if w > -28}  # 2^-28 ~ 4e-9, well above 1e-9
    assert away <= duck.keys() and away <= found.keys()
    for key in away:
        assert found[key][0] == pytest.approx(duck[key][0], abs=1e-9), key
        assert found[key][1] == duck[key][1], key


def test_spark_clusters_as_duckdb_with_decisions(spark: Any, people: People) -> None:
    """The same clusters, merge links and review queue; a person's 'match' and 'no match' count alike."""
    config = MatchConfig(auto_threshold=0.8, review_threshold=0.4)
    first = matcher.match(people.features, params=people.params, config=config)
    strong = sorted(first.merged, key=lambda x: -x.probability)
    cannot = [(x.left, x.right) for x in strong[:5]]  # a reviewer says these are different people
    must = [(x.left, x.right) for x in first.review[:5]]  # and these the same
    assert len(cannot) == 5 and len(must) == 5
    duck = matcher.match(people.features, params=people.params, config=config, must_link=must, cannot_link=cannot)
    found = on_spark.match(
        people.features, spark, params=people.params, config=config, must_link=must, cannot_link=cannot
    )
    assert len(set(duck.clusters.values())) < len(duck.clusters) - 500  # many records merged
    assert found.clusters == duck.clusters
    assert [(x.left, x.right, x.reason) for x in found.merged] == [(x.left, x.right, x.reason) for x in duck.merged]
    for a, b in zip(found.merged, duck.merged, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-12)
    review = {(x.left, x.right): x.probability for x in duck.review}  # ties come in either order
    assert len(review) > 10 and {(x.left, x.right) for x in found.review} == review.keys()
    assert all(x.probability == pytest.approx(review[x.left, x.right], abs=1e-12) for x in found.review)
    assert all(duck.clusters[a] != duck.clusters[b] for a, b in cannot)
    assert all(duck.clusters[a] == duck.clusters[b] for a, b in must)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_stand_alone_resolve_with_the_spark_backend(spark: Any, people: People, tmp_path: Path) -> None:
    """`epistola identity resolve … --backend spark` writes what the DuckDB run writes, with a saved model."""
    from epistola.cli import app as cli

    model = tmp_path / "model.json"
    model.write_text(json.dumps(people.params.as_json()), encoding="utf-8")
    source = people.folder / "web_registrations.jsonl"
    outputs = {}
    for backend in ("duckdb", "spark"):
        out, pairs = tmp_path / f"clusters-{backend}.csv", tmp_path / f"pairs-{backend}.csv"
        args = ["identity", "resolve", str(source), "--mapping", str(MAPPINGS / "web.yaml"), "--model", str(model)]
        args += ["--out", str(out), "--pairs", str(pairs), "--workers", "1", "--backend", backend]
        result = CliRunner().invoke(cli, [*args, "--spark-master", "local[2]"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs[backend] = (_read(out), _read(pairs))
    (duck_clusters, duck_pairs), (spark_clusters, spark_pairs) = outputs["duckdb"], outputs["spark"]
    assert len(duck_clusters) > 1000 and len({r["cluster_id"] for r in duck_clusters}) < len(duck_clusters)
    assert spark_clusters == duck_clusters
    assert len(spark_pairs) == len(duck_pairs) > 0
    for s, d in zip(spark_pairs, duck_pairs, strict=True):
        assert (s["record_id_l"], s["record_id_r"], s["kind"]) == (d["record_id_l"], d["record_id_r"], d["kind"])
        assert float(s["match_probability"]) == pytest.approx(float(d["match_probability"]), abs=2e-6)
    wrong = CliRunner().invoke(cli, [*args[:-1], "spark2"])
    assert wrong.exit_code != 0 and "unknown backend" in str(wrong.exception or wrong.output)
