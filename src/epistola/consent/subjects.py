"""Who a data-subject request is about: a customer, the customers merged into them, and what identifies
that person (addresses, numbers, names, IP addresses) wherever the store holds it.

Export, erasure and the tests' table scan share this, so "the customer's identifiers" means the same
thing everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import Connection, select

from epistola.errors import NotFound
from epistola.store.schema import consents, customers, erasures, messages, sms_replies, source_records

_NAME_KEYS = ("full_name", "name")
_TEXT_KEYS = ("email", "ip", "street", "address")
_PHONE_KEYS = ("phone", "mobile", "msisdn")


def person_ids(conn: Connection, customer_id: int) -> list[int]:
    """The customer a request names (followed to the customer it was merged into), then every customer
    merged into that one, at any depth. NotFound if there is no such customer."""
    root = customer_id
    seen: set[int] = set()
    while root not in seen:
        seen.add(root)
        row = conn.execute(select(customers.c.merged_into).where(customers.c.id == root)).first()
        if row is None:
            raise NotFound(f"no customer {customer_id}", hint="Look the customer up with `epistola customers show`.")
        if row.merged_into is None:
            break
        root = int(row.merged_into)
    ids = [root]
    frontier = [root]
    while frontier:
        children = [
            int(c)
            for c in conn.execute(select(customers.c.id).where(customers.c.merged_into.in_(frontier))).scalars()
            if int(c) not in ids
        ]
        ids.extend(children)
        frontier = children
    return ids


def erased_at(conn: Connection, customer_id: int) -> Any:
    return conn.execute(select(erasures.c.erased_at).where(erasures.c.customer_id == customer_id)).scalar()


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


@dataclass
class Identifiers:
    """What identifies a person, as text to look for. Personal data itself: never log or store it."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # E.164 where known
    texts: set[str] = field(default_factory=set)  # names, streets, IP addresses, raw spellings

    def add_phone(self, raw: str) -> None:
        raw = raw.strip()
        if not raw:
            return
        self.texts.add(raw)
        try:
            number = phonenumbers.parse(raw, None if raw.startswith("+") else "US")
        except phonenumbers.NumberParseException:
            return
        if raw.startswith("+"):
            self.phones.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

    def unique_only(self) -> Identifiers:
        """Just the identifiers that name one person by themselves (e-mails, phone numbers): a street or a
        common name is shared with other customers, whose rows must not count as this person's."""
        return Identifiers(emails=set(self.emails), phones=set(self.phones))

    def needles(self) -> list[str]:
        """Case-folded strings whose presence in a text means the text is about this person."""
        found = {e.casefold() for e in self.emails} | {t.casefold() for t in self.texts if len(t.strip()) >= 5}
        found |= {p for p in self.phones}
        return sorted(n.strip() for n in found if n.strip())

    def freeze(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The needles, computed once per set of identifiers (scans call `mentioned_in` per value)."""
        key = (len(self.emails), len(self.phones), len(self.texts))
        if getattr(self, "_frozen_key", None) != key:
            self._frozen = (tuple(self.needles()), tuple(self.digit_needles()))
            self._frozen_key = key
        return self._frozen

    def digit_needles(self) -> list[str]:
        """National numbers (at least 7 digits), found however a text spells the number."""
        out = set()
        for phone in self.phones:
            try:
                number = phonenumbers.parse(phone, None)
            except phonenumbers.NumberParseException:
                continue
            national = str(number.national_number)
            if len(national) >= 7:
                out.add(national)
        return sorted(out)

    def mentioned_in(self, value: Any) -> bool:
        """Does this value (text, JSON, anything) name the person?"""
        if value is None:
            return False
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        needles, digit_needles = self.freeze()
        folded = text.casefold()
        if any(n in folded for n in needles):
            return True
        if not digit_needles:
            return False
        digits = _digits(text)
        return any(d in digits for d in digit_needles)


def _collect(found: Identifiers, values: dict[str, Any]) -> None:
    for key, value in (values or {}).items():
        if not isinstance(value, str) or not value.strip():
            continue
        k = key.lower()
        if k == "email" or k.endswith("_email"):
            found.emails.add(value.strip())
        elif k in _PHONE_KEYS or k.endswith("_phone"):
            found.add_phone(value)
        elif k in _NAME_KEYS or k in _TEXT_KEYS:
            found.texts.add(value.strip())


def identifiers(conn: Connection, ids: Iterable[int]) -> Identifiers:
    """Everything that identifies these customers, from every place the store keeps it."""
    ids = list(ids)
    found = Identifiers()
    for row in conn.execute(select(customers).where(customers.c.id.in_(ids))).mappings():
        if row["email"]:
            found.emails.add(row["email"])
        if row["phone"]:
            found.add_phone(row["phone"])
        name = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        if name:
            found.texts.add(name)
        if row["street"]:
            found.texts.add(row["street"])
    for data, normalized in conn.execute(
        select(source_records.c.data, source_records.c.normalized).where(source_records.c.customer_id.in_(ids))
    ):
        _collect(found, data)
        _collect(found, normalized)
        for first, last in (("first_name", "last_name"), ("given_name", "surname")):
            name = " ".join(str(d.get(k)) for d in (data or {},) for k in (first, last) if d.get(k))
            if name:
                found.texts.add(name)
    for (proof,) in conn.execute(select(consents.c.proof).where(consents.c.customer_id.in_(ids))):
        for key in ("ip", "email", "phone", "from"):
            value = (proof or {}).get(key)
            if isinstance(value, str) and value:
                (found.add_phone if key in ("phone", "from") else found.texts.add)(value)
    for (recipient,) in conn.execute(select(messages.c.recipient).where(messages.c.customer_id.in_(ids))):
        if recipient and "@" in recipient:
            found.emails.add(recipient)
        elif recipient:
            found.add_phone(recipient)
    for (recipient,) in conn.execute(select(sms_replies.c.recipient).where(sms_replies.c.customer_id.in_(ids))):
        if recipient:
            found.add_phone(recipient)
    return found
