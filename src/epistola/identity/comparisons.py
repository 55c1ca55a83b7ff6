"""The comparisons the probabilistic matcher makes, declared once and evaluated two ways: as SQL for
Splink (DuckDB in one process, Spark beyond one machine) and in Python for the incremental matcher and
the explanations. One declaration keeps the two in step; a test checks they score pairs alike.

Each comparison is a ladder of levels tried in order, from the strongest agreement down; a record pair
falls on the first level whose condition holds, or on the null level when a value is missing, or on
'else'. Location is one comparison (street, postcode, city together) because those fields are not
independent: counting a shared postcode and a shared city separately would count one fact twice. For the
same reason phone and home are one comparison (a household shares its landline and its address), and
given and family name are one (a first name says more about people of the same family name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

Dialect = Literal["duckdb", "spark"]
Row = Mapping[str, Any]

_JW = {"duckdb": "jaro_winkler_similarity", "spark": "jaro_winkler"}
_DL = {"duckdb": "damerau_levenshtein", "spark": "damerau_levenshtein"}
_OVERLAP = {"duckdb": "list_has_any", "spark": "arrays_overlap"}


@dataclass(frozen=True, slots=True)
class Test:
    """One condition on a record pair: its SQL (given a dialect) and the same test in Python."""

    sql: Callable[[Dialect], str]
    py: Callable[[Row, Row], bool]


def exact(col: str) -> Test:
    return Test(lambda d: f"{col}_l = {col}_r", lambda x, y: x[col] is not None and x[col] == y[col])


def jaro_winkler(col: str, threshold: float) -> Test:
    def py(x: Row, y: Row) -> bool:
        a, b = x[col], y[col]
        return a is not None and b is not None and JaroWinkler.similarity(a, b) >= threshold

    return Test(lambda d: f"{_JW[d]}({col}_l, {col}_r) >= {threshold}", py)


def damerau(col: str, distance: int) -> Test:
    def py(x: Row, y: Row) -> bool:
        a, b = x[col], y[col]
        return a is not None and b is not None and DamerauLevenshtein.distance(a, b) <= distance

    return Test(lambda d: f"{_DL[d]}({col}_l, {col}_r) <= {distance}", py)


def overlap(col: str) -> Test:
    """Two lists share an element (the first names are forms of one name)."""

    def py(x: Row, y: Row) -> bool:
        return bool(x[col]) and bool(y[col]) and not set(x[col]).isdisjoint(y[col])

    return Test(lambda d: f"{_OVERLAP[d]}({col}_l, {col}_r)", py)


def swapped(threshold: float) -> Test:
    """One record has the names the other way round (Pavlova Olia / Olga Pavlova): its given-name field is
    close to the other's family name, and its family-name field is close to (or a form of) the other's
    given name."""

    def one_way(a: Row, b: Row) -> bool:
        if a["fn"] is None or a["ln"] is None or b["fn"] is None or b["ln"] is None:
            return False
        if JaroWinkler.similarity(a["fn"], b["ln"]) < threshold:
            return False
        return JaroWinkler.similarity(a["ln"], b["fn"]) >= threshold or not set(a["ln_groups"] or ()).isdisjoint(
            b["fn_groups"] or ()
        )

    def sql(d: Dialect) -> str:
        jw, has = _JW[d], _OVERLAP[d]

        def way(a: str, b: str) -> str:
            return (
                f"({jw}(fn_{a}, ln_{b}) >= {threshold} AND ({jw}(ln_{a}, fn_{b}) >= {threshold} "
                f"OR {has}(ln_groups_{a}, fn_groups_{b})))"
            )

        return f"{way('l', 'r')} OR {way('r', 'l')}"

    return Test(sql, lambda x, y: one_way(x, y) or one_way(y, x))


def ranges_overlap(lo: str, hi: str) -> Test:
    def py(x: Row, y: Row) -> bool:
        return bool(x[lo] <= y[hi] and y[lo] <= x[hi])

    return Test(lambda d: f"{lo}_l <= {hi}_r AND {lo}_r <= {hi}_l", py)


def all_of(*tests: Test) -> Test:
    return Test(
        lambda d: " AND ".join(f"({t.sql(d)})" for t in tests),
        lambda x, y: all(t.py(x, y) for t in tests),
    )


def any_of(*tests: Test) -> Test:
    return Test(
        lambda d: " OR ".join(f"({t.sql(d)})" for t in tests),
        lambda x, y: any(t.py(x, y) for t in tests),
    )


def missing(*cols: str) -> Test:
    """Null level: a value is missing on either side (for every listed column)."""

    def py(x: Row, y: Row) -> bool:
        return any(x[c] is None or y[c] is None for c in cols)

    def sql(d: Dialect) -> str:
        return " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in cols)

    return Test(sql, py)


def both_known(col: str) -> Test:
    return Test(
        lambda d: f"{col}_l IS NOT NULL AND {col}_r IS NOT NULL",
        lambda x, y: x[col] is not None and y[col] is not None,
    )


@dataclass(frozen=True, slots=True)
class Level:
    label: str
    test: Test
    tf: str | None = None  # term-frequency adjusted on this column (rare names weigh more than Smith)


@dataclass(frozen=True, kw_only=True, slots=True)
class Comparison:
    name: str
    description: str
    null: Test
    levels: Sequence[Level]
    columns: Sequence[str] = field(default_factory=tuple)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every level label in order, 'else' last (the null level is not counted)."""
        return (*(lv.label for lv in self.levels), "else")

    def level_of(self, x: Row, y: Row) -> int:
        """The level a pair falls on: an index into `labels`, or -1 for the null level."""
        if self.null.py(x, y):
            return -1
        for i, lv in enumerate(self.levels):
            if lv.test.py(x, y):
                return i
        return len(self.levels)


_SAME_NAME = any_of(exact("fn"), overlap("fn_groups"))
_SAME_PLACE = any_of(exact("pc_area"), jaro_winkler("city", 0.9))
_PLACE_UNKNOWN = Test(
    lambda d: "(pc_area_l IS NULL AND city_l IS NULL) OR (pc_area_r IS NULL AND city_r IS NULL)",
    lambda x, y: (x["pc_area"] is None and x["city"] is None) or (y["pc_area"] is None and y["city"] is None),
)
_PLACE_FITS = any_of(_SAME_PLACE, _PLACE_UNKNOWN)
_SAME_HOME = all_of(exact("street"), exact("house"), _PLACE_FITS)

COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        name="name",
        description=(
            "Given and family name together (a rare full name says more than two common halves): the same, "
            "a form of the same given name (Bill/William, Саша/Aleksandr), a typo, or only one half shared"
        ),
        null=missing("fn", "ln"),
        levels=(
            Level("same full name", exact("name"), tf="name"),
            Level("same family name, given name a form of it", all_of(overlap("fn_groups"), exact("ln"))),
            Level(
                "one typo",
                any_of(
                    all_of(_SAME_NAME, jaro_winkler("ln", 0.92)),
                    all_of(jaro_winkler("fn", 0.92), exact("ln")),
                ),
            ),
            Level(
                "both similar",
                all_of(any_of(overlap("fn_groups"), jaro_winkler("fn", 0.85)), jaro_winkler("ln", 0.85)),
            ),
            Level("given and family name swapped", swapped(0.88)),
            Level("same family name only", exact("ln")),
            Level("same given name only", _SAME_NAME),
        ),
        columns=("name", "fn", "ln", "fn_groups", "ln_groups"),
    ),
    Comparison(
        name="birth_date",
        description="Date of birth: same, or one typed digit or swap apart",
        null=missing("dob"),
        levels=(
            Level("exact", exact("dob")),
            Level("one keystroke apart", damerau("dob", 1)),
        ),
        columns=("dob",),
    ),
    Comparison(
        name="age",
        description="Birth years an age range allows (when not both records have a birth date)",
        null=any_of(missing("by_lo"), all_of(both_known("dob"))),
        levels=(Level("consistent", ranges_overlap("by_lo", "by_hi")),),
        columns=("by_lo", "by_hi", "dob"),
    ),
    Comparison(
        name="gender",
        description="Gender, stated or told by the given name",
        null=missing("gender"),
        levels=(Level("same", exact("gender")),),
        columns=("gender",),
    ),
    Comparison(
        name="email",
        description="E-mail: the same address",
        null=missing("email"),
        levels=(Level("exact", exact("email")),),
        columns=("email",),
    ),
    Comparison(
        name="contact",
        description=(
            "Phone and home together (a household shares both, so they are one piece of evidence): same phone "
            "at the same home, same phone, same home, same street, same postcode, same area or city"
        ),
        null=Test(
            lambda d: (
                "(phone_l IS NULL OR phone_r IS NULL) AND (street_l IS NULL OR street_r IS NULL) "
                "AND (postcode_l IS NULL OR postcode_r IS NULL) AND (city_l IS NULL OR city_r IS NULL)"
            ),
            lambda x, y: all(x[c] is None or y[c] is None for c in ("phone", "street", "postcode", "city")),
        ),
        levels=(
            Level("same phone and home", all_of(exact("phone"), _SAME_HOME), tf="phone"),
            Level("same phone", exact("phone"), tf="phone"),
            Level("same home", _SAME_HOME),
            Level("same street", all_of(any_of(exact("street"), jaro_winkler("street", 0.92)), _PLACE_FITS)),
            Level("same postcode", exact("postcode")),
            Level("same area or city", _SAME_PLACE),
            Level(
                "different phones, no address to compare",
                all_of(
                    both_known("phone"),
                    Test(
                        lambda d: (
                            "(street_l IS NULL OR street_r IS NULL) AND (postcode_l IS NULL OR postcode_r IS NULL) "
                            "AND (city_l IS NULL OR city_r IS NULL)"
                        ),
                        lambda x, y: all(x[c] is None or y[c] is None for c in ("street", "postcode", "city")),
                    ),
                ),
            ),
        ),
        columns=("phone", "street", "house", "postcode", "pc_area", "city"),
    ),
)


def comparison(name: str) -> Comparison:
    for c in COMPARISONS:
        if c.name == name:
            return c
    raise KeyError(name)


def levels_of(x: Row, y: Row) -> dict[str, int]:
    """The level of every comparison for one pair."""
    return {c.name: c.level_of(x, y) for c in COMPARISONS}


def _auto_merge_evidence() -> Test:
    """What an automatic merge needs besides a high probability: the given names agree (the same, a form
    of one name, a typo, or swapped with the family name), or a personal identifier agrees (e-mail, birth
    date). Shared phone and home alone are a household, not a person; such pairs go to review instead."""
    name = comparison("name")
    agreeing = [lv.test for lv in name.levels if lv.label not in ("same family name only", "same given name only")]
    return any_of(*agreeing, exact("email"), exact("dob"))


AUTO_MERGE_EVIDENCE = _auto_merge_evidence()
