"""Import the generated sources into SQLite and PostgreSQL: about 1,000,000 customer records (normalised,
in four files), a re-import of the same files (nothing changed), and about 10,000,000 events in bulk.

Reproduce: make bench B=import   (or: python benchmarks/bench_import.py [customers] [events_per_customer])
The data is generated once with epistola.synth and cached under benchmarks/.work/.
PostgreSQL: EPISTOLA_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test; a scratch
database is created and dropped).

Between records and events, records are tied to customers by the generator's ground truth (not timed;
identity resolution has its own benchmark), so events find their customers as they would in production.
"""

from __future__ import annotations

import csv
import os
import resource
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import WORK, figure, timed
from sqlalchemy import Engine, create_engine, insert, select, text

from epistola.app import create_app
from epistola.clock import utcnow
from epistola.config import load_settings
from epistola.hub.events import import_events
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import CUSTOMER_FILES, EVENT_FILES, event_mapping, source_mapping
from epistola.store.schema import customers, sources
from epistola.synth import generate

RECORDS = 1_000_000
EVENTS = 10_000_000
RECORDS_PER_PERSON = 1.7627  # what the generator's sources hold per person, measured


@contextmanager
def postgres_database() -> Iterator[str]:
    base = os.environ.get("EPISTOLA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"epistola_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def link_by_truth(engine: Engine, folder: Path) -> None:
    """One customer per person and every record tied to it, straight from ground_truth.csv."""
    with engine.begin() as conn:
        ids = {name: sid for sid, name in conn.execute(select(sources.c.id, sources.c.name))}
        person_ids: dict[str, int] = {}
        pairs = []
        with (folder / "ground_truth.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                pid = person_ids.setdefault(row["person_id"], len(person_ids) + 1)
                pairs.append({"s": ids[row["source"]], "k": row["source_key"], "c": pid})
        now = utcnow()
        rows = [
            {"id": i, "locale": "en", "attributes": {}, "created_at": now, "updated_at": now}
            for i in person_ids.values()
        ]
        for start in range(0, len(rows), 50_000):
            conn.execute(insert(customers), rows[start : start + 50_000])
        conn.execute(text("CREATE TEMP TABLE truth (s INTEGER, k VARCHAR(200), c INTEGER)"))
        for start in range(0, len(pairs), 100_000):
            conn.execute(text("INSERT INTO truth (s, k, c) VALUES (:s, :k, :c)"), pairs[start : start + 100_000])
        conn.execute(text("CREATE INDEX truth_key ON truth (s, k)"))
        conn.execute(
            text(
                "UPDATE source_records SET customer_id = (SELECT c FROM truth WHERE truth.s = source_records.source_id "
                "AND truth.k = source_records.source_key)"
            )
        )
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))"))


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished children (the normalisation pool)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def run(folder: Path, url: str, suffix: str) -> None:
    app = create_app(load_settings(database_url=url, output_dir=WORK / "out"))
    app.migrate()
    records = 0
    cpu = cpu_seconds()
    with timed() as t:
        for filename, mapping in CUSTOMER_FILES:
            with timed() as one:
                report = import_source(app.engine, folder / filename, source_mapping(mapping), clock=app.clock)
            print(
                f"  {filename}: {report.seen:,} records in {one[0]:.1f} s ({report.seen / one[0]:,.0f}/s)", flush=True
            )
            records += report.seen
    print(f"{records:,} records in {t[0]:.1f} s", flush=True)
    figure(f"import_1m_s{suffix}", t[0] * RECORDS / records, "s")
    figure(f"import_records_per_s{suffix}", records / t[0], "records/s")
    # Load-independent: the CPU the import used, per million records (wall time on an idle machine is at
    # least this divided by the cores).
    figure(f"import_1m_cpu_s{suffix}", (cpu_seconds() - cpu) * RECORDS / records, "cpu-s")
    # Other work on the machine slows both figures (the CPU-seconds too, on shared cores): say how busy it was.
    figure(f"import_load_1min{suffix}", os.getloadavg()[0], "load")
    with timed() as t:
        for filename, mapping in CUSTOMER_FILES:
            import_source(app.engine, folder / filename, source_mapping(mapping), clock=app.clock)
    figure(f"reimport_unchanged_1m_s{suffix}", t[0] * RECORDS / records, "s")
    link_by_truth(app.engine, folder)
    n_events = 0
    cpu = cpu_seconds()
    with timed() as t:
        for filename, mapping in EVENT_FILES:
            with timed() as one:
                ev = import_events(app.engine, folder / filename, event_mapping(mapping), clock=app.clock)
            print(f"  {filename}: {ev.inserted:,} events in {one[0]:.1f} s ({ev.inserted / one[0]:,.0f}/s)", flush=True)
            n_events += ev.inserted
    print(f"{n_events:,} events in {t[0]:.1f} s", flush=True)
    figure(f"events_per_s{suffix}", n_events / t[0], "events/s")
    # This process only (DuckDB reading in one thread, the store written from another); on PostgreSQL the
    # server's work, the larger part there, is not in it.
    figure(f"events_per_cpu_s{suffix}", n_events / (cpu_seconds() - cpu), "events/cpu-s")
    figure(f"events_load_1min{suffix}", os.getloadavg()[0], "load")
    app.close()


def main() -> None:
    people = int(sys.argv[1]) if len(sys.argv) > 1 else round(RECORDS / RECORDS_PER_PERSON)
    per_person = float(sys.argv[2]) if len(sys.argv) > 2 else round(EVENTS / people, 2)
    folder = WORK / f"data-{people}-{per_person:g}"
    if not (folder / "dataset.json").exists():
        with timed() as t:
            generate(folder, customers=people, seed=42, events_per_customer=per_person)
        print(f"generated {people:,} people into {folder} in {t[0]:.0f} s", flush=True)
    sqlite_file = WORK / "import.db"
    for leftover in WORK.glob("import.db*"):
        leftover.unlink()
    run(folder, f"sqlite:///{sqlite_file}", "")
    for leftover in WORK.glob("import.db*"):
        leftover.unlink()
    with postgres_database() as pg_url:
        run(folder, pg_url, "_postgres")


if __name__ == "__main__":  # the importer's worker processes must not run the benchmark again
    main()
