"""Workers in real processes: killed with SIGKILL mid-send, stopped with SIGTERM, and racing each other.

The promise under test: every customer gets the message exactly once, except messages recorded as
`uncertain` (handed over when the worker died), which arrive at most once and are never sent again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from delivery_fixtures import TextComposer, campaign_status, rows, seed_campaign
from sqlalchemy import Engine

from epistola.clock import utcnow
from epistola.delivery import SinkPolicy, SmtpChannel, SmtpSink, Worker, WorkerStats, recover_expired_leases
from epistola.store import make_engine

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("delivery_worker_proc.py")
COUNT = 2000
KILL_COUNT = 10_000  # the "a 10,000-message send"
BATCH = 50
CONCURRENCY = 4


def spawn(db_url: str, port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), db_url, str(port), "--batch", str(BATCH), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_in_process(engine: Engine, sink: SmtpSink) -> None:
    worker = Worker(
        engine,
        TextComposer(),
        {"email": SmtpChannel(sink.host, sink.port, connections=4)},
        batch_size=200,
        handle_signals=False,
    )
    asyncio.run(worker.run(until_idle=True))


def wait_until_received(sink: SmtpSink, count: int, proc: subprocess.Popen[str]) -> None:
    if not sink.wait_for(count, timeout=60):
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the worker process delivered only {len(sink.received)} messages:\n{err[-3000:]}")


def test_a_killed_worker_loses_nothing_and_repeats_nothing(db_url: str, engine: Engine) -> None:
    seeded = seed_campaign(engine, now=utcnow() - timedelta(seconds=1), count=KILL_COUNT)
    with SmtpSink(policy=SinkPolicy(delay_s=0.002)) as sink:
        proc = spawn(db_url, sink.port, "--concurrency", str(CONCURRENCY), "--lease-s", "60")
        wait_until_received(sink, 4_225, proc)  # mid-batch, mid-send
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        delivered_before = len(sink.received)
        assert proc.returncode == -signal.SIGKILL and delivered_before < KILL_COUNT

        # Later, once the dead worker's leases run out, any worker takes its rows back.
        with engine.begin() as conn:
            report = recover_expired_leases(conn, now=utcnow() + timedelta(seconds=61))
        sink.policy = SinkPolicy()
        finish_in_process(engine, sink)
        received = sink.recipients()

    final = rows(engine, *seeded.message_ids)
    by_state = Counter(r["state"] for r in final.values())
    assert set(by_state) <= {"sent", "uncertain"}, by_state  # nothing left half-way, nothing failed
    uncertain = [r["recipient"] for r in final.values() if r["state"] == "uncertain"]
    assert sorted(report.uncertain) == sorted(i for i, r in final.items() if r["state"] == "uncertain")
    assert len(uncertain) <= 2 * CONCURRENCY  # at most the window being handed over, not the batch
    assert all(received[r] == 1 for r in final_recipients(final, "sent"))  # exactly once
    assert all(received[r] <= 1 for r in uncertain)  # at most once: never resent
    assert max(received.values()) == 1 and sum(received.values()) >= KILL_COUNT - len(uncertain)
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def final_recipients(final: dict[int, dict[str, object]], state: str) -> list[object]:
    return [r["recipient"] for r in final.values() if r["state"] == state]


def test_sigterm_finishes_in_flight_and_gives_back_the_rest(db_url: str, engine: Engine) -> None:
    seeded = seed_campaign(engine, now=utcnow() - timedelta(seconds=1), count=COUNT // 2)
    with SmtpSink(policy=SinkPolicy(delay_s=0.004)) as sink:
        proc = spawn(db_url, sink.port, "--concurrency", "2", "--forever")
        wait_until_received(sink, 225, proc)  # mid-batch
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        stats = json.loads(out)
        after_stop = rows(engine, *seeded.message_ids)
        sink.policy = SinkPolicy()
        finish_in_process(engine, sink)
        received = sink.recipients()

    states = Counter(r["state"] for r in after_stop.values())
    assert set(states) == {"sent", "queued"}  # nothing left claimed, nothing uncertain
    assert states["sent"] == stats["sent"] and states["queued"] == COUNT // 2 - stats["sent"]
    assert stats["released"] == stats["claimed"] - stats["sent"]  # the claimed rest was given back
    assert all(r["attempts"] == 0 and r["lease_owner"] is None for r in after_stop.values() if r["state"] == "queued")
    assert received == Counter(seeded.recipients)  # after a second worker: everyone exactly once
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_concurrent_workers_never_share_a_message(db_url: str, engine: Engine) -> None:
    """Four workers with their own engines (two on SQLite, whose single writer makes more pointless)."""
    count = 4 if engine.dialect.name == "postgresql" else 2
    seeded = seed_campaign(engine, now=utcnow() - timedelta(seconds=1), count=COUNT)
    engines = [make_engine(db_url) for _ in range(count)]
    with SmtpSink() as sink:
        workers = [
            Worker(
                own,
                TextComposer(),
                {"email": SmtpChannel(sink.host, sink.port, connections=4)},
                batch_size=BATCH,
                worker_id=f"w{i}",
                handle_signals=False,
            )
            for i, own in enumerate(engines)
        ]

        async def together() -> list[WorkerStats]:
            return list(await asyncio.gather(*(w.run(until_idle=True) for w in workers)))

        stats = asyncio.run(together())
        received = sink.recipients()
    for own in engines:
        own.dispose()

    assert sum(s.claimed for s in stats) == COUNT  # each row claimed exactly once, by one worker
    assert sum(s.sent for s in stats) == COUNT
    assert received == Counter(seeded.recipients)
    owners = Counter(r["lease_owner"] for r in rows(engine, *seeded.message_ids).values())
    assert set(owners) <= {w.worker_id for w in workers} and len(owners) > 1  # they did share the work
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_worker_processes_share_a_campaign_without_a_duplicate(db_url: str, engine: Engine) -> None:
    """Separate worker processes, as `epistola worker` runs them: four on PostgreSQL (two on SQLite)."""
    count = 4 if engine.dialect.name == "postgresql" else 2
    seeded = seed_campaign(engine, now=utcnow() - timedelta(seconds=1), count=KILL_COUNT)
    with SmtpSink() as sink:
        procs = [spawn(db_url, sink.port, "--concurrency", str(CONCURRENCY)) for _ in range(count)]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        received = sink.recipients()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    stats = [json.loads(out) for out, _ in outputs]

    assert sum(s["claimed"] for s in stats) == KILL_COUNT  # every row claimed once, by one process
    assert sum(s["sent"] for s in stats) == KILL_COUNT
    assert received == Counter(seeded.recipients)  # everyone exactly once
    owners = Counter(r["lease_owner"] for r in rows(engine, *seeded.message_ids).values())
    assert len(owners) > 1  # they did share the work (a late starter may find little left)
    assert campaign_status(engine, seeded.campaign_id) == "finished"
