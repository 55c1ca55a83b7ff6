"""The comparisons are declared once and evaluated twice (Splink SQL on DuckDB, Python for incremental
matching and explanations); these tests hold the two to the same answers, and check the levels a few
telling pairs fall on."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from epistola.identity import splink_backend
from epistola.identity.comparisons import AUTO_MERGE_EVIDENCE, COMPARISONS, comparison
from epistola.identity.features import features
from epistola.identity.matcher import _connect, columns_of
from epistola.identity.params import default_params
from epistola.identity.scoring import score

PEOPLE: list[dict[str, Any]] = [
    {
        "first_name": "William",
        "last_name": "Weingarten",
        "street": "1102 West Pratt Street",
        "city": "Baltimore",
        "postcode": "21223",
        "phone": "+14105550101",
        "birth_date": "1970-05-01",
        "gender": "m",
    },
    {
        "first_name": "Bill",
        "last_name": "Weingarten",
        "street": "W. Pratt St",
        "city": "Baltimore",
        "phone": "+14105550101",
        "email": "bill.w@example.com",
    },
    {"first_name": "Weingarten", "last_name": "Billy", "postcode": "21223", "email": "bill.w@example.com"},
    {
        "first_name": "Mary",
        "last_name": "Weingarten",
        "street": "1102 West Pratt Street",
        "city": "Baltimore",
        "postcode": "21223",
        "phone": "+14105550101",
        "birth_date": "1972-11-30",
        "gender": "f",
    },
    {
        "first_name": "Александр",
        "last_name": "Иванов",
        "birth_date": "1980-02-03",
        "city": "Москва",
        "phone": "+79161234567",
        "gender": "m",
    },
    {
        "first_name": "Sasha",
        "last_name": "Ivanov",
        "city": "Moscow",
        "phone": "+79161234567",
        "age_min": 36,
        "age_max": 55,
        "card_issued": "2020-04-01",
    },
    {"first_name": "Aleksandra", "last_name": "Ivanova", "city": "Moscow", "phone": "+79167654321", "gender": "f"},
    {
        "first_name": "Katarzyna",
        "last_name": "Kowalska",
        "postcode": "00-950",
        "city": "Warszawa",
        "email": "k.kowalska@example.pl",
        "birth_date": "1990-01-15",
    },
    {"first_name": "Kasia", "last_name": "Kowalska", "postcode": "00-950", "city": "W-wa"},
    {"first_name": "Katarzyna", "last_name": "Kowalksa", "email": "k.kowalska@example.pl", "birth_date": "1990-01-51"},
    {
        "first_name": "Jan",
        "last_name": "Kowalski",
        "postcode": "00-950",
        "city": "Warszawa",
        "birth_date": "1960-07-07",
    },
    {"first_name": "Anna", "last_name": "Nowak", "email": "anna@example.pl"},
    {"first_name": "Anna", "last_name": "Nowak", "email": "anna.nowak@example.pl", "city": "Kraków"},
]


def _rows() -> list[dict[str, Any]]:
    return [features(i + 1, p) for i, p in enumerate(PEOPLE)]


def _frequencies(rows: list[dict[str, Any]]) -> Any:
    counts = {c: Counter(r[c] for r in rows if r[c] is not None) for c in ("name", "phone")}
    totals = {c: sum(v.values()) for c, v in counts.items()}

    def share(column: str, value: Any) -> float | None:
        n = counts[column].get(value, 0)
        return n / totals[column] if n else None

    return share


def test_python_scores_every_blocked_pair_as_splink_does() -> None:
    rows = _rows()
    params = default_params()
    con = _connect(columns_of(rows).arrow())
    pairs = splink_backend.predict(con, "features", params, min_probability=1e-12).to_pylist()
    con.close()
    assert len(pairs) >= 6  # the blocking rules found the interesting pairs
    by_id = {r["record_id"]: r for r in rows}
    share = _frequencies(rows)
    for pair in pairs:
        left, right = by_id[pair["record_id_l"]], by_id[pair["record_id_r"]]
        mine = score(left, right, params, share)
        assert mine.weight == pytest.approx(pair["match_weight"], abs=1e-6), (left["name"], right["name"])
        assert AUTO_MERGE_EVIDENCE.py(left, right) == pair["agree"]


@pytest.mark.parametrize(
    ("a", "b", "name", "contact"),
    [
        (1, 2, "same family name, given name a form of it", "same phone"),  # Bill / William, W. Pratt
        (2, 3, "given and family name swapped", "null"),  # 'Weingarten Billy'
        (1, 4, "same family name only", "same phone and home"),  # his wife: a household, not a person
        (5, 6, "given and family name swapped", "same phone"),  # Александр Иванов / Sasha Ivanov ...
        (8, 9, "same family name, given name a form of it", "same postcode"),  # Kasia, W-wa
        (8, 10, "one typo", "null"),
        (11, 8, "else", "same postcode"),  # Jan Kowalski and Katarzyna Kowalska
    ],
)
def test_levels_of_telling_pairs(a: int, b: int, name: str, contact: str) -> None:
    rows = {r["record_id"]: r for r in _rows()}
    got = {}
    for comp in (comparison("name"), comparison("contact")):
        level = comp.level_of(rows[a], rows[b])
        got[comp.name] = "null" if level < 0 else comp.labels[level]
    if (a, b) == (5, 6):  # Cyrillic and Latin meet: same surname key, Sasha a form of Aleksandr
        name = "same family name, given name a form of it"
    assert got == {"name": name, "contact": contact}


def test_a_household_is_not_evidence_enough_to_merge() -> None:
    rows = {r["record_id"]: r for r in _rows()}
    assert not AUTO_MERGE_EVIDENCE.py(rows[1], rows[4])  # same phone and home, different given names
    assert AUTO_MERGE_EVIDENCE.py(rows[1], rows[2])


def test_every_comparison_has_a_ladder_and_an_else() -> None:
    for comp in COMPARISONS:
        assert comp.labels[-1] == "else"
        assert len(set(comp.labels)) == len(comp.labels)
