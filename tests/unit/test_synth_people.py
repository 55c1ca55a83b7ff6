"""The person model: who the synthetic customers are, before any source distorts them."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from epistola.synth.addresses import new_address, pl_street_line, ru_street_line, us_street_line
from epistola.synth.contact import format_phone, invalid_email, invalid_phone, new_email, new_mobile
from epistola.synth.loyalty import luhn, paper_age_code
from epistola.synth.model import AS_OF, Address, City, Person, Street, age_on
from epistola.synth.names import locales
from epistola.synth.people import build_people
from epistola.synth.web import web_age_code

N = 4000


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return build_people(N, 11)


def test_same_seed_same_people() -> None:
    assert build_people(300, 5) == build_people(300, 5)
    assert build_people(300, 5) != build_people(300, 6)


def test_locale_mix(people: list[Person]) -> None:
    shares = Counter(p.locale for p in people)
    assert 0.40 < shares["en"] / N < 0.50
    assert 0.25 < shares["ru"] / N < 0.35
    assert 0.20 < shares["pl"] / N < 0.30


def test_ages_are_adult_and_skewed_to_the_middle(people: list[Person]) -> None:
    ages = [age_on(p.birth_date, AS_OF) for p in people]
    assert min(ages) >= 18
    assert max(ages) <= 85
    middle = sum(1 for a in ages if 30 <= a <= 60) / N
    assert 0.40 < middle < 0.60
    assert sum(1 for a in ages if a >= 75) / N < 0.08


def test_surnames_agree_with_gender(people: list[Person]) -> None:
    for p in people:
        if p.locale == "ru" and p.gender == "female":
            assert not re.search(r"(ов|ев|ёв|ин|ский|цкий|ой)$", p.last_name), p.last_name
        if p.locale == "ru" and p.gender == "male":
            assert not p.last_name.endswith(("ова", "ева", "ина", "ская")), p.last_name
        if p.locale == "pl" and p.gender == "female":
            assert not p.last_name.endswith(("ski", "cki")), p.last_name
        if p.locale == "ru":
            assert p.middle_name.endswith(("ич", "вна", "чна") if p.gender == "female" else ("ич",)), p


def _stem(surname: str) -> str:
    """Kowalska/Kowalski, Иванова/Иванов, Толстая/Толстой -> one stem."""
    surname = re.sub(r"(sk|ck|dzk)[ai]$", r"\1", surname)
    surname = re.sub(r"(ов|ев|ёв|ин|ын)а$", r"\1", surname)
    return re.sub(r"(ая|ий|ой)$", "", surname)


def test_families_share_address_and_surname(people: list[Person]) -> None:
    households: dict[int, list[Person]] = {}
    for p in people:
        households.setdefault(p.household, []).append(p)
    families = [members for members in households.values() if len(members) > 1]
    in_families = sum(len(m) for m in families)
    assert 0.05 < in_families / N < 0.11
    for members in families:
        assert len({m.address for m in members}) == 1
        assert len({m.first_name for m in members}) == len(members)
        assert len({_stem(m.last_name) for m in members}) == 1, [m.last_name for m in members]
    assert any(m.address.landline for members in families for m in members)


def test_contacts_are_unique_and_valid(people: list[Person]) -> None:
    emails = [p.email for p in people] + [p.old_email for p in people]
    assert len(set(emails)) == len(emails)
    assert len({p.mobile for p in people}) == N
    for p in people[:800]:
        validate_email(p.email, check_deliverability=False)
        number = phonenumbers.parse("+" + {"US": "1", "RU": "7", "PL": "48"}[p.country] + p.mobile)
        assert phonenumbers.is_valid_number(number), p.mobile
        assert phonenumbers.region_code_for_number(number) == p.country
        if p.country != "US":
            assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_everyone_is_somewhere_and_source_rates(people: list[Person]) -> None:
    assert all(p.in_crm or p.in_web or p.in_loyalty for p in people)
    assert 0.68 < sum(p.in_crm for p in people) / N < 0.80
    assert 0.48 < sum(p.in_web for p in people) / N < 0.60
    assert 0.43 < sum(p.in_loyalty for p in people) / N < 0.55


def test_consent_rates(people: list[Person]) -> None:
    assert 0.60 < sum(p.email_opt_in for p in people) / N < 0.70
    assert 0.35 < sum(p.sms_opt_in for p in people) / N < 0.45


@pytest.mark.parametrize("country", ["US", "RU", "PL"])
def test_every_phone_style_parses_to_the_same_number_and_invalid_ones_do_not(country: str) -> None:
    loc = next(v for v in locales().values() if v.country == country)
    rng = random.Random(1)
    taken: set[str] = set()
    for _ in range(80):
        addr = new_address(loc, rng, taken)
        for nsn in filter(None, (new_mobile(loc, addr.city, rng, taken), addr.landline)):
            for style in range(6):
                text = format_phone(country, nsn, style)
                parsed = phonenumbers.parse(text, country)
                assert phonenumbers.is_valid_number(parsed), text
                assert str(parsed.national_number) == nsn, text
            bad = invalid_phone(country, nsn, rng)
            try:
                assert not phonenumbers.is_valid_number(phonenumbers.parse(bad, country)), bad
            except phonenumbers.NumberParseException:
                pass


def test_emails_are_valid_and_invalid_ones_are_not() -> None:
    rng = random.Random(2)
    taken: set[str] = set()
    for first, last, locale in (("Jürgen", "O'Brien", "en"), ("Юлия", "Щукина", "ru"), ("Łucja", "Żak", "pl")):
        for _ in range(30):
            email = new_email(
                first=first, last=last, nickname="", birth_year=1980, locale=locale, domain="mail.ru",
                rng=rng, taken=taken,
            )  # fmt: skip
            validate_email(email, check_deliverability=False)
            with pytest.raises(EmailNotValidError):
                validate_email(invalid_email(email, rng, locale), check_deliverability=False)
    assert len(taken) == 90


@pytest.mark.parametrize(("age", "web", "paper"), [(18, 1, 1), (25, 1, 1), (26, 2, None), (35, 2, None),
                                                     (36, 2, 2), (40, 2, 2), (41, 3, 2), (55, 3, 2),
                                                     (56, 3, 3), (85, 3, 3)])  # fmt: skip
def test_age_codings(age: int, web: int, paper: int | None) -> None:
    assert web_age_code(age) == web
    assert paper_age_code(age) == paper


@pytest.mark.parametrize(("digits", "with_check"), [("7992739871", "79927398713"), ("77000000001", "770000000016")])
def test_luhn(digits: str, with_check: str) -> None:
    assert luhn(digits) == with_check


_CITY = City(code="X", name="X", region="X", postcode_prefixes=("1",), tz="UTC", lat=0, lon=0, weight=1,
             area_codes=("410",))  # fmt: skip


@pytest.mark.parametrize(
    ("street", "house", "flat", "render", "style", "expected"),
    [
        (Street(name="Pratt", kind="St", direction="W"), "1102", "", us_street_line, 0, "1102 W. Pratt St"),
        (Street(name="Pratt", kind="St", direction="W"), "1102", "", us_street_line, 1, "1102 West Pratt Street"),
        (Street(name="Pratt", kind="St", direction="W"), "1102", "4B", us_street_line, 2, "1102 Pratt"),
        (Street(name="Pratt", kind="St", direction="W"), "1102", "4B", us_street_line, 3, "1102 W Pratt St Unit 4B"),
        (Street(name="Pratt", kind="St", direction="W"), "1102", "4B", us_street_line, 4, "1102 W Pratt St. Apt 4B"),
        (Street(name="Broadway", kind=""), "52", "", us_street_line, 1, "52 Broadway"),
        (Street(name="Ленина", kind="ул"), "5", "12", ru_street_line, 0, "ул. Ленина, д. 5, кв. 12"),
        (Street(name="Ленина", kind="ул"), "5", "12", ru_street_line, 1, "улица Ленина, дом 5, квартира 12"),
        (Street(name="Ленина", kind="ул"), "5", "12", ru_street_line, 2, "Ленина ул., 5-12"),
        (Street(name="Marszałkowska", kind="ul"), "10", "5", pl_street_line, 0, "ul. Marszałkowska 10/5"),
        (Street(name="Marszałkowska", kind="ul"), "10", "5", pl_street_line, 1, "ulica Marszałkowska 10 m. 5"),
        (Street(name="Jerozolimskie", kind="al"), "10", "", pl_street_line, 1, "aleja Jerozolimskie 10"),
        (Street(name="Bankowy", kind="pl"), "2", "", pl_street_line, 0, "pl. Bankowy 2"),
    ],
)
def test_street_lines(street: Street, house: str, flat: str, render: object, style: int, expected: str) -> None:
    address = Address(street=street, house=house, flat=flat, postcode="1", city=_CITY, landline="")
    assert render(address, style) == expected  # type: ignore[operator]


@pytest.mark.parametrize(("country", "pattern"), [("US", r"\d{5}"), ("RU", r"\d{6}"), ("PL", r"\d\d-\d{3}")])
def test_postcode_formats(people: list[Person], country: str, pattern: str) -> None:
    codes = [p.address.postcode for p in people if p.country == country]
    assert codes
    assert all(re.fullmatch(pattern, c) for c in codes)


def test_birth_dates_are_in_the_past(people: list[Person]) -> None:
    assert all(date(1940, 1, 1) < p.birth_date < AS_OF for p in people)
