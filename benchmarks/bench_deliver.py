"""Delivery throughput: a 200,000-message e-mail campaign rendered, DKIM-signed (Ed25519 and RSA-2048) and sent
over SMTP to a local server; 100,000 letters spooled, sorted and typeset into print batches.

Reproduce: make bench B=deliver
   (or: python benchmarks/bench_deliver.py [messages] [letters] [workers] [algorithms], e.g.
   `python benchmarks/bench_deliver.py 20000 0 2 ed25519` for a quick Ed25519-only e-mail run)

The e-mail campaign goes through the real path: the campaign service queues one row per customer, worker
processes claim, compose (the design, consent, tracking links, MIME), sign and hand over through the pooled
SMTP channel; the SMTP server (`smtp_discard`, a lean accept-and-count server) runs in its own process, as
a relay would. The clock
starts when the workers start and stops when the last message is recorded `sent`. SQLite (WAL) is the store.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import smtp_discard
from common import WORK, figure
from sqlalchemy import func, insert, select

MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
LETTERS = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
WORKERS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
ALGORITHMS = sys.argv[4].split(",") if len(sys.argv) > 4 else ["ed25519", "rsa"]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DESIGN = {
    "subject": "{{ customer.first_name or 'Hello' }}, the autumn collection is here",
    "body": "{{ greeting }}\n\nOur **autumn collection** has arrived, with {{ 10 + customer.id % 20 }} % off for you "
    "until Sunday.\n\n[See the collection](https://shop.epistola.example/autumn)\n\nSee you soon!",
}


def seed(url: str, count: int, channel: str) -> None:
    """`count` customers with consent, a segment, an approved design, a started campaign."""
    from epistola.app import create_app
    from epistola.audience.segments import save_segment
    from epistola.campaigns.service import create_campaign, start_campaign
    from epistola.config import load_settings
    from epistola.content.templates import approve, save_version
    from epistola.store.schema import consents, customers
    from epistola.testing import FixedClock

    app = create_app(load_settings(database_url=url), clock=FixedClock(NOW))
    app.migrate()
    with app.engine.begin() as conn:
        for start in range(0, count, 20_000):
            rows = [
                {
                    "first_name": f"Anna{i}",
                    "last_name": "Kowalska",
                    "email": f"customer{i}@example{i % 50}.test",
                    "locale": ("en", "pl", "ru")[i % 3],
                    "street": f"ul. Długa {i % 300}",
                    "postcode": f"{i % 90 + 10:02d}-{i % 1000:03d}",
                    "city": "Warszawa",
                    "country": ("PL", "DE", "GB", "US")[i % 4],
                    "attributes": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(start, min(start + 20_000, count))
            ]
            conn.execute(insert(customers), rows)
        ids = conn.execute(select(customers.c.id)).scalars().all()
        channel_name = {"print": "post"}.get(channel, channel)
        for start in range(0, len(ids), 20_000):
            conn.execute(
                insert(consents),
                [
                    {
                        "customer_id": cid,
                        "channel": channel_name,
                        "purpose": "marketing",
                        "status": "granted",
                        "source": "bench",
                        "proof": {},
                        "recorded_at": NOW - timedelta(days=1),
                    }
                    for cid in ids[start : start + 20_000]
                ],
            )
        save_segment(conn, name="everyone", definition={"field": "email", "exists": True}, now=NOW)
        save_version(conn, name="autumn", definition=DESIGN, now=NOW)
        approve(conn, name="autumn", version=None, by="bench", now=NOW)
        create_campaign(
            conn, name="autumn", segment="everyone", template="autumn", now=NOW, channel=channel, control_pct=0
        )
        start_campaign(conn, "autumn", now=NOW)
    app.close()


def email_worker(url: str, port: int, keys: str, folder: str) -> None:
    from epistola.app import create_app, create_worker
    from epistola.config import load_settings
    from epistola.testing import FixedClock

    settings = load_settings(
        database_url=url,
        smtp_port=port,
        smtp_connections=8,
        send_batch_size=500,
        dkim_domain="epistola.example",
        dkim_keys=keys,
        output_dir=folder,
    )
    app = create_app(settings, clock=FixedClock(NOW))
    asyncio.run(create_worker(app, handle_signals=False).run(until_idle=True))
    app.close()


def print_worker(url: str, folder: str) -> None:
    from epistola.app import create_app, create_worker
    from epistola.config import load_settings
    from epistola.testing import FixedClock

    settings = load_settings(database_url=url, send_batch_size=1000, print_dir=folder, print_batch_size=10_000)
    app = create_app(settings, clock=FixedClock(NOW))
    asyncio.run(create_worker(app, handle_signals=False).run(until_idle=True))
    app.close()


def sent(url: str) -> int:
    from sqlalchemy import create_engine

    from epistola.store.schema import messages

    engine = create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(select(func.count()).where(messages.c.state == "sent")).scalar_one()
    engine.dispose()
    return int(value)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_workers(target: object, args: tuple[object, ...], workers: int) -> tuple[float, float]:
    """Run `workers` processes to the end: (wall seconds, CPU seconds they used)."""
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=target, args=args) for _ in range(workers)]
    cpu = children_cpu()
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return time.perf_counter() - start, children_cpu() - cpu


def bench_email(algorithm: str, keys: str) -> None:
    db = WORK / f"deliver-{algorithm}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    t0 = time.perf_counter()
    seed(url, MESSAGES, "email")
    print(f"seeded {MESSAGES:,} queued e-mails in {time.perf_counter() - t0:.1f} s", flush=True)
    spawn = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[int] = spawn.Queue()
    stop = spawn.Event()
    sink = spawn.Process(target=smtp_discard.serve, args=(ready, stop))
    sink.start()
    port = ready.get(timeout=60)
    try:
        seconds, cpu = run_workers(email_worker, (url, port, keys, str(WORK / "out")), WORKERS)
    finally:
        before = children_cpu()
        stop.set()
        sink.join(30)
        sink_cpu = children_cpu() - before
    done, accepted = sent(url), ready.get(timeout=30)
    print(
        f"{done:,} e-mails ({algorithm}) sent in {seconds:.1f} s by {WORKERS} workers, {accepted:,} accepted by the "
        f"server; CPU per message: workers {cpu / done * 1000:.2f} ms, SMTP server {sink_cpu / done * 1000:.2f} ms",
        flush=True,
    )
    if accepted != done:
        raise SystemExit(f"the server accepted {accepted} messages, the outbox says {done} were sent")
    if done != MESSAGES:
        raise SystemExit(f"only {done} of {MESSAGES} messages were sent")
    suffix = "" if algorithm == "ed25519" else f"_{algorithm}"
    figure(f"deliver_email_per_s{suffix}", done / seconds, "messages/s")


def bench_print() -> None:
    db = WORK / "deliver-print.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    folder = WORK / "print"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    seed(url, LETTERS, "print")
    print(f"seeded {LETTERS:,} queued letters in {time.perf_counter() - t0:.1f} s", flush=True)
    seconds, cpu = run_workers(print_worker, (url, str(folder)), 1)
    print(f"CPU: {cpu:.1f} s ({cpu / LETTERS * 1000:.2f} ms a letter)", flush=True)
    done = sent(url)
    pdfs = sorted(folder.glob("*.pdf"))
    rows = sum(p.with_suffix(".csv").read_text(encoding="utf-8").count("\n") - 1 for p in pdfs)
    print(f"{done:,} letters in {len(pdfs)} batches ({rows:,} manifest rows) in {seconds:.1f} s", flush=True)
    if done != LETTERS or rows != LETTERS:
        raise SystemExit(f"{done} letters sent, {rows} in manifests, of {LETTERS}")
    figure(f"deliver_print_{LETTERS // 1000}k_s", seconds, "s")


def main() -> None:
    WORK.mkdir(exist_ok=True)
    from epistola.delivery.dkim import generate_key

    keys = {}
    for algorithm in ("ed25519", "rsa"):
        path = WORK / f"dkim-{algorithm}.key"
        path.write_bytes(generate_key(algorithm))
        keys[algorithm] = f"bench={path}"
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    for algorithm in ALGORITHMS if MESSAGES else ():
        bench_email(algorithm, keys[algorithm])
    if LETTERS:
        bench_print()
    print(f"load after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
