"""`loyalty_members.csv`: paper application forms keyed in by store staff.

Rates: the given name is a diminutive 35 % of the time when one exists (Bill, Саша, Kasia), Russians
write it in Latin 15 %, Polish letters get lost 20 %, staff typos 8 % per name field, CASE/spacing mess
5 %. The e-mail is left blank 40 % and is an older address 15 % (when loyalty is not the person's first
source). Addresses are often partial (no flat, no number, abbreviated). `sex` is `M`/`F`; on Polish
forms women are `K` (kobieta) about 40 % of the time, and `M` means male in both languages.

The paper form codes age as 1 = 18–25, 2 = 36–55, 3 = 56+, with no box for 26–35: most of those leave
it empty, 15 % tick a wrong box anyway, and 1.5 % of everybody else tick a wrong box. Every ticked box
that does not fit the age on the day the card was issued is counted as `conflicting_age`.
3 % of cards were issued 1 to 14 days before the as-of date: the "new card holders".
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from epistola.synth.addresses import partial_street
from epistola.synth.model import AS_OF, City, Person, Progress, adult_from, age_on
from epistola.synth.names import city_aliases, diminutives
from epistola.synth.noise import noisy_name
from epistola.synth.sources import Truth, country_field, email_field, moment, phone_field
from epistola.synth.translit import SCHEME_CHOICE, fold_polish, latin_first_name, transliterate

NICKNAME_RATE = 0.35
LATIN_RATE = 0.15
TYPO_RATE = 0.08
MESS_RATE = 0.05
NEW_CARD_RATE = 0.03
WRONG_BOX_26_35 = 0.15
WRONG_BOX_OTHERS = 0.015
_LOYALTY_START = date(2016, 1, 1)

COLUMNS = (
    "card_no,card_issued,store,given_name,surname,sex,age_group,phone,email,address,city,postcode,country"
).split(",")
_COUNTRY_WRITTEN = {
    "US": ("US", "US", "US", "USA", "USA", "U.S."),
    "RU": ("RU", "Россия", "Россия", "Russia", "РФ"),
    "PL": ("PL", "Polska", "Polska", "Poland"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Card:
    card_no: str
    issued: date
    store: str
    person: Person


def paper_age_code(age: int) -> int | None:
    """The paper form's age box: 1 = 18–25, 2 = 36–55, 3 = 56+; nothing fits 26–35."""
    if age <= 25:
        return 1
    if age <= 35:
        return None
    return 2 if age <= 55 else 3


def luhn(digits: str) -> str:
    """`digits` with its Luhn check digit appended, as card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def store_code(city: City, rng: random.Random) -> str:
    count = 1 + min(4, int(city.weight // 8))
    return f"{city.code}-{1 + int(rng.random() * count):02d}"


def _age_box(age: int, rng: random.Random, truth: Truth) -> str:
    right = paper_age_code(age)
    wrong_rate = WRONG_BOX_26_35 if right is None else WRONG_BOX_OTHERS
    if rng.random() < wrong_rate:
        truth.plant("conflicting_age")
        boxes = [b for b in (1, 2, 3) if b != right]
        return str(boxes[int(rng.random() * len(boxes))])
    if right is None or rng.random() < 0.08:
        return ""
    return str(right)


def _names(p: Person, rng: random.Random) -> tuple[str, str]:
    """Given name and surname as the clerk keyed them: one alphabet per form, then the clerk's slips."""
    given = p.first_name
    nicks = diminutives(given, p.locale)
    if nicks and rng.random() < NICKNAME_RATE:
        given = nicks[int(rng.random() * len(nicks))]
    surname = p.last_name
    if p.locale == "ru" and rng.random() < LATIN_RATE:
        scheme = SCHEME_CHOICE.pick(rng)
        given, surname = latin_first_name(given, rng, scheme), transliterate(surname, scheme)
    elif p.locale == "pl" and rng.random() < 0.2:
        given, surname = fold_polish(given), fold_polish(surname)
    return (
        noisy_name(given, rng, typo_rate=TYPO_RATE, mess_rate=MESS_RATE),
        noisy_name(surname, rng, typo_rate=TYPO_RATE, mess_rate=MESS_RATE),
    )


def _sex(p: Person, rng: random.Random) -> str:
    if rng.random() < 0.05:
        return ""
    if p.gender == "male":
        return "M"
    return "K" if p.locale == "pl" and rng.random() < 0.4 else "F"


def _city(p: Person, rng: random.Random) -> str:
    name = p.address.city.name
    r = rng.random()
    if r < 0.05:
        return ""
    aliases = city_aliases(p.locale).get(name)
    if aliases and r < 0.2:
        return aliases[int(rng.random() * len(aliases))]
    return noisy_name(name, rng, typo_rate=TYPO_RATE, mess_rate=0.1)


def _issue(p: Person, rng: random.Random) -> date:
    if rng.random() < NEW_CARD_RATE:  # 1 to 14 days before the as-of date, never before the 18th birthday
        return max(AS_OF - timedelta(days=1 + int(rng.random() * 14)), adult_from(p.birth_date))
    return datetime.fromtimestamp(moment(rng, max(adult_from(p.birth_date), _LOYALTY_START), AS_OF), UTC).date()


def write_loyalty_members(
    path: Path, people: list[Person], rng: random.Random, truth: Truth, progress: Progress
) -> list[Card]:
    """Write the members file; return the cards (for transactions), in card-number order."""
    members = [(_issue(p, rng), p) for p in people if p.in_loyalty]
    members.sort(key=lambda m: (m[0], m[1].index))  # card numbers were handed out in issue order
    cards = []
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for n, (issued, p) in enumerate(members, 1):
            card = Card(card_no=luhn(f"77{n:09d}"), issued=issued, store=store_code(p.address.city, rng), person=p)
            postcode = p.address.postcode
            if p.country == "PL" and rng.random() < 0.15:
                postcode = postcode.replace("-", "")
            w.writerow(
                (
                    card.card_no,
                    issued.isoformat(),
                    card.store,
                    *_names(p, rng),
                    _sex(p, rng),
                    _age_box(age_on(p.birth_date, issued), rng, truth),
                    phone_field(p, rng, truth, styles=(1, 1, 1, 1, 1, 1), missing=0.15),
                    email_field(p, "loyalty", rng, truth, missing=0.4),
                    partial_street(p.country, p.address, rng) if rng.random() > 0.1 else "",
                    _city(p, rng),
                    postcode if rng.random() > 0.25 else "",
                    country_field(_written_country(p.country, rng), rng, truth) if rng.random() > 0.2 else "",
                )
            )
            truth.add("loyalty", card.card_no, p)
            cards.append(card)
            if n % 1000 == 0 and n < len(members):
                progress("loyalty_members", n, len(members))
    progress("loyalty_members", len(members), len(members))
    return cards


def _written_country(country: str, rng: random.Random) -> str:
    options = _COUNTRY_WRITTEN[country]
    return options[int(rng.random() * len(options))]
