"""Suppression lists: addresses that must not be contacted, global or per channel, kept as keyed hashes.

A row holds ``HMAC(key, "email:anna@example.com")``, never the address: an erased customer stays
suppressed although nothing else about them is kept, and a leaked table does not list anybody's address
(the key is not in the database). Lookups hash the candidate address under every key version we hold,
so a rotation does not lift old suppressions.

Reasons: ``hard_bounce`` and ``complaint`` come from delivery feedback, ``legal`` from data-subject
requests (erasure), ``manual`` from an operator, ``keyword`` from an SMS STOP.

An erasure also keeps the keyed hash of each source record's key (``record:<source>:<key>``), so that
an import meeting the person again skips them (`erased`) instead of bringing them back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, delete, select

from epistola import audit
from epistola.consent.keys import Keyring
from epistola.consent.model import CHANNELS
from epistola.errors import InputError, NotFound, Problem
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import suppressions

Reason = Literal["hard_bounce", "complaint", "legal", "manual", "keyword"]
REASONS: tuple[str, ...] = get_args(Reason)
SCOPES: tuple[str, ...] = ("all", *CHANNELS)
IdentifierKind = Literal["email", "phone"]

#: Which identifier a channel is addressed by; channels without one are suppressed per customer (consent).
CHANNEL_IDENTIFIER: Mapping[str, IdentifierKind] = {"email": "email", "sms": "phone", "phone": "phone"}


def normalise_email(value: str) -> str:
    """The canonical form the hub stores (email-validator, lower case); InputError if it is no address."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InputError("not an e-mail address", problems=[Problem(message=str(exc), field="email")]) from None


def normalise_phone(value: str, region: str | None = None) -> str:
    """E.164, as the hub stores phones; InputError if it cannot be a phone number."""
    try:
        number = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InputError("not a phone number", problems=[Problem(message=str(exc), field="phone")]) from None
    if not phonenumbers.is_valid_number(number):
        raise InputError("not a phone number", problems=[Problem(message="not a valid number", field="phone")])
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# An address already in the form `normalise_email` gives: lower-case ASCII dot-atom, LDH domain labels, no
# A-label (email-validator would turn ``xn--`` into Unicode). Whether the library accepts it or not (a test
# domain, a long label), its canonical form is the address itself, so it is hashed without the library
# (~25 us an address, on every e-mail at send time; the addresses the hub stores all look like this).
_CANONICAL_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?!xn--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.(?!xn--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
)


def identifier(kind: IdentifierKind, value: str) -> str:
    """``email:<canonical>`` or ``phone:<E.164>``: the text that is hashed.

    Never raises: a value the reference libraries refuse (a test domain, a short code) is hashed in a
    plain canonical form instead, the same way whenever it is added or looked up, so it still matches.
    Validate input from people with `normalise_email` / `normalise_phone` first.
    """
    if kind == "email" and _CANONICAL_EMAIL.fullmatch(value):
        return f"email:{value}"
    return validated_identifier(kind, value)


def validated_identifier(kind: IdentifierKind, value: str) -> str:
    """`identifier` always through the reference libraries (what the fast path must agree with)."""
    try:
        canonical = normalise_email(value) if kind == "email" else normalise_phone(value)
    except InputError:
        text = value.strip().lower()
        canonical = text if kind == "email" else "".join(ch for ch in text if ch.isdigit() or ch == "+")
    return f"{kind}:{canonical}"


def record_identifier(source: str, key: str) -> str:
    """``record:<source>:<key>``: the text hashed for an erased person's source record."""
    return f"record:{source}:{key.strip()}"


def digest(keyring: Keyring, ident: str, version: int | None = None) -> str | None:
    key = keyring.key("suppression", version)
    return None if key is None else hmac.new(key, ident.encode(), hashlib.sha256).hexdigest()


def _all_digests(keyring: Keyring, idents: Iterable[str]) -> dict[str, str]:
    """{hash: identifier} under every key version we hold."""
    out: dict[str, str] = {}
    for ident in idents:
        for version in keyring.versions:
            h = digest(keyring, ident, version)
            if h is not None:
                out[h] = ident
    return out


def _check(scope: str, reason: str) -> None:
    problems = []
    if scope not in SCOPES:
        problems.append(Problem(message=f"must be one of {', '.join(SCOPES)}", field="scope"))
    if reason not in REASONS:
        problems.append(Problem(message=f"must be one of {', '.join(REASONS)}", field="reason"))
    if problems:
        raise InputError("invalid suppression", problems=problems)


def add(
    conn: Connection,
    keyring: Keyring,
    idents: Sequence[str],
    *,
    scope: str,
    reason: str,
    source: str,
    now: datetime,
    actor: str,
    origin: str | None = None,
) -> int:
    """Suppress identifiers (from `identifier`) for `scope`; already suppressed ones stay as they were."""
    _check(scope, reason)
    rows = []
    for ident in dict.fromkeys(idents):
        h = digest(keyring, ident)
        assert h is not None  # noqa: S101 - the current version always has a key
        rows.append(
            {
                "scope": scope,
                "identifier_hash": h,
                "key_version": keyring.current_version,
                "reason": reason,
                "source": source[:100],
                "created_at": now,
            }
        )
    added = insert_ignoring_conflicts(conn, suppressions, rows, ["identifier_hash", "scope"])
    if added:
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="suppression.add",
            entity="suppression",
            details={"scope": scope, "reason": reason, "added": added, "source": source[:100]},
            origin=origin,
        )
    return added


def remove(
    conn: Connection,
    keyring: Keyring,
    idents: Sequence[str],
    *,
    scope: str,
    now: datetime,
    actor: str,
    origin: str | None = None,
    reasons: Sequence[str] = REASONS,
) -> int:
    """Lift suppressions of `scope` (and only those with one of `reasons`); NotFound if there were none."""
    hashes = list(_all_digests(keyring, idents))
    removed = conn.execute(
        delete(suppressions).where(
            suppressions.c.identifier_hash.in_(hashes),
            suppressions.c.scope == scope,
            suppressions.c.reason.in_(list(reasons)),
        )
    ).rowcount
    if not removed:
        raise NotFound(f"no {scope} suppression matches")
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="suppression.remove",
        entity="suppression",
        details={"scope": scope, "removed": removed},
        origin=origin,
    )
    return int(removed)


@dataclass(frozen=True, kw_only=True)
class Suppressed:
    scope: str
    reason: str
    created_at: datetime


def lookup(conn: Connection, keyring: Keyring, idents: Iterable[str]) -> dict[str, list[Suppressed]]:
    """{identifier: its suppressions} for the identifiers that have any (one query per 300)."""
    by_hash = _all_digests(keyring, idents)
    out: dict[str, list[Suppressed]] = {}
    hashes = list(by_hash)
    for start in range(0, len(hashes), 300):
        rows = conn.execute(
            select(
                suppressions.c.identifier_hash, suppressions.c.scope, suppressions.c.reason, suppressions.c.created_at
            ).where(suppressions.c.identifier_hash.in_(hashes[start : start + 300]))
        )
        for h, scope, reason, created in rows:
            out.setdefault(by_hash[h], []).append(Suppressed(scope=scope, reason=reason, created_at=created))
    return out


ERASURE = "erasure"  # the `source` of the suppressions an erasure keeps


def any_erased(conn: Connection) -> bool:
    """Has anybody been erased? (Imports skip the erased-subject check when not.)"""
    query = select(suppressions.c.id).where(suppressions.c.source == ERASURE, suppressions.c.reason == "legal")
    return conn.execute(query.limit(1)).first() is not None


def erased(conn: Connection, keyring: Keyring, idents: Iterable[str]) -> set[str]:
    """The identifiers (from `identifier` or `record_identifier`) that belong to an erased person."""
    by_hash = _all_digests(keyring, idents)
    hashes = list(by_hash)
    out: set[str] = set()
    for start in range(0, len(hashes), 300):
        rows = conn.execute(
            select(suppressions.c.identifier_hash).where(
                suppressions.c.identifier_hash.in_(hashes[start : start + 300]),
                suppressions.c.source == ERASURE,
                suppressions.c.reason == "legal",
            )
        )
        out.update(by_hash[h] for h in rows.scalars())
    return out


def blocking(found: Sequence[Suppressed], channel: str) -> Suppressed | None:
    """The suppression that stops a message on `channel`, if any: a global one or one for the channel."""
    for s in found:
        if s.scope in ("all", channel):
            return s
    return None
