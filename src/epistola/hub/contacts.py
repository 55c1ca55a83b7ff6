"""Contact data: countries, e-mail addresses, phone numbers and postcodes, normalised or flagged.

Each function returns the normalised value, or raises `Unusable` with a reason that never repeats the
value itself (reasons are counted in quality reports; the value stays in the stored raw record).
The reference libraries decide validity (email-validator, phonenumbers); the caches and the fast path
below only avoid asking them the same question twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
from babel import Locale
from email_validator import EmailNotValidError, validate_email


class Unusable(ValueError):
    """A value that cannot be used; the message says why, without quoting the value."""


# --- countries ------------------------------------------------------------------------------------------

_NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})
_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s": "US",
    "u.s.a.": "US",
    "u.s.a": "US",
    "united states of america": "US",
    "america": "US",
    "сша": "US",
    "рф": "RU",
    "russian federation": "RU",
    "российская федерация": "RU",
    "rosja": "RU",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "deutschland": "DE",
    "polska": "PL",
    "rzeczpospolita polska": "PL",
}


@lru_cache(maxsize=1)
def _country_names() -> tuple[frozenset[str], dict[str, str]]:
    """ISO 3166 codes and their names in English, Russian and Polish (from CLDR, via Babel)."""
    codes = frozenset(
        code
        for code in map(str, Locale("en").territories)
        if len(code) == 2 and code.isalpha() and code.isupper() and code not in _NOT_COUNTRIES
    )
    names: dict[str, str] = {}
    for language in ("en", "ru", "pl"):
        for code, name in Locale(language).territories.items():
            if str(code) in codes:
                names.setdefault(str(name).lower(), str(code))
    names.update(_ALIASES)
    return codes, names


@lru_cache(maxsize=4096)
def country_code(text: str) -> str:
    """'Россия', 'Poland', 'U.S.', 'pl' -> an ISO 3166 code; raises `Unusable` for anything else."""
    codes, names = _country_names()
    key = " ".join(text.split()).lower()
    if key.upper() in codes:
        return key.upper()
    found = names.get(key) or names.get(key.rstrip("."))
    if found is None:
        raise Unusable("not a known country name or ISO code")
    return found


# --- e-mail -----------------------------------------------------------------------------------------------

_SIMPLE_LOCAL = re.compile(r"[a-z0-9_+\-]+(?:\.[a-z0-9_+\-]+)*", re.IGNORECASE)
_SIMPLE_DOMAIN = re.compile(r"[a-z0-9.\-]+", re.IGNORECASE)


@lru_cache(maxsize=65536)
def _domain(domain: str) -> str:
    """The normalised domain, validated once per domain (the expensive half of an address)."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).domain.lower()
    except EmailNotValidError as exc:
        raise Unusable(str(exc)) from None


def normalise_email(raw: str) -> str:
    """A lower-case address as email-validator normalises it; raises `Unusable` with its reason.

    Plain ASCII addresses (the vast majority) take a fast path: the local part is checked against a
    strict subset of the RFC's dot-atom and the domain is validated once per domain. Everything else
    goes through `validate_email` whole. A unit test compares both paths.
    """
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    if (
        at
        and len(local) <= 64
        and len(text) <= 254
        and _SIMPLE_LOCAL.fullmatch(local)
        and _SIMPLE_DOMAIN.fullmatch(domain)
    ):
        return local.lower() + "@" + _domain(domain)
    try:
        return str(validate_email(text, check_deliverability=False).normalized.lower())
    except EmailNotValidError as exc:
        raise Unusable(str(exc)) from None


# --- phone numbers -------------------------------------------------------------------------------------------


_T = phonenumbers.PhoneNumberType
# A customer's own phone: what one can call or text. Pagers, toll-free, premium-rate and shared-cost
# numbers are valid numbers but never a person's contact number.
PERSONAL_TYPES = frozenset({_T.FIXED_LINE, _T.MOBILE, _T.FIXED_LINE_OR_MOBILE, _T.VOIP, _T.PERSONAL_NUMBER})


def normalise_phone(raw: str, regions: Iterable[str]) -> str:
    """E.164 for a number valid in one of `regions` (international numbers need none).

    `regions` are the record's own country, or the source's candidates when the record states none.
    When a national number is valid in several (347-294-8199 is a New York number and, read in Russia,
    a Bashkir one), the region whose own way of writing it matches the digit groups wins, then the
    first listed. A number no region accepts is flagged, never guessed.
    """
    text = raw.strip()
    candidates = [None] if text.startswith("+") else [*dict.fromkeys(r for r in regions if r)]
    if not candidates:
        raise Unusable("a national number, and no country to read it in")
    digits = _plain_digits(text)
    valid: list[phonenumbers.PhoneNumber] = []
    tried: list[str] = []
    service = False
    for region in candidates:
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        tried.append(region or "any region")
        kind = phonenumbers.number_type(number)  # UNKNOWN exactly when is_valid_number() is false
        if kind in PERSONAL_TYPES:
            valid.append(number)
        elif kind != _T.UNKNOWN:
            service = True
    if not tried:
        raise Unusable("not a phone number")
    if not valid and service:
        raise Unusable("a service number (pager, toll-free, premium rate), not a personal phone")
    if not valid:
        raise Unusable(f"not a valid phone number for {', '.join(tried)}")
    best = valid[0] if len(valid) == 1 else max(valid, key=lambda n: _written_like(text, n))
    return phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)


# Most numbers are ASCII digits, spaces, brackets, dashes and dots, with perhaps a leading '+'. For
# those, phonenumbers reads exactly what it reads from the digits alone (it drops the punctuation before
# anything else looks at them), and reading the shorter string costs a good part less. The conditions
# keep out what would change that: fewer than three digits fail its first check, over 250 characters its
# length limit. A unit test compares both readings on generated numbers.
_PLAIN_PHONE = re.compile(r"\+?[0-9 ().\-]+", re.ASCII)


def _plain_digits(text: str) -> str:
    """'+' and the digits of a plainly written number, else the text as it is."""
    if len(text) > 250 or _PLAIN_PHONE.fullmatch(text) is None:
        return text
    digits = _NOT_DIGITS.sub("", text)
    if len(digits) < 3:
        return text
    return "+" + digits if text[0] == "+" else digits


def _written_like(text: str, number: phonenumbers.PhoneNumber) -> int:
    """How well `text` matches the national way of writing `number`: same digit groups, same digits."""
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = [len(g) for g in _DIGIT_RUNS.findall(text)] == [len(g) for g in _DIGIT_RUNS.findall(national)]
    digits = _NOT_DIGITS.sub("", text) == _NOT_DIGITS.sub("", national)
    return 2 * groups + digits


_DIGIT_RUNS = re.compile(r"\d+")
_NOT_DIGITS = re.compile(r"\D")


# --- postcodes -------------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_FIVE_DIGITS = re.compile(r"\d{5}")
POSTCODES = {
    "US": re.compile(r"\d{5}(-\d{4})?"),
    "RU": re.compile(r"\d{6}"),
    "PL": re.compile(r"\d{2}-\d{3}"),
    "GB": re.compile(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"),
    "DE": re.compile(r"\d{5}"),
}


def normalise_postcode(raw: str, country: str | None) -> str:
    """'00950' -> '00-950' in Poland; checked against the country's pattern when one is known."""
    code = _SPACES.sub("", raw).upper()
    if country == "PL" and _FIVE_DIGITS.fullmatch(code):
        code = f"{code[:2]}-{code[2:]}"
    if country == "GB" and len(code) > 3:
        code = f"{code[:-3]} {code[-3:]}"
    pattern = POSTCODES.get(country or "")
    if pattern and not pattern.fullmatch(code):
        raise Unusable(f"not a valid {country} postcode")
    return code


_CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
_SIX_DIGITS = re.compile(r"\d{6}")
_POLISH_POSTCODE = re.compile(r"\d{2}-\d{3}")
_ZIP_PLUS_FOUR = re.compile(r"\d{5}-\d{4}")
_POLISH = re.compile("[ąćęłńśźż]", re.IGNORECASE)


def likely_country(postcode: str | None, texts: Iterable[str | None]) -> str | None:
    """A country suggested by a record's shape (postcode format, script), to read national phone
    numbers in when the record states no country. Never stored as the customer's country."""
    code = (postcode or "").strip()
    if _SIX_DIGITS.fullmatch(code):
        return "RU"
    if _POLISH_POSTCODE.fullmatch(code):
        return "PL"
    for text in texts:
        if text and _CYRILLIC.search(text):
            return "RU"
        if text and _POLISH.search(text):
            return "PL"
    if _ZIP_PLUS_FOUR.fullmatch(code):
        return "US"
    return None
