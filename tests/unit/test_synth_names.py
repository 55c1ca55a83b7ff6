"""The grammar and tables behind synthetic names: gender forms, patronymics, transliteration, diminutives."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from epistola.synth import data_en, data_pl, data_ru
from epistola.synth.names import diminutives, locales, patronymic, surname_for
from epistola.synth.noise import TYPO_KINDS, mess, typo, yo_to_e
from epistola.synth.translit import SCHEMES, fold_polish, has_cyrillic, transliterate


@pytest.mark.parametrize(
    ("surname", "gender", "locale", "expected"),
    [
        ("Иванов", "female", "ru", "Иванова"),
        ("Иванов", "male", "ru", "Иванов"),
        ("Соловьёв", "female", "ru", "Соловьёва"),
        ("Ильин", "female", "ru", "Ильина"),
        ("Вишневский", "female", "ru", "Вишневская"),
        ("Заболоцкий", "female", "ru", "Заболоцкая"),
        ("Толстой", "female", "ru", "Толстая"),
        ("Шевченко", "female", "ru", "Шевченко"),
        ("Черных", "female", "ru", "Черных"),
        ("Kowalski", "female", "pl", "Kowalska"),
        ("Czarnecki", "female", "pl", "Czarnecka"),
        ("Nowak", "female", "pl", "Nowak"),
        ("Wójcik", "female", "pl", "Wójcik"),
        ("Kowalski", "male", "pl", "Kowalski"),
        ("Smith", "female", "en", "Smith"),
    ],
)
def test_surname_agrees_with_gender(surname: str, gender: str, locale: str, expected: str) -> None:
    assert surname_for(surname, gender, locale) == expected


@pytest.mark.parametrize(
    ("father", "son", "daughter"),
    [
        ("Александр", "Александрович", "Александровна"),
        ("Сергей", "Сергеевич", "Сергеевна"),
        ("Николай", "Николаевич", "Николаевна"),
        ("Дмитрий", "Дмитриевич", "Дмитриевна"),
        ("Юрий", "Юрьевич", "Юрьевна"),
        ("Игорь", "Игоревич", "Игоревна"),
        ("Илья", "Ильич", "Ильинична"),
        ("Никита", "Никитич", "Никитична"),
        ("Пётр", "Петрович", "Петровна"),
        ("Лев", "Львович", "Львовна"),
    ],
)
def test_patronymic(father: str, son: str, daughter: str) -> None:
    assert (patronymic(father, "male"), patronymic(father, "female")) == (son, daughter)


@pytest.mark.parametrize(
    ("text", "scheme", "expected"),
    [
        ("Александр", "icao", "Aleksandr"),
        ("Александр", "informal", "Alexandr"),
        ("Юлия", "icao", "Iuliia"),
        ("Юлия", "bgn", "Yuliya"),
        ("Юлия", "informal", "Yulia"),
        ("Юлия", "latin_j", "Julia"),
        ("Щукин", "icao", "Shchukin"),
        ("Щукин", "informal", "Schukin"),
        ("Дмитрий", "informal", "Dmitry"),
        ("Евгений", "bgn", "Yevgeniy"),
        ("Хабибуллин", "icao", "Khabibullin"),
        ("ИВАНОВ", "icao", "IVANOV"),
        ("Ростов-на-Дону", "icao", "Rostov-na-Donu"),
        ("Иванова Мария", "informal", "Ivanova Maria"),
    ],
)
def test_transliteration(text: str, scheme: str, expected: str) -> None:
    assert transliterate(text, scheme) == expected


def test_every_scheme_leaves_no_cyrillic() -> None:
    names = [*data_ru.MALE, *data_ru.FEMALE, *data_ru.SURNAMES]
    for scheme in SCHEMES:
        assert not [n for n in names if has_cyrillic(transliterate(n, scheme))]


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown transliteration scheme"):
        transliterate("Иван", "klingon")


@pytest.mark.parametrize(
    ("locale", "formal", "nickname"),
    [
        ("en", "William", "Bill"),
        ("en", "William", "Will"),
        ("en", "William", "Billy"),
        ("en", "Robert", "Bob"),
        ("en", "Robert", "Bobby"),
        ("en", "Katherine", "Kate"),
        ("en", "Katherine", "Kathy"),
        ("en", "Elizabeth", "Liz"),
        ("en", "Elizabeth", "Beth"),
        ("en", "James", "Jim"),
        ("en", "Michael", "Mike"),
        ("en", "Thomas", "Tom"),
        ("en", "Jennifer", "Jenny"),
        ("en", "Richard", "Dick"),
        ("en", "Richard", "Rick"),
        ("en", "Margaret", "Peggy"),
        ("ru", "Александр", "Саша"),
        ("ru", "Александра", "Саша"),
        ("ru", "Дмитрий", "Дима"),
        ("ru", "Екатерина", "Катя"),
        ("ru", "Евгений", "Женя"),
        ("ru", "Евгения", "Женя"),
        ("ru", "Алексей", "Лёша"),
        ("ru", "Михаил", "Миша"),
        ("ru", "Мария", "Маша"),
        ("ru", "Татьяна", "Таня"),
        ("ru", "Николай", "Коля"),
        ("ru", "Сергей", "Серёжа"),
        ("ru", "Наталья", "Наташа"),
        ("pl", "Katarzyna", "Kasia"),
        ("pl", "Tomasz", "Tomek"),
        ("pl", "Małgorzata", "Gosia"),
        ("pl", "Barbara", "Basia"),
        ("pl", "Bartłomiej", "Bartek"),
        ("pl", "Jakub", "Kuba"),
        ("pl", "Aleksandra", "Ola"),
        ("pl", "Magdalena", "Magda"),
        ("pl", "Piotr", "Piotrek"),
    ],
)
def test_required_diminutives(locale: str, formal: str, nickname: str) -> None:
    assert nickname in diminutives(formal, locale)


@pytest.mark.parametrize("module", [data_en, data_ru, data_pl], ids=["en", "ru", "pl"])
def test_tables_are_big_enough_and_free_of_repeats(module: ModuleType) -> None:
    for name, low, high in (("MALE", 80, 150), ("FEMALE", 80, 150), ("SURNAMES", 140, 200), ("STREETS", 60, 90)):
        table = getattr(module, name)
        assert low <= len(table) <= high, name
        assert len(set(map(str, table))) == len(table), f"{name} repeats an entry"
    assert len(module.CITIES) >= 25
    for formal, nicks in module.NICKNAMES.items():
        assert formal not in nicks, formal


@pytest.mark.parametrize("code", ["en", "ru", "pl"])
def test_diminutives_belong_to_names_the_locale_draws(code: str) -> None:
    """A nickname entry for a name nobody is given would never be exercised."""
    loc = locales()[code]
    given = set(loc.male.items) | set(loc.female.items)
    unused = [formal for formal in loc.nicknames if formal not in given]
    assert len(unused) <= len(loc.nicknames) // 10, unused


def test_polish_folding() -> None:
    assert fold_polish("Małgorzata Żółkiewska-Ślęczek") == "Malgorzata Zolkiewska-Sleczek"


def test_yo_to_e() -> None:
    assert yo_to_e("Фёдоров Артём") == "Федоров Артем"


@pytest.mark.parametrize("kind", TYPO_KINDS)
@pytest.mark.parametrize("word", ["Weingarten", "Кузнецова", "Małgorzata"])
def test_typos_are_small_and_keep_the_first_letter(kind: str, word: str) -> None:
    rng = random.Random(7)
    for _ in range(50):
        out = typo(word, rng, kind)
        assert out != word or kind == "transpose"  # swapping two equal letters is the only no-op
        assert out[0] == word[0]
        assert abs(len(out) - len(word)) <= 1


def test_neighbour_typo_uses_a_neighbouring_key() -> None:
    rng = random.Random(3)
    outs = {typo("ab", rng, "neighbour") for _ in range(200)}
    assert outs == {"a" + k for k in "vghn"}  # b's neighbours on QWERTY: v, n; g, h above


def test_mess_changes_case_or_spacing_only() -> None:
    rng = random.Random(5)
    for _ in range(100):
        out = mess("Anna Maria", rng)
        assert " ".join(out.split()).casefold() == "anna maria"
