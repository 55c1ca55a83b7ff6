"""Identity resolution on Spark, through Splink's Spark backend: the same comparisons, blocking rules and
stored model as the in-process DuckDB run, so a base that outgrows one machine is matched the same way.

    from epistola.identity import spark
    session = spark.session("local[2]")               # or a cluster's session, prepared the same way
    result = spark.match(features, session, params=params)   # a matcher.MatchResult, as matcher.match

Splink compiles the comparisons to Spark SQL (`splink_backend.settings(params, "spark")`). The two
string functions they call, `jaro_winkler` and `damerau_levenshtein`, are registered here as Python
functions over rapidfuzz, the library DuckDB's results and the incremental matcher's Python scoring
agree with. Splink ships Scala versions in a jar inside its wheel (no download needed), but its
Jaro-Winkler counts transpositions differently from DuckDB and rapidfuzz (levandovska / leandovska:
0.909 against 0.922), which moves pairs across the 0.92 "one typo" level; the same model would then
merge different people on Spark. Python functions cost more CPU per pair than Scala ones; the executors
need rapidfuzz installed (nothing of Epistola's: the functions travel by value).

Pairs come back to the driver (only pairs from the review threshold up, a few per record) and are
clustered there exactly as on DuckDB (`clustering.cluster`).

pyspark is an optional dependency (`pip install epistola[spark]`; the dev environment has it) and needs
Java 17 or newer.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from epistola.errors import ConfigError
from epistola.identity import matcher, splink_backend
from epistola.identity.matcher import FeatureColumns, MatchConfig, MatchResult
from epistola.identity.params import ModelParams

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Spark's defaults are for clusters: 200 shuffle partitions make thousands of tiny tasks for one machine.
LOCAL_SHUFFLE_PARTITIONS = 4


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise ConfigError(
            "the Spark backend needs pyspark",
            hint="pip install 'epistola[spark]' (pyspark 4, and Java 17 or newer on the PATH)",
        ) from None
    return pyspark


def register_functions(spark: SparkSession) -> None:
    """`jaro_winkler(a, b)` and `damerau_levenshtein(a, b)` in the session's SQL, as rapidfuzz computes
    them (NULL when either side is NULL, as in DuckDB)."""
    from pyspark.sql.types import DoubleType, LongType

    # Defined here, not at module level, so Spark ships them by value: executors need rapidfuzz only.
    def jaro_winkler(a: str | None, b: str | None) -> float | None:
        from rapidfuzz.distance import JaroWinkler

        return None if a is None or b is None else float(JaroWinkler.similarity(a, b))

    def damerau_levenshtein(a: str | None, b: str | None) -> int | None:
        from rapidfuzz.distance import DamerauLevenshtein

        return None if a is None or b is None else int(DamerauLevenshtein.distance(a, b))

    spark.udf.register("jaro_winkler", jaro_winkler, DoubleType())
    spark.udf.register("damerau_levenshtein", damerau_levenshtein, LongType())


def session(
    master: str = "local[2]",
    *,
    shuffle_partitions: int = LOCAL_SHUFFLE_PARTITIONS,
    app_name: str = "epistola-identity",
    config: dict[str, str] | None = None,
) -> SparkSession:
    """A Spark session for the matcher. In local mode the driver stays on the loopback address, the web
    UI is off (a test or a laptop run opens no port to the network), and Python workers run this
    interpreter (rapidfuzz is installed beside it)."""
    _pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
    }
    if master.startswith("local"):
        # Spark picks the first non-loopback interface for its driver otherwise (and says so at start),
        # and starts its Python workers with whatever `python3` the PATH has (read when the context starts).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
        settings["spark.ui.enabled"] = "false"
    settings |= config or {}
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # pyspark raises its own runtime errors when the JVM cannot start
        raise ConfigError(
            f"Spark could not start: {exc}", hint="Spark 4 needs Java 17 or newer (java on the PATH or JAVA_HOME)"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    register_functions(spark)
    return spark


def frame(spark: SparkSession, features: FeatureColumns) -> DataFrame:
    """The feature rows as a Spark DataFrame with the same column types as the DuckDB table."""
    return spark.createDataFrame(features.arrow())


def backend(spark: SparkSession, features: DataFrame, *, break_lineage: str | None = None) -> splink_backend.Backend:
    """Splink's Spark backend over a DataFrame of feature rows (the `identity_features` columns: read from
    Parquet on a cluster, or `frame()` from rows in memory). `break_lineage` is how Splink cuts long plans:
    "persist" (memory, the default in local mode) or "parquet" (the checkpoint directory, for bigger data)."""
    _pyspark()
    from splink.backends import spark as splink_spark

    spark_api: Any = splink_spark.SparkAPI  # untyped in Splink
    local = (spark.sparkContext.master or "").startswith("local")
    method = break_lineage or ("persist" if local else "parquet")
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or LOCAL_SHUFFLE_PARTITIONS)
    table = f"epistola_features_{uuid.uuid4().hex[:12]}"
    features.createOrReplaceTempView(table)

    def api() -> Any:
        return spark_api(
            spark_session=spark,
            break_lineage_method=method,
            num_partitions_on_repartition=max(1, partitions // 2),
            register_udfs_automatically=False,  # ours (register_functions), not the jar's: see the docstring
        )

    register_functions(spark)  # a session not made by session() gets them too
    return splink_backend.Backend(dialect="spark", table=table, api=api, query=lambda sql: spark.sql(sql).toArrow())


def train(
    spark: SparkSession, features: DataFrame, options: splink_backend.TrainingOptions | None = None
) -> ModelParams:
    """A model learned on Spark from these records alone, as `splink_backend.train` does on DuckDB (u is
    estimated from a random sample, so two backends give close, not identical, parameters)."""
    return splink_backend.train_on(backend(spark, features), options)


def predict(spark: SparkSession, features: DataFrame, params: ModelParams, *, min_probability: float) -> Any:
    """Scored pairs at or above `min_probability` as an Arrow table, the columns of `splink_backend.predict`."""
    return splink_backend.predict_on(backend(spark, features), params, min_probability=min_probability)


def match(
    features: FeatureColumns,
    spark: SparkSession,
    *,
    params: ModelParams | None = None,
    config: MatchConfig | None = None,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
) -> MatchResult:
    """`matcher.match` with Splink on Spark: train when no model is given, predict, cluster."""
    on = backend(spark, frame(spark, features))
    try:
        return matcher.match(
            features, params=params, config=config, must_link=must_link, cannot_link=cannot_link, backend=on
        )
    finally:
        spark.catalog.dropTempView(on.table)
