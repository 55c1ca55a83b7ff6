"""Contact normalisation tables: countries, phones (with and without a stated country), e-mails, postcodes."""

from __future__ import annotations

from datetime import date

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.hub.contacts import (
    Unusable,
    country_code,
    likely_country,
    normalise_email,
    normalise_phone,
    normalise_postcode,
)
from epistola.hub.mapping import SourceMapping
from epistola.hub.normalize import canonicalise

TODAY = date(2026, 11, 1)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("US", "US"),
        ("us", "US"),
        ("USA", "US"),
        ("U.S.", "US"),
        ("United States", "US"),
        ("Соединенные Штаты", "US"),
        ("Россия", "RU"),
        ("РФ", "RU"),
        ("Russia", "RU"),
        ("Rosja", "RU"),
        ("Polska", "PL"),
        ("Poland", "PL"),
        ("Польша", "PL"),
        ("  poland ", "PL"),
        ("Deutschland", "DE"),
    ],
)
def test_country_names_and_codes(text: str, code: str) -> None:
    assert country_code(text) == code


@pytest.mark.parametrize("text", ["XX", "ZZ", "??", "Unknown", "Other", "EU", "Atlantis"])
def test_unknown_countries_are_unusable(text: str) -> None:
    with pytest.raises(Unusable):
        country_code(text)


@pytest.mark.parametrize(
    ("raw", "regions", "e164"),
    [
        ("8 916 123 45 67", ["RU"], "+79161234567"),
        ("8 (968) 929-99-31", ["RU"], "+79689299931"),
        ("+7 (3822) 66-21-34", [], "+73822662134"),
        ("(323) 469-1423", ["US"], "+13234691423"),
        ("1-602-655-1234", ["US"], "+16026551234"),
        ("12 847 69 80", ["PL"], "+48128476980"),
        ("0048 886 040 171", ["PL"], "+48886040171"),
        # No stated country: the region whose way of writing the number matches wins.
        ("347-294-8199", ["RU", "PL", "US"], "+13472948199"),
        ("(917) 842-8368", ["RU", "PL", "US"], "+19178428368"),
        ("3477619330", ["RU", "PL", "US"], "+13477619330"),
        ("8 916 123 45 67", ["US", "PL", "RU"], "+79161234567"),
        ("699-017-212", ["RU", "PL", "US"], "+48699017212"),
    ],
)
def test_phones_become_e164(raw: str, regions: list[str], e164: str) -> None:
    assert normalise_phone(raw, regions) == e164


@pytest.mark.parametrize(
    ("raw", "regions", "reason"),
    [
        ("n/a", ["US"], "not a phone number"),
        ("brak", ["PL"], "not a phone number"),
        ("+7 (9О9) 597-95-9З", ["RU"], "not a phone number"),  # Cyrillic letters for digits
        ("(310) 52", ["US"], "not a valid phone number for US"),
        ("+48 720 4", [], "not a valid phone number"),
        ("612-850-7476", [], "no country"),
        ("646-902", ["PL"], "service number"),  # a Polish pager, never a customer's phone
    ],
)
def test_unusable_phones_say_why_without_the_number(raw: str, regions: list[str], reason: str) -> None:
    with pytest.raises(Unusable) as caught:
        normalise_phone(raw, regions)
    assert reason in str(caught.value)
    assert raw not in str(caught.value)


@pytest.mark.parametrize(
    ("postcode", "texts", "country"),
    [
        ("630045", [], "RU"),
        ("00-950", [], "PL"),
        ("21201-1234", [], "US"),
        ("", ["Соколова"], "RU"),
        ("01250", ["Wiśniewska"], "PL"),
        ("10357", ["Smith"], None),  # five digits: American, or Polish written without the dash
    ],
)
def test_likely_country_from_the_record_shape(postcode: str, texts: list[str], country: str | None) -> None:
    assert likely_country(postcode, texts) == country


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("00950", "PL", "00-950"),
        ("00-950", "PL", "00-950"),
        ("21201", "US", "21201"),
        ("21201-1234", "US", "21201-1234"),
        ("101000", "RU", "101000"),
        ("sw1a1aa", "GB", "SW1A 1AA"),
        ("ABC", None, "ABC"),
    ],
)
def test_postcodes(raw: str, country: str | None, expected: str) -> None:
    assert normalise_postcode(raw, country) == expected


@pytest.mark.parametrize(("raw", "country"), [("1010", "RU"), ("0095", "PL"), ("2120", "US")])
def test_bad_postcodes(raw: str, country: str) -> None:
    with pytest.raises(Unusable, match=f"not a valid {country} postcode"):
        normalise_postcode(raw, country)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ivan.Petrov@Mail.RU ", "ivan.petrov@mail.ru"),
        ("KATHRYN.EDWARDS@YAHOO.COM", "kathryn.edwards@yahoo.com"),
        ("o'neil@example.org", "o'neil@example.org"),  # the slow path: an apostrophe
        ("иван@почта.рф", "иван@почта.рф"),
    ],
)
def test_emails_normalise(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ivan@@mail.ru", "ivan@", "ivan.mail.ru", "ivan@mail", "нет", "no email", "a..b@mail.ru", "a@localhost"]
)
def test_bad_emails(raw: str) -> None:
    with pytest.raises(Unusable):
        normalise_email(raw)


def _reference(address: str) -> str | None:
    try:
        return str(validate_email(address.strip(), check_deliverability=False).normalized.lower())
    except EmailNotValidError:
        return None


def _fast(address: str) -> str | None:
    try:
        return normalise_email(address)
    except Unusable:
        return None


_PART = st.text(alphabet="abcXYZ019._+-'@", min_size=0, max_size=12)


@settings(max_examples=400, deadline=None)
@given(local=_PART, domain=st.sampled_from(["mail.ru", "gmail.com", "wp", "x.y.z", "-a.com", "a-.com", "ex..com", ""]))
def test_the_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert _fast(address) == _reference(address)


def _mapping(**fields: object) -> SourceMapping:
    return SourceMapping.model_validate({"source": "test", "format": {"type": "csv"}, "key": "id", "fields": fields})


def test_an_age_range_remembers_the_day_it_was_true() -> None:
    mapping = _mapping(
        registered_at={"from": "at", "type": "datetime"},
        age={"from": "a", "type": "age_range", "recode": {"2": "26-40"}, "as_of": "registered_at"},
    )
    values = canonicalise({"id": "1", "a": "2", "at": "2017-03-04T10:00:00Z"}, mapping, today=TODAY).values
    assert (values["age_min"], values["age_max"], values["age_as_of"]) == (26, 40, "2017-03-04")
    undated = canonicalise({"id": "1", "a": "2", "at": ""}, mapping, today=TODAY).values
    assert undated["age_as_of"] == TODAY.isoformat()


def test_as_of_must_name_a_date_field() -> None:
    with pytest.raises(ValueError, match="as_of must name a mapped date"):
        _mapping(age={"from": "a", "type": "age_range", "recode": {"2": "26-40"}, "as_of": "city"})


def test_a_record_without_a_country_reads_its_phone_in_the_source_regions() -> None:
    mapping = SourceMapping.model_validate(
        {
            "source": "test",
            "format": {"type": "csv"},
            "key": "id",
            "phone_region": ["RU", "PL", "US"],
            "fields": {"phone": "p", "postcode": "pc", "country": "c"},
        }
    )
    american = canonicalise({"id": "1", "p": "(917) 842-8368", "pc": "", "c": ""}, mapping, today=TODAY)
    assert american.values["phone"] == "+19178428368" and "country" not in american.values
    russian = canonicalise({"id": "2", "p": "9161234567", "pc": "630045", "c": "??"}, mapping, today=TODAY)
    assert russian.values["phone"] == "+79161234567" and russian.invalid == {"country": russian.invalid["country"]}
