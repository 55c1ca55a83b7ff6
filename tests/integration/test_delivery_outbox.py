"""The outbox queries on both engines: claiming, guards, lease recovery, campaign control."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delivery_fixtures import campaign_status, rows, seed_campaign, states
from sqlalchemy import Connection, Engine, select, update

from epistola import audit
from epistola.delivery import (
    ClaimedMessage,
    MessageState,
    Skip,
    campaign_progress,
    cancel_campaign,
    extend_leases,
    finish_campaigns_if_done,
    outbox,
    pause_campaign,
    recover_expired_leases,
    resume_campaign,
)
from epistola.errors import Conflict, NotFound
from epistola.store.schema import audit_log, campaign_steps, messages
from epistola.testing import FixedClock

LEASE = timedelta(minutes=5)


def claim(
    engine: Engine, clock: FixedClock, worker: str, limit: int, channels: list[str] | None = None
) -> list[ClaimedMessage]:
    with engine.begin() as conn:
        return outbox.claim(conn, worker_id=worker, limit=limit, now=clock(), lease=LEASE, channels=channels)


def test_claim_takes_due_rows_of_running_campaigns_in_id_order(engine: Engine, clock: FixedClock) -> None:
    live = seed_campaign(engine, now=clock(), count=5, name="live")
    seed_campaign(engine, now=clock(), count=3, name="paused", status="paused")
    seed_campaign(engine, now=clock(), count=3, name="draft", status="draft")
    later = seed_campaign(engine, now=clock() + timedelta(hours=1), count=2, name="later")

    claimed = claim(engine, clock, "w1", 100)

    assert [m.id for m in claimed] == list(live.message_ids)
    assert {m.campaign_id for m in claimed} == {live.campaign_id}
    assert [m.recipient for m in claimed] == list(live.recipients)
    assert {m.attempts for m in claimed} == {1}
    stored = rows(engine, *live.message_ids)
    assert {r["state"] for r in stored.values()} == {"rendering"}
    assert {r["lease_owner"] for r in stored.values()} == {"w1"}
    assert {r["lease_expires_at"] for r in stored.values()} == {clock() + LEASE}
    assert claim(engine, clock, "w2", 100) == []  # nothing is claimed twice
    clock.advance(hours=1)
    assert [m.id for m in claim(engine, clock, "w2", 100)] == list(later.message_ids)


def test_claim_respects_limit_and_channels(engine: Engine, clock: FixedClock) -> None:
    mail = seed_campaign(engine, now=clock(), count=5, name="mail")
    seed_campaign(engine, now=clock(), count=5, name="sms", channel="sms")

    first = claim(engine, clock, "w1", 3, channels=["email"])
    rest = claim(engine, clock, "w1", 10, channels=["email"])

    assert [m.id for m in first + rest] == list(mail.message_ids)
    assert claim(engine, clock, "w1", 10, channels=[]) == []
    assert {m.channel for m in claim(engine, clock, "w1", 10)} == {"sms"}


def test_only_the_lease_holder_can_move_a_row(engine: Engine, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=4)
    ids = [m.id for m in claim(engine, clock, "w1", 4)]
    now = clock()
    with engine.begin() as conn:
        assert outbox.mark_sending(conn, worker_id="intruder", ids=ids, now=now, lease=LEASE) == []
        assert outbox.mark_sent(conn, worker_id="w1", results=[(ids[0], "x")], now=now) == 0  # not sending yet
        assert (
            outbox.mark_suppressed(conn, worker_id="intruder", skips=[Skip(message_id=ids[0], reason="r")], now=now)
            == 0
        )
        assert outbox.release(conn, worker_id="intruder", ids=ids, now=now) == 0
        assert outbox.mark_sending(conn, worker_id="w1", ids=ids[:3], now=now, lease=LEASE) == ids[:3]
        assert outbox.mark_sent(conn, worker_id="intruder", results=[(ids[0], "x")], now=now) == 0
        assert outbox.mark_failed(conn, worker_id="intruder", failures=[(ids[1], "x")], now=now) == 0
        assert outbox.mark_uncertain(conn, worker_id="intruder", items=[(ids[2], "x")], now=now) == 0
        assert outbox.mark_sent(conn, worker_id="w1", results=[(ids[0], "q1"), (ids[1], "q2")], now=now) == 2
        assert outbox.mark_sent(conn, worker_id="w1", results=[(ids[0], "again")], now=now) == 0  # final
    after = rows(engine, *seeded.message_ids)
    assert [after[i]["state"] for i in ids] == ["sent", "sent", "sending", "rendering"]
    assert [after[i]["provider_id"] for i in ids[:2]] == ["q1", "q2"]  # each row its own id


def test_release_gives_back_the_attempt_and_the_lease(engine: Engine, clock: FixedClock) -> None:
    seed_campaign(engine, now=clock(), count=3)
    ids = [m.id for m in claim(engine, clock, "w1", 3)]
    with engine.begin() as conn:
        outbox.mark_sending(conn, worker_id="w1", ids=ids[2:], now=clock(), lease=LEASE)
        assert outbox.release(conn, worker_id="w1", ids=ids, now=clock()) == 2  # not the sending one
        assert outbox.release_unsent(conn, worker_id="w1", ids=ids, now=clock()) == 1
    after = rows(engine, *ids)
    assert {(r["state"], r["attempts"], r["lease_owner"]) for r in after.values()} == {("queued", 0, None)}
    assert [m.attempts for m in claim(engine, clock, "w2", 3)] == [1, 1, 1]


def test_retry_backs_off_then_fails_when_attempts_run_out(engine: Engine, clock: FixedClock) -> None:
    seed_campaign(engine, now=clock(), count=2)
    first, second = claim(engine, clock, "w1", 2)
    retries = [
        outbox.Retry(message_id=first.id, attempt=1, error="451 try again"),
        outbox.Retry(message_id=second.id, attempt=3, error="451 try again"),
    ]
    with engine.begin() as conn:
        outcome = outbox.mark_retry(conn, worker_id="w1", retries=retries, now=clock(), max_attempts=3)
    assert outcome == outbox.RetryOutcome(requeued=(first.id,), failed=(second.id,))
    after = rows(engine, first.id, second.id)
    assert after[first.id]["state"] == "queued" and after[first.id]["error"] == "451 try again"
    assert clock() + timedelta(seconds=15) <= after[first.id]["next_attempt_at"] <= clock() + timedelta(seconds=30)
    assert after[second.id]["state"] == "failed"
    assert claim(engine, clock, "w1", 2) == []  # not due yet


def test_recovery_requeues_rendering_and_reports_sending_as_uncertain(engine: Engine, clock: FixedClock) -> None:
    seed_campaign(engine, now=clock(), count=4)
    ids = [m.id for m in claim(engine, clock, "dead", 4)]
    with engine.begin() as conn:
        outbox.mark_sending(conn, worker_id="dead", ids=ids[:2], now=clock(), lease=LEASE)
        assert recover_expired_leases(conn, now=clock() + LEASE - timedelta(seconds=1)).total == 0

    clock.advance(minutes=6)
    with engine.begin() as conn:
        report = recover_expired_leases(conn, now=clock())

    assert report.uncertain == tuple(ids[:2]) and report.requeued == tuple(ids[2:])
    after = rows(engine, *ids)
    assert [after[i]["state"] for i in ids] == ["uncertain", "uncertain", "queued", "queued"]
    assert "not resent" in str(after[ids[0]]["error"])
    # The vanished worker, should it wake up, changes nothing any more.
    with engine.begin() as conn:
        assert outbox.mark_sent(conn, worker_id="dead", results=[(ids[0], "late")], now=clock()) == 0
        assert outbox.mark_sending(conn, worker_id="dead", ids=ids[2:], now=clock(), lease=LEASE) == []
    taken = claim(engine, clock, "heir", 10)
    assert [m.id for m in taken] == ids[2:] and {m.attempts for m in taken} == {2}


def test_heartbeat_keeps_a_slow_batch(engine: Engine, clock: FixedClock) -> None:
    seed_campaign(engine, now=clock(), count=2)
    ids = [m.id for m in claim(engine, clock, "slow", 2)]
    clock.advance(minutes=4)
    with engine.begin() as conn:
        assert extend_leases(conn, worker_id="slow", now=clock(), lease=LEASE) == 2
    clock.advance(minutes=4)
    with engine.begin() as conn:
        assert recover_expired_leases(conn, now=clock()).total == 0
    assert set(states(engine).values()) == {"rendering"} and len(ids) == 2


def test_recovery_fails_a_row_that_keeps_killing_workers(engine: Engine, clock: FixedClock) -> None:
    seed_campaign(engine, now=clock(), count=1)
    for _ in range(3):
        assert len(claim(engine, clock, "w", 1)) == 1
        clock.advance(minutes=6)
        with engine.begin() as conn:
            report = recover_expired_leases(conn, now=clock(), max_attempts=3)
    assert len(report.failed) == 1 and set(states(engine).values()) == {"failed"}


def test_cancel_cancels_queued_rows_and_rows_requeued_later(engine: Engine, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=6)
    ids = [m.id for m in claim(engine, clock, "w1", 3)]
    with engine.begin() as conn:
        outbox.mark_sending(conn, worker_id="w1", ids=ids[:2], now=clock(), lease=LEASE)
        assert cancel_campaign(conn, seeded.campaign_id, now=clock()) == 3
    with engine.begin() as conn:  # in-flight rows finish normally; a retry of one does not resurrect it
        outbox.mark_sent(conn, worker_id="w1", results=[(ids[0], "q")], now=clock())
        retried = outbox.mark_retry(
            conn,
            worker_id="w1",
            retries=[outbox.Retry(message_id=ids[1], attempt=1, error="451")],
            now=clock(),
            max_attempts=5,
        )
        assert mark_sending_is_refused(conn, ids[2], clock)
        assert outbox.release(conn, worker_id="w1", ids=[ids[2]], now=clock()) == 1
    assert retried.cancelled == (ids[1],)
    after = states(engine)
    assert after[ids[0]] == "sent" and after[ids[1]] == "cancelled" and after[ids[2]] == "cancelled"
    assert campaign_status(engine, seeded.campaign_id) == "cancelled"
    with engine.connect() as conn:
        progress = campaign_progress(conn, seeded.campaign_id)
    assert progress[MessageState.SENT] == 1 and progress[MessageState.CANCELLED] == 5
    assert sum(progress.values()) == 6 and progress[MessageState.QUEUED] == 0


def mark_sending_is_refused(conn: Connection, message_id: int, clock: FixedClock) -> bool:
    return outbox.mark_sending(conn, worker_id="w1", ids=[message_id], now=clock(), lease=LEASE) == []


def test_campaign_control_refuses_impossible_moves(engine: Engine, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=1)
    with engine.begin() as conn:
        with pytest.raises(Conflict, match="cannot be resumed"):
            resume_campaign(conn, seeded.campaign_id)
        pause_campaign(conn, seeded.campaign_id)
        with pytest.raises(Conflict, match="is paused; it cannot be paused"):
            pause_campaign(conn, seeded.campaign_id)
        resume_campaign(conn, seeded.campaign_id)
        cancel_campaign(conn, seeded.campaign_id, now=clock())
        with pytest.raises(Conflict):
            cancel_campaign(conn, seeded.campaign_id, now=clock())
        with pytest.raises(NotFound):
            pause_campaign(conn, 999_999)


def test_a_campaign_finishes_when_every_message_is_final(engine: Engine, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=2)
    empty = seed_campaign(engine, now=clock(), count=0, name="empty")
    ids = [m.id for m in claim(engine, clock, "w1", 2)]
    with engine.begin() as conn:
        outbox.mark_sending(conn, worker_id="w1", ids=ids, now=clock(), lease=LEASE)
        outbox.mark_sent(conn, worker_id="w1", results=[(ids[0], "q")], now=clock())
        assert finish_campaigns_if_done(conn, now=clock()) == []
        outbox.mark_uncertain(conn, worker_id="w1", items=[(ids[1], "timeout")], now=clock())
        conn.execute(  # a later step still to come keeps the campaign open
            update(campaign_steps)
            .where(campaign_steps.c.id == seeded.step_id)
            .values(scheduled_at=clock() + timedelta(days=1))
        )
        assert finish_campaigns_if_done(conn, now=clock()) == []
        conn.execute(update(campaign_steps).where(campaign_steps.c.id == seeded.step_id).values(scheduled_at=None))
        assert finish_campaigns_if_done(conn, now=clock(), origin="w1") == [seeded.campaign_id]
        entry = conn.execute(select(audit_log).order_by(audit_log.c.id.desc())).mappings().first()
        assert audit.verify(conn).ok
    assert entry is not None and (entry["action"], entry["entity_id"], entry["origin"]) == (
        "finish",
        str(seeded.campaign_id),
        "w1",
    )
    assert campaign_status(engine, seeded.campaign_id) == "finished"
    assert campaign_status(engine, empty.campaign_id) == "running"  # no rows yet is not "done"


def test_concurrent_claims_skip_locked_rows(engine: Engine, clock: FixedClock) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has a single writer: a second claim waits instead of skipping")
    seeded = seed_campaign(engine, now=clock(), count=10)
    with engine.connect() as first, engine.connect() as second:
        with first.begin():
            a = outbox.claim(first, worker_id="a", limit=4, now=clock(), lease=LEASE)
            with second.begin():  # while the first claim is still uncommitted
                b = outbox.claim(second, worker_id="b", limit=4, now=clock(), lease=LEASE)
    assert [m.id for m in a] == list(seeded.message_ids[:4])
    assert [m.id for m in b] == list(seeded.message_ids[4:8])
    with engine.connect() as conn:
        owners = dict(conn.execute(select(messages.c.id, messages.c.lease_owner)).all())
    assert [owners[i] for i in seeded.message_ids] == ["a"] * 4 + ["b"] * 4 + [None] * 2
