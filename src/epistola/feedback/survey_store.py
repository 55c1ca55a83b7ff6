"""Every query on surveys, their attachment to campaign steps, and the stored responses.

Callers own the transaction. Saving a survey replaces its definition and bumps its version; stored
responses keep the version they answered, so a changed survey never reinterprets an old answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from epistola import audit
from epistola.errors import NotFound
from epistola.feedback.surveys import Survey, parse_survey
from epistola.store.dialect import insert_id
from epistola.store.schema import campaign_steps, campaigns, step_surveys, survey_responses, surveys


@dataclass(frozen=True, kw_only=True)
class StoredSurvey:
    id: int
    version: int
    survey: Survey


@dataclass(frozen=True, kw_only=True)
class StoredResponse:
    id: int
    survey_id: int
    customer_id: int
    survey_version: int
    answers: dict[str, Any]
    revision: int
    created_at: datetime
    updated_at: datetime


def save_survey(
    conn: Connection, survey: Survey, *, now: datetime, actor: str, origin: str | None = None
) -> StoredSurvey:
    """Create the survey, or store a new version of it (validated already: `parse_survey`)."""
    definition = survey.definition()
    row = conn.execute(select(surveys.c.id, surveys.c.version).where(surveys.c.name == survey.name)).first()
    if row is None:
        survey_id = insert_id(
            conn,
            insert(surveys).values(name=survey.name, version=1, definition=definition, created_at=now, updated_at=now),
        )
        version = 1
    else:
        survey_id, version = int(row.id), int(row.version) + 1
        conn.execute(
            update(surveys)
            .where(surveys.c.id == survey_id)
            .values(version=version, definition=definition, updated_at=now)
        )
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="survey.save",
        entity="survey",
        entity_id=survey.name,
        details={"version": version, "questions": len(survey.questions)},
        origin=origin,
    )
    return StoredSurvey(id=survey_id, version=version, survey=survey)


def _stored(row: Any) -> StoredSurvey:
    return StoredSurvey(id=int(row.id), version=int(row.version), survey=parse_survey(row.definition))


def get_survey(conn: Connection, name: str) -> StoredSurvey:
    row = conn.execute(
        select(surveys.c.id, surveys.c.version, surveys.c.definition).where(surveys.c.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no survey {name!r}", hint="Save one with `epistola survey save FILE`.")
    return _stored(row)


def list_surveys(conn: Connection) -> list[StoredSurvey]:
    rows = conn.execute(select(surveys.c.id, surveys.c.version, surveys.c.definition).order_by(surveys.c.name))
    return [_stored(r) for r in rows]


def attach_survey(
    conn: Connection, *, campaign: str, position: int, survey: str, now: datetime, actor: str, origin: str | None = None
) -> None:
    """Show `survey` on the PURL page of every recipient of the campaign's step at `position`."""
    step_id = conn.execute(
        select(campaign_steps.c.id)
        .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
        .where(campaigns.c.name == campaign, campaign_steps.c.position == position)
    ).scalar()
    if step_id is None:
        raise NotFound(f"campaign {campaign!r} has no step {position}", hint="See `epistola campaign list`.")
    stored = get_survey(conn, survey)
    conn.execute(step_surveys.delete().where(step_surveys.c.step_id == step_id))
    conn.execute(insert(step_surveys).values(step_id=step_id, survey_id=stored.id))
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="survey.attach",
        entity="campaign",
        entity_id=campaign,
        details={"step": position, "survey": survey},
        origin=origin,
    )


def survey_for_step(conn: Connection, step_id: int) -> StoredSurvey | None:
    row = conn.execute(
        select(surveys.c.id, surveys.c.version, surveys.c.definition)
        .join(step_surveys, step_surveys.c.survey_id == surveys.c.id)
        .where(step_surveys.c.step_id == step_id)
    ).first()
    return None if row is None else _stored(row)


def get_response(
    conn: Connection, survey_id: int, customer_id: int, *, for_update: bool = False
) -> StoredResponse | None:
    query = select(survey_responses).where(
        survey_responses.c.survey_id == survey_id, survey_responses.c.customer_id == customer_id
    )
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return StoredResponse(
        id=int(row["id"]),
        survey_id=int(row["survey_id"]),
        customer_id=int(row["customer_id"]),
        survey_version=int(row["survey_version"]),
        answers=dict(row["answers"] or {}),
        revision=int(row["revision"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def write_response(
    conn: Connection,
    *,
    survey: StoredSurvey,
    customer_id: int,
    message_id: int | None,
    answers: dict[str, Any],
    previous: StoredResponse | None,
    now: datetime,
) -> StoredResponse:
    """Insert the first response or replace the previous one (revision + 1)."""
    if previous is None:
        response_id = insert_id(
            conn,
            insert(survey_responses).values(
                survey_id=survey.id,
                customer_id=customer_id,
                message_id=message_id,
                survey_version=survey.version,
                answers=answers,
                revision=1,
                created_at=now,
                updated_at=now,
            ),
        )
        revision, created = 1, now
    else:
        response_id, revision, created = previous.id, previous.revision + 1, previous.created_at
        conn.execute(
            update(survey_responses)
            .where(survey_responses.c.id == previous.id)
            .values(
                answers=answers,
                survey_version=survey.version,
                revision=revision,
                updated_at=now,
                message_id=message_id if message_id is not None else survey_responses.c.message_id,
            )
        )
    return StoredResponse(
        id=response_id,
        survey_id=survey.id,
        customer_id=customer_id,
        survey_version=survey.version,
        answers=answers,
        revision=revision,
        created_at=created,
        updated_at=now,
    )
