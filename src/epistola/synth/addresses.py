"""Postal addresses: drawn per locale, then written the ways a CRM, a web form and a store clerk write
them (full, abbreviated, partial).

The person model holds the one true address; every source renders it with its own habits, so matching
"1102 W. Pratt St" to "1102 Pratt" is a real problem, not a lookup.
"""

from __future__ import annotations

import random
from dataclasses import replace

from epistola.synth import data_en, data_pl, data_ru
from epistola.synth.contact import new_landline
from epistola.synth.model import Address, City, Locale
from epistola.synth.translit import fold_polish

# share of households with a landline that members give out, per country
_LANDLINE_RATE = {"US": 0.2, "RU": 0.35, "PL": 0.25}
# share of addresses with a flat / apartment number
_FLAT_RATE = {"US": 0.22, "RU": 0.85, "PL": 0.6}


def postcode(city: City, country: str, rng: random.Random) -> str:
    prefix = city.postcode_prefixes[int(rng.random() * len(city.postcode_prefixes))]
    width = 6 if country == "RU" else 5
    digits = prefix + str(int(rng.random() * 10 ** (width - len(prefix)))).zfill(width - len(prefix))
    return f"{digits[:2]}-{digits[2:]}" if country == "PL" else digits


def _house(country: str, rng: random.Random) -> str:
    if country == "US":  # one to four digits, short numbers more common
        return str(int(10 ** (0.3 + rng.random() * 3.6)))
    number = 1 + int(rng.random() ** 1.8 * (140 if country == "RU" else 160))
    if country == "RU" and rng.random() < 0.08:
        return f"{number}к{1 + int(rng.random() * 4)}"  # корпус: a building within the house number
    return str(number)


def new_address(loc: Locale, rng: random.Random, landlines: set[str], city: City | None = None) -> Address:
    """A household address; the landline, when there is one, belongs to everyone who lives there."""
    country = loc.country
    city = city or loc.cities.pick(rng)
    flat = ""
    if rng.random() < _FLAT_RATE[country]:
        top = {"US": 40, "RU": 400, "PL": 120}[country]
        flat = str(1 + int(rng.random() ** 1.5 * top))
        if country == "US" and rng.random() < 0.3:
            flat += "ABCD"[int(rng.random() * 4)]
    landline = new_landline(loc, city, rng, landlines) if rng.random() < _LANDLINE_RATE[country] else ""
    return Address(
        street=loc.streets.pick(rng),
        house=_house(country, rng),
        flat=flat,
        postcode=postcode(city, country, rng),
        city=city,
        landline=landline,
    )


def us_street_line(a: Address, style: int) -> str:
    """1102 W. Pratt St / 1102 West Pratt Street / 1102 Pratt / 1102 W Pratt St. (+ Apt 4B / #4B)."""
    s = a.street
    style %= 5
    if style == 0:
        words = [a.house, s.direction + "." if s.direction else "", s.name, s.kind]
    elif style == 1:
        words = [
            a.house,
            data_en.DIRECTIONS.get(s.direction, ""),
            s.name,
            data_en.STREET_KINDS.get(s.kind, ""),
        ]
    elif style == 2:
        words = [a.house, s.name]
    else:
        words = [a.house, s.direction, s.name, s.kind + ("." if style == 4 and s.kind else "")]
    line = " ".join(w for w in words if w)
    if a.flat and style != 2:
        line += (" Apt ", ", Apt ", " #", " Unit ")[style % 4] + a.flat
    return line


def ru_street_line(a: Address, style: int) -> str:
    """ул. Ленина, д. 5, кв. 12 / улица Ленина, дом 5, квартира 12 / Ленина ул., 5-12."""
    short, full = data_ru.STREET_KINDS[a.street.kind]
    style %= 3
    if style == 0:
        return f"{short} {a.street.name}, д. {a.house}" + (f", кв. {a.flat}" if a.flat else "")
    if style == 1:
        return f"{full} {a.street.name}, дом {a.house}" + (f", квартира {a.flat}" if a.flat else "")
    return f"{a.street.name} {short}, {a.house}" + (f"-{a.flat}" if a.flat else "")


def pl_street_line(a: Address, style: int) -> str:
    """ul. Marszałkowska 10/5 / ulica Marszałkowska 10 m. 5 / al. Jerozolimskie 10 / pl. Bankowy 2."""
    short, full = data_pl.STREET_KINDS[a.street.kind]
    style %= 4
    kind = (short, full, "", short)[style]
    number = a.house + ((f"/{a.flat}" if style in (0, 2) else f" m. {a.flat}") if a.flat else "")
    return " ".join(w for w in (kind, a.street.name, number) if w)


def street_line(country: str, a: Address, style: int) -> str:
    if country == "US":
        return us_street_line(a, style)
    if country == "RU":
        return ru_street_line(a, style)
    return pl_street_line(a, style)


def partial_street(country: str, a: Address, rng: random.Random) -> str:
    """The address as a store clerk keys it from a paper form: often no flat, no number, or abbreviated."""
    r = rng.random()
    s = a.street
    if r < 0.35:  # complete, in the country's usual style
        return street_line(country, a, int(rng.random() * 5))
    if r < 0.6:  # no flat
        return street_line(country, replace(a, flat=""), int(rng.random() * 5))
    if r < 0.8:  # no house number either
        if country == "US":
            return " ".join(w for w in (s.direction, s.name, s.kind) if w)
        short = (data_ru.STREET_KINDS if country == "RU" else data_pl.STREET_KINDS)[s.kind][0].rstrip(".")
        return f"{short} {s.name}"
    if country == "US":  # bare "1102 pratt"
        return f"{a.house} {s.name}".lower() if rng.random() < 0.5 else f"{a.house} {s.name}"
    if country == "RU":
        return f"{s.name} {a.house}" + (f"-{a.flat}" if a.flat and rng.random() < 0.5 else "")
    return fold_polish(f"{s.name} {a.house}")
