"""Every query a delivery worker runs on `messages`: the table is the queue, and this is its API.

One code path for both engines. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so any number of
workers on any number of machines never take the same row; SQLite ignores that clause, and its single
writer makes the same ``UPDATE … WHERE id IN (…) RETURNING`` just as exclusive.

Every update names the state it expects and the worker that must hold the lease, so a worker whose
lease expired and was taken over changes nothing. Groups of messages are updated in one statement, but
each row keeps its own state, provider id and error. Callers own the transaction (`engine.begin()`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Update, bindparam, case, or_, select, update

from epistola.delivery.backoff import next_attempt_delay
from epistola.delivery.ports import ClaimedMessage, Skip
from epistola.delivery.states import MessageState, require_transition
from epistola.store.schema import campaign_steps, campaigns, messages

M = MessageState
_CHUNK = 500  # ids per IN list: far below every engine's bound-parameter limit


def legal_sources(sources: Iterable[MessageState], target: MessageState) -> list[str]:
    """The source states of one kind of update, checked against the transition table at import."""
    states = list(sources)
    for source in states:
        require_transition(source, target)
    return [s.value for s in states]


_CLAIM = legal_sources([M.QUEUED], M.RENDERING)
_SEND = legal_sources([M.RENDERING], M.SENDING)
_SENT = legal_sources([M.SENDING], M.SENT)
_FAIL = legal_sources([M.RENDERING, M.SENDING], M.FAILED)
_UNCERTAIN = legal_sources([M.SENDING], M.UNCERTAIN)
_SUPPRESS = legal_sources([M.RENDERING], M.SUPPRESSED)
_RETRY = legal_sources([M.RENDERING, M.SENDING], M.QUEUED)
_RETRY_CANCELLED = legal_sources([M.RENDERING, M.SENDING], M.CANCELLED)
_RELEASE = legal_sources([M.RENDERING], M.QUEUED)
_UNSEND = legal_sources([M.SENDING], M.QUEUED)


@dataclass(frozen=True, kw_only=True)
class Retry:
    """A temporary failure of one message: `attempt` is the attempt that failed (from the claim)."""

    message_id: int
    attempt: int
    error: str


@dataclass(frozen=True, kw_only=True)
class RetryOutcome:
    requeued: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()  # out of attempts
    cancelled: tuple[int, ...] = ()  # their campaign was cancelled meanwhile


def chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for message_id in ids:
        batch.append(message_id)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _steps_of(status: str) -> Select[tuple[int]]:
    return (
        select(campaign_steps.c.id)
        .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
        .where(campaigns.c.status == status)
    )


def owned_by(worker_id: str, states: list[str]) -> list[ColumnElement[bool]]:
    """Held by `worker_id` in one of `states` (spelled without IN, so it also works in executemany)."""
    return [messages.c.lease_owner == worker_id, or_(*(messages.c.state == s for s in states))]


def _prepared(target: MessageState, sources: list[str], *, many: bool) -> Update:
    """An update of owned rows to `target`, built once: a worker runs it for every group of outcomes.

    Parameters: ``b_me`` (the lease owner), ``b_now``, and ``b_id`` per row (`many`) or ``b_ids`` (a list).
    """
    me = bindparam("b_me", type_=messages.c.lease_owner.type)
    ids = messages.c.id == bindparam("b_id") if many else messages.c.id.in_(bindparam("b_ids", expanding=True))
    return (
        update(messages)
        .where(ids, messages.c.lease_owner == me, or_(*(messages.c.state == s for s in sources)))
        .values(state=target.value, updated_at=bindparam("b_now", type_=messages.c.updated_at.type))
    )


def requeued_state() -> ColumnElement[Any]:
    """`queued`, unless the campaign was cancelled meanwhile: then the row is `cancelled` for good."""
    return case((messages.c.step_id.in_(_steps_of("cancelled")), M.CANCELLED.value), else_=M.QUEUED.value)


def lock_campaigns_of(conn: Connection, ids: Sequence[int]) -> None:
    """Share-lock the campaigns of `ids`, so a concurrent cancel cannot miss a row being requeued.

    PostgreSQL only (SQLite ignores the clause; its single writer already orders the two).
    """
    for chunk in chunks(ids):
        owners = select(messages.c.step_id).where(messages.c.id.in_(chunk))
        conn.execute(
            select(campaigns.c.id)
            .where(campaigns.c.id.in_(select(campaign_steps.c.campaign_id).where(campaign_steps.c.id.in_(owners))))
            .order_by(campaigns.c.id)
            .with_for_update(read=True)
        )


# --- claiming ------------------------------------------------------------------------------------------


def claim(
    conn: Connection,
    *,
    worker_id: str,
    limit: int,
    now: datetime,
    lease: timedelta,
    channels: Collection[str] | None = None,
) -> list[ClaimedMessage]:
    """Take up to `limit` due `queued` messages of running campaigns, oldest id first, under a lease."""
    if limit < 1:
        return []
    due = select(messages.c.id).where(
        messages.c.state.in_(_CLAIM),
        messages.c.next_attempt_at <= now,
        messages.c.step_id.in_(_steps_of("running")),
    )
    if channels is not None:
        due = due.where(messages.c.channel.in_(list(channels)))
    picked = due.order_by(messages.c.id).limit(limit).with_for_update(skip_locked=True, of=messages).cte("picked")
    rows = conn.execute(
        update(messages)
        .where(messages.c.id.in_(select(picked.c.id)), messages.c.state.in_(_CLAIM))
        .values(
            state=M.RENDERING.value,
            lease_owner=worker_id,
            lease_expires_at=now + lease,
            attempts=messages.c.attempts + 1,
            updated_at=now,
        )
        .returning(
            messages.c.id,
            messages.c.step_id,
            messages.c.customer_id,
            messages.c.channel,
            messages.c.recipient,
            messages.c.attempts,
        )
    ).all()
    if not rows:
        return []
    step_ids = sorted({row.step_id for row in rows})
    campaign_of = dict(
        conn.execute(
            select(campaign_steps.c.id, campaign_steps.c.campaign_id).where(campaign_steps.c.id.in_(step_ids))
        ).all()
    )
    return sorted(
        (
            ClaimedMessage(
                id=row.id,
                step_id=row.step_id,
                campaign_id=campaign_of[row.step_id],
                customer_id=row.customer_id,
                channel=row.channel,
                recipient=row.recipient,
                attempts=row.attempts,
            )
            for row in rows
        ),
        key=lambda message: message.id,
    )


# --- before the hand-over --------------------------------------------------------------------------------


def mark_sending(conn: Connection, *, worker_id: str, ids: Sequence[int], now: datetime, lease: timedelta) -> list[int]:
    """Move composed messages to `sending`; returns the ids moved.

    Messages of a campaign that is no longer running (paused or cancelled since the claim) stay
    `rendering`, for the caller to `release`.
    """
    moved: list[int] = []
    params = {"b_me": worker_id, "b_now": now, "b_lease": now + lease}
    for chunk in chunks(ids):
        moved.extend(conn.execute(_MARK_SENDING, {**params, "b_ids": chunk}).scalars())
    return sorted(moved)


_MARK_SENDING = (
    _prepared(M.SENDING, _SEND, many=False)
    .where(messages.c.step_id.in_(_steps_of("running")))
    .values(lease_expires_at=bindparam("b_lease", type_=messages.c.lease_expires_at.type))
    .returning(messages.c.id)
)


def mark_suppressed(conn: Connection, *, worker_id: str, skips: Sequence[Skip], now: datetime) -> int:
    """Record the composer's refusals, each with its own reason."""
    return _set_each(conn, worker_id, _SUPPRESS, M.SUPPRESSED, "error", [(s.message_id, s.reason) for s in skips], now)


def release(conn: Connection, *, worker_id: str, ids: Sequence[int], now: datetime) -> int:
    """Give back claimed, not yet handed-over messages (pause, shutdown); the claim's attempt is returned."""
    return _requeue(conn, worker_id, _RELEASE, ids, now)


def release_unsent(conn: Connection, *, worker_id: str, ids: Sequence[int], now: datetime) -> int:
    """Give back `sending` messages this worker knows it never handed over (it stopped first)."""
    return _requeue(conn, worker_id, _UNSEND, ids, now)


def _requeue(conn: Connection, worker_id: str, sources: list[str], ids: Sequence[int], now: datetime) -> int:
    if not ids:
        return 0
    lock_campaigns_of(conn, ids)
    count = 0
    for chunk in chunks(ids):
        count += conn.execute(
            update(messages)
            .where(messages.c.id.in_(chunk), *owned_by(worker_id, sources))
            .values(
                state=requeued_state(),
                attempts=messages.c.attempts - 1,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        ).rowcount
    return count


# --- after the hand-over ---------------------------------------------------------------------------------


def mark_sent(conn: Connection, *, worker_id: str, results: Sequence[tuple[int, str]], now: datetime) -> int:
    """Record accepted messages, each with the provider's id for it."""
    if not results:
        return 0
    rows = [{"b_id": i, "b_provider": p[:200], "b_me": worker_id, "b_now": now} for i, p in results]
    return conn.execute(_MARK_SENT, rows).rowcount


_MARK_SENT = _prepared(M.SENT, _SENT, many=True).values(
    provider_id=bindparam("b_provider"),
    sent_at=bindparam("b_now", type_=messages.c.sent_at.type),
    lease_expires_at=None,
    error=None,
)


def mark_failed(conn: Connection, *, worker_id: str, failures: Sequence[tuple[int, str]], now: datetime) -> int:
    """Record permanent failures (never retried), each with its own error."""
    return _set_each(conn, worker_id, _FAIL, M.FAILED, "error", failures, now)


def mark_uncertain(conn: Connection, *, worker_id: str, items: Sequence[tuple[int, str]], now: datetime) -> int:
    """Record hand-overs whose outcome is unknown: reported, and never resent."""
    return _set_each(conn, worker_id, _UNCERTAIN, M.UNCERTAIN, "error", items, now)


def mark_retry(
    conn: Connection, *, worker_id: str, retries: Sequence[Retry], now: datetime, max_attempts: int
) -> RetryOutcome:
    """Requeue temporary failures after their backoff delay, or fail those out of attempts."""
    if not retries:
        return RetryOutcome()
    exhausted = [r for r in retries if r.attempt >= max_attempts]
    again = [r for r in retries if r.attempt < max_attempts]
    failed: list[int] = []
    for r in exhausted:
        error = f"gave up after {r.attempt} attempts: {r.error}"
        if _set_each(conn, worker_id, _FAIL, M.FAILED, "error", [(r.message_id, error)], now):
            failed.append(r.message_id)
    requeued: list[int] = []
    cancelled: list[int] = []
    if again:
        lock_campaigns_of(conn, [r.message_id for r in again])
    for r in again:
        row = conn.execute(
            update(messages)
            .where(messages.c.id == r.message_id, *owned_by(worker_id, _RETRY))
            .values(
                state=requeued_state(),
                error=r.error,
                next_attempt_at=now + next_attempt_delay(r.attempt, jitter_key=r.message_id),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(messages.c.state)
        ).first()
        if row is not None:
            (cancelled if row.state == M.CANCELLED else requeued).append(r.message_id)
    return RetryOutcome(requeued=tuple(requeued), failed=tuple(failed), cancelled=tuple(cancelled))


def _set_each(
    conn: Connection,
    worker_id: str,
    sources: list[str],
    target: MessageState,
    column: str,
    items: Sequence[tuple[int, str]],
    now: datetime,
) -> int:
    """Move owned rows to a final `target`, each with its own value of `column`."""
    if not items:
        return 0
    key = (target, tuple(sources), column)
    stmt = _SET_EACH.get(key)
    if stmt is None:
        stmt = _SET_EACH[key] = _prepared(target, sources, many=True).values(
            {column: bindparam("b_value"), "lease_expires_at": None}
        )
    return conn.execute(stmt, [{"b_id": i, "b_value": v, "b_me": worker_id, "b_now": now} for i, v in items]).rowcount


_SET_EACH: dict[tuple[MessageState, tuple[str, ...], str], Update] = {}


# --- after delivery: what the provider later said ---------------------------------------------------------

_DELIVERED = legal_sources([M.SENT, M.UNCERTAIN], M.DELIVERED)
_BOUNCED = legal_sources([M.SENT, M.UNCERTAIN], M.BOUNCED)


def record_outcomes(conn: Connection, *, channel: str, outcomes: Sequence[tuple[str, str, str]], now: datetime) -> int:
    """Settle sent (or uncertain) messages from provider receipts: (provider id, delivered|bounced, detail).

    Matched by the provider's id within `channel`; a receipt for an unknown id, or for a message already
    settled, changes nothing (receipts are often repeated). Returns the rows changed.
    """
    changed = 0
    for provider_id, outcome, detail in outcomes:
        target, sources = (M.DELIVERED, _DELIVERED) if outcome == "delivered" else (M.BOUNCED, _BOUNCED)
        values: dict[str, Any] = {"state": target.value, "updated_at": now}
        if target is M.BOUNCED:
            values["error"] = detail[:1000]
        changed += conn.execute(
            update(messages)
            .where(
                messages.c.provider_id == provider_id[:200],
                messages.c.channel == channel,
                messages.c.state.in_(sources),
            )
            .values(values)
        ).rowcount
    return changed
