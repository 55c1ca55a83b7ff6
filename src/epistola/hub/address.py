"""Postal addresses: split a one-line address into street, house and flat, and expand abbreviations.

Each country writes addresses its own way ("ул. Ленина, д. 5, кв. 12", "ul. Marszałkowska 10/5",
"1102 W. Pratt St"). The parser keeps the expanded street for letters and a `street_key` without street
types and directions, so "1102 Pratt" and "1102 West Pratt Street" can be compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from epistola.hub.names import translit_key

# Abbreviation -> full word, per country. Keys are lower case, without the trailing dot.
STREET_TYPES: dict[str, dict[str, str]] = {
    "RU": {
        "ул": "улица",
        "улица": "улица",
        "пр": "проспект",
        "пр-т": "проспект",
        "просп": "проспект",
        "проспект": "проспект",
        "пер": "переулок",
        "переулок": "переулок",
        "наб": "набережная",
        "набережная": "набережная",
        "пл": "площадь",
        "площадь": "площадь",
        "ш": "шоссе",
        "шоссе": "шоссе",
        "б-р": "бульвар",
        "бул": "бульвар",
        "бульвар": "бульвар",
        "туп": "тупик",
        "проезд": "проезд",
    },
    "PL": {
        "ul": "ulica",
        "ulica": "ulica",
        "al": "aleja",
        "aleja": "aleja",
        "aleje": "aleje",
        "pl": "plac",
        "plac": "plac",
        "os": "osiedle",
        "osiedle": "osiedle",
        "rondo": "rondo",
        "skwer": "skwer",
    },
    "US": {
        "st": "Street",
        "street": "Street",
        "ave": "Avenue",
        "av": "Avenue",
        "avenue": "Avenue",
        "rd": "Road",
        "road": "Road",
        "blvd": "Boulevard",
        "boulevard": "Boulevard",
        "dr": "Drive",
        "drive": "Drive",
        "ln": "Lane",
        "lane": "Lane",
        "ct": "Court",
        "court": "Court",
        "pl": "Place",
        "place": "Place",
        "ter": "Terrace",
        "terrace": "Terrace",
        "hwy": "Highway",
        "highway": "Highway",
        "pkwy": "Parkway",
        "parkway": "Parkway",
        "sq": "Square",
        "square": "Square",
        "way": "Way",
        "cir": "Circle",
        "circle": "Circle",
    },
}
US_DIRECTIONS = {
    "n": "North",
    "s": "South",
    "e": "East",
    "w": "West",
    "north": "North",
    "south": "South",
    "east": "East",
    "west": "West",
    "ne": "Northeast",
    "nw": "Northwest",
    "se": "Southeast",
    "sw": "Southwest",
}
_HOUSE_WORDS = {"RU": ("д", "дом"), "PL": ("nr",), "US": ()}
_FLAT_WORDS = {
    "RU": ("кв", "квартира", "оф", "офис"),
    "PL": ("m", "lok", "lokal", "mieszkanie"),
    "US": ("apt", "apartment", "unit", "suite", "ste", "#"),
}
_HOUSE = r"\d+[a-zA-Zа-яА-Я]?(?:/\d+[a-zA-Z]?)?"
# Compiled once: addresses are nearly all different, so each one is parsed.
_SPACES = re.compile(r"\s+")
_TOKEN_SEPARATORS = re.compile(r"[,\s]+")
_DIGIT = re.compile(r"\d")
_HOUSE_TOKEN = re.compile(rf"{_HOUSE}(?:-\d+)?")
_US_FLAT = re.compile(r"(?:,?\s*(?:apt|apartment|unit|suite|ste)\.?\s*|\s*#\s*)([\w-]+)\s*$", re.IGNORECASE)
_US_HOUSE = re.compile(rf"^({_HOUSE})\s+(.*)$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Address:
    street: str | None
    house: str | None
    flat: str | None
    street_key: str | None


def _word(token: str) -> str:
    return token.lower().rstrip(".,")


@lru_cache(maxsize=65536)
def parse_address(line: str | None, country: str | None) -> Address | None:
    """Best-effort split of a one-line address; unknown countries keep the line as the street."""
    if not line or not line.strip():
        return None
    text = _SPACES.sub(" ", line).strip()
    country = (country or "").upper()
    if country == "US":
        return _parse_us(text)
    if country in ("RU", "PL"):
        return _parse_european(text, country)
    return Address(street=text, house=None, flat=None, street_key=translit_key(text))


def _parse_european(text: str, country: str) -> Address:
    types = STREET_TYPES[country]
    house = flat = None
    # 'Ленина ул., 5-12' / 'Marszałkowska 10/5' / 'ul. Marszałkowska 10 m. 5'
    tokens = [t for t in _TOKEN_SEPARATORS.split(text) if t]
    street_words: list[str] = []
    street_type: str | None = None
    i = 0
    while i < len(tokens):
        token, word = tokens[i], _word(tokens[i])
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if word in _FLAT_WORDS[country] and nxt:
            flat = nxt.rstrip(".,")
            i += 2
            continue
        if word in _HOUSE_WORDS[country] and nxt and _DIGIT.match(nxt):
            house = nxt.rstrip(".,")
            i += 2
            continue
        if word in types and street_type is None and not (house and street_words):
            street_type = types[word]
            i += 1
            continue
        if street_words and house is None and _HOUSE_TOKEN.fullmatch(token.rstrip(".,")):
            value = token.rstrip(".,")
            if "-" in value:
                value, flat = value.split("-", 1)
            house = value
            i += 1
            continue
        if house is None:
            street_words.append(token.rstrip(","))
        i += 1
    if house and "/" in house and country == "PL" and flat is None:
        house, flat = house.split("/", 1)
    name = " ".join(street_words) or None
    street = f"{street_type} {name}" if street_type and name else name
    return Address(street=street, house=house, flat=flat, street_key=translit_key(name))


def _parse_us(text: str) -> Address:
    flat = None
    m = _US_FLAT.search(text)
    if m:
        flat, text = m.group(1), text[: m.start()].rstrip(", ")
    m = _US_HOUSE.match(text)
    house, rest = (m.group(1), m.group(2)) if m else (None, text)
    words = rest.split(" ")
    out: list[str] = []
    key_words: list[str] = []
    for pos, token in enumerate(words):
        word = _word(token)
        if word in US_DIRECTIONS and (pos == 0 or pos == len(words) - 1) and len(words) > 1:
            out.append(US_DIRECTIONS[word])
        elif word in STREET_TYPES["US"] and pos == len(words) - 1 and pos > 0:
            out.append(STREET_TYPES["US"][word])
        else:
            out.append(token.rstrip(".,"))
            key_words.append(token)
    street = " ".join(out) or None
    return Address(street=street, house=house, flat=flat, street_key=translit_key(" ".join(key_words)))
