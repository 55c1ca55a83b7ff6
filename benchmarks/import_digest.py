"""Import the generator's four customer files and print one digest of everything stored about them.

Two versions of the importer that give the same digest stored the same records byte for byte: source
key, fingerprint, `data`, `normalized`, quality signature, missing flag, and every reject. Used to check
that a change to the import path changes nothing it writes.

    python benchmarks/import_digest.py FOLDER sqlite|postgresql [--dump FILE]

FOLDER holds what `epistola generate` wrote (e.g. benchmarks/.work/data-567312-17.63). The older
version runs from an export of its tree: `git archive OLD src | tar -x -C /tmp/old` and then
`PYTHONPATH=/tmp/old/src python benchmarks/import_digest.py ...`. Prints the wall time and the
CPU-seconds of the importer and its worker processes too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from epistola.app import create_app
from epistola.config import load_settings
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import CUSTOMER_FILES, source_mapping


def cpu_seconds() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def digest(url: str, dump: Path | None) -> str:
    """Every stored record (in key order) and every reject (in import order), as sorted JSON."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    total = hashlib.sha256()
    out = dump.open("w", encoding="utf-8") if dump else None
    try:
        with engine.connect() as conn:
            records = conn.execute(
                text(
                    "SELECT s.name, r.source_key, r.content_hash, r.data, r.normalized, r.quality, r.missing_since "
                    "FROM source_records r JOIN sources s ON s.id = r.source_id ORDER BY s.name, r.source_key"
                )
            )
            for name, key, content_hash, data, normalized, quality, missing in records:
                data = json.loads(data) if isinstance(data, str) else data
                normalized = json.loads(normalized) if isinstance(normalized, str) else normalized
                row = [name, key, content_hash, data, normalized, quality, missing is not None]
                line = json.dumps(row, sort_keys=True, ensure_ascii=False)
                total.update(line.encode())
                if out:
                    out.write(line + "\n")
            rejects = conn.execute(
                text(
                    "SELECT j.import_id, j.row, j.field, j.reason, j.raw FROM import_rejects j "
                    "ORDER BY j.import_id, j.id"
                )
            )
            for reject in rejects:
                line = json.dumps(list(reject), ensure_ascii=False)
                total.update(line.encode())
                if out:
                    out.write("reject " + line + "\n")
    finally:
        if out:
            out.close()
        engine.dispose()
    return total.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("engine", choices=["sqlite", "postgresql"])
    parser.add_argument("--dump", type=Path, help="also write the digested lines here, to diff two versions")
    args = parser.parse_args()
    base = os.environ.get("EPISTOLA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    work = Path(tempfile.mkdtemp(prefix="import-digest-"))
    admin = None
    if args.engine == "sqlite":
        url = f"sqlite:///{work / 'import.db'}"
    else:
        name = f"epistola_digest_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + "/" + name
    try:
        app = create_app(load_settings(database_url=url, output_dir=work / "out"))
        app.migrate()
        records, cpu, started = 0, cpu_seconds(), time.perf_counter()
        for filename, mapping in CUSTOMER_FILES:
            report = import_source(app.engine, args.folder / filename, source_mapping(mapping), clock=app.clock)
            records += report.seen
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        app.close()
        print(f"{records:,} records in {wall:.1f} s, {cpu:.1f} CPU-s, load {os.getloadavg()[0]:.1f}")
        print("digest", digest(url, args.dump))
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # the importer's worker processes must not run the import again
    main()
