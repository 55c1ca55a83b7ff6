"""Leases: a worker keeps what it holds alive, and takes over what a vanished worker held.

A worker's lease on its rows is its claim to finish them. It renews the lease while it works (a
heartbeat); if it dies, the lease runs out and any other worker takes the rows back: those it had not
handed over go again, those it may have handed over become `uncertain` and are reported, not resent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from epistola.delivery.outbox import chunks, legal_sources, lock_campaigns_of, owned_by, requeued_state
from epistola.delivery.states import LEASED_STATES, MessageState
from epistola.store.schema import messages

M = MessageState
_HOLD = sorted(s.value for s in LEASED_STATES)  # lease renewal changes no state
_REQUEUE = legal_sources([M.RENDERING], M.QUEUED)
_UNCERTAIN = legal_sources([M.SENDING], M.UNCERTAIN)
_LOST = legal_sources([M.RENDERING], M.FAILED)


@dataclass(frozen=True, kw_only=True)
class RecoveryReport:
    """What `recover_expired_leases` did with rows whose worker vanished."""

    requeued: tuple[int, ...] = ()  # were `rendering`: nothing was handed over, so they go again
    uncertain: tuple[int, ...] = ()  # were `sending`: maybe handed over, so never resent
    failed: tuple[int, ...] = ()  # were `rendering` and out of attempts (a message that kills workers)
    cancelled: tuple[int, ...] = ()  # were `rendering` in a campaign cancelled meanwhile

    @property
    def total(self) -> int:
        return len(self.requeued) + len(self.uncertain) + len(self.failed) + len(self.cancelled)


def extend_leases(conn: Connection, *, worker_id: str, now: datetime, lease: timedelta) -> int:
    """Push back the lease on everything this worker holds (its heartbeat while a batch is slow)."""
    result = conn.execute(update(messages).where(*owned_by(worker_id, _HOLD)).values(lease_expires_at=now + lease))
    return result.rowcount


def recover_expired_leases(conn: Connection, *, now: datetime, max_attempts: int | None = None) -> RecoveryReport:
    """Take back rows whose lease expired: `rendering` goes again, `sending` becomes `uncertain`.

    A `sending` row may already be in the recipient's inbox, so it is never resent; it is reported.
    With `max_attempts`, a `rendering` row that already used them all fails instead (a message that
    crashes every worker that composes it must not loop forever).
    """
    expired = messages.c.lease_expires_at < now
    uncertain = (
        conn.execute(
            update(messages)
            .where(messages.c.state.in_(_UNCERTAIN), expired)
            .values(
                state=M.UNCERTAIN.value,
                error="the worker lost its lease while sending; the outcome is unknown, so it is not resent",
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(messages.c.id)
        )
        .scalars()
        .all()
    )
    failed: Sequence[int] = []
    if max_attempts is not None:
        failed = (
            conn.execute(
                update(messages)
                .where(messages.c.state.in_(_LOST), expired, messages.c.attempts >= max_attempts)
                .values(
                    state=M.FAILED.value,
                    error=f"workers lost their lease {max_attempts} times while composing it",
                    lease_expires_at=None,
                    updated_at=now,
                )
                .returning(messages.c.id)
            )
            .scalars()
            .all()
        )
    stale = (
        conn.execute(select(messages.c.id).where(messages.c.state.in_(_REQUEUE), expired).order_by(messages.c.id))
        .scalars()
        .all()
    )
    requeued: list[int] = []
    cancelled: list[int] = []
    if stale:
        lock_campaigns_of(conn, stale)
        for chunk in chunks(stale):
            for row in conn.execute(
                update(messages)
                .where(messages.c.id.in_(chunk), messages.c.state.in_(_REQUEUE), expired)
                .values(state=requeued_state(), lease_owner=None, lease_expires_at=None, updated_at=now)
                .returning(messages.c.id, messages.c.state)
            ):
                (cancelled if row.state == M.CANCELLED else requeued).append(row.id)
    return RecoveryReport(
        requeued=tuple(sorted(requeued)),
        uncertain=tuple(sorted(uncertain)),
        failed=tuple(sorted(failed)),
        cancelled=tuple(sorted(cancelled)),
    )
