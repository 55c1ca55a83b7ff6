"""From a raw source row to canonical values, keeping what was wrong instead of dropping it.

`canonicalise` applies a mapping (casts, recodings, defaults, computed fields) and then normalises
contact data with the reference libraries (email-validator, phonenumbers). Whatever cannot be used is
flagged in ``invalid`` with the reason; the raw row is stored beside the result by the importer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache, partial
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


def _strptime(text: str, fmt: str | list[str] | tuple[str, ...]) -> datetime:
    return _strptime_cached(text, fmt if isinstance(fmt, str) else tuple(fmt))


@lru_cache(maxsize=65536)
def _strptime_cached(text: str, fmt: str | tuple[str, ...]) -> datetime:
    """Dates repeat (birth dates, days of a month): parse each spelling once."""
    for one in [fmt] if isinstance(fmt, str) else fmt:
        try:
            return strptime(text, one)
        except ValueError:
            continue
    raise ValueError(text)


# Fixed-width numeric directives. strptime builds a regex and a dict per call; for these, with a
# non-digit between every two fields, reading the digits directly gives the same datetime or the same
# ValueError (the unit tests compare both on every kind of input). Anything else goes to strptime.
_FIXED_FIELDS = {"d": r"([0-9]{2})", "m": r"([0-9]{2})", "Y": r"([0-9]{4})", "H": r"([0-9]{2})", "M": r"([0-9]{2})"}
_ORDER = "YmdHM"


@lru_cache(maxsize=256)
def _fixed_format(fmt: str) -> tuple[re.Pattern[str], tuple[int, ...]] | None:
    """A strict regex for `fmt` and where each of year, month, day, hour, minute is in its groups; None
    when the format uses anything else, repeats a field, or puts two fields side by side."""
    parts = re.split(r"(%.)", fmt)
    pattern, fields, after_field = [], [], False
    for part in parts:
        if not part:
            continue
        if part.startswith("%"):
            name = part[1]
            if name not in _FIXED_FIELDS or name in fields or after_field:
                return None
            pattern.append(_FIXED_FIELDS[name])
            fields.append(name)
            after_field = True
        else:
            # Literals: no digits and no '%'; whitespace only as single spaces (strptime reads any run
            # of whitespace there, of which a single space is one case).
            if "%" in part or "  " in part or any(ch.isdigit() or (ch.isspace() and ch != " ") for ch in part):
                return None
            pattern.append(re.escape(part))
            after_field = False
    if not {"Y", "m", "d"} <= set(fields):
        return None
    return re.compile("".join(pattern), re.ASCII), tuple(fields.index(f) + 1 if f in fields else 0 for f in _ORDER)


def strptime(text: str, fmt: str) -> datetime:
    """`datetime.strptime(text, fmt)`, several times faster for numeric formats such as '%d.%m.%Y %H:%M'."""
    fixed = _fixed_format(fmt)
    if fixed is not None:
        pattern, at = fixed
        m = pattern.fullmatch(text)
        if m is not None:
            hour = int(m.group(at[3])) if at[3] else 0
            minute = int(m.group(at[4])) if at[4] else 0
            return datetime(int(m.group(at[0])), int(m.group(at[1])), int(m.group(at[2])), hour, minute)
    return datetime.strptime(text, fmt)


def _parse_date(text: str, fmt: str | list[str] | None) -> date:
    try:
        return _strptime(text, fmt).date() if fmt else date.fromisoformat(text)
    except ValueError:
        raise CastError(f"{text!r} is not a date in the format {fmt or 'YYYY-MM-DD'}") from None


def _parse_datetime(text: str, fmt: str | list[str] | None, zone: str | None) -> datetime:
    return _parse_datetime_cached(text, fmt if fmt is None or isinstance(fmt, str) else tuple(fmt), zone)


@lru_cache(maxsize=4096)
def _parse_datetime_cached(text: str, fmt: str | tuple[str, ...] | None, zone: str | None) -> datetime:
    """Cached for the moments one row gives twice (a registration that is also the last update)."""
    try:
        moment = _strptime(text, fmt) if fmt else datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        shown = list(fmt) if isinstance(fmt, tuple) else fmt  # as the mapping wrote it
        raise CastError(f"{text!r} is not a date-time in the format {shown or 'ISO 8601'}") from None
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


_MISSING = object()


def _to_str(value: Any) -> str:
    """`cast` for a plain str field: the same result without walking through the type checks."""
    return str(value).strip()


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    column: str | None  # None: a computed (template) field
    spec: FieldSpec
    convert: Callable[[Any], Any]  # cast(value, spec)


@dataclass(frozen=True, slots=True)
class _Consent:
    channel: str
    column: str
    spec: ConsentSpec
    given: str  # 'consent.<channel>'
    choices: str  # the recoded values, as the reason lists them


@dataclass(frozen=True, slots=True)
class _Plan:
    """A mapping read once for millions of rows: what each field and consent needs, precomputed."""

    fields: tuple[_Field, ...]
    defaults: tuple[tuple[str, str], ...]
    consents: tuple[_Consent, ...]


_PLANS: dict[int, tuple[SourceMapping, _Plan]] = {}


def _plan(mapping: SourceMapping) -> _Plan:
    found = _PLANS.get(id(mapping))
    if found is not None and found[0] is mapping:
        return found[1]
    fields = tuple(
        _Field(
            name=name,
            column=spec.from_,
            spec=spec,
            convert=_to_str if spec.type == "str" and spec.recode is None else partial(_cast_as, spec),
        )
        for name, spec in mapping.fields.items()
    )
    consents = tuple(
        _Consent(channel=ch, column=c.from_, spec=c, given=f"consent.{ch}", choices=str(sorted(c.recode)))
        for ch, c in mapping.consents.items()
    )
    plan = _Plan(fields=fields, defaults=tuple(mapping.defaults.items()), consents=consents)
    if len(_PLANS) > 64:  # mappings are few; this only keeps a long-lived process from growing
        _PLANS.clear()
    _PLANS[id(mapping)] = (mapping, plan)  # the mapping is kept, so its id is not reused
    return plan


def _cast_as(spec: FieldSpec, value: Any) -> Any:
    return cast(value, spec)


def apply_mapping(row: dict[str, Any], mapping: SourceMapping) -> Canonical:
    """Cast and recode the mapped fields of one row (no contact normalisation yet)."""
    out = Canonical()
    values, invalid, given = out.values, out.invalid, out.given
    plan = _plan(mapping)
    for f in plan.fields:
        # mapped_value(), blank() and cast() inlined: this loop runs a dozen times per record.
        if f.column is not None:
            raw = row.get(f.column, _MISSING)
            if raw is _MISSING:
                raw = lookup(row, f.column)
        else:
            raw = _template(f.spec, row)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raw = f.spec.default
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
        given.append(f.name)
        try:
            value = f.convert(raw)
        except CastError as exc:
            invalid[f.name] = str(exc)
            continue
        if value is not None:
            values[f.name] = value
    for name, default in plan.defaults:
        values.setdefault(name, default)
    for c in plan.consents:
        raw = row.get(c.column, _MISSING)
        if raw is _MISSING:
            raw = lookup(row, c.column)
        key = "" if raw is None else (str(raw).lower() if isinstance(raw, bool) else str(raw).strip())
        if key:
            given.append(c.given)
        recode = c.spec.recode
        if key in recode:
            status = recode[key]
            if status is not None:
                out.consents[c.channel] = {"status": status, "purpose": c.spec.purpose}
        elif key:
            invalid[c.given] = f"value {key!r} is not one of {c.choices}"
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
