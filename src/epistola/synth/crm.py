"""The two CRM exports: `crm_ru.csv` (cp1251, `;`, CRLF, everything quoted; the Russian customers) and
`crm_intl.csv` (UTF-8 with BOM, `,`, minimal quoting, LF; the US and Polish customers).

About 2.5 % of CRM persons were keyed in twice under another customer number, with a typo in a name
(60 %), a new e-mail (60 %) or both (20 %). Name fields carry a typo 3 % of the time and CASE/spacing
mess 5 %; a handful of birth dates lie in the future (a mistyped century).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from epistola.synth.addresses import pl_street_line, ru_street_line, us_street_line
from epistola.synth.contact import new_email
from epistola.synth.model import AS_OF, Person, Progress, adult_from
from epistola.synth.names import city_aliases, diminutives
from epistola.synth.noise import noisy_name, typo
from epistola.synth.sources import (
    Truth,
    consent_value,
    country_field,
    email_field,
    moment,
    phone_field,
    shuffled,
)
from epistola.synth.translit import fold_polish

DUPLICATE_RATE = 0.025
FUTURE_BIRTH_RATE = 0.0005
TYPO_RATE = 0.03
MESS_RATE = 0.05
_CRM_START = date(2019, 1, 1)
_MOSCOW = ZoneInfo("Europe/Moscow")

RU_COLUMNS = (
    "customer_no;title;last_name;first_name;middle_name;email;phone;birth_date;postcode;city;address;"
    "email_opt_in;sms_opt_in;updated_at"
).split(";")
INTL_COLUMNS = (
    "customer_no,title,first_name,last_name,email,phone,birth_date,street,city,postcode,state_or_region,"
    "country,email_opt_in,sms_opt_in,updated_at"
).split(",")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    person: Person
    duplicate: bool = False  # the second, re-keyed record of a person already in the file
    new_email: bool = False  # re-keyed because the customer came back with a new address
    slip: bool = False  # the clerk who re-keyed the customer mistyped a name
    future_birth: bool = False


def _entries(people: list[Person], rng: random.Random) -> list[_Entry]:
    """Customers in an order that says nothing about identity; re-keyed twins come later than the original."""
    order = shuffled(people, rng)
    keyed = [(float(pos), _Entry(person=p)) for pos, p in enumerate(order)]
    for pos, p in enumerate(order):
        if rng.random() < DUPLICATE_RATE:
            r = rng.random()  # a typo 60 %, a new e-mail 60 %: both 20 %
            twin = _Entry(person=p, duplicate=True, slip=r < 0.6, new_email=r >= 0.4)
            keyed.append((pos + 0.5 + rng.random() * (len(order) - pos), twin))
    keyed.sort(key=lambda pair: pair[0])
    entries = [e for _, e in keyed]
    k = max(1, round(len(entries) * FUTURE_BIRTH_RATE)) if entries else 0
    for i in rng.sample(range(len(entries)), k):
        e = entries[i]
        entries[i] = replace(e, future_birth=True)
    return entries


def _birth(e: _Entry, rng: random.Random, truth: Truth) -> date | None:
    b = e.person.birth_date
    if e.future_birth:
        truth.plant("future_birth_date")
        return date(b.year + 100, b.month, min(b.day, 28))  # 1987 keyed as 2087
    return None if rng.random() < 0.04 else b


def _updated(p: Person, rng: random.Random, tz: tzinfo = UTC) -> datetime:
    return datetime.fromtimestamp(moment(rng, max(adult_from(p.birth_date), _CRM_START), AS_OF), tz)


def _rekeyed(value: str, rng: random.Random) -> str:
    return typo(value, rng) if value else value


def _names(e: _Entry, rng: random.Random) -> tuple[str, str, str]:
    p = e.person
    first, last = p.first_name, p.last_name
    if e.slip:
        if rng.random() < 0.5:
            first = _rekeyed(first, rng)
        else:
            last = _rekeyed(last, rng)
    if p.locale == "pl" and rng.random() < 0.08:
        first, last = fold_polish(first), fold_polish(last)
    return (
        noisy_name(first, rng, typo_rate=TYPO_RATE, mess_rate=MESS_RATE),
        noisy_name(last, rng, typo_rate=TYPO_RATE, mess_rate=MESS_RATE),
        noisy_name(p.middle_name, rng, typo_rate=TYPO_RATE, mess_rate=MESS_RATE) if rng.random() > 0.12 else "",
    )


def _email(e: _Entry, rng: random.Random, truth: Truth, taken: set[str]) -> str:
    p = e.person
    if e.new_email:
        nicks = diminutives(p.first_name, p.locale)
        return new_email(
            first=p.first_name,
            last=p.last_name,
            nickname=nicks[0] if nicks else "",
            birth_year=p.birth_date.year,
            locale=p.locale,
            domain=p.email.rsplit("@", 1)[1],
            rng=rng,
            taken=taken,
        )
    return email_field(p, "crm", rng, truth, missing=0.1)


def _opt_in(given: bool, rng: random.Random, yes: str, no: str) -> str:
    if rng.random() < 0.08:
        return ""
    return yes if consent_value(given, rng) else no


def _city(p: Person, rng: random.Random) -> str:
    name = p.address.city.name
    aliases = city_aliases(p.locale).get(name)
    if aliases and rng.random() < 0.15:
        return aliases[int(rng.random() * len(aliases))]
    return name if rng.random() > 0.03 else noisy_name(name, rng, typo_rate=1.0, mess_rate=0.3)


def write_crm_ru(
    path: Path, people: list[Person], rng: random.Random, truth: Truth, taken: set[str], progress: Progress
) -> int:
    entries = _entries([p for p in people if p.in_crm and p.locale == "ru"], rng)
    with path.open("w", encoding="cp1251", newline="") as f:
        w = csv.writer(f, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writerow(RU_COLUMNS)
        for n, e in enumerate(entries, 1):
            p = e.person
            key = str(1_000_000 + n)
            first, last, middle = _names(e, rng)
            birth = _birth(e, rng, truth)
            title = "" if rng.random() < 0.25 else ("Г-н" if p.gender == "male" else "Г-жа")
            flatless = rng.random() < 0.05
            address = ru_street_line(p.address, (0, 0, 0, 1, 1, 2, 2)[int(rng.random() * 7)])
            if flatless and p.address.flat:
                address = address.rsplit(",", 1)[0] if "кв" in address else address.rsplit("-", 1)[0]
            w.writerow(
                (
                    key,
                    title,
                    last,
                    first,
                    middle,
                    _email(e, rng, truth, taken),
                    phone_field(p, rng, truth, styles=(35, 30, 20, 10, 5), missing=0.06),
                    birth.strftime("%d.%m.%Y") if birth else "",
                    p.address.postcode if rng.random() > 0.08 else "",
                    _city(p, rng),
                    address,
                    _opt_in(p.email_opt_in, rng, "Да", "Нет"),
                    _opt_in(p.sms_opt_in, rng, "Да", "Нет"),
                    _updated(p, rng, _MOSCOW).strftime("%d.%m.%Y %H:%M"),  # the server's local time
                )
            )
            truth.add("crm_ru", key, p)
            if e.duplicate:
                truth.plant("crm_duplicates")
            if n % 1000 == 0 and n < len(entries):
                progress("crm_ru", n, len(entries))
    progress("crm_ru", len(entries), len(entries))
    return len(entries)


_US_TITLES = {
    "male": (("Mr", 93), ("Dr", 4), ("Mr.", 3)),
    "female": (("Ms", 47), ("Mrs", 45), ("Dr", 3), ("Ms.", 5)),
}
_COUNTRY_NAMES = {
    "US": (("US", 80), ("USA", 15), ("United States", 5)),
    "PL": (("PL", 75), ("Poland", 12), ("Polska", 13)),
}


def _pick(options: tuple[tuple[str, int], ...], rng: random.Random) -> str:
    r = rng.random() * sum(w for _, w in options)
    for value, weight in options:
        r -= weight
        if r < 0:
            return value
    return options[-1][0]


def write_crm_intl(
    path: Path, people: list[Person], rng: random.Random, truth: Truth, taken: set[str], progress: Progress
) -> int:
    entries = _entries([p for p in people if p.in_crm and p.locale != "ru"], rng)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INTL_COLUMNS)
        for n, e in enumerate(entries, 1):
            p = e.person
            key = f"C{n:07d}"
            us = p.country == "US"
            first, last, _ = _names(e, rng)
            birth = _birth(e, rng, truth)
            a = p.address
            if us:
                title = _pick(_US_TITLES[p.gender], rng)
                street = us_street_line(a, (0, 0, 1, 2, 3, 3, 4)[int(rng.random() * 7)])
                postcode = a.postcode + (f"-{int(rng.random() * 10000):04d}" if rng.random() < 0.1 else "")
                region = a.city.region
                born = birth.strftime("%m/%d/%Y") if birth else ""
                styles: tuple[float, ...] = (40, 20, 10, 20, 5, 5)
            else:
                title = "Pan" if p.gender == "male" else "Pani"
                street = pl_street_line(a, (0, 0, 0, 1, 2, 3)[int(rng.random() * 6)])
                postcode = a.postcode if rng.random() > 0.1 else a.postcode.replace("-", "")
                region = a.city.region if rng.random() > 0.3 else a.city.region.capitalize()
                born = birth.isoformat() if birth else ""
                styles = (35, 25, 25, 5, 5, 5)
            w.writerow(
                (
                    key,
                    "" if rng.random() < 0.15 else title,
                    first,
                    last,
                    _email(e, rng, truth, taken),
                    phone_field(p, rng, truth, styles=styles, missing=0.06),
                    born,
                    street,
                    _city(p, rng),
                    postcode if rng.random() > 0.05 else "",
                    region if rng.random() > 0.05 else "",
                    country_field(_pick(_COUNTRY_NAMES[p.country], rng), rng, truth),
                    _opt_in(p.email_opt_in, rng, "Y", "N"),
                    _opt_in(p.sms_opt_in, rng, "Y", "N"),
                    _updated(p, rng).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            )
            truth.add("crm_intl", key, p)
            if e.duplicate:
                truth.plant("crm_duplicates")
            if n % 1000 == 0 and n < len(entries):
                progress("crm_intl", n, len(entries))
    progress("crm_intl", len(entries), len(entries))
    return len(entries)
