"""Campaign routes: plan, start, pause, resume, cancel, progress and results — what the CLI does."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from epistola.accounts import ApiKey, Permission
from epistola.campaigns.report import campaign_report
from epistola.campaigns.service import (
    Campaign,
    change_status,
    create_campaign,
    get_campaign,
    list_campaigns,
    start_campaign,
)
from epistola.delivery.control import campaign_progress
from epistola.web.deps import ConnDep, ReaderKey, get_app, require

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
ManagerKey = Annotated[ApiKey, require(Permission.MANAGE_CAMPAIGNS)]


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    segment: str = Field(description="Name of the audience segment.")
    template: str = Field(description="Design; its newest approved version is used.")
    channel: Literal["email", "sms", "print", "inbox", "webhook"] = Field("email", description="Delivery channel.")
    control_pct: float = Field(10.0, ge=0, lt=100, description="Share held out as a control group, in %.")
    seed: int = 0
    objective: str = ""
    budget: Decimal | None = None
    response_window_days: int = Field(14, ge=1, le=365)
    topic: str | None = Field(
        None,
        description="What the campaign is about: one of the preference-centre topics (EPISTOLA_PREFERENCE_TOPICS). "
        "Customers who unticked it get none of its marketing; none: no topic filter.",
    )


class CampaignOut(BaseModel):
    id: int
    name: str
    status: str
    objective: str
    control_pct: float
    topic: str | None = Field(description="Preference-centre topic; none: not filtered by topic.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    messages: dict[str, int] = Field(default_factory=dict, description="Messages per delivery state.")

    @classmethod
    def of(cls, c: Campaign, progress: dict[Any, int] | None = None) -> CampaignOut:
        return cls(
            id=c.id,
            name=c.name,
            status=c.status,
            objective=c.objective,
            control_pct=float(c.control_pct),
            topic=c.topic,
            created_at=c.created_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            messages={str(k): v for k, v in (progress or {}).items() if v},
        )


@router.get("", summary="List campaigns")
def list_all(conn: ConnDep, key: ReaderKey) -> list[CampaignOut]:
    return [CampaignOut.of(c) for c in list_campaigns(conn)]


@router.post("", status_code=201, summary="Plan a campaign (nothing is sent until it is started)")
def create(body: CampaignIn, conn: ConnDep, key: ManagerKey, request: Request) -> CampaignOut:
    campaign = create_campaign(
        conn,
        name=body.name,
        segment=body.segment,
        template=body.template,
        channel=body.channel,
        control_pct=body.control_pct,
        seed=body.seed,
        objective=body.objective,
        budget=body.budget,
        response_window_days=body.response_window_days,
        topic=body.topic,
        topics=get_app(request).settings.topic_keys,
        now=get_app(request).clock(),
        actor=key.name,
    )
    return CampaignOut.of(campaign)


@router.get("/{ref}", summary="One campaign with its delivery progress")
def get_one(ref: str, conn: ConnDep, key: ReaderKey) -> CampaignOut:
    campaign = get_campaign(conn, ref)
    return CampaignOut.of(campaign, campaign_progress(conn, campaign.id))


@router.post("/{ref}/start", summary="Freeze the audience, split off the control group, queue the messages")
def start(ref: str, conn: ConnDep, key: ManagerKey, request: Request) -> dict[str, int]:
    return start_campaign(conn, ref, now=get_app(request).clock(), actor=key.name)


@router.post("/{ref}/{action}", summary="Pause, resume or cancel")
def control(
    ref: str, action: Literal["pause", "resume", "cancel"], conn: ConnDep, key: ManagerKey, request: Request
) -> CampaignOut:
    change_status(conn, ref, action, now=get_app(request).clock(), actor=key.name)
    campaign = get_campaign(conn, ref)
    return CampaignOut.of(campaign, campaign_progress(conn, campaign.id))


@router.get("/{ref}/report", summary="Delivery, engagement and response of target vs control, with lift")
def report(ref: str, conn: ConnDep, key: ReaderKey, request: Request) -> dict[str, Any]:
    return campaign_report(conn, ref, now=get_app(request).clock()).as_dict()
