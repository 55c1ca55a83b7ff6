"""The records the generator reasons about: places, persons and the locale tables behind them.

They are frozen and slotted because a million persons live in memory at once, and because nothing
downstream may quietly change the ground truth once it has been drawn.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): called now and then so a CLI can draw a bar."""

AS_OF = date(2026, 11, 1)
"""The fixed "today" of every dataset: relative dates (new card holders, ages) are measured from it."""


class Weighted(Generic[T]):
    """A weighted choice that costs one `random()` and one bisect: `random.choices` is too slow here."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("weighted choice needs as many weights as items, and at least one")
        self._items = tuple(items)
        cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            cum.append(total)
        self._cum = cum
        self._total = total

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect.bisect_right(self._cum, rng.random() * self._total)]

    @property
    def items(self) -> tuple[T, ...]:
        return self._items


def zipf(items: Sequence[T], offset: float) -> Weighted[T]:
    """Weights 1/(rank+offset): the first names of a frequency-ordered list repeat a lot, the tail rarely."""
    return Weighted(items, [1.0 / (rank + offset) for rank in range(len(items))])


@dataclass(frozen=True, kw_only=True, slots=True)
class City:
    code: str  # three letters, used in store codes (BAL, MOW, WAW)
    name: str
    region: str
    postcode_prefixes: tuple[str, ...]
    tz: str  # IANA time zone
    lat: float
    lon: float
    weight: float  # roughly the population, in hundreds of thousands
    area_codes: tuple[str, ...]  # landline (and for the US also mobile) area codes


@dataclass(frozen=True, kw_only=True, slots=True)
class Street:
    name: str  # "Pratt", "Ленина", "Marszałkowska"
    kind: str  # "St", "ул", "ul"; empty for a bare name such as "Broadway"
    direction: str = ""  # US only: N, S, E, W


@dataclass(frozen=True, kw_only=True, slots=True)
class Address:
    street: Street
    house: str
    flat: str  # empty when there is none
    postcode: str  # as the post office writes it (US 21201, RU 101000, PL 00-950)
    city: City
    landline: str  # national significant number of the household phone, or empty


@dataclass(frozen=True, kw_only=True, slots=True)
class Person:
    """One real human being: the truth that every source record is a distorted view of."""

    index: int
    person_id: str
    locale: str  # en, ru, pl
    country: str  # US, RU, PL
    gender: str  # male, female
    first_name: str
    last_name: str
    middle_name: str  # Russian patronymic; empty elsewhere
    birth_date: date
    email: str
    old_email: str  # an earlier address the person still gives out now and then
    mobile: str  # national significant number
    address: Address
    email_opt_in: bool
    sms_opt_in: bool
    household: int  # shared by family members at one address; unique otherwise
    in_crm: bool
    in_web: bool
    in_loyalty: bool

    @property
    def tz(self) -> str:
        return self.address.city.tz


@dataclass(frozen=True, kw_only=True)
class Locale:
    """Everything locale-specific that the person model needs, built once from the data tables."""

    code: str
    country: str
    calling_code: str
    male: Weighted[str]
    female: Weighted[str]
    surnames: Weighted[str]
    streets: Weighted[Street]
    cities: Weighted[City]
    domains: Weighted[str]
    mobile_prefixes: tuple[str, ...]  # RU/PL mobile ranges; the US uses the city's area codes
    nicknames: dict[str, tuple[str, ...]] = field(default_factory=dict)


def age_on(birth: date, day: date) -> int:
    """Age in whole years on `day` (a 29 February birthday counts from 1 March in common years)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def adult_from(birth: date) -> date:
    """The person's 18th birthday: no source may hold a record of them made earlier than that."""
    try:
        return birth.replace(year=birth.year + 18)
    except ValueError:  # 29 February
        return date(birth.year + 18, 3, 1)
