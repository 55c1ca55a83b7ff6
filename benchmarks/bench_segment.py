"""Segments on 1,000,000 customers and 20,000,000 events: mart build, a live count of a five-condition
segment with two event windows, and an incremental refresh after 10,000 customers change.

Reproduce: make bench B=segment   (or: python benchmarks/bench_segment.py [customers] [events])
The operational store (SQLite) is generated once and cached in benchmarks/.work/ (about 3.5 minutes and
4.3 GB at full size); see segment_data.py.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import segment_data
from common import WORK, figure, timed
from sqlalchemy import text

from epistola.audience.counts import count_with_reach
from epistola.audience.engines import MartAudience, StoreAudience
from epistola.audience.language import parse_definition
from epistola.audience.mart import Mart
from epistola.store import make_engine

customers = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
events = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000_000
CHANGED = 10_000
SEGMENT = {
    "all": [
        {"field": "gender", "eq": "m"},
        {"field": "age", "gte": 30},
        {"consent": "email"},
        {"event": {"type": "purchase", "category": "business_clothes", "within_days": 180}, "count": {"gte": 2}},
        {"event": {"type": "page_view", "within_days": 30}, "count": {"gte": 1}},
    ]
}


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of the reader processes it waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    path, setup = segment_data.cached(WORK, customers=customers, events=events)
    print(f"operational store: {path} ({f'built in {setup:.0f} s' if setup else 'cached'})")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        latest = conn.execute(text("SELECT max(updated_at) FROM customers")).scalar_one()
    now = max(segment_data.NOW, datetime.fromisoformat(str(latest)).replace(tzinfo=UTC)) + timedelta(minutes=1)

    mart = Mart(WORK / f"segment-{customers}-{events}.duckdb")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cpu = _cpu()
    with timed() as t:
        report = mart.build(engine, now)
    build_cpu = _cpu() - cpu
    print(f"mart: {report.customers:,} customers, {report.events:,} events, {report.consents:,} consent states")
    print("build phases (s):", ", ".join(f"{k} {v:.1f}" for k, v in report.phases.items()))
    figure("mart_build_s", t[0], "s")
    figure("mart_build_cpu_s", build_cpu, "s")  # this process, its DuckDB threads and its readers

    condition = parse_definition(SEGMENT)
    audience = MartAudience(mart, now=now, load=None)
    for _ in range(3):
        n = audience.count(condition)
    runs, cpu_runs = [], []
    for _ in range(25):
        started, cpu = time.perf_counter(), time.process_time()
        n = audience.count(condition)
        runs.append((time.perf_counter() - started) * 1000)
        cpu_runs.append((time.process_time() - cpu) * 1000)
    print(f"segment: {n:,} customers; runs (ms): min {min(runs):.1f}, max {max(runs):.1f}")
    figure("segment_count_ms", statistics.median(runs), "ms")
    # CPU time of the count (both DuckDB threads): on an idle machine the count takes at most this long.
    figure("segment_count_cpu_ms", statistics.median(cpu_runs), "ms")
    reach = [count_with_reach(audience, condition).elapsed_ms for _ in range(10)]
    figure("segment_count_with_reach_ms", statistics.median(reach), "ms")

    # 10,000 customers change (profile edits), then the mart catches up.
    changed_at = now + timedelta(minutes=1)
    stamp = changed_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE customers SET gender = CASE gender WHEN 'm' THEN 'f' ELSE 'm' END, updated_at = :at "
                "WHERE id IN (SELECT id FROM customers ORDER BY (id * 7919) % 1000003 LIMIT :n)"
            ),
            {"at": stamp, "n": CHANGED},
        )
    cpu = _cpu()
    with timed() as t:
        report = mart.refresh(engine, changed_at + timedelta(seconds=1))
    refresh_cpu = _cpu() - cpu
    print(f"refresh: {report.customers:,} customers and {report.events:,} of their events re-read")
    figure("mart_refresh_s", t[0], "s")
    figure("mart_refresh_cpu_s", refresh_cpu, "s")
    figure("load_average_1m", os.getloadavg()[0], f"on-{os.cpu_count()}-cores")

    if "--store" in sys.argv:  # the same count on the operational store, for comparison
        with engine.connect() as conn:
            store = StoreAudience(conn, now=now, load=None)
            with timed() as t:
                store.tally(condition, [])
        figure("segment_count_store_ms", t[0] * 1000, "ms")
    mart.close()
    engine.dispose()


if __name__ == "__main__":
    main()
