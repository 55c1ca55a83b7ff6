"""The matcher's own name and place knowledge: nicknames, diminutives and transliteration across English,
Russian and Polish, and street/city keys that survive how people write addresses."""

from __future__ import annotations

import pytest

from epistola.identity.features import features, names
from epistola.identity.nicknames import given_key, name_gender, same_name
from epistola.identity.places import city_key, street_parts


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Bill", "William"),
        ("Billy", "Will"),
        ("Bob", "Robert"),
        ("Sasha", "Aleksandr"),
        ("Саша", "Александра"),
        ("Шура", "Alexander"),
        ("Kasia", "Katarzyna"),
        ("Катя", "Kate"),
        ("Александр", "Aleksandr"),
        ("Alexandr", "ALEKSANDR"),
        ("Юлия", "Julia"),
        ("Yulia", "Iuliia"),
        ("Елена", "Yelena"),
        ("Olia", "Ольга"),
        ("Zhenya", "Евгений"),
        ("Misha", "Michał"),
        ("Ivan", "John"),
        ("Jan", "Иван"),
        ("Małgosia", "Margaret"),
        ("Gosia", "Małgorzata"),
        ("Srgei", "Serezha"),  # a typo of a known name still finds its diminutives
    ],
)
def test_forms_of_one_name_meet(a: str, b: str) -> None:
    assert same_name(given_key(a), given_key(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jan", "Ann"),  # the hub's key folds both to 'an'; the given-name key keeps them apart
        ("Yana", "Anna"),
        ("Aleksei", "Aleksandr"),  # both are 'Alex', but not each other
        ("William", "Walter"),
        ("Maria", "Marina"),
        ("Anna", "Hanna Montana"),
    ],
)
def test_different_names_stay_apart(a: str, b: str) -> None:
    assert not same_name(given_key(a), given_key(b))


@pytest.mark.parametrize(
    ("name", "gender"),
    [("Katarzyna", "f"), ("Aleksandr", "m"), ("Sasha", None), ("Zzyzx", None), ("Ольга", "f")],
)
def test_gender_from_a_given_name(name: str, gender: str | None) -> None:
    assert name_gender(given_key(name)) == gender


@pytest.mark.parametrize(
    ("city", "key"),
    [
        ("СПб", "sanktpeterburg"),
        ("St. Petersburg", "sanktpeterburg"),
        ("Санкт-Петербург", "sanktpeterburg"),
        ("W-wa", "varshava"),
        ("Warsaw", "varshava"),
        ("NYC", "nevork"),
        ("Мск", "moskva"),
        ("Houston", "houston"),
        (None, None),
    ],
)
def test_city_keys(city: str | None, key: str | None) -> None:
    assert city_key(city) == key


@pytest.mark.parametrize(
    ("street", "parts"),
    [
        ("W. Pratt St", ("prat", None)),
        ("1102 Pratt", ("prat", "1102")),
        ("West Pratt Street", ("prat", None)),
        ("ул. Ленина, д. 41", ("lenina", "41")),
        ("Победы 45-347", ("pobedi", "45")),
        ("ul. Leśna 37/113", ("lesna", "37")),
        ("1304 Sunset Dr Unit 9D", ("sunset", "1304")),
        ("", (None, None)),
    ],
)
def test_street_keys(street: str, parts: tuple[str | None, str | None]) -> None:
    assert street_parts(street) == parts


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Antonov Mark", "Dmitrievich", ("Mark", "Antonov")),  # family-first with a patronymic
        ("Mark Dmitrievich", "Antonov", ("Mark", "Antonov")),
        ("Roman", "Abramovich", ("Roman", "Abramovich")),  # two words: a surname, not a patronymic
        ("Anna", "Kowalska", ("Anna", "Kowalska")),
    ],
)
def test_patronymics_are_set_aside(first: str, last: str, expected: tuple[str, str]) -> None:
    assert names({"first_name": first, "last_name": last}) == expected


def test_features_are_keys_not_text() -> None:
    row = features(
        7,
        {
            "first_name": "Bill",
            "last_name": "WEINGARTEN",
            "street": "1102 Pratt",
            "city": "Baltimore",
            "birth_date": "1970-05-01",
            "email": "bill@example.com",
        },
    )
    assert row["record_id"] == 7
    assert (row["fn"], row["ln"], row["street"], row["house"]) == ("bil", "veingarten", "prat", "1102")
    assert row["gender"] == "m"  # told by the given name when the record does not say
    assert (row["by_lo"], row["by_hi"]) == (1970, 1970)
    assert row["phone"] is None and row["postcode"] is None
