"""What happens when bounces and complaints come back: the store side of delivery feedback.

- every report is kept once (`feedback_reports`, unique by report uid), whichever way it arrived
  (bounce mailbox, IMAP, provider webhook), so reading a mailbox twice changes nothing;
- the message it names is settled (`sent` → `bounced` or `delivered`) if the report's recipient is the
  message's recipient — a forged report naming some message id does nothing;
- a hard bounce suppresses the address at once; soft bounces are counted and suppress once there are
  `soft_bounce_threshold` of them within `soft_bounce_window_days` (until then later campaigns simply
  try again: the receiving server already retried this one);
- a complaint suppresses the address, and counts toward its domain's complaint rate over
  `complaint_window_days`: above `complaint_rate` (0.3 %), once at least `complaint_min_sent` messages
  went to that domain, marketing to the whole domain is paused until someone resumes it.

Suppression itself belongs to the consent package; this module reaches it through the `Suppressor` port.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import Connection, and_, func, select, update

from epistola import audit
from epistola.config import Settings
from epistola.delivery.outbox import legal_sources
from epistola.delivery.states import MessageState
from epistola.errors import NotFound
from epistola.feedback.bounces import domain_of
from epistola.feedback.reports import Report
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import domain_pauses, feedback_reports, messages

SuppressReason = Literal["hard_bounce", "complaint"]

_DELIVERED = legal_sources([MessageState.SENT, MessageState.UNCERTAIN], MessageState.DELIVERED)
_BOUNCED = legal_sources([MessageState.SENT, MessageState.UNCERTAIN], MessageState.BOUNCED)


class Suppressor(Protocol):
    """The one call this module needs from the suppression list (implemented in `feedback.suppress`)."""

    def suppress(
        self,
        conn: Connection,
        addresses: Sequence[str],
        *,
        channel: str,
        reason: SuppressReason,
        source: str,
        now: datetime,
        actor: str,
    ) -> int:
        """Suppress `addresses` on `channel`; returns how many were newly suppressed."""


@dataclass(frozen=True, kw_only=True)
class FeedbackPolicy:
    soft_bounce_threshold: int = 3
    soft_bounce_window_days: int = 30
    complaint_rate: float = 0.003  # 0.3 %
    complaint_window_days: int = 30
    complaint_min_sent: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackPolicy:
        return cls(
            soft_bounce_threshold=settings.soft_bounce_threshold,
            soft_bounce_window_days=settings.soft_bounce_window_days,
            complaint_rate=settings.complaint_pause_rate,
            complaint_window_days=settings.complaint_window_days,
            complaint_min_sent=settings.complaint_min_sent,
        )


@dataclass(kw_only=True)
class Outcome:
    """What one batch of reports did."""

    reports: int = 0
    duplicates: int = 0
    matched: int = 0  # tied to a message we sent to that very address
    untrusted: int = 0  # named one of our messages, but not its recipient: kept, not acted on
    by_kind: dict[str, int] = field(default_factory=dict)
    settled: int = 0  # messages moved to bounced or delivered
    suppressed: int = 0
    paused_domains: list[str] = field(default_factory=list)


def _match(conn: Connection, report: Report, channel: str) -> tuple[int | None, bool]:
    """(our message the report is about, whether to act on the report).

    A report that names one of our messages is acted on only if that message went to the reported
    address: a report pairing some message with another address is forged or garbled, and is kept but
    does nothing. Any other report is matched to the latest message sent to the address, if any.
    """
    if report.message_id is not None:
        row = conn.execute(
            select(messages.c.id, messages.c.recipient).where(
                messages.c.id == report.message_id, messages.c.channel == channel
            )
        ).first()
        if row is not None:
            return (int(row.id), True) if (row.recipient or "").lower() == report.address else (None, False)
        # not one of our rows (purged, or another system's id of the same shape): go by the address
    found = conn.execute(
        select(messages.c.id)
        .where(
            func.lower(messages.c.recipient) == report.address,
            messages.c.channel == channel,
            messages.c.sent_at.is_not(None),
        )
        .order_by(messages.c.sent_at.desc(), messages.c.id.desc())
        .limit(1)
    ).scalar()
    return (None if found is None else int(found)), True


def _settle(conn: Connection, message_id: int, report: Report, now: datetime) -> int:
    if report.kind == "delivered":
        target, sources, values = MessageState.DELIVERED, _DELIVERED, {}
    elif report.kind in ("hard", "soft"):
        detail = " ".join(p for p in (report.kind, "bounce", report.status, report.diagnostic) if p)
        target, sources, values = MessageState.BOUNCED, _BOUNCED, {"error": detail[:1000]}
    else:
        return 0
    result = conn.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.state.in_(sources))
        .values(state=target.value, updated_at=now, **values)
    )
    return int(result.rowcount or 0)


def soft_bounces(conn: Connection, address: str, *, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                feedback_reports.c.address == address,
                feedback_reports.c.kind == "soft",
                feedback_reports.c.occurred_at >= since,
            )
        ).scalar_one()
    )


def _like_domain(domain: str) -> str:
    escaped = domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%@{escaped}"


def complaint_rate(conn: Connection, domain: str, *, channel: str, since: datetime) -> tuple[int, int]:
    """(complaints, messages sent) for `domain` since `since`."""
    complaints = conn.execute(
        select(func.count()).where(
            feedback_reports.c.domain == domain,
            feedback_reports.c.kind == "complaint",
            feedback_reports.c.channel == channel,
            feedback_reports.c.occurred_at >= since,
        )
    ).scalar_one()
    sent = conn.execute(
        select(func.count()).where(
            messages.c.channel == channel,
            messages.c.sent_at >= since,
            func.lower(messages.c.recipient).like(_like_domain(domain), escape="\\"),
        )
    ).scalar_one()
    return int(complaints), int(sent)


def active_pause(conn: Connection, domain: str, channel: str) -> int | None:
    return conn.execute(
        select(domain_pauses.c.id).where(
            domain_pauses.c.domain == domain, domain_pauses.c.channel == channel, domain_pauses.c.resumed_at.is_(None)
        )
    ).scalar()


def paused_domains(conn: Connection, channel: str = "email") -> dict[str, str]:
    """{domain: reason} for every domain whose marketing is paused now (the composer skips them)."""
    rows = conn.execute(
        select(domain_pauses.c.domain, domain_pauses.c.reason).where(
            domain_pauses.c.channel == channel, domain_pauses.c.resumed_at.is_(None)
        )
    )
    return {domain: reason for domain, reason in rows}


def _check_domain(
    conn: Connection, domain: str, channel: str, policy: FeedbackPolicy, now: datetime, actor: str
) -> bool:
    if active_pause(conn, domain, channel) is not None:
        return False
    complaints, sent = complaint_rate(
        conn, domain, channel=channel, since=now - timedelta(days=policy.complaint_window_days)
    )
    if sent < policy.complaint_min_sent or complaints <= policy.complaint_rate * sent:
        return False
    reason = (
        f"complaint rate {complaints / sent:.2%} over {policy.complaint_window_days} days "
        f"({complaints} complaints, {sent} sent) is above {policy.complaint_rate:.2%}"
    )
    conn.execute(
        domain_pauses.insert().values(
            domain=domain, channel=channel, reason=reason, complaints=complaints, sent=sent, paused_at=now
        )
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="domain.pause",
        entity="domain",
        entity_id=domain,
        details={"channel": channel, "complaints": complaints, "sent": sent},
    )
    return True


def resume_domain(conn: Connection, domain: str, *, channel: str = "email", now: datetime, actor: str) -> None:
    """Lift a pause (after the cause is fixed); complaints before now keep counting in the window."""
    pause = active_pause(conn, domain.lower(), channel)
    if pause is None:
        raise NotFound(f"marketing to {domain} is not paused", hint="See `epistola feedback domains`.")
    conn.execute(
        update(domain_pauses).where(domain_pauses.c.id == pause).values(resumed_at=now, resumed_by=actor[:100])
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="domain.resume",
        entity="domain",
        entity_id=domain,
        details={"channel": channel},
    )


def record_reports(
    conn: Connection,
    reports: Iterable[Report],
    *,
    source: str,
    suppressor: Suppressor,
    now: datetime,
    actor: str = "system",
    channel: str = "email",
    policy: FeedbackPolicy | None = None,
) -> Outcome:
    """Keep each new report, settle its message, suppress and pause as the rules above say."""
    policy = policy or FeedbackPolicy()
    out = Outcome()
    complained_domains: set[str] = set()
    for report in reports:
        out.reports += 1
        message_id, trusted = _match(conn, report, channel)
        row = {
            "report_uid": report.report_uid,
            "kind": report.kind,
            "channel": channel,
            "address": report.address[:320],
            "domain": domain_of(report.address)[:255],
            "message_id": message_id,
            "status": report.status,
            "diagnostic": report.diagnostic,
            "source": source[:40],
            "reporter": (report.reporter or "")[:255] or None,
            "occurred_at": report.occurred_at or now,
            "received_at": now,
        }
        if not insert_ignoring_conflicts(conn, feedback_reports, [row], ["report_uid"]):
            out.duplicates += 1
            continue
        out.by_kind[report.kind] = out.by_kind.get(report.kind, 0) + 1
        if not trusted:
            out.untrusted += 1
            continue
        if message_id is not None:
            out.matched += 1
            out.settled += _settle(conn, message_id, report, now)
        if report.kind == "hard":
            out.suppressed += suppressor.suppress(
                conn,
                [report.address],
                channel=channel,
                reason="hard_bounce",
                source=f"bounce:{source}",
                now=now,
                actor=actor,
            )
        elif report.kind == "soft":
            since = now - timedelta(days=policy.soft_bounce_window_days)
            if soft_bounces(conn, report.address, since=since) >= policy.soft_bounce_threshold:
                out.suppressed += suppressor.suppress(
                    conn,
                    [report.address],
                    channel=channel,
                    reason="hard_bounce",
                    source=f"soft bounces: {policy.soft_bounce_threshold} in {policy.soft_bounce_window_days} days",
                    now=now,
                    actor=actor,
                )
        elif report.kind == "complaint":
            out.suppressed += suppressor.suppress(
                conn,
                [report.address],
                channel=channel,
                reason="complaint",
                source=f"complaint:{source}",
                now=now,
                actor=actor,
            )
            complained_domains.add(domain_of(report.address)[:255])
    for domain in sorted(complained_domains):
        if _check_domain(conn, domain, channel, policy, now, actor):
            out.paused_domains.append(domain)
    if out.reports - out.duplicates:
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="feedback.reports",
            entity="feedback_reports",
            entity_id=source[:100],
            details={
                "new": out.reports - out.duplicates,
                "duplicates": out.duplicates,
                "untrusted": out.untrusted,
                "kinds": out.by_kind,
                "settled": out.settled,
                "suppressed": out.suppressed,
                "paused": out.paused_domains,
            },
        )
    return out


def recent_reports(conn: Connection, *, limit: int = 50, kind: str | None = None) -> list[dict[str, object]]:
    query = select(feedback_reports).order_by(feedback_reports.c.id.desc()).limit(limit)
    if kind:
        query = query.where(feedback_reports.c.kind == kind)
    return [dict(r) for r in conn.execute(query).mappings()]


def domain_table(conn: Connection, *, channel: str = "email", since: datetime) -> list[dict[str, object]]:
    """Per domain: reports by kind since `since`, and whether marketing to it is paused."""
    rows = conn.execute(
        select(feedback_reports.c.domain, feedback_reports.c.kind, func.count())
        .where(and_(feedback_reports.c.channel == channel, feedback_reports.c.occurred_at >= since))
        .group_by(feedback_reports.c.domain, feedback_reports.c.kind)
    ).all()
    paused = paused_domains(conn, channel)
    table: dict[str, dict[str, object]] = {}
    for domain, kind, count in rows:
        table.setdefault(domain, {"domain": domain, "paused": domain in paused})[kind] = int(count)
    for domain in paused:
        table.setdefault(domain, {"domain": domain, "paused": True})
    return sorted(table.values(), key=lambda r: str(r["domain"]))
