"""Campaign-level control of the outbox: pause, resume, cancel, progress, and finishing.

Pausing only changes the campaign's status: workers claim messages of running campaigns only, and a
worker that already claimed some gives them back before handing them over. Cancelling also turns the
still-queued messages into `cancelled`; messages already handed over finish normally.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from epistola import audit
from epistola.delivery.states import FINAL_STATES, MessageState, require_transition
from epistola.errors import Conflict, NotFound
from epistola.store.schema import campaign_steps, campaigns, messages

_ACTIVE = [s.value for s in MessageState if s not in FINAL_STATES]
require_transition(MessageState.QUEUED, MessageState.CANCELLED)


def _set_status(
    conn: Connection,
    campaign_id: int,
    *,
    allowed: Collection[str],
    status: str,
    verb: str,
    finished_at: datetime | None = None,
) -> None:
    values: dict[str, object] = {"status": status}
    if finished_at is not None:
        values["finished_at"] = finished_at
    changed = conn.execute(
        update(campaigns).where(campaigns.c.id == campaign_id, campaigns.c.status.in_(list(allowed))).values(values)
    ).rowcount
    if changed:
        return
    current = conn.execute(select(campaigns.c.status).where(campaigns.c.id == campaign_id)).scalar()
    if current is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    raise Conflict(
        f"campaign {campaign_id} is {current}; it cannot be {verb}",
        hint=f"Only a campaign that is {' or '.join(sorted(allowed))} can be {verb}.",
    )


def pause_campaign(conn: Connection, campaign_id: int) -> None:
    """Stop handing out this campaign's messages; nothing is lost, `resume_campaign` carries on."""
    _set_status(conn, campaign_id, allowed=("running",), status="paused", verb="paused")


def resume_campaign(conn: Connection, campaign_id: int) -> None:
    _set_status(conn, campaign_id, allowed=("paused",), status="running", verb="resumed")


def cancel_campaign(conn: Connection, campaign_id: int, *, now: datetime) -> int:
    """Cancel the campaign and its still-queued messages; returns how many messages were cancelled."""
    _set_status(
        conn,
        campaign_id,
        allowed=("draft", "running", "paused"),
        status="cancelled",
        verb="cancelled",
        finished_at=now,
    )
    steps = select(campaign_steps.c.id).where(campaign_steps.c.campaign_id == campaign_id)
    return conn.execute(
        update(messages)
        .where(messages.c.state == MessageState.QUEUED.value, messages.c.step_id.in_(steps))
        .values(
            state=MessageState.CANCELLED.value,
            error="the campaign was cancelled",
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    ).rowcount


def campaign_progress(conn: Connection, campaign_id: int) -> dict[MessageState, int]:
    """How many of the campaign's messages are in each state (every state present, zeros included)."""
    counts = dict.fromkeys(MessageState, 0)
    rows = conn.execute(
        select(messages.c.state, func.count())
        .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
        .where(campaign_steps.c.campaign_id == campaign_id)
        .group_by(messages.c.state)
    ).all()
    for state, count in rows:
        counts[MessageState(state)] = count
    return counts


def finish_campaigns_if_done(
    conn: Connection, *, now: datetime, actor: str = "delivery", origin: str | None = None
) -> list[int]:
    """Mark running campaigns whose every message is final as `finished`, and audit it.

    A campaign with no messages yet, or with a step scheduled in the future, is not done: its rows may
    simply not have been inserted. The campaign side must therefore insert a step's rows before (or in
    the same transaction as) the moment its last earlier rows can become final.
    """
    of_campaign = (
        select(messages.c.id)
        .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
        .where(campaign_steps.c.campaign_id == campaigns.c.id)
    )
    later_step = select(campaign_steps.c.id).where(
        campaign_steps.c.campaign_id == campaigns.c.id, campaign_steps.c.scheduled_at > now
    )
    finished = sorted(
        conn.execute(
            update(campaigns)
            .where(
                campaigns.c.status == "running",
                of_campaign.exists(),
                ~of_campaign.where(messages.c.state.in_(_ACTIVE)).exists(),
                ~later_step.exists(),
            )
            .values(status="finished", finished_at=now)
            .returning(campaigns.c.id)
        ).scalars()
    )
    for campaign_id in finished:
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="finish",
            entity="campaign",
            entity_id=campaign_id,
            details={"reason": "every message reached a final state"},
            origin=origin,
        )
    return finished
