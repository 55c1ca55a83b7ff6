"""Campaign results: delivery, engagement, and response of the target group against the control group.

Response is a purchase within the campaign's response window after it started, measured the same way
for both groups, so the difference is what the campaign caused (lift), with a two-proportion z-test
saying how sure we can be. Machine opens and clicks (scanners, proxies) are not responses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader
from sqlalchemy import Connection, and_, distinct, func, select

from epistola.campaigns.service import get_campaign
from epistola.charts import bar_chart
from epistola.store.schema import campaign_members, campaign_steps, events, messages, tracking_events


@dataclass(frozen=True, kw_only=True)
class GroupResult:
    size: int
    responders: int
    revenue: dict[str, Decimal]  # per currency: amounts in different currencies are never added up

    @property
    def rate(self) -> float:
        return self.responders / self.size if self.size else 0.0


@dataclass(frozen=True, kw_only=True)
class CampaignReport:
    campaign: str
    status: str
    started_at: datetime | None
    window_days: int
    states: dict[str, int]
    sent: int
    delivered: int
    opened: int
    clicked: int
    machine_events: int
    target: GroupResult
    control: GroupResult
    lift: float | None  # relative: (target rate - control rate) / control rate
    uplift_points: float  # absolute difference in percentage points
    p_value: float | None
    incremental_revenue: dict[str, Decimal]  # per currency, scaled to the target group's size

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["target"]["rate"], out["control"]["rate"] = self.target.rate, self.control.rate
        return out


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value that the two response rates differ (normal approximation)."""
    if min(n1, n2) == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _group(conn: Connection, campaign_id: int, grp: str, start: datetime, end: datetime) -> GroupResult:
    size = conn.execute(
        select(func.count())
        .select_from(campaign_members)
        .where(campaign_members.c.campaign_id == campaign_id, campaign_members.c.grp == grp)
    ).scalar_one()
    in_group = and_(
        campaign_members.c.customer_id == events.c.customer_id,
        campaign_members.c.campaign_id == campaign_id,
        campaign_members.c.grp == grp,
    )
    window = (events.c.type == "purchase", events.c.occurred_at >= start, events.c.occurred_at < end)
    responders = conn.execute(
        select(func.count(distinct(events.c.customer_id))).join(campaign_members, in_group).where(*window)
    ).scalar_one()
    revenue = conn.execute(
        select(events.c.currency, func.sum(events.c.amount))
        .join(campaign_members, in_group)
        .where(*window)
        .group_by(events.c.currency)
    ).all()
    return GroupResult(
        size=int(size),
        responders=int(responders),
        revenue={
            cur or "?": Decimal(str(total or 0)).quantize(Decimal("0.01"))
            for cur, total in sorted(revenue, key=lambda r: r[0] or "")
        },
    )


def campaign_report(conn: Connection, ref: str | int, *, now: datetime) -> CampaignReport:
    campaign = get_campaign(conn, ref)
    steps = select(campaign_steps.c.id).where(campaign_steps.c.campaign_id == campaign.id)
    states: dict[str, int] = dict(
        conn.execute(
            select(messages.c.state, func.count()).where(messages.c.step_id.in_(steps)).group_by(messages.c.state)
        ).all()
    )
    mine = select(messages.c.id).where(messages.c.step_id.in_(steps))

    def engaged(kind: str, machine: bool) -> int:
        return int(
            conn.execute(
                select(func.count(distinct(tracking_events.c.message_id))).where(
                    tracking_events.c.message_id.in_(mine),
                    tracking_events.c.kind == kind,
                    tracking_events.c.machine.is_(machine),
                )
            ).scalar_one()
        )

    start = campaign.started_at or now
    end = min(now, start + timedelta(days=campaign.response_window_days)) if campaign.started_at else start
    target = _group(conn, campaign.id, "target", start, end)
    control = _group(conn, campaign.id, "control", start, end)
    lift = (target.rate - control.rate) / control.rate if control.rate > 0 else None
    incremental = (
        {
            cur: (
                (
                    target.revenue.get(cur, Decimal(0)) / target.size
                    - control.revenue.get(cur, Decimal(0)) / control.size
                )
                * target.size
            ).quantize(Decimal("0.01"))
            for cur in sorted(set(target.revenue) | set(control.revenue))
        }
        if target.size and control.size
        else {}
    )
    sent = sum(states.get(s, 0) for s in ("sent", "delivered", "bounced"))
    return CampaignReport(
        campaign=campaign.name,
        status=campaign.status,
        started_at=campaign.started_at,
        window_days=campaign.response_window_days,
        states=states,
        sent=sent,
        delivered=states.get("delivered", 0),
        opened=engaged("open", False),
        clicked=engaged("click", False),
        machine_events=engaged("open", True) + engaged("click", True),
        target=target,
        control=control,
        lift=lift,
        uplift_points=(target.rate - control.rate) * 100,
        p_value=two_proportion_p_value(target.responders, target.size, control.responders, control.size),
        incremental_revenue=incremental,
    )


def money(amounts: dict[str, Decimal]) -> str:
    """'1,234.50 PLN · 99.00 USD'; nothing is converted."""
    return " · ".join(f"{amount:,.2f} {cur}" for cur, amount in amounts.items()) or "—"


def write_report_html(report: CampaignReport, path: Path, *, generated: datetime) -> Path:
    """A self-contained HTML page with charts (inline SVG), for people who would rather look than read."""
    env = Environment(loader=PackageLoader("epistola.campaigns", "templates"), autoescape=True)
    chart = bar_chart(
        [("target", report.target.rate * 100), ("control", report.control.rate * 100)], unit=" %", decimals=2
    )
    states_chart = bar_chart(sorted(report.states.items(), key=lambda kv: -kv[1]))
    html = env.get_template("report.html").render(
        r=report,
        money=money,
        chart=chart,
        states_chart=states_chart,
        generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
        lift="—" if report.lift is None else f"{report.lift * 100:+.1f} %",
        p="—" if report.p_value is None else f"{report.p_value:.3g}",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
