"""What both compilers must agree on, computed once in Python: relative dates, ages, birthdays in the
customer's time zone, money in cents, recency bounds, sample buckets and RFM scoring.

Doing this arithmetic here (not in SQL) is what keeps the operational-store compiler (`sql.py`) and the
mart compiler (`duck.py`) identical: SQLite has no time-zone database and no portable date arithmetic, so
each compiler only compares columns with the constants computed below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

SAMPLE_MULTIPLIER = 7919
SEED_MULTIPLIER = 104729
SAMPLE_BUCKETS = 10_000
RFM_SCORES = 5
CONTACT_OF_CHANNEL = {"email": "email", "sms": "phone", "phone": "phone", "post": "street"}
"""Which profile column a channel needs; channels not listed (push, web) need no stored contact."""


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_interval(op: str, value: float) -> tuple[int | None, int | None] | None:
    """A test on age in whole years as an interval [low, high] (None: open); None if nothing matches."""
    if op == "gte":
        return math.ceil(value), None
    if op == "gt":
        return math.floor(value) + 1, None
    if op == "lte":
        return None, math.floor(value)
    if op == "lt":
        return None, math.ceil(value) - 1
    if op == "eq":
        return (int(value), int(value)) if float(value).is_integer() else None
    raise ValueError(f"age has no comparison {op!r}")


def born_on_or_before(today: date, age: int) -> date:
    """A person is at least `age` years old today iff born on or before this day."""
    return years_before(today, age)


def born_after(today: date, age: int) -> date:
    """A person is at most `age` years old today iff born after this day."""
    return years_before(today, age + 1)


def day_window(today: date, days: int) -> tuple[date, date]:
    """The last `days` days up to today, inclusive: [today - days, today]."""
    return today - timedelta(days=days), today


def cents(value: float) -> int | float:
    """An amount threshold in cents, exact when the amount has at most two decimals."""
    exact = Decimal(str(value)) * 100
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def recency_bounds(now: datetime, op: str, days: int) -> tuple[datetime | None, datetime]:
    """Bounds on the latest event's time for "whole days since the latest event <op> days":
    (exclusive lower bound or None, inclusive upper bound)."""
    day = timedelta(days=1)
    if op == "gte":
        return None, now - days * day
    if op == "gt":
        return None, now - (days + 1) * day
    if op == "lte":
        return now - (days + 1) * day, now
    if op == "lt":
        return now - days * day, now
    if op == "eq":
        return now - (days + 1) * day, now - days * day
    raise ValueError(f"recency has no comparison {op!r}")


def sample_bounds(percent: float, offset: float) -> tuple[int, int]:
    """Bucket range [low, high) of `SAMPLE_BUCKETS` for a sample of `percent` starting at `offset`."""
    return round(offset * 100), round((offset + percent) * 100)


# --- birthdays in the customer's time zone ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BirthdayPlan:
    """Birthdays (as month * 100 + day) that count, by how the customer's local date differs from UTC's."""

    behind: frozenset[str]  # zones whose local date is the UTC date minus one
    ahead: frozenset[str]  # zones whose local date is the UTC date plus one
    days: dict[int, frozenset[int]]  # offset (-1, 0, +1) -> month*100+day values in the window


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def _local_offsets(now: datetime) -> tuple[frozenset[str], frozenset[str]]:
    utc_day = now.astimezone(UTC).date()
    behind, ahead = [], []
    for name in _zones():
        try:
            local = now.astimezone(ZoneInfo(name)).date()
        except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - a broken zone file
            continue
        if local < utc_day:
            behind.append(name)
        elif local > utc_day:
            ahead.append(name)
    return frozenset(behind), frozenset(ahead)


def birthdays_between(first: date, days: int) -> frozenset[int]:
    """month*100+day of every day in [first, first + days); 29 February counts on 28 February in
    years without it."""
    out: set[int] = set()
    for i in range(days):
        d = first + timedelta(days=i)
        out.add(d.month * 100 + d.day)
        if d.month == 2 and d.day == 28 and not _leap(d.year):
            out.add(229)
    return frozenset(out)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def birthday_plan(now: datetime, within_days: int) -> BirthdayPlan:
    """Which birthdays fall on one of the next `within_days` days (today included), per local date.

    Time zones unknown to the system (or missing) count as UTC.
    """
    behind, ahead = _local_offsets(now)
    today = now.astimezone(UTC).date()
    return BirthdayPlan(
        behind=behind,
        ahead=ahead,
        days={k: birthdays_between(today + timedelta(days=k), within_days) for k in (-1, 0, 1)},
    )
