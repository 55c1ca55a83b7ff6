"""Attribution: which conversions (purchases, imported as events) follow which campaign step, for the
target group and the control group alike, so evaluation can compute lift.

Each step has one reference moment, the same for both groups: when its first message went out (or the
campaign's start, for a step nothing was sent for yet). A conversion of a campaign member belongs to the
latest step of that campaign whose reference moment is before it, if it falls within the response
window after that moment (the campaign's `response_window_days`, unless overridden). Using one moment
for both groups matters: measuring the target from each message's own send time and the control from
the campaign start would give the control a longer window and bias the lift.

Campaigns are independent: a purchase after two campaigns counts for each (each measures itself against
its own control group). Attribution is stored (`attributions`, one row per event and campaign) and is
incremental: running it again only adds conversions that arrived since.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from epistola import audit
from epistola.errors import NotFound
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import attributions, campaign_members, campaign_steps, campaigns, events, messages


@dataclass(frozen=True, kw_only=True)
class Step:
    id: int
    position: int
    starts: datetime


def step_moments(conn: Connection, campaign_id: int, started_at: datetime | None) -> list[Step]:
    """Each step's reference moment: its first hand-over, else the campaign's start (steps never started drop out)."""
    rows = conn.execute(
        select(campaign_steps.c.id, campaign_steps.c.position, func.min(messages.c.sent_at))
        .select_from(campaign_steps)
        .outerjoin(messages, messages.c.step_id == campaign_steps.c.id)
        .where(campaign_steps.c.campaign_id == campaign_id)
        .group_by(campaign_steps.c.id, campaign_steps.c.position)
    ).all()
    out = []
    for step_id, position, first_sent in rows:
        moment = first_sent or started_at
        if moment is not None:
            out.append(Step(id=int(step_id), position=int(position), starts=moment))
    return sorted(out, key=lambda s: (s.starts, s.position))


def assign(steps: Sequence[Step], occurred_at: datetime, window: timedelta) -> Step | None:
    """The latest step started before `occurred_at` whose window still covers it (pure)."""
    starts = [s.starts for s in steps]
    at = bisect.bisect_right(starts, occurred_at) - 1
    if at < 0:
        return None
    step = steps[at]
    return step if occurred_at < step.starts + window else None


@dataclass(kw_only=True)
class AttributionRun:
    campaigns: int = 0
    examined: int = 0
    attributed: int = 0  # new rows this run
    by_group: dict[str, int] = field(default_factory=dict)


def attribute(
    conn: Connection,
    *,
    now: datetime,
    campaign: str | None = None,
    event_type: str = "purchase",
    window_days: int | None = None,
    actor: str = "system",
) -> AttributionRun:
    """Attribute conversions of every started campaign (or of `campaign`) that are not attributed yet."""
    query = select(campaigns.c.id, campaigns.c.name, campaigns.c.started_at, campaigns.c.response_window_days).where(
        campaigns.c.started_at.is_not(None)
    )
    if campaign is not None:
        query = query.where(campaigns.c.name == campaign)
    chosen = conn.execute(query.order_by(campaigns.c.id)).all()
    if campaign is not None and not chosen:
        raise NotFound(f"no started campaign {campaign!r}", hint="See `epistola campaign list`.")
    run = AttributionRun()
    for campaign_id, _name, started_at, days in chosen:
        run.campaigns += 1
        steps = step_moments(conn, int(campaign_id), started_at)
        if not steps:
            continue
        window = timedelta(days=window_days if window_days is not None else int(days))
        done = select(attributions.c.event_id).where(attributions.c.campaign_id == campaign_id)
        candidates = conn.execute(
            select(events.c.id, events.c.customer_id, events.c.occurred_at, campaign_members.c.grp)
            .join(
                campaign_members,
                (campaign_members.c.customer_id == events.c.customer_id)
                & (campaign_members.c.campaign_id == campaign_id),
            )
            .where(
                events.c.type == event_type,
                events.c.occurred_at >= steps[0].starts,
                events.c.occurred_at < min(steps[-1].starts + window, now + timedelta(days=1)),
                events.c.id.not_in(done),
            )
        ).all()
        rows: list[dict[str, Any]] = []
        for event_id, customer_id, occurred_at, grp in candidates:
            run.examined += 1
            step = assign(steps, occurred_at, window)
            if step is None:
                continue
            rows.append(
                {
                    "event_id": event_id,
                    "campaign_id": campaign_id,
                    "step_id": step.id,
                    "customer_id": customer_id,
                    "grp": grp,
                    "attributed_at": now,
                }
            )
        added = insert_ignoring_conflicts(conn, attributions, rows, ["event_id", "campaign_id"])
        run.attributed += added
        for row in rows:
            run.by_group[row["grp"]] = run.by_group.get(row["grp"], 0) + 1
    if run.attributed:
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="attribution.run",
            entity="campaign",
            entity_id=campaign,
            details={"campaigns": run.campaigns, "attributed": run.attributed, "event_type": event_type},
        )
    return run


@dataclass(frozen=True, kw_only=True)
class GroupLine:
    members: int
    converters: int
    conversions: int
    revenue: dict[str, Decimal]  # per currency, never added across currencies

    @property
    def rate(self) -> float:
        return self.converters / self.members if self.members else 0.0


@dataclass(frozen=True, kw_only=True)
class StepLine:
    step: int  # position
    starts: datetime
    target: GroupLine
    control: GroupLine

    @property
    def lift(self) -> float | None:
        return (self.target.rate - self.control.rate) / self.control.rate if self.control.rate else None


def attribution_table(conn: Connection, campaign: str) -> list[StepLine]:
    """Per step and group: members, converters, conversions and revenue from stored attributions."""
    row = conn.execute(select(campaigns.c.id, campaigns.c.started_at).where(campaigns.c.name == campaign)).first()
    if row is None:
        raise NotFound(f"no campaign {campaign!r}", hint="See `epistola campaign list`.")
    sizes: dict[str, int] = dict(
        conn.execute(
            select(campaign_members.c.grp, func.count())
            .where(campaign_members.c.campaign_id == row.id)
            .group_by(campaign_members.c.grp)
        ).all()
    )
    counts = conn.execute(
        select(
            attributions.c.step_id,
            attributions.c.grp,
            func.count(distinct(attributions.c.customer_id)),
            func.count(),
        )
        .where(attributions.c.campaign_id == row.id)
        .group_by(attributions.c.step_id, attributions.c.grp)
    ).all()
    money = conn.execute(
        select(attributions.c.step_id, attributions.c.grp, events.c.currency, func.sum(events.c.amount))
        .join(events, events.c.id == attributions.c.event_id)
        .where(attributions.c.campaign_id == row.id)
        .group_by(attributions.c.step_id, attributions.c.grp, events.c.currency)
    ).all()
    lines = []
    for step in step_moments(conn, int(row.id), row.started_at):
        groups = {}
        for grp in ("target", "control"):
            converters, conversions = next(((c, n) for s, g, c, n in counts if s == step.id and g == grp), (0, 0))
            revenue = {
                (cur or "?"): Decimal(str(total or 0)).quantize(Decimal("0.01"))
                for s, g, cur, total in money
                if s == step.id and g == grp and total is not None
            }
            groups[grp] = GroupLine(
                members=int(sizes.get(grp, 0)),
                converters=int(converters),
                conversions=int(conversions),
                revenue=dict(sorted(revenue.items())),
            )
        lines.append(
            StepLine(step=step.position, starts=step.starts, target=groups["target"], control=groups["control"])
        )
    return lines
