"""Locale registry and the grammar of names: feminine surnames, Russian patronymics, diminutives.

The tables live in `data_en`, `data_ru` and `data_pl`; this module turns them into `Locale` objects
once, and knows the few rules that make generated names agree with the person's gender.
"""

from __future__ import annotations

from functools import cache

from epistola.synth import data_en, data_pl, data_ru
from epistola.synth.model import City, Locale, Street, Weighted, zipf

LOCALE_SHARES = (("en", 45.0), ("ru", 30.0), ("pl", 25.0))
COUNTRY_OF = {"en": "US", "ru": "RU", "pl": "PL"}
CALLING_CODE = {"US": "1", "RU": "7", "PL": "48"}

# Zipf offsets: Russian given names are the most concentrated, American ones the least.
_FIRST_NAME_OFFSET = {"en": 6.0, "ru": 2.5, "pl": 3.5}
_SURNAME_OFFSET = {"en": 12.0, "ru": 8.0, "pl": 6.0}


def _cities(rows: list[tuple[str, str, str, str, str, float, float, float, str]]) -> Weighted[City]:
    cities = [
        City(
            code=code,
            name=name,
            region=region,
            postcode_prefixes=tuple(prefixes.split()),
            tz=tz,
            lat=lat,
            lon=lon,
            weight=weight,
            area_codes=tuple(areas.split()),
        )
        for code, name, region, prefixes, tz, lat, lon, weight, areas in rows
    ]
    return Weighted(cities, [c.weight for c in cities])


def _us_street(text: str) -> Street:
    words = text.split()
    direction = words.pop(0) if words[0] in data_en.DIRECTIONS and len(words) > 1 else ""
    kind = words.pop() if words[-1] in data_en.STREET_KINDS and len(words) > 1 else ""
    return Street(name=" ".join(words), kind=kind, direction=direction)


def _streets(streets: list[Street]) -> Weighted[Street]:
    return zipf(streets, 10.0)  # "Main St" and "ул. Ленина" are everywhere, "наб. Фонтанки" is not


def _domains(rows: list[tuple[str, int]]) -> Weighted[str]:
    return Weighted([d for d, _ in rows], [w for _, w in rows])


@cache
def locales() -> dict[str, Locale]:
    """The three locales, built on first use (cheap, but not at import time)."""
    result = {}
    for code, data, streets in (
        ("en", data_en, [_us_street(s) for s in data_en.STREETS]),
        ("ru", data_ru, [Street(kind=k, name=n) for k, n in data_ru.STREETS]),
        ("pl", data_pl, [Street(kind=k, name=n) for k, n in data_pl.STREETS]),
    ):
        country = COUNTRY_OF[code]
        result[code] = Locale(
            code=code,
            country=country,
            calling_code=CALLING_CODE[country],
            male=zipf(data.MALE, _FIRST_NAME_OFFSET[code]),
            female=zipf(data.FEMALE, _FIRST_NAME_OFFSET[code]),
            surnames=zipf(data.SURNAMES, _SURNAME_OFFSET[code]),
            streets=_streets(streets),
            cities=_cities(data.CITIES),
            domains=_domains(data.EMAIL_DOMAINS),
            mobile_prefixes=tuple(getattr(data, "MOBILE_PREFIXES", ())),
            nicknames=dict(data.NICKNAMES),
        )
    return result


def locale_choice() -> Weighted[str]:
    return Weighted([c for c, _ in LOCALE_SHARES], [w for _, w in LOCALE_SHARES])


def surname_for(surname: str, gender: str, locale: str) -> str:
    """The surname as a person of `gender` bears it: Иванов/Иванова, Kowalski/Kowalska, Nowak/Nowak."""
    if gender == "male" or locale == "en":
        return surname
    if locale == "pl":
        for masculine, feminine in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
            if surname.endswith(masculine):
                return surname[: -len(masculine)] + feminine
        return surname
    if surname.endswith(("ой", "ий")):  # Толстой, Вишневский, Горький: adjectives
        return surname[:-2] + "ая"
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    return surname  # Шевченко, Мельник, Черных: the same for both


def patronymic(father: str, gender: str) -> str:
    """A Russian patronymic from the father's given name (Александр -> Александрович / Александровна)."""
    son_daughter = data_ru.PATRONYMIC_EXCEPTIONS.get(father)
    if son_daughter:
        return son_daughter[0] if gender == "male" else son_daughter[1]
    if father.endswith("ий"):
        stem, son, daughter = father[:-2], "ьевич", "ьевна"
    elif father.endswith(("й", "ь")):
        stem, son, daughter = father[:-1], "евич", "евна"
    elif father.endswith("а"):
        stem, son, daughter = father[:-1], "ич", "ична"
    else:
        stem, son, daughter = father, "ович", "овна"
    return stem + (son if gender == "male" else daughter)


def diminutives(first_name: str, locale: str) -> tuple[str, ...]:
    return locales()[locale].nicknames.get(first_name, ())


@cache
def all_diminutives() -> dict[str, frozenset[str]]:
    """Locale -> every diminutive it knows; used by tests and checkers to recognise a nickname."""
    return {code: frozenset(d for values in loc.nicknames.values() for d in values) for code, loc in locales().items()}


_CITY_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": data_en.CITY_ALIASES,
    "ru": data_ru.CITY_ALIASES,
    "pl": data_pl.CITY_ALIASES,
}


def city_aliases(locale: str) -> dict[str, tuple[str, ...]]:
    """Other names people write for a city (NYC, СПб, Warsaw)."""
    return _CITY_ALIASES[locale]
