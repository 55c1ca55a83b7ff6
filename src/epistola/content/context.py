"""What a design sees when it is rendered for one customer, built the same way for every channel.

`render_context` turns a customer row (and, where there is one, a campaign, a message, links, an agent, a
document) into the mapping the sandbox renders with: the fields of `sandbox.CONTEXT_SCHEMA`, every key
present (absent values are None, so a misspelt name is an error but a missing city is not), plus the
greeting in the customer's language and the postal address lines that the locked print layout places in
the envelope window. Nothing here queries a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from epistola.content.l10n import greeting, language
from epistola.content.sandbox import CONTEXT_SCHEMA
from epistola.errors import TemplateError

CUSTOMER_FIELDS = tuple(sorted((CONTEXT_SCHEMA["customer"] or frozenset()) - {"full_name"}))
LINK_NAMES = tuple(sorted(CONTEXT_SCHEMA["links"] or ()))
AGENT_FIELDS = tuple(sorted(CONTEXT_SCHEMA["agent"] or ()))
DOCUMENT_FIELDS = tuple(sorted(CONTEXT_SCHEMA["document"] or ()))
_LINK_SET = frozenset(LINK_NAMES)
_NO_LINK_VALUES: dict[str, str | None] = dict.fromkeys(LINK_NAMES)  # copied per message
_NO_AGENT: Mapping[str, Any] = dict.fromkeys(AGENT_FIELDS)  # shared: templates cannot change it
_NO_SEGMENTS: frozenset[str] = frozenset()

COUNTRY_NAMES = {
    "en": {"GB": "United Kingdom", "US": "United States", "RU": "Russia", "PL": "Poland", "DE": "Germany"},
    "ru": {"GB": "Великобритания", "US": "США", "RU": "Россия", "PL": "Польша", "DE": "Германия"},
    "pl": {"GB": "Wielka Brytania", "US": "Stany Zjednoczone", "RU": "Rosja", "PL": "Polska", "DE": "Niemcy"},
}


def customer_context(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a template may know about a customer (no phone or street: the layout places the address)."""
    get = row.get
    # CUSTOMER_FIELDS spelt out (a test keeps them equal): a dict display is twice as fast as a loop.
    ctx: dict[str, Any] = {
        "age": get("age"),
        "attributes": get("attributes") or {},  # the sandbox is immutable: no copy needed
        "birth_date": get("birth_date"),
        "city": get("city"),
        "country": get("country"),
        "email": get("email"),
        "first_name": get("first_name"),
        "gender": get("gender"),
        "id": get("id"),
        "last_name": get("last_name"),
        "locale": language(get("locale")),
        "postcode": get("postcode"),
        "region": get("region"),
        "full_name": _full_name(get("first_name"), get("last_name")),
    }
    birth = ctx["birth_date"]
    if isinstance(birth, date):
        ctx["birth_date"] = birth.isoformat()
    return ctx


def _full_name(first: Any, last: Any) -> str | None:
    """``first last``, either alone, or None; the join, spelt out for the usual strings and Nones."""
    if (first is None or type(first) is str) and (last is None or type(last) is str):
        return (first + " " + last if last else first) if first else (last or None)
    return " ".join(p for p in (first, last) if p) or None


def age_on(birth: object, day: date) -> int | None:
    """Whole years on `day` (a 29 February birthday counts from 1 March in common years)."""
    if isinstance(birth, str):
        try:
            birth = date.fromisoformat(birth[:10])
        except ValueError:
            return None
    if not isinstance(birth, date):
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def address_lines(row: Mapping[str, Any], *, sender_country: str = "GB") -> list[str]:
    """The recipient block for a window envelope, in the order the destination's post expects."""
    name = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    street = row.get("street") or ""
    city = row.get("city") or ""
    postcode = row.get("postcode") or ""
    region = row.get("region") or ""
    country = str(row.get("country") or "").upper()
    if country == "US":
        locality = " ".join(p for p in (f"{city}," if city and (region or postcode) else city, region, postcode) if p)
    elif country in ("GB",):
        locality = "\n".join(p for p in (city.upper(), postcode) if p)
    elif country == "RU":
        locality = ", ".join(p for p in (city, region, postcode) if p)
    else:
        locality = f"{postcode} {city}".strip()
    lines = [name, street, *locality.split("\n")]
    if country and country != sender_country.upper():
        lang = language(row.get("locale"))
        lines.append(COUNTRY_NAMES[lang].get(country, country).upper())
    return [line for line in lines if line]


def safe_url(url: object) -> str:
    """A link target that may go into a message: absolute http(s), mailto: or tel:, nothing else."""
    text = str(url or "")
    if text in _SAFE:
        return text
    _check_url(text)
    if len(_SAFE) < 65536:  # the same few targets recur in every message of a campaign
        _SAFE.add(text)
    return text


_SAFE: set[str] = set()
_SPACE = re.compile(r"\s")


def _check_url(text: str) -> None:
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    ok = parts is not None and (
        (parts.scheme in ("http", "https") and bool(parts.hostname))
        or (parts.scheme in ("mailto", "tel") and parts.path)
    )
    if not ok or _SPACE.search(text):
        raise TemplateError(f"link target {text[:80]!r} is not an absolute http(s), mailto: or tel: address")


def render_context(
    customer: Mapping[str, Any],
    *,
    today: date,
    campaign: Mapping[str, Any] | None = None,
    message_id: int | None = None,
    links: Mapping[str, str | None] | None = None,
    agent: Mapping[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
    ab: str | None = None,
    segments: Collection[str] = (),
) -> dict[str, Any]:
    """The full render context for one customer (see the module docstring)."""
    person = customer_context(customer)
    person["age"] = age_on(customer.get("birth_date"), today)
    if links:
        if not _LINK_SET.issuperset(links):
            unknown = sorted(set(links) - _LINK_SET)
            raise TemplateError(f"unknown links {unknown}; designs know {', '.join(LINK_NAMES)}")
        link_values = {name: links.get(name) for name in LINK_NAMES}
    else:
        link_values = _NO_LINK_VALUES.copy()
    doc: dict[str, Any] | None = None
    if document is not None:
        doc = {k: document.get(k) for k in DOCUMENT_FIELDS}
        doc["lines"] = [dict(line) for line in document.get("lines") or ()]
    return {
        "customer": person,
        "campaign": {"id": None, "name": None, **campaign} if campaign else {"id": None, "name": None},
        "message": {"id": message_id},
        "links": link_values,
        "today": today.isoformat() if isinstance(today, date) else str(today),  # a datetime is a date
        "greeting": greeting(
            person["locale"],
            gender=person["gender"],
            first_name=person["first_name"],
            last_name=person["last_name"],
            middle_name=person["attributes"].get("middle_name"),
        ),
        "agent": {k: agent.get(k) for k in AGENT_FIELDS} if agent else _NO_AGENT,
        "document": doc,
        "_row": customer,  # for the letter's address block (`address_lines`), computed only when printing
        "_ab": ab,
        "_segments": frozenset(segments) if segments else _NO_SEGMENTS,
    }


Link = Callable[[str], str]
