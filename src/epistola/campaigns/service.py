"""Campaigns: plan (audience, design, control group), start (freeze the audience, fill the outbox).

Starting is one transaction: the segment is snapshotted, every member is assigned to target or control
by a keyed hash (reproducible, exactly the requested share), and one outbox row per target member is
queued. A crash before commit leaves nothing; after commit, workers take over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from epistola import audit
from epistola.audience.segments import get_segment, get_segment_by_id, snapshot_member_ids, take_snapshot
from epistola.content.templates import get_version
from epistola.delivery import control
from epistola.errors import Conflict, InputError, NotFound, Problem
from epistola.store.dialect import insert_id
from epistola.store.schema import campaign_members, campaign_steps, campaigns, customers, messages

CHANNELS = ("email", "sms", "print", "inbox", "webhook")  # each has a composer and an adapter (epistola.delivery)


@dataclass(frozen=True, kw_only=True)
class Campaign:
    id: int
    name: str
    status: str
    segment_id: int
    snapshot_id: int | None
    control_pct: Decimal
    seed: int
    objective: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    response_window_days: int
    topic: str | None  # a preference-centre topic: its marketing skips customers who unticked it


def check_topic(topic: str | None, topics: Sequence[str]) -> None:
    """A campaign's topic must be one the preference centre offers, or customers could not refuse it."""
    if topic is None or topic in topics:
        return
    allowed = f"use one of {', '.join(topics)}" if topics else "no topics are configured (EPISTOLA_PREFERENCE_TOPICS)"
    raise InputError(
        "invalid campaign",
        problems=[Problem(message=f"unknown topic {topic!r}; {allowed}", field="topic")],
        hint="Choose one of the keys in EPISTOLA_PREFERENCE_TOPICS, or no topic.",
    )


def _campaign(row: Any) -> Campaign:
    keys = Campaign.__dataclass_fields__
    return Campaign(**{k: row[k] for k in keys})


def get_campaign(conn: Connection, ref: str | int) -> Campaign:
    where = campaigns.c.id == int(ref) if str(ref).isdigit() else campaigns.c.name == str(ref)
    row = conn.execute(select(campaigns).where(where)).mappings().first()
    if row is None:
        raise NotFound(f"no campaign {ref!r}", hint="List campaigns with `epistola campaign list`.")
    return _campaign(row)


def list_campaigns(conn: Connection) -> list[Campaign]:
    return [_campaign(r) for r in conn.execute(select(campaigns).order_by(campaigns.c.id)).mappings()]


def create_campaign(
    conn: Connection,
    *,
    name: str,
    segment: str,
    template: str,
    now: datetime,
    channel: str = "email",
    control_pct: float = 10.0,
    seed: int = 0,
    objective: str = "",
    budget: Decimal | None = None,
    response_window_days: int = 14,
    topic: str | None = None,
    topics: Sequence[str] = (),
    actor: str = "system",
) -> Campaign:
    """Plan a campaign with one step; nothing is queued until `start_campaign`.

    `topic` (one of `topics`, the configured preference-centre topics) is what its marketing is about.
    """
    check_topic(topic, topics)
    if channel not in CHANNELS:
        raise InputError(f"channel {channel!r} is not available yet; use one of {', '.join(CHANNELS)}")
    if not 0 <= control_pct < 100:
        raise InputError(f"control group share must be at least 0 and below 100 %, not {control_pct}")
    if conn.execute(select(campaigns.c.id).where(campaigns.c.name == name)).scalar() is not None:
        raise Conflict(f"a campaign named {name!r} already exists", hint="Choose another name.")
    seg = get_segment(conn, segment)
    version = get_version(conn, template, approved=True)
    campaign_id = insert_id(
        conn,
        insert(campaigns).values(
            name=name,
            objective=objective,
            status="draft",
            segment_id=seg.id,
            control_pct=Decimal(str(control_pct)),
            seed=seed,
            budget=budget,
            response_window_days=response_window_days,
            topic=topic,
            created_at=now,
        ),
    )
    conn.execute(
        insert(campaign_steps).values(
            campaign_id=campaign_id,
            position=1,
            channel=channel,
            purpose="marketing",
            template_version_id=version.id,
        )
    )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="create",
        entity="campaign",
        entity_id=campaign_id,
        details={
            "name": name,
            "segment": segment,
            "template": template,
            "version": version.version,
            "control_pct": control_pct,
            "channel": channel,
            "topic": topic,
        },
    )
    return get_campaign(conn, int(campaign_id))


def control_rank(campaign_id: int, seed: int, customer_id: int) -> bytes:
    """A keyed, reproducible shuffle: the lowest ranks form the control group."""
    return hashlib.blake2b(f"{campaign_id}:{seed}:{customer_id}".encode(), digest_size=8).digest()


def split_control(campaign_id: int, seed: int, members: list[int], control_pct: float) -> tuple[list[int], set[int]]:
    ranked = sorted(members, key=lambda cid: control_rank(campaign_id, seed, cid))
    n_control = round(len(members) * control_pct / 100)
    control = set(ranked[:n_control])
    return [m for m in members if m not in control], control


def start_campaign(conn: Connection, ref: str | int, *, now: datetime, actor: str = "system") -> dict[str, int]:
    """Freeze the audience, split target and control, queue one message per target member and step."""
    campaign = get_campaign(conn, ref)
    if campaign.status != "draft":
        raise Conflict(f"campaign {campaign.name!r} is {campaign.status}; only a draft can be started")
    snapshot = take_snapshot(conn, get_segment_by_id(conn, campaign.segment_id), now)
    members = snapshot_member_ids(conn, snapshot.id)
    target, control = split_control(campaign.id, campaign.seed, members, float(campaign.control_pct))
    if members:
        conn.execute(
            insert(campaign_members),
            [
                {"campaign_id": campaign.id, "customer_id": m, "grp": "control" if m in control else "target"}
                for m in members
            ],
        )
    steps = conn.execute(
        select(campaign_steps.c.id, campaign_steps.c.channel).where(campaign_steps.c.campaign_id == campaign.id)
    ).all()
    emails = _emails(conn, target)
    queued = 0
    for step_id, channel in steps:
        rows = [
            {
                "step_id": step_id,
                "customer_id": cid,
                "channel": channel,
                "state": "queued",
                "recipient": emails.get(cid) if channel == "email" else None,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for cid in target
        ]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(messages), rows[start : start + 5000])
        queued += len(rows)
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .values(status="running", snapshot_id=snapshot.id, started_at=now)
    )
    figures = {"audience": len(members), "target": len(target), "control": len(control), "queued": queued}
    audit.record(conn, at=now, actor=actor, action="start", entity="campaign", entity_id=campaign.id, details=figures)
    return figures


def change_status(conn: Connection, ref: str | int, verb: str, *, now: datetime, actor: str = "system") -> int:
    """Pause, resume or cancel; returns how many queued messages a cancel turned into `cancelled`."""
    campaign = get_campaign(conn, ref)
    cancelled = 0
    if verb == "pause":
        control.pause_campaign(conn, campaign.id)
    elif verb == "resume":
        control.resume_campaign(conn, campaign.id)
    elif verb == "cancel":
        cancelled = control.cancel_campaign(conn, campaign.id, now=now)
    else:
        raise InputError(f"unknown campaign action {verb!r}; use pause, resume or cancel")
    audit.record(
        conn,
        at=now,
        actor=actor,
        action=verb,
        entity="campaign",
        entity_id=campaign.id,
        details={"cancelled_messages": cancelled} if verb == "cancel" else {},
    )
    return cancelled


def _emails(conn: Connection, ids: list[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        out.update(conn.execute(select(customers.c.id, customers.c.email).where(customers.c.id.in_(chunk))).all())
    return out
