"""An import in its own process, for the crash test.

    python hub_import_proc.py DATABASE_URL FILE MAPPING MARKER [--batch N] [--workers N] [--pause]

Writes MARKER once the first batch is committed; with --pause it then stops there and waits to be
killed, so the kill falls between batches; without it, the import goes on and the kill falls
wherever it falls.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from epistola.clock import utcnow
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import source_mapping
from epistola.store import make_engine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("file", type=Path)
    parser.add_argument("mapping")
    parser.add_argument("marker", type=Path)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pause", action="store_true")
    args = parser.parse_args()
    engine = make_engine(args.database_url)

    def progress(done: int, expected: int) -> None:
        if not args.marker.exists():
            args.marker.write_text(str(done), encoding="utf-8")
        while args.pause:
            time.sleep(0.05)

    import_source(
        engine,
        args.file,
        source_mapping(args.mapping),
        clock=utcnow,
        batch_size=args.batch,
        workers=args.workers,
        progress=progress,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
