"""Sending the SMS keyword confirmations queued by `sms_keywords.handle_inbound`, at most once each.

Each reply is claimed (``pending`` → ``sending``, guarded, so two senders never take the same one), handed
to the SMS channel, then settled: ``sent`` (the number is cleared), ``failed`` on a definite refusal,
back to ``pending`` on a temporary one, ``uncertain`` when nobody can say whether the provider has it —
never sent again, like an outbox message. A sender that dies after claiming leaves ``sending``: not
resent either. That is how "exactly one confirmation" holds: one reply row per inbound message, and at
most one hand-over per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from epistola.clock import Clock
from epistola.consent.sms_keywords import Reply
from epistola.delivery.ports import Channel, Envelope
from epistola.errors import PermanentDeliveryError, TransientDeliveryError
from epistola.store.schema import sms_replies


@dataclass(frozen=True, kw_only=True)
class ReplyRun:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    uncertain: int = 0


def claim(engine: Engine, *, limit: int) -> list[Reply]:
    """Take up to `limit` pending replies for this sender; rows another sender took first are skipped."""
    won: list[Reply] = []
    with engine.begin() as conn:
        rows = conn.execute(
            select(sms_replies.c.id, sms_replies.c.recipient, sms_replies.c.body, sms_replies.c.language)
            .where(sms_replies.c.state == "pending", sms_replies.c.recipient.is_not(None))
            .order_by(sms_replies.c.id)
            .limit(limit)
        ).all()
        for r in rows:
            taken = conn.execute(
                update(sms_replies)
                .where(sms_replies.c.id == r.id, sms_replies.c.state == "pending")
                .values(state="sending")
            ).rowcount
            if taken:
                won.append(Reply(id=r.id, recipient=r.recipient, body=r.body, language=r.language))
    return won


def _settle(engine: Engine, reply_id: int, state: str, now: datetime) -> None:
    values: dict[str, object] = {"state": state}
    if state != "pending":
        values.update(sent_at=now, recipient=None)
    with engine.begin() as conn:
        conn.execute(
            update(sms_replies).where(sms_replies.c.id == reply_id, sms_replies.c.state == "sending").values(**values)
        )


async def send_pending(engine: Engine, channel: Channel, *, sender: str, clock: Clock, limit: int = 100) -> ReplyRun:
    """Hand every pending confirmation to `channel` once; returns what happened to them."""
    counts = {"sent": 0, "failed": 0, "retry": 0, "uncertain": 0}
    for reply in claim(engine, limit=limit):
        envelope = Envelope(message_id=reply.id, sender=sender, recipient=reply.recipient, data=reply.body.encode())
        try:
            await channel.send(envelope)
        except TransientDeliveryError:
            _settle(engine, reply.id, "pending", clock())
            counts["retry"] += 1
            continue
        except PermanentDeliveryError:
            _settle(engine, reply.id, "failed", clock())
            counts["failed"] += 1
            continue
        except Exception:  # the provider may or may not have it: never resend
            _settle(engine, reply.id, "uncertain", clock())
            counts["uncertain"] += 1
            continue
        _settle(engine, reply.id, "sent", clock())
        counts["sent"] += 1
    return ReplyRun(**counts)
