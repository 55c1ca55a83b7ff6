"""A delivery worker in its own process, for the crash and concurrency tests.

    python delivery_worker_proc.py DATABASE_URL SMTP_PORT [--batch N] [--concurrency N] [--lease-s S]

Runs until nothing is claimable (or until SIGTERM), then prints its stats as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import timedelta

from delivery_fixtures import TextComposer

from epistola.delivery import SmtpChannel, Worker
from epistola.store import make_engine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("smtp_port", type=int)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease-s", type=float, default=60)
    parser.add_argument("--forever", action="store_true", help="keep polling until SIGTERM")
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    worker = Worker(
        engine,
        TextComposer(),
        {"email": SmtpChannel("127.0.0.1", args.smtp_port, connections=args.concurrency, timeout=10)},
        batch_size=args.batch,
        concurrency=args.concurrency,
        lease=timedelta(seconds=args.lease_s),
        idle_sleep_s=0.05,
    )
    print("ready", flush=True, file=sys.stderr)
    stats = asyncio.run(worker.run(until_idle=not args.forever))
    engine.dispose()
    print(json.dumps(dataclasses.asdict(stats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
