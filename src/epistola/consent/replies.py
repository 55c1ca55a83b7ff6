"""Sending the SMS keyword confirmations queued by `sms_keywords.handle_inbound`, at most once each.

Every delivery worker does this between outbox batches (`KeywordReplies`, a `SideQueue` wired by
`create_worker`); `epistola privacy sms-replies` does it once from the command line.

Each reply is claimed on its own (``pending`` → ``sending``, guarded, so two senders never take the same
one; ``sent_at`` records the claim), handed to the SMS channel, then settled: ``sent`` (the number is
cleared), ``failed`` on a definite refusal, back to ``pending`` on a temporary one, ``uncertain`` when
nobody can say whether the provider has it — never sent again, like an outbox message. A sender that
dies leaves at most the one reply it was handing over in ``sending``; once the lease has passed, the
next sender makes it ``uncertain`` and clears the number, without resending it. That is how "exactly
one confirmation" holds: one reply row per inbound message, and at most one hand-over per row.

A confirmation is an answer to the customer's own message, a service message: it does not pass the
consent gate, so the confirmation of a STOP goes even though SMS marketing is now withdrawn and the
number suppressed. An erasure clears the number, and a reply without one is never claimed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select, update

from epistola.clock import Clock, utcnow
from epistola.consent.sms_keywords import Reply
from epistola.delivery.ports import Channel, Envelope, Send
from epistola.delivery.runtime import Transactions
from epistola.errors import PermanentDeliveryError, TransientDeliveryError
from epistola.store.schema import sms_replies

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=300)  # a reply `sending` for longer than this was left by a sender that died


@dataclass(frozen=True, kw_only=True)
class ReplyRun:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    uncertain: int = 0
    recovered: int = 0  # left `sending` by a sender that died: now `uncertain`, not resent

    @property
    def settled(self) -> int:
        """Replies that reached a final state in this run."""
        return self.sent + self.failed + self.uncertain + self.recovered


def recover(conn: Connection, *, now: datetime, lease: timedelta = LEASE) -> int:
    """Replies a vanished sender left `sending` become `uncertain` (maybe sent: never resent); returns how many."""
    return int(
        conn.execute(
            update(sms_replies)
            .where(
                sms_replies.c.state == "sending",
                or_(sms_replies.c.sent_at.is_(None), sms_replies.c.sent_at < now - lease),
            )
            .values(state="uncertain", recipient=None)
        ).rowcount
    )


def claim_next(conn: Connection, *, after: int, now: datetime) -> Reply | None:
    """Take the oldest pending reply with an id above `after`; one another sender took first is skipped.

    One at a time, so that a sender killed mid-run leaves at most one reply unsent and `uncertain`.
    """
    rows = conn.execute(
        select(sms_replies.c.id, sms_replies.c.recipient, sms_replies.c.body, sms_replies.c.language)
        .where(sms_replies.c.state == "pending", sms_replies.c.recipient.is_not(None), sms_replies.c.id > after)
        .order_by(sms_replies.c.id)
        .limit(5)  # a few, in case another sender takes the first ones meanwhile
    ).all()
    for r in rows:
        taken = conn.execute(
            update(sms_replies)
            .where(sms_replies.c.id == r.id, sms_replies.c.state == "pending")
            .values(state="sending", sent_at=now)
        ).rowcount
        if taken:
            return Reply(id=r.id, recipient=r.recipient, body=r.body, language=r.language)
    return None


def settle(conn: Connection, reply_id: int, state: str, *, now: datetime) -> None:
    """Record what became of a claimed reply; a reply no longer `sending` (recovered meanwhile) is left alone."""
    values: dict[str, object] = {"state": state, "sent_at": now, "recipient": None}
    if state == "pending":  # not handed over: it waits for the next run, number and all
        values = {"state": state, "sent_at": None}
    conn.execute(
        update(sms_replies).where(sms_replies.c.id == reply_id, sms_replies.c.state == "sending").values(**values)
    )


async def hand_over(
    engine: Engine,
    send: Send,
    *,
    sender: str,
    clock: Clock,
    limit: int = 100,
    lease: timedelta = LEASE,
    stop: asyncio.Event | None = None,
) -> ReplyRun:
    """Give each pending confirmation (up to `limit`) to `send` once; database work runs off the loop.

    A reply refused for now goes back to ``pending`` and waits for the next run, not this one.
    """
    counts = {"sent": 0, "failed": 0, "retry": 0, "uncertain": 0}
    db = Transactions(engine)  # off the event loop; lock conflicts with other senders are retried
    recovered = await db(lambda c: recover(c, now=clock(), lease=lease))
    if recovered:
        logger.warning("%d SMS keyword confirmations were left being sent; recorded as uncertain", recovered)
    last = 0
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        reply = await db(functools.partial(claim_next, after=last, now=clock()))
        if reply is None:
            break
        last = reply.id
        envelope = Envelope(message_id=reply.id, sender=sender, recipient=reply.recipient, data=reply.body.encode())
        try:
            await send(envelope)
        except TransientDeliveryError:
            outcome = "pending"
            counts["retry"] += 1
        except PermanentDeliveryError:
            outcome = "failed"
            counts["failed"] += 1
        except Exception:  # the provider may or may not have it: never resend
            outcome = "uncertain"
            counts["uncertain"] += 1
        else:
            outcome = "sent"
            counts["sent"] += 1
        await db(functools.partial(settle, reply_id=reply.id, state=outcome, now=clock()))
    return ReplyRun(**counts, recovered=recovered)


async def send_pending(engine: Engine, channel: Channel, *, sender: str, clock: Clock, limit: int = 100) -> ReplyRun:
    """Hand every pending confirmation to `channel` once; returns what happened to them."""
    return await hand_over(engine, channel.send, sender=sender, clock=clock, limit=limit)


@dataclass(frozen=True, kw_only=True)
class KeywordReplies:
    """The confirmations as a worker's `SideQueue`: sent through the worker's SMS channel and limits."""

    engine: Engine
    sender: str
    clock: Clock = field(default=utcnow)
    lease: timedelta = LEASE
    batch: int = 100
    channel: str = "sms"

    async def send_waiting(self, send: Send, stop: asyncio.Event) -> int:
        run = await hand_over(
            self.engine, send, sender=self.sender, clock=self.clock, limit=self.batch, lease=self.lease, stop=stop
        )
        return run.settled
