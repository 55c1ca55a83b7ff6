"""Localisation: plural forms (Russian and Polish have three for whole numbers), greetings that agree with
the customer's gender, and dates, numbers and money in the customer's notation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from epistola.content.l10n import format_date, format_money, format_number, greeting, plural, plural_category
from epistola.errors import TemplateError

RU_POINTS = {"one": "# балл", "few": "# балла", "many": "# баллов", "other": "# балла"}
PL_POINTS = {"one": "# punkt", "few": "# punkty", "many": "# punktów", "other": "# punktu"}
EN_POINTS = {"one": "# point", "other": "# points"}


@pytest.mark.parametrize(
    ("lang", "count", "expected"),
    [
        ("ru", 1, "1 балл"),
        ("ru", 2, "2 балла"),
        ("ru", 4, "4 балла"),
        ("ru", 5, "5 баллов"),
        ("ru", 11, "11 баллов"),
        ("ru", 12, "12 баллов"),
        ("ru", 21, "21 балл"),
        ("ru", 22, "22 балла"),
        ("ru", 25, "25 баллов"),
        ("ru", 111, "111 баллов"),
        ("ru", 1000, "1\u00a0000 баллов"),
        ("ru", Decimal("1.5"), "1,5 балла"),
        ("pl", 1, "1 punkt"),
        ("pl", 2, "2 punkty"),
        ("pl", 5, "5 punktów"),
        ("pl", 12, "12 punktów"),
        ("pl", 21, "21 punktów"),
        ("pl", 22, "22 punkty"),
        ("pl", 104, "104 punkty"),
        ("pl", Decimal("2.5"), "2,5 punktu"),
        ("en", 1, "1 point"),
        ("en", 0, "0 points"),
        ("en", 1200, "1,200 points"),
    ],
)
def test_plural_forms(lang: str, count: object, expected: str) -> None:
    forms = {"ru": RU_POINTS, "pl": PL_POINTS, "en": EN_POINTS}[lang]
    assert plural(count, lang, forms) == expected


def test_russian_and_polish_have_three_forms_for_whole_numbers() -> None:
    for lang in ("ru", "pl"):
        assert {plural_category(n, lang) for n in range(0, 200)} == {"one", "few", "many"}
    assert {plural_category(n, "en") for n in range(0, 200)} == {"one", "other"}


def test_plural_needs_the_other_form_and_known_categories() -> None:
    with pytest.raises(TemplateError, match="other"):
        plural(3, "ru", {"one": "x"})
    with pytest.raises(TemplateError, match="several"):
        plural(3, "ru", {"other": "x", "several": "y"})


@pytest.mark.parametrize(
    ("lang", "gender", "first", "last", "middle", "expected"),
    [
        ("ru", "m", "Иван", "Петров", "Сергеевич", "Уважаемый Иван Сергеевич!"),
        ("ru", "f", "Анна", "Иванова", "Сергеевна", "Уважаемая Анна Сергеевна!"),
        ("ru", "f", "Анна", "Иванова", None, "Уважаемая Анна!"),
        ("ru", "x", "Саша", "Петренко", None, "Здравствуйте, Саша!"),
        ("ru", None, None, None, None, "Здравствуйте!"),
        ("ru", "m", None, "Петров", None, "Здравствуйте!"),
        ("pl", "m", "Jan", "Kowalski", None, "Szanowny Panie,"),
        ("pl", "f", "Anna", "Nowak", None, "Szanowna Pani,"),
        ("pl", "x", "Alex", "Nowak", None, "Dzień dobry,"),
        ("pl", None, None, None, None, "Dzień dobry,"),
        ("en", "m", "John", "Smith", None, "Dear Mr Smith,"),
        ("en", "f", "Jane", "Smith", None, "Dear Ms Smith,"),
        ("en", "x", "Alex", "Taylor", None, "Dear Alex,"),
        ("en", "f", "Jane", None, None, "Dear Jane,"),
        ("en", None, None, None, None, "Hello,"),
        ("de", "f", "Jane", "Smith", None, "Dear Ms Smith,"),  # unknown language: English
    ],
)
def test_greeting_agrees_with_gender_and_falls_back(
    lang: str, gender: str | None, first: str | None, last: str | None, middle: str | None, expected: str
) -> None:
    assert greeting(lang, gender=gender, first_name=first, last_name=last, middle_name=middle) == expected


@pytest.mark.parametrize(
    ("lang", "expected_date", "expected_money", "expected_number"),
    [
        ("en", "March 8, 2026", "€1,234.50", "1,234,567.5"),
        ("ru", "8 марта 2026 г.", "1 234,50 €", "1 234 567,5"),
        ("pl", "8 marca 2026", "1 234,50 €", "1 234 567,5"),
    ],
)
def test_dates_numbers_and_money_in_the_customers_notation(
    lang: str, expected_date: str, expected_money: str, expected_number: str
) -> None:
    normal = str.maketrans({"\u00a0": " ", "\u202f": " "})
    assert format_date(date(2026, 3, 8), lang).translate(normal) == expected_date
    assert format_date("2026-03-08", lang).translate(normal) == expected_date
    assert format_money(Decimal("1234.5"), "EUR", lang).translate(normal) == expected_money
    assert format_number(Decimal("1234567.5"), lang).translate(normal) == expected_number


def test_bad_values_say_what_was_expected() -> None:
    with pytest.raises(TemplateError, match="YYYY-MM-DD"):
        format_date("yesterday", "en")
    with pytest.raises(TemplateError, match="currency"):
        format_money(5, "euro", "en")
    with pytest.raises(TemplateError, match="number"):
        format_number("lots", "en")
