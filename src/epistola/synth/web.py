"""`web_registrations.jsonl`: one sign-up per line, with a single free-text `full_name`.

Rates: Russians type their name in Latin 40 % of the time (a scheme chosen per record, a Western form
of the first name now and then), names come "Last First" 12 %, a diminutive instead of the formal
name 15 % (when one exists), Polish letters dropped 15 %, typos 5 %, CASE/spacing mess 5 %. About 3 %
of web persons registered twice: later, with a new e-mail, the same name and phone. The web form codes
age as 1 = 18–25, 2 = 26–40, 3 = 41+ (age at registration; absent 15 %); nobody under 18 registers.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from epistola.synth.contact import new_email
from epistola.synth.model import AS_OF, Person, Progress, adult_from, age_on
from epistola.synth.names import diminutives
from epistola.synth.noise import noisy_name
from epistola.synth.sources import Truth, consent_value, country_field, email_field, moment, phone_field
from epistola.synth.translit import SCHEME_CHOICE, fold_polish, latin_first_name, transliterate

DUPLICATE_RATE = 0.03
LATIN_RATE = 0.40
NICKNAME_RATE = 0.15
TYPO_RATE = 0.05
MESS_RATE = 0.05
_WEB_START = date(2017, 1, 1)

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
USER_AGENTS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/128.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    f"Mozilla/5.0 (Linux; Android 14; SM-S918B) {_WEBKIT} Chrome/127.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0",
    f"Mozilla/5.0 (Linux; Android 13; Redmi Note 12) {_WEBKIT} YaBrowser/24.7 Mobile Safari/537.36",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/126.0 Safari/537.36 Edg/126.0",
)
# Documentation address blocks (RFC 5737): realistic-looking, and never anybody's real address.
_IP_BLOCKS = ("192.0.2", "198.51.100", "203.0.113")


def web_age_code(age: int) -> int:
    """The web form's age box: 1 = 18–25, 2 = 26–40, 3 = 41+."""
    return 1 if age <= 25 else (2 if age <= 40 else 3)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Signup:
    at: int  # Unix seconds
    person: Person
    second: bool  # the person's second registration


def _signups(people: list[Person], rng: random.Random) -> list[_Signup]:
    out = []
    for p in people:
        first = moment(rng, max(adult_from(p.birth_date), _WEB_START), AS_OF)
        out.append(_Signup(at=first, person=p, second=False))
        if rng.random() < DUPLICATE_RATE:
            last = moment(rng, AS_OF, AS_OF)
            out.append(_Signup(at=first + 1 + int(rng.random() * max(last - first - 1, 0)), person=p, second=True))
    out.sort(key=lambda s: (s.at, s.person.index, s.second))  # reg ids grow with time, as real ones do
    return out


def full_name(p: Person, rng: random.Random) -> str:
    first, last = p.first_name, p.last_name
    nicks = diminutives(first, p.locale)
    if nicks and rng.random() < NICKNAME_RATE:
        first = nicks[int(rng.random() * len(nicks))]
    middle = ""
    if p.locale == "ru":
        if rng.random() < LATIN_RATE:
            scheme = SCHEME_CHOICE.pick(rng)
            first, last = latin_first_name(first, rng, scheme), transliterate(last, scheme)
        elif rng.random() < 0.1:
            middle = p.middle_name
    elif p.locale == "pl" and rng.random() < 0.15:
        first, last = fold_polish(first), fold_polish(last)
    first = noisy_name(first, rng, typo_rate=TYPO_RATE, mess_rate=0)
    last = noisy_name(last, rng, typo_rate=TYPO_RATE, mess_rate=0)
    if middle:  # Иванов Иван Иванович: the Russian official order
        name = f"{last} {first} {middle}"
    elif rng.random() < 0.12:
        name = f"{last} {first}"
    else:
        name = f"{first} {last}"
    return noisy_name(name, rng, typo_rate=0, mess_rate=MESS_RATE, yo_rate=0)


def _postcode(p: Person, rng: random.Random) -> str:
    code = p.address.postcode
    return code.replace("-", "") if p.country == "PL" and rng.random() < 0.2 else code


def write_web_registrations(
    path: Path, people: list[Person], rng: random.Random, truth: Truth, taken: set[str], progress: Progress
) -> dict[int, list[tuple[str, int]]]:
    """Write the file; return person index -> (registration id, Unix time) of each sign-up, for events."""
    signups = _signups([p for p in people if p.in_web], rng)
    regs: dict[int, list[tuple[str, int]]] = {}
    styles = (30, 15, 25, 15, 10, 5)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for n, s in enumerate(signups, 1):
            p = s.person
            reg_id = f"W{n:06d}"
            record: dict[str, object] = {
                "reg_id": reg_id,
                "registered_at": datetime.fromtimestamp(s.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "full_name": full_name(p, rng),
            }
            if s.second:  # came back later, and signed up again with a fresh address
                nicks = diminutives(p.first_name, p.locale)
                record["email"] = new_email(
                    first=p.first_name,
                    last=p.last_name,
                    nickname=nicks[-1] if nicks else "",
                    birth_year=p.birth_date.year,
                    locale=p.locale,
                    domain=p.old_email.rsplit("@", 1)[1],
                    rng=rng,
                    taken=taken,
                )
                truth.plant("web_duplicates")
            else:
                record["email"] = email_field(p, "web", rng, truth, missing=0.0)
            mobile = phone_field(p, rng, truth, styles=styles, missing=0.25)
            if mobile:
                record["mobile"] = mobile
            if rng.random() > 0.15:
                record["age_code"] = web_age_code(age_on(p.birth_date, datetime.fromtimestamp(s.at, UTC).date()))
            record["gender"] = p.gender if rng.random() > 0.25 else None
            if rng.random() > 0.2:
                record["postcode"] = _postcode(p, rng)
            record["country"] = country_field(p.country, rng, truth)
            record["language"] = p.locale if rng.random() > 0.08 else "en"
            record["consent"] = {
                "email": consent_value(p.email_opt_in, rng),
                "sms": consent_value(p.sms_opt_in, rng),
            }
            record["ip"] = f"{_IP_BLOCKS[int(rng.random() * 3)]}.{1 + int(rng.random() * 254)}"
            record["user_agent"] = USER_AGENTS[int(rng.random() * len(USER_AGENTS))]
            f.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
            truth.add("web", reg_id, p)
            regs.setdefault(p.index, []).append((reg_id, s.at))
            if n % 1000 == 0 and n < len(signups):
                progress("web_registrations", n, len(signups))
    progress("web_registrations", len(signups), len(signups))
    return regs
