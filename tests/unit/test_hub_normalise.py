"""Normalisation tables: names, addresses (US, Russian, Polish), contacts, recodings."""

from __future__ import annotations

from datetime import date

import pytest

from epistola.hub.address import parse_address
from epistola.hub.mapping import SourceMapping
from epistola.hub.names import clean_name, split_full_name, translit_key
from epistola.hub.normalize import canonicalise

TODAY = date(2026, 11, 1)


@pytest.mark.parametrize(
    ("line", "country", "street", "house", "flat", "key"),
    [
        ("ул. Ленина, д. 5, кв. 12", "RU", "улица Ленина", "5", "12", "lenina"),
        ("улица Ленина, дом 5, квартира 12", "RU", "улица Ленина", "5", "12", "lenina"),
        ("Ленина ул., 5-12", "RU", "улица Ленина", "5", "12", "lenina"),
        ("пр-т Мира 101", "RU", "проспект Мира", "101", None, "mira"),
        ("Невский пр., 20-7", "RU", "проспект Невский", "20", "7", "nevski"),
        ("ul. Marszałkowska 10/5", "PL", "ulica Marszałkowska", "10", "5", "marshalkovska"),
        ("ulica Marszałkowska 10 m. 5", "PL", "ulica Marszałkowska", "10", "5", "marshalkovska"),
        ("al. Jerozolimskie 44", "PL", "aleja Jerozolimskie", "44", None, "ierozolimske"),
        ("pl. Bankowy 2", "PL", "plac Bankowy", "2", None, "bankovi"),
        ("1102 W. Pratt St", "US", "West Pratt Street", "1102", None, "prat"),
        ("1102 West Pratt Street", "US", "West Pratt Street", "1102", None, "prat"),
        ("1102 Pratt", "US", "Pratt", "1102", None, "prat"),
        ("55 Main St Apt 4B", "US", "Main Street", "55", "4B", "main"),
        ("12 N Charles St #3", "US", "North Charles Street", "12", "3", "kharles"),
    ],
)
def test_addresses_split_and_expand(
    line: str, country: str, street: str, house: str, flat: str | None, key: str
) -> None:
    parsed = parse_address(line, country)
    assert parsed is not None
    assert (parsed.street, parsed.house, parsed.flat, parsed.street_key) == (street, house, flat, key)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Александр", "Aleksandr"),
        ("Юлия", "Yulia"),
        ("Юлия", "Iuliia"),
        ("Julia", "Yulia"),
        ("Щукин", "Shchukin"),
        ("Щукин", "Schukin"),
        ("Юрий", "Yuriy"),
        ("Юрий", "Iurii"),
        ("Kowalska", "KOWALSKA"),
    ],
)
def test_transliteration_key_folds_spellings(a: str, b: str) -> None:
    assert translit_key(a) == translit_key(b)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  IVANOV  ", "Ivanov"),
        ("anna-maria", "Anna-Maria"),
        ("VAN DER BERG", "van der Berg"),
        ("o'neil", "O'Neil"),
        ("McDonald", "McDonald"),
        ("", None),
        ("  ", None),
    ],
)
def test_names_are_tidied_not_rewritten(raw: str, clean: str | None) -> None:
    assert clean_name(raw) == clean


def test_full_names_split() -> None:
    assert split_full_name("Bill Weingarten") == ("Bill", "Weingarten")
    assert split_full_name("Weingarten, Bill") == ("Bill", "Weingarten")
    assert split_full_name("Madonna") == ("Madonna", None)


def _mapping(**fields: object) -> SourceMapping:
    return SourceMapping.model_validate({"source": "test", "format": {"type": "csv"}, "key": "id", "fields": fields})


def test_contacts_are_normalised_or_flagged_never_dropped_silently() -> None:
    mapping = _mapping(email="email", phone="phone", country="country", postcode="postcode")
    good = canonicalise(
        {
            "id": "1",
            "email": " Ivan.Petrov@Mail.RU ",
            "phone": "8 916 123 45 67",
            "country": "Россия",
            "postcode": "101000",
        },
        mapping,
        today=TODAY,
    )
    assert good.values["email"] == "ivan.petrov@mail.ru"
    assert good.values["phone"] == "+79161234567"
    assert good.values["country"] == "RU" and good.values["timezone"] == "Europe/Moscow"
    assert not good.invalid
    bad = canonicalise(
        {"id": "2", "email": "ivan@@mail", "phone": "12345", "country": "Atlantis", "postcode": "1"},
        mapping,
        today=TODAY,
    )
    assert set(bad.invalid) == {"email", "phone", "country"}
    assert "email" not in bad.values and "phone" not in bad.values


@pytest.mark.parametrize(
    ("country", "raw", "expected"),
    [("PL", "00950", "00-950"), ("PL", "00-950", "00-950"), ("US", "21201", "21201"), ("RU", "101000", "101000")],
)
def test_postcodes_per_country(country: str, raw: str, expected: str) -> None:
    rec = canonicalise(
        {"id": "1", "pc": raw},
        _mapping(postcode="pc", country={"from": "id", "default": country, "recode": {"1": country}}),
        today=TODAY,
    )
    assert rec.values["postcode"] == expected


def test_age_codes_of_two_forms_land_in_one_representation() -> None:
    web = _mapping(age={"from": "age", "type": "age_range", "recode": {"1": "18-25", "2": "26-40", "3": "41+"}})
    paper = _mapping(age={"from": "age", "type": "age_range", "recode": {"1": "18-25", "2": "36-55", "3": "56+"}})
    assert canonicalise({"id": "1", "age": "2"}, web, today=TODAY).values.items() >= {("age_min", 26), ("age_max", 40)}
    assert canonicalise({"id": "1", "age": "2"}, paper, today=TODAY).values.items() >= {
        ("age_min", 36),
        ("age_max", 55),
    }
    open_ended = canonicalise({"id": "1", "age": "3"}, paper, today=TODAY).values
    assert open_ended["age_min"] == 56 and "age_max" not in open_ended
    unknown = canonicalise({"id": "1", "age": "7"}, paper, today=TODAY)
    assert "age" in unknown.invalid and "age_min" not in unknown.values


def test_dates_in_several_formats_and_impossible_ones_flagged() -> None:
    mapping = _mapping(birth_date={"from": "bd", "type": "date", "format": ["%m/%d/%Y", "%Y-%m-%d"]})
    assert canonicalise({"id": "1", "bd": "04/17/1962"}, mapping, today=TODAY).values["birth_date"] == "1962-04-17"
    assert canonicalise({"id": "1", "bd": "1988-05-21"}, mapping, today=TODAY).values["birth_date"] == "1988-05-21"
    assert "birth_date" in canonicalise({"id": "1", "bd": "2031-01-01"}, mapping, today=TODAY).invalid
    assert "birth_date" in canonicalise({"id": "1", "bd": "17.04.1962"}, mapping, today=TODAY).invalid


@pytest.mark.parametrize(
    ("code", "gender"), [("M", "m"), ("F", "f"), ("K", "f"), ("female", "f"), ("ж", "f"), ("male", "m")]
)
def test_gender_codes(code: str, gender: str) -> None:
    assert canonicalise({"id": "1", "g": code}, _mapping(gender="g"), today=TODAY).values["gender"] == gender


def test_gender_from_title_when_not_stated() -> None:
    mapping = _mapping(title="t")
    assert canonicalise({"id": "1", "t": "Г-жа"}, mapping, today=TODAY).values["gender"] == "f"
    assert canonicalise({"id": "1", "t": "Pan"}, mapping, today=TODAY).values["gender"] == "m"
