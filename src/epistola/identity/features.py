"""What the matcher compares: a few normalised keys per source record, computed once from the hub's
canonical values (`source_records.normalized`).

Keys, not raw text, so that Александр, ALEKSANDR and Aleksandr are one value, and so the same columns
serve Splink's SQL, the incremental matcher's indexes and the explanations. Names written the other way
round (Pavlova Olia) are left as written: a comparison level and a blocking rule look for them, which is
safer than guessing which half is the given name (Kelly and Roman are both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from epistola.hub.names import translit_key
from epistola.identity.nicknames import given_key, name_gender, name_groups, primary_group
from epistola.identity.places import city_key, street_parts

# Every feature column, in the order of the matcher's tables (record_id first).
COLUMNS = (
    "record_id",
    "name",
    "fn",
    "fn_groups",
    "ln_groups",
    "fn_block",
    "ln_block",
    "ln",
    "gender",
    "dob",
    "by_lo",
    "by_hi",
    "email",
    "phone",
    "postcode",
    "pc_area",
    "city",
    "street",
    "house",
)
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_OLDEST_AGE = 110
# Russian patronymics (Dmitrievich, Sergeevna, Ильич, Кузьминична) in Cyrillic or Latin.
_PATRONYMIC = re.compile(r"(?:vich|vych|vna|ichna|ich|вич|вна|ична|ич)$", re.IGNORECASE)


def _year(text: object) -> int | None:
    if not isinstance(text, str) or len(text) < 4 or not text[:4].isdigit():
        return None
    return int(text[:4])


def _observed_year(values: Mapping[str, Any]) -> int | None:
    """The year an age range was true (the hub's `age_as_of`), else the sign-up, card or update date."""
    for key in ("age_as_of", "registered_at", "card_issued", "updated_at"):
        year = _year(values.get(key))
        if year:
            return year
    return None


def birth_years(values: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The birth years a record allows: its birth date's year, or what an age range said at the time."""
    dob = values.get("birth_date")
    year = _year(dob)
    if year:
        return year, year
    low = values.get("age_min")
    if low is None:
        return None, None
    seen = _observed_year(values) or date.today().year
    high = values.get("age_max")
    oldest = int(high) if high is not None else _OLDEST_AGE
    return seen - oldest - 1, seen - int(low)


def names(values: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(given, family) as written, without a Russian patronymic among three or more words; 'Antonov Mark'
    + 'Dmitrievich' (family-first, split by the hub as if it were English) becomes ('Mark', 'Antonov')."""
    first, last = values.get("first_name") or "", values.get("last_name") or ""
    given = str(first).split()
    family = str(last).split()
    if len(given) + len(family) < 3:
        return first or None, last or None  # two words are a given and a family name (Abramovich is one)
    kept_given = [w for w in given if not _PATRONYMIC.search(w)]
    kept_family = [w for w in family if not _PATRONYMIC.search(w)]
    if len(kept_given) + len(kept_family) == len(given) + len(family):
        return first or None, last or None
    if not kept_family and len(kept_given) == 2:
        return kept_given[1], kept_given[0]
    return " ".join(kept_given) or None, " ".join(kept_family) or None


def features(record_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """One record's matching keys; absent or unusable values are None (never an empty string)."""
    first, last = names(values)
    fn, ln, last_as_given = given_key(first), translit_key(last), given_key(last)
    street, number = street_parts(values.get("street"))
    house = values.get("house") or number
    postcode = values.get("postcode")
    pc = _alnum(str(postcode)) if postcode else ""
    lo, hi = birth_years(values)
    return {
        "record_id": record_id,
        "name": f"{fn}|{ln}" if fn and ln else None,
        "fn": fn,
        "fn_groups": list(name_groups(fn)),
        "ln_groups": list(name_groups(last_as_given)),
        "fn_block": primary_group(fn),
        "ln_block": primary_group(last_as_given),
        "ln": ln,
        "gender": values.get("gender") or name_gender(fn),
        "dob": values.get("birth_date") or None,
        "by_lo": lo,
        "by_hi": hi,
        "email": values.get("email") or None,
        "phone": values.get("phone") or None,
        "postcode": pc or None,
        "pc_area": pc[:3] if len(pc) >= 3 else None,
        "city": city_key(values.get("city")),
        "street": street,
        "house": _alnum(str(house)) or None if house else None,
    }


@lru_cache(maxsize=65536)
def _alnum(text: str) -> str:
    """Lower-case letters and digits only (postcodes, house numbers: a few thousand distinct ones)."""
    return _NOT_ALNUM.sub("", text.lower())
