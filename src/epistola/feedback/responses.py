"""Recording a customer's survey answers: stored, mapped into the profile, consent recorded with the text
agreed to, emitted as events, audited — all in the caller's transaction, so it all happens or none of it.

A customer may come back through the same PURL and change answers: the response is replaced (its
revision goes up), the profile follows, and only what changed is emitted again, so the events table is
the history of what the customer said and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from epistola import audit
from epistola.consent.ledger import ConsentEntry, append_entries
from epistola.errors import Conflict, InputError
from epistola.feedback.profile import EnrichmentProfile, ProfileWriter
from epistola.feedback.survey_store import StoredResponse, StoredSurvey, get_response, write_response
from epistola.feedback.surveys import CHOICE_TYPES, Survey, changed_answers, pick, profile_updates, validate_answers
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import events

ANSWER_EVENT = "survey.answer"
COMPLETED_EVENT = "survey.completed"


@dataclass(frozen=True, kw_only=True)
class Recorded:
    response: StoredResponse
    changed: tuple[str, ...]  # question ids whose answer is new or different
    events: int
    consents: int


def answer_events(
    survey: Survey, response: StoredResponse, changed: Mapping[str, Any], *, message_id: int | None, now: datetime
) -> list[dict[str, Any]]:
    """The events rows of one submission: one per changed answer (per chosen option), one completion."""
    rows: list[dict[str, Any]] = []

    def add(etype: str, category: str, properties: dict[str, Any]) -> None:
        rows.append(
            {
                "event_uid": f"survey:{response.id}:{response.revision}:{len(rows)}",
                "customer_id": response.customer_id,
                "type": etype,
                "occurred_at": now,
                "amount": None,
                "currency": None,
                "category": category[:100],
                "properties": {"survey": survey.name, "version": response.survey_version, **properties},
                "received_at": now,
            }
        )

    for q in survey.questions:
        if q.id not in changed:
            continue
        value = changed[q.id]
        base = f"{survey.name}:{q.id}"
        if q.type in CHOICE_TYPES and value not in (None, []):
            for chosen in value if isinstance(value, list) else [value]:
                add(ANSWER_EVENT, f"{base}={chosen}", {"question": q.id, "value": chosen})
        elif q.type == "consent":
            add(ANSWER_EVENT, f"{base}={'yes' if value else 'no'}", {"question": q.id, "value": bool(value)})
        else:
            add(ANSWER_EVENT, base, {"question": q.id, "value": value})
    add(
        COMPLETED_EVENT,
        survey.name,
        {"revision": response.revision, "changed": sorted(changed), "message_id": message_id},
    )
    return rows


def consent_entries(
    survey: Survey,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    customer_id: int,
    message_id: int | None,
    locale: str,
    ip: str | None,
    version: int,
    now: datetime,
) -> list[ConsentEntry]:
    """A grant when a consent box is newly ticked, a withdrawal when a ticked box is cleared; the proof is
    the exact text the customer saw, in their language, and where it was given."""
    out: list[ConsentEntry] = []
    for q in survey.questions:
        if q.type != "consent" or q.consent is None or bool(before.get(q.id)) == bool(after.get(q.id)):
            continue
        proof: dict[str, Any] = {
            "kind": "survey",
            "survey": survey.name,
            "version": version,
            "question": q.id,
            "text": pick(q.text, locale),
            "locale": locale,
            "message_id": message_id,
        }
        if ip:  # proof of the consent only, removed by an erasure (never in the audit log)
            proof["ip"] = ip
        out.append(
            ConsentEntry(
                customer_id=customer_id,
                channel=q.consent.channel,
                purpose=q.consent.purpose,
                status="granted" if after.get(q.id) else "withdrawn",
                source=f"survey:{survey.name}"[:100],
                recorded_at=now,
                proof=proof,
            )
        )
    return out


def record_answers(
    conn: Connection,
    *,
    survey: StoredSurvey,
    customer_id: int,
    message_id: int | None,
    answers: dict[str, Any],
    now: datetime,
    actor: str,
    locale: str = "en",
    origin: str | None = None,
    ip: str | None = None,
    profile: ProfileWriter | None = None,
) -> Recorded:
    """Store validated `answers` (see `validate_answers`) and everything that follows from them.

    `origin` goes into the audit row and must not identify the person (e.g. ``purl``); `ip` is kept
    only as proof of a consent given in the answers, where an erasure can remove it.
    """
    previous = get_response(conn, survey.id, customer_id, for_update=True)
    before = previous.answers if previous else {}
    changed = changed_answers(before, answers)
    if previous is not None and not changed:  # the same answers again: nothing to record
        return Recorded(response=previous, changed=(), events=0, consents=0)
    try:
        with conn.begin_nested():
            response = write_response(
                conn,
                survey=survey,
                customer_id=customer_id,
                message_id=message_id,
                answers=answers,
                previous=previous,
                now=now,
            )
    except IntegrityError:
        raise Conflict(
            "these answers were sent twice at the same moment", hint="Reload the page to see what was saved."
        ) from None
    updates = profile_updates(survey.survey, answers)
    mapped_changed = {
        q.profile.split(".", 1)[1]: updates[q.profile.split(".", 1)[1]]
        for q in survey.survey.questions
        if q.profile and q.id in changed
    }
    (profile or EnrichmentProfile()).write(
        conn, customer_id, mapped_changed, source=f"survey:{survey.survey.name}", at=now
    )
    entries = consent_entries(
        survey.survey,
        before,
        answers,
        customer_id=customer_id,
        message_id=message_id,
        locale=locale,
        ip=ip,
        version=survey.version,
        now=now,
    )
    append_entries(conn, entries)
    rows = answer_events(survey.survey, response, changed, message_id=message_id, now=now)
    inserted = insert_ignoring_conflicts(conn, events, rows, ["event_uid"])
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="survey.answer",
        entity="customer",
        entity_id=customer_id,
        details={
            "survey": survey.survey.name,
            "version": survey.version,
            "revision": response.revision,
            "changed": sorted(changed),  # question ids only: the answers are personal data
            "profile": sorted(mapped_changed),
            "consents": len(entries),
        },
        origin=origin,
    )
    return Recorded(response=response, changed=tuple(sorted(changed)), events=inserted, consents=len(entries))


def answer_survey(
    conn: Connection,
    *,
    survey: StoredSurvey,
    customer_id: int,
    message_id: int | None,
    submitted: Mapping[str, Any],
    now: datetime,
    actor: str,
    locale: str = "en",
    origin: str | None = None,
    ip: str | None = None,
    profile: ProfileWriter | None = None,
) -> Recorded:
    """Validate then record; invalid answers raise `InputError` naming each question (nothing is stored)."""
    checked = validate_answers(survey.survey, submitted, today=now.date())
    if not checked.ok:
        raise InputError(f"answers to survey {survey.survey.name} are invalid", problems=checked.problems())
    return record_answers(
        conn,
        survey=survey,
        customer_id=customer_id,
        message_id=message_id,
        answers=checked.answers,
        now=now,
        actor=actor,
        locale=locale,
        origin=origin,
        ip=ip,
        profile=profile,
    )
