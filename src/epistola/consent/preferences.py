"""What the preference centre and the unsubscribe link do: show a customer's choices and change them.

Channel choices are consent: each change is a ledger entry whose proof names the page, the consent
statement shown (version and hash), and the IP address and user agent where known. Topics and
frequency are preferences, kept in `customer_preferences` for the contact policy to honour.

Links carry a customer id that may since have been merged into another customer: the choice is made
for the customer the person is now. An erased customer has no preferences; their links show the same
page as an invalid link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from epistola import audit
from epistola.consent.gate import erased_among
from epistola.consent.ledger import current_state, record_entries
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import ConsentEntry
from epistola.consent.policy import ConsentPolicy
from epistola.consent.texts import statement
from epistola.consent.tokens import TokenKind, verify
from epistola.errors import InputError, Problem
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import customer_preferences, customers

CENTRE_CHANNELS = ("email", "sms", "post", "phone")
FREQUENCIES = ("any", "weekly", "monthly")
DATA_SUBJECT = "data-subject"  # the audit actor for changes a customer makes through a link


@dataclass(frozen=True, kw_only=True)
class Preferences:
    customer_id: int
    locale: str
    country: str | None
    contact: Mapping[str, str]  # channel -> masked address, so the person sees which one this is about
    channels: Mapping[str, bool]  # marketing allowed now, per channel (the policy applied to the ledger)
    topics: tuple[str, ...]
    frequency: str


@dataclass(frozen=True, kw_only=True)
class Change:
    """What a customer asked for on the page (only the fields the form sent)."""

    channels: Mapping[str, bool] = field(default_factory=dict)
    topics: Sequence[str] | None = None
    frequency: str | None = None


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def mask_phone(number: str) -> str:
    return f"•••{number[-3:]}" if len(number) > 3 else "•••"


def resolve(conn: Connection, customer_id: int) -> int | None:
    """The customer a link's id stands for now (following merges), or None if gone or erased."""
    seen: set[int] = set()
    current: int | None = customer_id
    while current is not None and current not in seen:
        seen.add(current)
        row = conn.execute(select(customers.c.merged_into).where(customers.c.id == current)).first()
        if row is None:
            return None
        if row.merged_into is None:
            return None if erased_among(conn, [current]) else current
        current = int(row.merged_into)
    return None


def customer_locale(conn: Connection, customer_id: int) -> str:
    return str(conn.execute(select(customers.c.locale).where(customers.c.id == customer_id)).scalar() or "en")


def load(
    conn: Connection, customer_id: int, *, policy: ConsentPolicy, topics: Sequence[str], now: datetime
) -> Preferences | None:
    cid = resolve(conn, customer_id)
    if cid is None:
        return None
    person = conn.execute(select(customers).where(customers.c.id == cid)).mappings().one()
    contact = {}
    if person["email"]:
        contact["email"] = mask_email(person["email"])
    if person["phone"]:
        contact["sms"] = contact["phone"] = mask_phone(person["phone"])
    channels = {}
    for channel in CENTRE_CHANNELS:
        status = current_state(conn, [cid], channel=channel, purpose="marketing", now=now).get(cid)
        channels[channel] = policy.decide(channel, "marketing", person["country"], status).allowed
    saved = conn.execute(select(customer_preferences).where(customer_preferences.c.customer_id == cid)).first()
    chosen = tuple(t for t in (saved.topics if saved else topics) if t in topics)
    return Preferences(
        customer_id=cid,
        locale=person["locale"] or "en",
        country=person["country"],
        contact=contact,
        channels=channels,
        topics=chosen,
        frequency=saved.frequency if saved else "any",
    )


def check_change(change: Change, topics: Sequence[str]) -> None:
    problems = [
        Problem(message=f"unknown channel; use one of {', '.join(CENTRE_CHANNELS)}", field=f"channels.{c}")
        for c in change.channels
        if c not in CENTRE_CHANNELS
    ]
    problems += [
        Problem(message=f"unknown topic; use one of {', '.join(topics)}", field="topics")
        for t in change.topics or ()
        if t not in topics
    ]
    if change.frequency is not None and change.frequency not in FREQUENCIES:
        problems.append(Problem(message=f"use one of {', '.join(FREQUENCIES)}", field="frequency"))
    if problems:
        raise InputError("invalid preferences", problems=problems)


def save(
    conn: Connection,
    current: Preferences,
    change: Change,
    *,
    topics: Sequence[str],
    proof: Mapping[str, Any],
    now: datetime,
    source: str = "preference_centre",
    actor: str = DATA_SUBJECT,
    origin: str = "preference-centre",
) -> list[ConsentEntry]:
    """Apply a change: one ledger entry per channel whose answer differs from what is allowed now."""
    check_change(change, topics)
    cid = current.customer_id
    entries = []
    for channel, wanted in change.channels.items():
        if wanted == current.channels.get(channel):
            continue
        shown = statement(channel, current.locale)
        entries.append(
            ConsentEntry(
                customer_id=cid,
                channel=channel,
                purpose="marketing",
                status="granted" if wanted else "withdrawn",
                source=source,
                recorded_at=now,
                proof={**proof, **(shown.proof() if wanted else {})},
            )
        )
    record_entries(conn, entries, now=now, actor=actor, origin=origin)
    if change.topics is not None or change.frequency is not None:
        values = {
            "topics": list(dict.fromkeys(change.topics if change.topics is not None else current.topics)),
            "frequency": change.frequency or current.frequency,
            "updated_at": now,
        }
        inserted = insert_ignoring_conflicts(
            conn, customer_preferences, [{"customer_id": cid, **values}], ["customer_id"]
        )
        if not inserted:
            conn.execute(update(customer_preferences).where(customer_preferences.c.customer_id == cid).values(**values))
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="preferences.update",
            entity="customer",
            entity_id=cid,
            details={"topics": values["topics"], "frequency": values["frequency"]},
            origin=origin,
        )
    return entries


def unsubscribe(
    conn: Connection,
    customer_id: int,
    *,
    proof: Mapping[str, Any],
    now: datetime,
    channel: str = "email",
    origin: str = "unsubscribe",
) -> bool | None:
    """Withdraw marketing consent on `channel` at once. True: withdrawn now; False: it already was (nothing
    is written twice); None: no such customer (gone or erased)."""
    cid = resolve(conn, customer_id)
    if cid is None:
        return None
    status = current_state(conn, [cid], channel=channel, purpose="marketing", now=now).get(cid)
    if status in ("withdrawn", "denied"):
        return False
    entry = ConsentEntry(
        customer_id=cid,
        channel=channel,
        purpose="marketing",
        status="withdrawn",
        source="unsubscribe",
        recorded_at=now,
        proof=dict(proof),
    )
    record_entries(conn, [entry], now=now, actor=DATA_SUBJECT, origin=origin)
    return True


def unsubscribe_by_mail(
    conn: Connection, links: PrivacyLinks, recipients: Sequence[str], *, now: datetime, proof: Mapping[str, Any]
) -> bool | None:
    """RFC 2369 ``mailto:`` unsubscribe: a mail to ``unsubscribe+TOKEN@…`` withdraws e-mail marketing.

    `recipients` are the addresses the mail was delivered to (envelope, Delivered-To, To); the first one
    carrying a valid token counts. None when none does (nothing happens, as for an invalid link).
    """
    for address in recipients:
        token = links.token_from_address(address)
        claims = None if token is None else verify(links.keyring, TokenKind.UNSUBSCRIBE, token)
        if claims is not None:
            extra = {"message_id": claims.message_id} if claims.message_id else {}
            return unsubscribe(
                conn, claims.customer_id, proof={"kind": "mailto", **extra, **proof}, now=now, origin="unsubscribe-mail"
            )
    return None
