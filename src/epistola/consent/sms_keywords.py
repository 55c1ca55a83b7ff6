"""SMS keywords: STOP and its kin withdraw SMS consent, START restores it, HELP is answered — in English,
Russian and Polish — and every keyword message gets exactly one confirmation.

`classify` is pure. `handle_inbound` applies a keyword in the caller's transaction: it first inserts the
confirmation into `sms_replies`, keyed by the inbound message's id, so a provider that delivers the same
webhook twice (they retry on any hiccup) changes nothing the second time and causes no second reply.

The contract with the SMS channel: `epistola.consent.replies.send_pending` claims each pending reply,
hands its ``body`` to the SMS channel for ``recipient`` as a service message (consent does not apply to
the confirmation itself) and settles it, so each reply is handed over at most once; the number is
cleared once sent, as nothing else needs it. A sender of its own may use `pending_replies` and
`mark_reply_sent` (guarded by the state) instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, select, update

from epistola.consent import suppression
from epistola.consent.gate import erased_among
from epistola.consent.keys import Keyring
from epistola.consent.ledger import record_entries
from epistola.consent.model import ConsentEntry, Status
from epistola.consent.texts import SMS_REPLIES, language
from epistola.errors import NotFound
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import customers, sms_replies

Keyword = Literal["stop", "start", "help"]


def _fold(text: str) -> str:
    """Case, accents and separators folded: ``Rezygnuję`` -> ``rezygnuje``, ``opt-out`` -> ``optout``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch.isalnum())


# keyword -> (meaning, language it says the customer speaks; None: used in every language)
_KEYWORDS: Mapping[str, tuple[Keyword, str | None]] = {
    **{_fold(w): ("stop", None) for w in ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT")},
    _fold("REVOKE"): ("stop", "en"),
    **{_fold(w): ("stop", "ru") for w in ("СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "ОТМЕНА", "ОТКАЗ", "ХВАТИТ")},
    **{_fold(w): ("stop", "pl") for w in ("WYPISZ", "REZYGNUJĘ", "REZYGNACJA", "KONIEC", "ANULUJ")},
    **{_fold(w): ("start", None) for w in ("START", "UNSTOP")},
    **{_fold(w): ("start", "ru") for w in ("СТАРТ", "ПОДПИСАТЬСЯ")},
    _fold("ZAPISZ"): ("start", "pl"),
    **{_fold(w): ("help", "en") for w in ("HELP", "INFO")},
    **{_fold(w): ("help", "ru") for w in ("ПОМОЩЬ", "СПРАВКА")},
    _fold("POMOC"): ("help", "pl"),
}


@dataclass(frozen=True, kw_only=True)
class Match:
    keyword: Keyword
    language: str | None  # None: the word is the same in every language; answer in the customer's


def classify(text: str) -> Match | None:
    """The keyword a message is, or None.

    The whole message must be the keyword (``stop``, ``Stop!``, ``OPT OUT``). Opting out is also heard
    when the keyword opens a short message (``STOP please``, ``Отписка от рассылки``): erring towards
    an opt-out is the safe side. A restart must be the whole message, because consent must be clear.
    """
    whole = _fold(text)
    found = _KEYWORDS.get(whole)
    if found is None:
        words = text.split()
        if 1 < len(words) <= 3:
            first = _KEYWORDS.get(_fold(words[0]))
            if first is not None and first[0] in ("stop", "help"):
                found = first
    return None if found is None else Match(keyword=found[0], language=found[1])


@dataclass(frozen=True, kw_only=True)
class Inbound:
    """An inbound SMS as the webhook (or an SMPP deliver_sm) hands it over."""

    inbound_key: str  # unique per inbound message: "<provider>:<its message id>"
    sender: str  # the customer's number
    text: str


@dataclass(frozen=True, kw_only=True)
class Handled:
    keyword: Keyword | None
    duplicate: bool = False  # this inbound message was handled before: nothing done again
    customers: tuple[int, ...] = ()
    reply_id: int | None = None
    reply: str | None = None


def _customers_with(conn: Connection, phone: str) -> list[int]:
    ids = list(
        conn.execute(
            select(customers.c.id).where(customers.c.phone == phone, customers.c.merged_into.is_(None))
        ).scalars()
    )
    erased = erased_among(conn, ids)
    return [int(i) for i in ids if i not in erased]


def handle_inbound(conn: Connection, keyring: Keyring, message: Inbound, *, now: datetime) -> Handled:
    """Apply a keyword from `message.sender` to every customer with that number; queue one confirmation."""
    match = classify(message.text)
    if match is None:
        return Handled(keyword=None)
    ident = suppression.identifier("phone", message.sender)
    phone = ident.partition(":")[2]
    people = _customers_with(conn, phone)
    locale = None
    if people:
        locale = conn.execute(select(customers.c.locale).where(customers.c.id == people[0])).scalar()
    lang = match.language or language(locale)
    body = SMS_REPLIES[lang][match.keyword]
    inserted = insert_ignoring_conflicts(
        conn,
        sms_replies,
        [
            {
                "inbound_key": message.inbound_key[:200],
                "customer_id": people[0] if people else None,
                "recipient": phone,
                "keyword": match.keyword,
                "language": lang,
                "body": body,
                "state": "pending",
                "created_at": now,
            }
        ],
        ["inbound_key"],
    )
    if not inserted:
        return Handled(keyword=match.keyword, duplicate=True)
    reply_id = conn.execute(
        select(sms_replies.c.id).where(sms_replies.c.inbound_key == message.inbound_key[:200])
    ).scalar_one()
    proof = {"kind": "sms_keyword", "keyword": match.keyword, "inbound": message.inbound_key[:200]}
    if match.keyword in ("stop", "start"):
        status: Status = "withdrawn" if match.keyword == "stop" else "granted"
        entries = [
            ConsentEntry(
                customer_id=cid,
                channel="sms",
                purpose="marketing",
                status=status,
                source="sms_keyword",
                recorded_at=now,
                proof=proof,
            )
            for cid in people
        ]
        record_entries(conn, entries, now=now, actor="data-subject", origin="sms")
        if match.keyword == "stop":
            suppression.add(
                conn,
                keyring,
                [ident],
                scope="sms",
                reason="keyword",
                source="sms_keyword",
                now=now,
                actor="data-subject",
            )
        else:
            try:
                suppression.remove(
                    conn, keyring, [ident], scope="sms", now=now, actor="data-subject", reasons=("keyword",)
                )
            except NotFound:
                pass  # nothing to lift: START from a number that never sent STOP
    return Handled(keyword=match.keyword, customers=tuple(people), reply_id=reply_id, reply=body)


@dataclass(frozen=True, kw_only=True)
class Reply:
    id: int
    recipient: str
    body: str
    language: str


def pending_replies(conn: Connection, *, limit: int = 100) -> list[Reply]:
    """Confirmations waiting for the SMS channel, oldest first."""
    rows = conn.execute(
        select(sms_replies.c.id, sms_replies.c.recipient, sms_replies.c.body, sms_replies.c.language)
        .where(sms_replies.c.state == "pending", sms_replies.c.recipient.is_not(None))
        .order_by(sms_replies.c.id)
        .limit(limit)
    ).all()
    return [Reply(id=r.id, recipient=r.recipient, body=r.body, language=r.language) for r in rows]


def mark_reply_sent(conn: Connection, reply_id: int, *, now: datetime) -> bool:
    """Record the hand-over; False if it was no longer pending (someone else sent it): do not send again."""
    result = conn.execute(
        update(sms_replies)
        .where(sms_replies.c.id == reply_id, sms_replies.c.state.in_(("pending", "sending")))
        .values(state="sent", sent_at=now, recipient=None)
    )
    return bool(result.rowcount)


def mark_reply_failed(conn: Connection, reply_id: int, *, now: datetime) -> bool:
    """Record a definite refusal; False if it was no longer pending or being sent."""
    result = conn.execute(
        update(sms_replies)
        .where(sms_replies.c.id == reply_id, sms_replies.c.state.in_(("pending", "sending")))
        .values(state="failed", sent_at=now, recipient=None)
    )
    return bool(result.rowcount)
