"""The real persons behind every source record, drawn once per dataset.

Rates (all per person): locale en/US 45 %, ru/RU 30 %, pl/PL 25 %; ages 18–85 skewed to the middle
years; about 8 % live with another customer (spouse, grown child or parent: same address and surname,
a different first name, the same e-mail domain half the time and the household landline when there is
one); e-mail marketing consent 65 %, SMS consent 40 %; membership CRM 70 %, web 50 %, loyalty 45 %,
drawn independently and then fixed so that nobody is in no source at all. Everyone has a current
e-mail address and an older one that still turns up in some sources.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from epistola.synth.addresses import new_address
from epistola.synth.contact import new_email, new_mobile
from epistola.synth.model import AS_OF, Address, Person, Progress, Weighted, age_on
from epistola.synth.names import diminutives, locale_choice, locales, patronymic, surname_for
from epistola.synth.sources import rng_for

FAMILY_JOIN_RATE = 0.047  # each joiner also turns a single into a family member: ~8 % in families
SOURCE_RATES = (("crm", 0.70), ("web", 0.50), ("loyalty", 0.45))
EMAIL_OPT_IN_RATE = 0.65
SMS_OPT_IN_RATE = 0.40

_AGE_BANDS = Weighted(
    ((18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 74), (75, 85)),
    (11, 18, 18, 17, 15, 12, 7),
)
_RELATION = Weighted(("spouse", "child", "parent"), (60, 25, 15))
_FAMILY_WINDOW = 3000  # a joiner picks a relative among this many recent persons of the locale


def _birth_date(age: int, rng: random.Random) -> date:
    """A birth date that makes the person exactly `age` on the as-of date."""
    latest = AS_OF.replace(year=AS_OF.year - age)
    earliest = AS_OF.replace(year=AS_OF.year - age - 1) + timedelta(days=1)
    return earliest + timedelta(days=int(rng.random() * ((latest - earliest).days + 1)))


def _pick_source(rng: random.Random) -> tuple[bool, bool, bool]:
    flags = [rng.random() < rate for _, rate in SOURCE_RATES]
    if not any(flags):
        total = sum(rate for _, rate in SOURCE_RATES)
        r = rng.random() * total
        for i, (_, rate) in enumerate(SOURCE_RATES):
            r -= rate
            if r < 0 or i == len(SOURCE_RATES) - 1:
                flags[i] = True
                break
    return flags[0], flags[1], flags[2]


def build_people(customers: int, seed: int, progress: Progress | None = None) -> list[Person]:
    """Draw `customers` persons; the same (customers, seed) always gives the same persons."""
    rng = rng_for(seed, "people")
    locs = locales()
    which_locale = locale_choice()
    people: list[Person] = []
    base_surname: list[str] = []  # the masculine form, from which a relative's surname is derived
    by_locale: dict[str, list[int]] = {code: [] for code in locs}
    emails: set[str] = set()
    mobiles: set[str] = set()
    landlines: set[str] = set()
    household_size: dict[int, int] = {}
    for i in range(customers):
        code = which_locale.pick(rng)
        loc = locs[code]
        recent = by_locale[code]
        anchor: Person | None = None
        if recent and rng.random() < FAMILY_JOIN_RATE:
            anchor = people[recent[len(recent) - 1 - int(rng.random() * min(len(recent), _FAMILY_WINDOW))]]
            if household_size[anchor.household] >= 4:
                anchor = None
        if anchor is None:
            gender = "female" if rng.random() < 0.52 else "male"
            age = rng.randint(*_AGE_BANDS.pick(rng))
            surname = loc.surnames.pick(rng)
            address: Address = new_address(loc, rng, landlines)
            household = i
            domain = loc.domains.pick(rng)
            father = loc.male.pick(rng)
        else:
            anchor_age = age_on(anchor.birth_date, AS_OF)
            relation = _RELATION.pick(rng)
            gap = 20 + int(rng.random() * 18)
            if relation == "child" and anchor_age - gap >= 18:
                age, gender = anchor_age - gap, ("female" if rng.random() < 0.5 else "male")
            elif relation == "parent" and anchor_age + gap <= 85:
                age, gender = anchor_age + gap, ("female" if rng.random() < 0.55 else "male")
            else:  # spouse: mostly the other gender, a few years apart
                relation = "spouse"
                age = min(max(anchor_age + round(rng.gauss(0, 4)), 18), 85)
                other = "male" if anchor.gender == "female" else "female"
                gender = other if rng.random() < 0.95 else anchor.gender
            surname = base_surname[anchor.index]
            address = anchor.address
            household = anchor.household
            domain = anchor.email.rsplit("@", 1)[1] if rng.random() < 0.5 else loc.domains.pick(rng)
            father = anchor.first_name if relation == "child" and anchor.gender == "male" else loc.male.pick(rng)
        names = loc.female if gender == "female" else loc.male
        first = names.pick(rng)
        while anchor is not None and first == anchor.first_name:
            first = names.pick(rng)
        last = surname_for(surname, gender, code)
        birth = _birth_date(age, rng)
        nicks = diminutives(first, code)
        nickname = nicks[int(rng.random() * len(nicks))] if nicks and rng.random() < 0.5 else ""
        email = new_email(
            first=first,
            last=last,
            nickname=nickname,
            birth_year=birth.year,
            locale=code,
            domain=domain,
            rng=rng,
            taken=emails,
        )
        old_domain = loc.domains.pick(rng)
        old_email = new_email(
            first=first,
            last=last,
            nickname=nickname,
            birth_year=birth.year,
            locale=code,
            domain=old_domain,
            rng=rng,
            taken=emails,
        )
        in_crm, in_web, in_loyalty = _pick_source(rng)
        people.append(
            Person(
                index=i,
                person_id=f"P{i + 1:07d}",
                locale=code,
                country=loc.country,
                gender=gender,
                first_name=first,
                last_name=last,
                middle_name=patronymic(father, gender) if code == "ru" else "",
                birth_date=birth,
                email=email,
                old_email=old_email,
                mobile=new_mobile(loc, address.city, rng, mobiles),
                address=address,
                email_opt_in=rng.random() < EMAIL_OPT_IN_RATE,
                sms_opt_in=rng.random() < SMS_OPT_IN_RATE,
                household=household,
                in_crm=in_crm,
                in_web=in_web,
                in_loyalty=in_loyalty,
            )
        )
        base_surname.append(surname)
        household_size[household] = household_size.get(household, 0) + 1
        recent.append(i)
        if progress and (i + 1) % 1000 == 0 and i + 1 < customers:
            progress("people", i + 1, customers)
    if progress:
        progress("people", customers, customers)
    return people
