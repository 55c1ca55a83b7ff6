"""What every source writer shares: the ground-truth ledger, the planted-problem counter, and the
habits that decide which e-mail and phone a person gives to a source.

A person's *first* source (CRM, then web, then loyalty) holds their current e-mail; every later
appearance gives the older address with probability `OLD_EMAIL_RATE` (the "changed e-mail" of the
brief). A household landline, when there is one, is given instead of the mobile now and then, which
is how two family members end up sharing a phone number in the data.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO

from epistola.synth.contact import format_phone, invalid_email, invalid_phone
from epistola.synth.model import Person

OLD_EMAIL_RATE = 0.15
LANDLINE_GIVEN_RATE = 0.35  # of persons whose household has a landline, per record
INVALID_PHONE_RATE = 0.008
INVALID_EMAIL_RATE = 0.008
UNKNOWN_COUNTRY_RATE = 0.005
PLANTED_KINDS = (
    "invalid_phone",
    "invalid_email",
    "conflicting_age",
    "unknown_country",
    "future_birth_date",
    "orphan_transactions",
    "crm_duplicates",
    "web_duplicates",
)
UNKNOWN_COUNTRIES = ("XX", "ZZ", "??", "Unknown", "Other")
SOURCE_ORDER = ("crm", "web", "loyalty")
_EPOCH = date(1970, 1, 1)


class Truth:
    """Streams `ground_truth.csv` and counts planted problems as the writers report them."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(("source", "source_key", "person_id"))
        self.rows = 0
        self.planted: Counter[str] = Counter({kind: 0 for kind in PLANTED_KINDS})

    def add(self, source: str, key: str, person: Person) -> None:
        self._writer.writerow((source, key, person.person_id))
        self.rows += 1

    def plant(self, kind: str, n: int = 1) -> None:
        if kind not in self.planted:
            raise ValueError(f"unknown planted problem {kind!r}")
        self.planted[kind] += n

    def close(self) -> None:
        self._file.close()


def first_source(p: Person) -> str:
    return "crm" if p.in_crm else ("web" if p.in_web else "loyalty")


def email_for(p: Person, source: str, rng: random.Random) -> str:
    """The address a person gives to `source`: the current one first, sometimes an older one later."""
    if source != first_source(p) and rng.random() < OLD_EMAIL_RATE:
        return p.old_email
    return p.email


def phone_for(p: Person, rng: random.Random) -> str:
    """The number a person writes down: their mobile, or now and then the household landline."""
    if p.address.landline and rng.random() < LANDLINE_GIVEN_RATE:
        return p.address.landline
    return p.mobile


def phone_field(p: Person, rng: random.Random, truth: Truth, *, styles: tuple[float, ...], missing: float) -> str:
    """A formatted phone, empty, or (rarely, and counted) invalid."""
    if rng.random() < missing:
        return ""
    nsn = phone_for(p, rng)
    if rng.random() < INVALID_PHONE_RATE:
        truth.plant("invalid_phone")
        return invalid_phone(p.country, nsn, rng)
    r = rng.random() * sum(styles)
    style = 0
    for style, weight in enumerate(styles):  # noqa: B007 - the loop variable is the answer
        r -= weight
        if r < 0:
            break
    return format_phone(p.country, nsn, style)


def email_field(p: Person, source: str, rng: random.Random, truth: Truth, *, missing: float) -> str:
    if rng.random() < missing:
        return ""
    email = email_for(p, source, rng)
    if rng.random() < INVALID_EMAIL_RATE:
        truth.plant("invalid_email")
        return invalid_email(email, rng, p.locale)
    if rng.random() < 0.03:
        return email.upper() if rng.random() < 0.5 else email[:1].upper() + email[1:]
    return email


def country_field(value: str, rng: random.Random, truth: Truth) -> str:
    if rng.random() < UNKNOWN_COUNTRY_RATE:
        truth.plant("unknown_country")
        return UNKNOWN_COUNTRIES[int(rng.random() * len(UNKNOWN_COUNTRIES))]
    return value


def consent_value(given: bool, rng: random.Random, *, flip: float = 0.05) -> bool:
    """Consent as one source recorded it: sources disagree a little (asked at different times)."""
    return given != (rng.random() < flip)


def moment(rng: random.Random, start: date, end: date) -> int:
    """A uniformly random instant (Unix seconds) between two dates."""
    lo = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    hi = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp())
    return lo + int(rng.random() * max(hi - lo, 1))


@cache
def _day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).isoformat()


def utc_iso(ts: int) -> str:
    """Unix seconds as 2025-03-04T18:22:31Z, several times faster than datetime.strftime."""
    days, secs = divmod(ts, 86_400)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


def shuffled(items: list[Person], rng: random.Random) -> list[Person]:
    """Source order must not leak identity: real exports are not sorted by the hidden person id."""
    out = list(items)
    rng.shuffle(out)
    return out


def rng_for(seed: int, stage: str) -> random.Random:
    """One independent stream per stage, so changing one writer does not reshuffle the others."""
    return random.Random(f"epistola-synth:{seed}:{stage}")  # noqa: S311 - reproducible fiction, not secrets
