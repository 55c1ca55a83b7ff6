"""The worker end to end, on both engines, against a real SMTP server (the sink): nobody skipped, nobody twice."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from delivery_fixtures import TextComposer, campaign_status, rows, seed_campaign, states
from sqlalchemy import Engine

from epistola.delivery import (
    MessageState,
    ProgressSnapshot,
    SinkPolicy,
    SmtpChannel,
    SmtpSink,
    Worker,
    WorkerStats,
    campaign_progress,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
)
from epistola.errors import TemplateError
from epistola.testing import FixedClock


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as server:
        yield server


def make_worker(
    engine: Engine, sink: SmtpSink, clock: FixedClock, composer: TextComposer | None = None, **options: Any
) -> Worker:
    channel = SmtpChannel(sink.host, sink.port, connections=options.pop("connections", 4), timeout=5)
    options = {"batch_size": 50, "concurrency": 4, "handle_signals": False, **options}
    return Worker(engine, composer or TextComposer(), {"email": channel}, clock=clock, **options)


def run(worker: Worker, **options: Any) -> WorkerStats:
    return asyncio.run(worker.run(until_idle=True, **options))


def test_every_recipient_gets_exactly_one_message(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=300)

    stats = run(make_worker(engine, sink, clock))

    assert sink.recipients() == Counter({r: 1 for r in seeded.recipients})
    assert set(states(engine).values()) == {"sent"}
    assert campaign_status(engine, seeded.campaign_id) == "finished"
    assert stats.sent == 300 and stats.claimed == 300 and stats.finished_campaigns == (seeded.campaign_id,)
    assert sink.connections <= 4  # connections are pooled and reused, not one per message
    stored = rows(engine, seeded.message_ids[0])[seeded.message_ids[0]]
    assert re.fullmatch(r"S\d{8}", str(stored["provider_id"]))  # the sink's "queued as" id
    assert stored["sent_at"] == clock() and stored["attempts"] == 1
    files = sorted((sink.folder or Path()).glob("*.eml"))
    assert len(files) == 300
    first = message_from_bytes(files[0].read_bytes())
    assert first["Message-ID"].strip("<>") in files[0].name


def test_temporary_failure_is_retried_after_backoff_and_delivered_once(
    engine: Engine, sink: SmtpSink, clock: FixedClock
) -> None:
    seeded = seed_campaign(engine, now=clock(), count=10)
    flaky = seeded.recipients[3]
    sink.policy = SinkPolicy(defer_once=(flaky,))

    first = run(make_worker(engine, sink, clock))
    row = rows(engine, seeded.message_ids[3])[seeded.message_ids[3]]
    assert first.sent == 9 and first.retried == 1
    assert row["state"] == "queued" and row["attempts"] == 1 and "451" in str(row["error"])
    assert row["next_attempt_at"] > clock()
    assert campaign_status(engine, seeded.campaign_id) == "running"

    clock.advance(hours=2)
    second = run(make_worker(engine, sink, clock))

    assert second.sent == 1 and second.claimed == 1
    assert sink.recipients()[flaky] == 1
    assert rows(engine, seeded.message_ids[3])[seeded.message_ids[3]]["attempts"] == 2
    assert set(states(engine).values()) == {"sent"}
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_permanent_failure_is_never_retried(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=5)
    unknown = seeded.recipients[0]
    sink.policy = SinkPolicy(reject=(unknown,))

    run(make_worker(engine, sink, clock))
    clock.advance(days=2)
    again = run(make_worker(engine, sink, clock))

    row = rows(engine, seeded.message_ids[0])[seeded.message_ids[0]]
    assert row["state"] == "failed" and "550" in str(row["error"]) and row["attempts"] == 1
    assert again.claimed == 0
    assert unknown not in sink.recipients()
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_transient_failures_give_up_after_max_attempts(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=2)
    sink.policy = SinkPolicy(defer=(seeded.recipients[1],))
    for _ in range(3):
        run(make_worker(engine, sink, clock, max_attempts=3))
        clock.advance(hours=2)

    row = rows(engine, seeded.message_ids[1])[seeded.message_ids[1]]
    assert row["state"] == "failed" and row["attempts"] == 3
    assert str(row["error"]).startswith("gave up after 3 attempts")


def test_drop_after_data_is_uncertain_and_not_resent(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=6)
    dropped = seeded.recipients[2]
    sink.policy = SinkPolicy(drop_after_data=(dropped,))

    stats = run(make_worker(engine, sink, clock))
    clock.advance(days=1)
    run(make_worker(engine, sink, clock))

    assert stats.uncertain == 1 and stats.sent == 5
    assert states(engine)[seeded.message_ids[2]] == "uncertain"
    assert sink.recipients()[dropped] == 1  # it did arrive, and it was not sent again
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_skips_are_suppressed_with_their_reason(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=8)
    refused = set(seeded.recipients[:3])

    stats = run(make_worker(engine, sink, clock, TextComposer(skip=refused)))

    assert stats.suppressed == 3 and stats.sent == 5
    for message_id in seeded.message_ids[:3]:
        row = rows(engine, message_id)[message_id]
        assert row["state"] == "suppressed" and row["error"] == "no consent for e-mail marketing"
    assert not refused & set(sink.recipients())
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_a_composer_error_stops_only_its_own_message(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=6)
    broken, flaky = seeded.message_ids[1], seeded.message_ids[4]
    composer = TextComposer(fail={broken: TemplateError("unknown variable"), flaky: ConnectionError("db away")})

    stats = run(make_worker(engine, sink, clock, composer))

    after = states(engine)
    assert after[broken] == "failed" and after[flaky] == "queued"
    assert stats.sent == 4 and stats.failed == 1 and stats.retried == 1
    assert "unknown variable" in str(rows(engine, broken)[broken]["error"])


def test_pause_midway_then_resume_skips_nobody_and_repeats_nobody(
    engine: Engine, sink: SmtpSink, clock: FixedClock
) -> None:
    seeded = seed_campaign(engine, now=clock(), count=200)
    paused: list[int] = []

    def pause_after_60(snapshot: ProgressSnapshot) -> None:
        if snapshot.stats.sent >= 60 and not paused:
            with engine.begin() as conn:
                pause_campaign(conn, seeded.campaign_id)
            paused.append(snapshot.stats.sent)

    first = run(make_worker(engine, sink, clock, batch_size=40), on_progress=pause_after_60)

    assert paused and campaign_status(engine, seeded.campaign_id) == "paused"
    assert 60 <= first.sent < 200
    with engine.connect() as conn:
        progress = campaign_progress(conn, seeded.campaign_id)
    assert progress[MessageState.SENT] == first.sent
    assert progress[MessageState.QUEUED] == 200 - first.sent  # nothing half-way, nothing lost
    assert run(make_worker(engine, sink, clock)).claimed == 0  # paused campaigns are not claimed

    with engine.begin() as conn:
        resume_campaign(conn, seeded.campaign_id)
    second = run(make_worker(engine, sink, clock))

    assert first.sent + second.sent == 200
    assert sink.recipients() == Counter({r: 1 for r in seeded.recipients})
    assert campaign_status(engine, seeded.campaign_id) == "finished"


def test_rows_claimed_before_a_pause_are_given_back_unsent(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=30)

    def pause_during_compose(batch: object) -> None:
        with engine.begin() as conn:
            pause_campaign(conn, seeded.campaign_id)

    stats = run(make_worker(engine, sink, clock, TextComposer(on_compose=pause_during_compose), batch_size=10))

    assert stats.claimed == 10 and stats.released == 10 and stats.sent == 0
    assert sink.received == []
    after = rows(engine, *seeded.message_ids[:10])
    assert {r["state"] for r in after.values()} == {"queued"}
    assert {r["attempts"] for r in after.values()} == {0}  # giving back is not an attempt
    assert {r["lease_owner"] for r in after.values()} == {None}


def test_cancel_turns_queued_rows_into_cancelled(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=100)
    cancelled: list[int] = []

    def cancel_after_20(snapshot: ProgressSnapshot) -> None:
        if snapshot.stats.sent >= 20 and not cancelled:
            with engine.begin() as conn:
                cancelled.append(cancel_campaign(conn, seeded.campaign_id, now=clock()))

    stats = run(make_worker(engine, sink, clock, batch_size=25), on_progress=cancel_after_20)

    after = Counter(states(engine).values())
    assert set(after) == {"sent", "cancelled"}
    assert after["sent"] == stats.sent == len(sink.received)
    assert after["cancelled"] == cancelled[0] == 100 - stats.sent
    assert campaign_status(engine, seeded.campaign_id) == "cancelled"


def test_a_stop_event_finishes_in_flight_and_gives_the_rest_back(
    engine: Engine, sink: SmtpSink, clock: FixedClock
) -> None:
    seeded = seed_campaign(engine, now=clock(), count=120)
    sink.policy = SinkPolicy(delay_s=0.005)

    async def main() -> WorkerStats:
        stop = asyncio.Event()

        def stop_after_30(snapshot: ProgressSnapshot) -> None:
            if snapshot.stats.sent >= 30:
                stop.set()

        return await make_worker(engine, sink, clock, batch_size=60, concurrency=2).run(
            stop=stop, on_progress=stop_after_30
        )

    stats = asyncio.run(main())

    after = Counter(states(engine).values())
    assert set(after) <= {"sent", "queued"}
    assert after["sent"] == stats.sent == len(sink.received) < 120
    assert stats.released == stats.claimed - stats.sent > 0
    assert after["queued"] == 120 - stats.sent
    assert sink.recipients() == Counter({r: 1 for r in sink.recipients()})
    queued_rows = [r for r in rows(engine).values() if r["state"] == "queued"]
    assert all(r["attempts"] == 0 and r["lease_owner"] is None for r in queued_rows)
    assert seeded.campaign_id and campaign_status(engine, seeded.campaign_id) == "running"


def test_messages_wait_for_their_time(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seed_campaign(engine, now=clock() + timedelta(hours=1), count=3)

    assert run(make_worker(engine, sink, clock)).claimed == 0
    clock.advance(hours=1)
    assert run(make_worker(engine, sink, clock)).sent == 3
