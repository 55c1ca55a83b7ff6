"""Phone numbers and e-mail addresses: drawn from real numbering plans and real naming habits, and
written in the many styles that real exports contain.

Numbers are kept as national significant numbers (no country code, no trunk prefix) and only turned
into text by a formatter, so every style of one number parses back to the same number.
"""

from __future__ import annotations

import random
import re

from epistola.synth.model import City, Locale, Weighted
from epistola.synth.translit import fold_polish, transliterate

_NOT_ASCII_LETTER = re.compile("[^a-z]+")
_RU_LONG_AREAS = frozenset({"3812", "8442", "8452", "3452", "3952", "4212", "4012", "4852", "3822", "4872"})


def _digits(rng: random.Random, n: int) -> str:
    return str(int(rng.random() * 10**n)).zfill(n)


def _us_number(city: City, rng: random.Random) -> str:
    area = city.area_codes[int(rng.random() * len(city.area_codes))]
    while True:  # NXX exchange: not 0/1 first, not N11 service codes, not the 555 fiction block
        exchange = str(200 + int(rng.random() * 800))
        if exchange[1:] != "11" and exchange != "555":
            return area + exchange + _digits(rng, 4)


def new_mobile(loc: Locale, city: City, rng: random.Random, taken: set[str]) -> str:
    """A mobile number unique in the dataset: people do not share mobiles, households share landlines."""
    while True:
        if loc.country == "US":
            nsn = _us_number(city, rng)
        else:
            prefix = loc.mobile_prefixes[int(rng.random() * len(loc.mobile_prefixes))]
            nsn = prefix + _digits(rng, (10 if loc.country == "RU" else 9) - len(prefix))
        if nsn not in taken:
            taken.add(nsn)
            return nsn


def new_landline(loc: Locale, city: City, rng: random.Random, taken: set[str]) -> str:
    while True:
        if loc.country == "US":
            nsn = _us_number(city, rng)
        else:
            area = city.area_codes[int(rng.random() * len(city.area_codes))]
            rest = (10 if loc.country == "RU" else 9) - len(area)
            nsn = area + str(2 + int(rng.random() * 7)) + _digits(rng, rest - 1)
        if nsn not in taken:
            taken.add(nsn)
            return nsn


def _ru_groups(nsn: str) -> tuple[str, str]:
    """Area code and subscriber part, subscriber written 123-45-67 / 12-34-56 as Russians do."""
    cut = 4 if nsn[:4] in _RU_LONG_AREAS else 3
    area, sub = nsn[:cut], nsn[cut:]
    return area, (f"{sub[:3]}-{sub[3:5]}-{sub[5:]}" if len(sub) == 7 else f"{sub[:2]}-{sub[2:4]}-{sub[4:]}")


def _pl_groups(nsn: str) -> str:
    if nsn[:2] in ("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"):
        return f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    return f"{nsn[:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:]}"


def format_phone(country: str, nsn: str, style: int) -> str:
    """One number in one of the styles its country writes (style is taken modulo the styles known)."""
    styles: tuple[str, ...]
    if country == "US":
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        styles = (f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"{a}-{b}-{c}", nsn, f"1-{a}-{b}-{c}")
    elif country == "RU":
        area, sub = _ru_groups(nsn)
        spaced = sub.replace("-", " ")
        styles = (f"+7 ({area}) {sub}", f"8 {area} {spaced}", f"8{nsn}", f"+7{nsn}", f"8 ({area}) {sub}")
    else:
        grouped = _pl_groups(nsn)
        styles = (f"+48 {grouped}", grouped.replace(" ", "-"), nsn, f"+48{nsn}", f"0048 {grouped}", grouped)
    return styles[style % len(styles)]


def invalid_phone(country: str, nsn: str, rng: random.Random) -> str:
    """A phone field no numbering plan accepts: cut short, a placeholder, or a Cyrillic look-alike letter."""
    r = rng.random()
    if r < 0.5:  # digits lost at the end: four or five, since 310-XXXX is a valid US number on its own
        text = format_phone(country, nsn, int(rng.random() * 6))
        drop = 4 + int(rng.random() * 2)
        while drop:
            drop -= text[-1].isdigit()
            text = text[:-1]
        return text.rstrip(" -.(")
    if r < 0.75 and country == "RU":
        return format_phone(country, nsn, 0).replace("3", "З").replace("0", "О")[:-1] + "З"
    placeholders = {"US": ("n/a", "none", "-"), "RU": ("нет", "n/a", "-"), "PL": ("brak", "n/a", "-")}[country]
    return placeholders[int(rng.random() * len(placeholders))]


# ---------------------------------------------------------------------------------------------- e-mail

_PATTERNS = Weighted(
    (
        "{f}.{l}",
        "{f}{l}",
        "{fi}.{l}",
        "{fi}{l}",
        "{f}_{l}",
        "{l}.{f}",
        "{f}{yy}",
        "{f}.{l}{yy}",
        "{l}{fi}",
        "{n}{yy}",
        "{f}{rnd}",
        "{l}{rnd}",
        "{n}.{l}",
        "{f}.{l}.{yyyy}",
    ),
    (24, 10, 7, 8, 5, 5, 9, 7, 4, 6, 6, 4, 3, 2),
)


def ascii_name(name: str, locale: str, scheme: str = "informal") -> str:
    """A name as it appears in an e-mail address: lower-case ASCII letters only."""
    if locale == "ru":
        name = transliterate(name, scheme)
    elif locale == "pl":
        name = fold_polish(name)
    return _NOT_ASCII_LETTER.sub("", name.lower())


def new_email(
    *,
    first: str,
    last: str,
    nickname: str,
    birth_year: int,
    locale: str,
    domain: str,
    rng: random.Random,
    taken: set[str],
) -> str:
    """An address built the way people build them, with a number added when the obvious one is taken."""
    scheme = ("informal", "icao", "bgn")[int(rng.random() * 3)]
    given, family = ascii_name(first, locale, scheme), ascii_name(last, locale, scheme)
    local = _PATTERNS.pick(rng).format(
        f=given,
        l=family,
        fi=given[:1],
        n=ascii_name(nickname, locale, scheme) or given,
        yy=f"{birth_year % 100:02d}",
        yyyy=birth_year,
        rnd=1 + int(rng.random() * 999),
    )
    local = local.strip("._") or "user"
    address = f"{local}@{domain}"
    while address in taken:
        address = f"{local}{1 + int(rng.random() * 99 if rng.random() < 0.7 else rng.random() * 9999)}@{domain}"
    taken.add(address)
    return address


def invalid_email(email: str, rng: random.Random, locale: str) -> str:
    """An e-mail field that is not an address: doubled @, a placeholder, no domain, no dot in the domain."""
    local, _, domain = email.partition("@")
    r = rng.random()
    if r < 0.3:
        return f"{local}@@{domain}"
    if r < 0.5:
        return {"en": "no email", "ru": "нет", "pl": "brak"}[locale]
    if r < 0.7:
        return f"{local}@"
    if r < 0.85:
        return f"{local}@{domain.rsplit('.', 1)[0]}"
    return f"{local}.{domain}"  # the @ typed as a dot
