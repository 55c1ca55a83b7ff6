"""Identity resolution: accuracy against the generator's ground truth, speed at a million records, and
incremental matching per record. Everything on SQLite (the embedded default).

- identity_precision / identity_recall / identity_f1: the default demo data (5,000 people, seed 42),
  imported and resolved as `epistola demo` does; identity_exact_*: the old exact-e-mail baseline.
- identity_*_100k: the same at 100,000 people; identity_incremental_ms_*: 200 records matched one at a
  time (each in its own transaction, as the API does) after the batch run; identity_incremental_agreement:
  the share of them matched as the batch run had matched them.
- identity_1m_seconds: `resolve()` on 1,000,000 source records already in the store (572,000 people);
  the import is the hub's benchmark and is not counted. identity_1m_peak_rss_mb: the process's peak.

Reproduce: make bench B=identity   (or: python benchmarks/bench_identity.py [--skip-1m] [--skip-100k])
The generated files and imported databases are cached in benchmarks/.work between runs.
"""

from __future__ import annotations

import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from common import WORK, figure, timed
from sqlalchemy import delete, select, update

from epistola.clock import utcnow
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import CUSTOMER_FILES, source_mapping
from epistola.identity import exact
from epistola.identity.evaluate import Accuracy, customers_by_record, pairwise_accuracy, read_ground_truth
from epistola.identity.incremental import match_record
from epistola.identity.resolve import resolve
from epistola.store.engine import make_engine
from epistola.store.migrate import upgrade
from epistola.store.schema import identity_features, source_records
from epistola.synth import generate

ARGS = set(sys.argv[1:])


def dataset(people: int, *, events: float = 0.0) -> Path:
    folder = WORK / f"identity-data-{people}"
    if not (folder / "dataset.json").exists():
        with timed() as t:
            generate(folder, customers=people, seed=42, events_per_customer=events)
        print(f"generated {people:,} people in {t[0]:.0f} s", flush=True)
    return folder


def imported(folder: Path, name: str) -> Path:
    """A SQLite file with the sources imported and nothing resolved (cached; each run works on a copy)."""
    pristine = WORK / f"{name}.pristine.db"
    if not pristine.exists():
        scratch = WORK / f"{name}.importing.db"
        scratch.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{scratch}")
        upgrade(engine)
        with timed() as t:
            for filename, mapping in CUSTOMER_FILES:
                import_source(engine, folder / filename, source_mapping(mapping), clock=utcnow, workers=2)
        engine.dispose()
        scratch.rename(pristine)
        print(f"imported {folder.name} in {t[0]:.0f} s", flush=True)
    work = WORK / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, work)
    return work


def accuracy(engine: object, folder: Path) -> Accuracy:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return pairwise_accuracy(customers_by_record(conn), read_ground_truth(folder / "ground_truth.csv"))


def report(acc: Accuracy, suffix: str) -> None:
    print(f"  {acc.records:,} records, {acc.people:,} people, {acc.clusters:,} customers", flush=True)
    figure(f"identity_precision{suffix}", acc.precision, "")
    figure(f"identity_recall{suffix}", acc.recall, "")
    figure(f"identity_f1{suffix}", acc.f1, "")


def demo_accuracy() -> None:
    folder = dataset(5_000, events=12.0)
    engine = make_engine(f"sqlite:///{imported(folder, 'identity-5k')}")
    with timed() as t, engine.begin() as conn:
        result = resolve(conn, now=utcnow())
    print(f"5k: {result.records:,} records -> {result.customers:,} customers, {result.review_pairs} to review")
    figure("identity_resolve_5k_s", t[0], "s")
    report(accuracy(engine, folder), "")
    engine.dispose()
    engine = make_engine(f"sqlite:///{imported(folder, 'identity-5k')}")
    with engine.begin() as conn:
        exact.resolve(conn, now=utcnow())
    baseline = accuracy(engine, folder)
    figure("identity_exact_precision", baseline.precision, "")
    figure("identity_exact_recall", baseline.recall, "")
    engine.dispose()


def at_100k() -> None:
    folder = dataset(100_000)
    engine = make_engine(f"sqlite:///{imported(folder, 'identity-100k')}")
    with timed() as t, engine.begin() as conn:
        result = resolve(conn, now=utcnow())
    print(f"100k: {result.records:,} records -> {result.customers:,} customers, {result.review_pairs} to review")
    figure("identity_resolve_100k_s", t[0], "s")
    report(accuracy(engine, folder), "_100k")
    incremental(engine)
    engine.dispose()


def incremental(engine: object, n: int = 200) -> None:
    """Records arrive one by one: each has no keys and no customer yet, and is matched in its own
    transaction against the customers of the whole base. It is matched right when it joins the customer
    the batch run gave it or, when it was a customer of its own there, when it starts a new one (its old
    customer row stays behind, empty, so its id cannot come back)."""
    with engine.begin() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(source_records.c.id, source_records.c.customer_id)).all()
        chosen = random.Random(7).sample(rows, n)
        before = {rid: cid for rid, cid in chosen}
        sizes = Counter(cid for _, cid in rows)
        for rid, _ in chosen:  # as if they had just been imported
            conn.execute(delete(identity_features).where(identity_features.c.source_record_id == rid))
            conn.execute(update(source_records).where(source_records.c.id == rid).values(customer_id=None))
    times, same, right = [], 0, 0
    for rid in before:
        start = time.perf_counter()
        with engine.begin() as conn:  # type: ignore[attr-defined]
            done = match_record(conn, rid, now=utcnow(), actor="bench")
        times.append((time.perf_counter() - start) * 1000)
        same += done.customer_id == before[rid]
        right += done.customer_id == before[rid] or (sizes[before[rid]] == 1 and done.action == "created")
    times.sort()
    alone = sum(sizes[cid] == 1 for cid in before.values())
    print(f"  incremental: {right}/{n} matched as the batch run did ({alone} were a customer of their own there)")
    print(f"  incremental: {same}/{n} records found their batch customer again (the old measure)", flush=True)
    figure("identity_incremental_agreement", right / n, "")
    figure("identity_incremental_ms_median", statistics.median(times), "ms")
    figure("identity_incremental_ms_p95", times[int(0.95 * len(times)) - 1], "ms")


def phases() -> Callable[[str], None]:
    """A `say` for resolve() that prints each phase with the seconds the previous one took."""
    last: list[tuple[str, float]] = []

    def say(step: str) -> None:
        now = time.perf_counter()
        if last:
            print(f"    {now - last[-1][1]:.1f} s", flush=True)
        last.append((step, now))
        print(f"  {step}", flush=True)

    return say


def at_1m() -> None:
    folder = dataset(572_000)
    engine = make_engine(f"sqlite:///{imported(folder, 'identity-1m')}")
    say = phases()
    with timed() as t, engine.begin() as conn:
        result = resolve(conn, now=utcnow(), say=say)
        say("committing")
    print(f"1m: {result.records:,} records -> {result.customers:,} customers", flush=True)
    figure("identity_1m_records", result.records, "records")
    figure("identity_1m_seconds", t[0], "s")
    figure("identity_1m_peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")
    report(accuracy(engine, folder), "_1m")
    engine.dispose()


WORK.mkdir(parents=True, exist_ok=True)
if "--only-1m" in ARGS:
    at_1m()
    sys.exit(0)
demo_accuracy()
if "--skip-100k" not in ARGS:
    at_100k()
if "--skip-1m" not in ARGS:  # a process of its own, so its peak memory is its own
    sys.exit(subprocess.call([sys.executable, __file__, "--only-1m"]))
