"""Person names: tidy case and spacing, and a transliteration key so Александр and Aleksandr can meet."""

from __future__ import annotations

import re
from functools import lru_cache

from unidecode import unidecode

_SPACES = re.compile(r"\s+")
_NOT_LETTERS = re.compile(r"[^a-z]")
_DOUBLES = re.compile(r"(.)\1+")
_HYPHENS = re.compile(r"([-'’])")
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "la", "le", "du"})
# Ordered: longer spellings first, so 'shch' is not eaten by 'sh'. These fold the common ways Russian
# and Polish names are romanised onto one key (Юлия: Yulia, Iuliia, Julia -> 'ulia').
_FOLDS = (
    ("ii", "i"),
    ("shch", "sh"),
    ("sch", "sh"),
    ("szcz", "sh"),
    ("sz", "sh"),
    ("cz", "ch"),
    ("rz", "zh"),
    ("x", "ks"),
    ("yu", "u"),
    ("iu", "u"),
    ("ju", "u"),
    ("ya", "a"),
    ("ia", "a"),
    ("ja", "a"),
    ("yo", "o"),
    ("jo", "o"),
    ("ye", "e"),
    ("ie", "e"),
    ("kh", "h"),
    ("ph", "f"),
    ("ck", "k"),
    ("w", "v"),
    ("y", "i"),
    ("j", "i"),
    ("c", "k"),
    ("q", "k"),
)


@lru_cache(maxsize=65536)
def clean_name(value: str | None) -> str | None:
    """'  IVANOV  ' -> 'Ivanov', 'anna-maria' -> 'Anna-Maria'; mixed-case input is kept as typed."""
    if value is None:
        return None
    text = _SPACES.sub(" ", str(value)).strip().strip(".,;")
    if not text:
        return None
    if text.isupper() or text.islower():
        text = " ".join(_title_word(w) for w in text.split(" "))
    return text


def _title_word(word: str) -> str:
    if word.lower() in _PARTICLES:
        return word.lower()
    parts = _HYPHENS.split(word.lower())
    return "".join(p[:1].upper() + p[1:] if p not in "-'’" else p for p in parts)


@lru_cache(maxsize=65536)
def translit_key(value: str | None) -> str | None:
    """A lower-case ASCII key that folds transliteration variants and doubled letters together."""
    if not value:
        return None
    key = _NOT_LETTERS.sub("", unidecode(value).lower())
    for old, new in _FOLDS:
        key = key.replace(old, new)
    key = _DOUBLES.sub(r"\1", key)
    return key or None


def split_full_name(value: str | None, *, family_first: bool = False) -> tuple[str | None, str | None]:
    """Split 'Bill Weingarten' into (given, family). Ambiguous orders stay as the source wrote them."""
    text = clean_name(value)
    if not text:
        return None, None
    if "," in text:  # 'Weingarten, Bill'
        family, _, given = text.partition(",")
        return clean_name(given), clean_name(family)
    parts = text.split(" ")
    if len(parts) == 1:
        return parts[0], None
    if family_first:
        return " ".join(parts[1:]), parts[0]
    return " ".join(parts[:-1]), parts[-1]
