"""From a raw source row to canonical values, keeping what was wrong instead of dropping it.

`canonicalise` applies a mapping (casts, recodings, defaults, computed fields) and then normalises
contact data with the reference libraries (email-validator, phonenumbers). Whatever cannot be used is
flagged in ``invalid`` with the reason; the raw row is stored beside the result by the importer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from epistola.hub.address import parse_address
from epistola.hub.contacts import (
    Unusable,
    country_code,
    likely_country,
    normalise_email,
    normalise_phone,
    normalise_postcode,
)
from epistola.hub.mapping import ConsentSpec, FieldSpec, SourceMapping
from epistola.hub.names import clean_name, split_full_name, translit_key
from epistola.hub.readers import lookup

DEFAULT_TIMEZONES = {
    "US": "America/New_York",
    "RU": "Europe/Moscow",
    "PL": "Europe/Warsaw",
    "GB": "Europe/London",
}
DEFAULT_LOCALES = {"US": "en", "GB": "en", "RU": "ru", "PL": "pl"}
GENDERS = {
    "m": "m",
    "male": "m",
    "man": "m",
    "mr": "m",
    "г-н": "m",
    "м": "m",
    "муж": "m",
    "мужской": "m",
    "pan": "m",
    "mężczyzna": "m",
    "f": "f",
    "female": "f",
    "woman": "f",
    "w": "f",
    "k": "f",
    "kobieta": "f",
    "ж": "f",
    "жен": "f",
    "женский": "f",
    "mrs": "f",
    "ms": "f",
    "miss": "f",
    "г-жа": "f",
    "pani": "f",
    "x": "x",
    "other": "x",
    "diverse": "x",
    "non-binary": "x",
}


_AGE_RANGE = re.compile(r"(\d{1,3})(?:-(\d{1,3})|\+)")
_TEMPLATE = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_.]*)\}")


class CastError(ValueError):
    pass


@dataclass(kw_only=True, slots=True)
class Canonical:
    """The normalised view of one source record."""

    values: dict[str, Any] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    consents: dict[str, dict[str, str]] = field(default_factory=dict)
    given: list[str] = field(default_factory=list)  # mapped fields (and consent.<channel>) the source filled

    def as_json(self) -> dict[str, Any]:
        return {**self.values, "consents": self.consents, "invalid": self.invalid}


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def mapped_value(row: dict[str, Any], spec: FieldSpec | ConsentSpec) -> Any:
    """The raw value a field or consent spec picks from a row (its default when the row has none)."""
    if isinstance(spec, ConsentSpec):
        return lookup(row, spec.from_)
    raw = lookup(row, spec.from_) if spec.from_ else _template(spec, row)
    return spec.default if blank(raw) else raw


def cast(value: Any, spec: FieldSpec) -> Any:
    """Cast one mapped value to its declared type; raises `CastError` with a readable reason."""
    if spec.recode is not None:
        key = str(value).strip() if not isinstance(value, bool) else str(value).lower()
        if key not in spec.recode:
            raise CastError(f"value {key!r} is not one of the recoded values {sorted(spec.recode)}")
        value = spec.recode[key]
        if value is None:
            return None
    if spec.type == "str":
        return str(value).strip()
    if spec.type == "int":
        try:
            return int(str(value).strip())
        except ValueError:
            raise CastError(f"{value!r} is not a whole number") from None
    if spec.type == "float":
        try:
            return float(str(value).strip().replace(",", "."))
        except ValueError:
            raise CastError(f"{value!r} is not a number") from None
    if spec.type == "bool":
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "y", "t"):
            return True
        if text in ("0", "false", "no", "n", "f"):
            return False
        raise CastError(f"{value!r} is not yes/no")
    if spec.type == "date":
        if isinstance(value, date):  # Excel cells and SQL columns come typed
            return value.date() if isinstance(value, datetime) else value
        return _parse_date(str(value).strip(), spec.format)
    if spec.type == "datetime":
        if isinstance(value, date):
            moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
            return _in_zone(moment, spec.timezone)
        return _parse_datetime(str(value).strip(), spec.format, spec.timezone)
    return _parse_age_range(str(value).strip())


def _strptime(text: str, fmt: str | list[str]) -> datetime:
    return _strptime_cached(text, fmt if isinstance(fmt, str) else tuple(fmt))


@lru_cache(maxsize=65536)
def _strptime_cached(text: str, fmt: str | tuple[str, ...]) -> datetime:
    """Dates repeat (birth dates, days of a month): parse each spelling once."""
    for one in [fmt] if isinstance(fmt, str) else fmt:
        try:
            return datetime.strptime(text, one)
        except ValueError:
            continue
    raise ValueError(text)


def _parse_date(text: str, fmt: str | list[str] | None) -> date:
    try:
        return _strptime(text, fmt).date() if fmt else date.fromisoformat(text)
    except ValueError:
        raise CastError(f"{text!r} is not a date in the format {fmt or 'YYYY-MM-DD'}") from None


def _parse_datetime(text: str, fmt: str | list[str] | None, zone: str | None) -> datetime:
    try:
        moment = _strptime(text, fmt) if fmt else datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CastError(f"{text!r} is not a date-time in the format {fmt or 'ISO 8601'}") from None
    return _in_zone(moment, zone)


def _in_zone(moment: datetime, zone: str | None) -> datetime:
    """Naive date-times are in the column's declared zone (UTC if none); the result is UTC."""
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
        except ZoneInfoNotFoundError:
            raise CastError(f"unknown time zone {zone!r}") from None
    return moment.astimezone(UTC)


def _parse_age_range(text: str) -> tuple[int, int | None]:
    m = _AGE_RANGE.fullmatch(text)
    if not m:
        raise CastError(f"{text!r} is not an age range like '26-40' or '41+'")
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def _template(spec: FieldSpec, row: dict[str, Any]) -> str | None:
    def sub(m: re.Match[str]) -> str:
        value = lookup(row, m.group(1))
        return "" if value is None else str(value)

    text = _TEMPLATE.sub(sub, spec.template or "").strip()
    return text or None


def apply_mapping(row: dict[str, Any], mapping: SourceMapping) -> Canonical:
    """Cast and recode the mapped fields of one row (no contact normalisation yet)."""
    out = Canonical()
    for name, spec in mapping.fields.items():
        raw = mapped_value(row, spec)
        if blank(raw):
            continue
        out.given.append(name)
        try:
            value = cast(raw, spec)
        except CastError as exc:
            out.invalid[name] = str(exc)
            continue
        if value is not None:
            out.values[name] = value
    for name, default in mapping.defaults.items():
        out.values.setdefault(name, default)
    for channel, cspec in mapping.consents.items():
        raw = lookup(row, cspec.from_)
        key = "" if raw is None else (str(raw).lower() if isinstance(raw, bool) else str(raw).strip())
        if key:
            out.given.append(f"consent.{channel}")
        if key in cspec.recode:
            status = cspec.recode[key]
            if status is not None:
                out.consents[channel] = {"status": status, "purpose": cspec.purpose}
        elif key:
            out.invalid[f"consent.{channel}"] = f"value {key!r} is not one of {sorted(cspec.recode)}"
    return out


def canonicalise(row: dict[str, Any], mapping: SourceMapping, *, today: date) -> Canonical:
    """Apply the mapping, then normalise names, contacts, address, dates and gender."""
    rec = apply_mapping(row, mapping)
    v, invalid = rec.values, rec.invalid

    if "full_name" in v and not (v.get("first_name") or v.get("last_name")):
        given, family = split_full_name(v.pop("full_name"))
        v["first_name"], v["last_name"] = given, family
    v.pop("full_name", None)
    for part in ("first_name", "middle_name", "last_name"):
        if part in v:
            v[part] = clean_name(v[part])
    v["first_key"], v["last_key"] = translit_key(v.get("first_name")), translit_key(v.get("last_name"))

    if "country" in v:
        try:
            v["country"] = country_code(str(v["country"]))
        except Unusable as exc:
            invalid["country"] = str(exc)
            del v["country"]
    country = v.get("country")

    _gender(v, invalid)
    if "email" in v:
        try:
            v["email"] = normalise_email(str(v["email"]))
        except Unusable as exc:
            invalid["email"] = str(exc)
            del v["email"]
    if "phone" in v:
        if country:
            regions = [country]
        else:
            likely = likely_country(v.get("postcode"), (v.get("last_name"), v.get("city"), v.get("address")))
            regions = [likely] if likely else mapping.phone_regions()
        try:
            v["phone"] = normalise_phone(str(v["phone"]), regions)
        except Unusable as exc:
            invalid["phone"] = str(exc)
            del v["phone"]
    if "postcode" in v:
        try:
            v["postcode"] = normalise_postcode(str(v["postcode"]), country)
        except Unusable as exc:
            invalid["postcode"] = str(exc)
            del v["postcode"]
    _address(v, country)
    if "city" in v:
        v["city"] = clean_name(v["city"])

    _birth_and_age(v, invalid, mapping, today)
    if country:
        v.setdefault("timezone", DEFAULT_TIMEZONES.get(country))
        v.setdefault("locale", DEFAULT_LOCALES.get(country, "en"))
    v.pop("title", None)
    rec.values = {k: x.isoformat() if isinstance(x, date) else x for k, x in v.items() if x is not None}
    return rec


def _gender(v: dict[str, Any], invalid: dict[str, str]) -> None:
    stated = v.pop("gender", None)
    if stated is not None:
        code = GENDERS.get(str(stated).strip().lower())
        if code:
            v["gender"] = code
        else:
            invalid["gender"] = "not a known gender code"
    if "gender" not in v and "title" in v:  # Mrs, Г-жа, Pani say it too
        code = GENDERS.get(str(v["title"]).strip().lower().rstrip("."))
        if code:
            v["gender"] = code


def _address(v: dict[str, Any], country: str | None) -> None:
    if "address" in v:
        addr = parse_address(v.pop("address"), country)
        if addr:
            v.update(street=addr.street, house=addr.house, flat=addr.flat, street_key=addr.street_key)
    elif "street" in v:
        addr = parse_address(v["street"], country)
        if addr:
            v.update(
                street=addr.street,
                house=v.get("house") or addr.house,
                flat=v.get("flat") or addr.flat,
                street_key=addr.street_key,
            )


def _birth_and_age(v: dict[str, Any], invalid: dict[str, str], mapping: SourceMapping, today: date) -> None:
    """Impossible birth dates are flagged; an age range remembers the day it was true (``age_as_of``)."""
    birth = v.get("birth_date")
    if isinstance(birth, date):
        if birth > today:
            invalid["birth_date"] = "in the future"
            del v["birth_date"]
        elif age_on(birth, today) > 120:
            invalid["birth_date"] = "gives an age over 120"
            del v["birth_date"]
    if "age" in v:
        low, high = v.pop("age")
        v["age_min"], v["age_max"] = low, high
        spec = mapping.fields.get("age")
        observed = v.get(spec.as_of) if spec is not None and spec.as_of else None
        if isinstance(observed, datetime):
            observed = observed.date()
        v["age_as_of"] = observed if isinstance(observed, date) else today


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
