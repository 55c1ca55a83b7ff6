"""The arithmetic both segment compilers share: ages, birthdays across time zones and 29 February,
money in cents, recency bounds and sample buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from epistola.audience import semantics
from epistola.audience.duck import _holds

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("op", "value", "interval"),
    [
        ("gte", 30, (30, None)),
        ("gte", 29.5, (30, None)),
        ("gt", 30, (31, None)),
        ("gt", 29.5, (30, None)),
        ("lte", 40, (None, 40)),
        ("lt", 40, (None, 39)),
        ("lt", 39.5, (None, 39)),
        ("eq", 35, (35, 35)),
        ("eq", 35.5, None),
    ],
)
def test_age_intervals(op: str, value: float, interval: tuple[int | None, int | None] | None) -> None:
    assert semantics.age_interval(op, value) == interval


@pytest.mark.parametrize(
    ("today", "age", "on_or_before", "after"),
    [
        (date(2026, 11, 2), 30, date(1996, 11, 2), date(1995, 11, 2)),
        (date(2028, 2, 29), 1, date(2027, 2, 28), date(2026, 2, 28)),  # no 29 February a year earlier
    ],
)
def test_birth_date_edges(today: date, age: int, on_or_before: date, after: date) -> None:
    assert semantics.born_on_or_before(today, age) == on_or_before
    assert semantics.born_after(today, age) == after


@pytest.mark.parametrize(
    ("first", "days", "included", "excluded"),
    [
        (date(2026, 11, 2), 1, {1102}, {1103, 1101}),
        (date(2026, 11, 2), 7, {1102, 1108}, {1109}),
        (date(2026, 12, 30), 4, {1230, 1231, 101, 102}, {103}),  # over new year
        (date(2027, 2, 27), 2, {227, 228, 229}, {301}),  # 29 Feb counts on 28 Feb in a common year
        (date(2028, 2, 28), 1, {228}, {229}),  # but not in a leap year, where it has its own day
        (date(2028, 2, 29), 1, {229}, {228, 301}),
    ],
)
def test_birthdays_between(first: date, days: int, included: set[int], excluded: set[int]) -> None:
    found = semantics.birthdays_between(first, days)
    assert included <= found and not excluded & found


@pytest.mark.parametrize(
    ("moment", "behind", "ahead"),
    [
        (datetime(2026, 11, 2, 23, 30, tzinfo=UTC), set(), {"Asia/Tokyo", "Pacific/Kiritimati"}),
        (datetime(2026, 11, 2, 3, 0, tzinfo=UTC), {"America/New_York", "Pacific/Pago_Pago"}, set()),
        (datetime(2026, 11, 2, 10, 30, tzinfo=UTC), {"Pacific/Pago_Pago"}, {"Pacific/Kiritimati"}),
    ],
)
def test_birthday_plan_groups_time_zones_by_local_date(moment: datetime, behind: set[str], ahead: set[str]) -> None:
    plan = semantics.birthday_plan(moment, 1)
    assert behind <= plan.behind and ahead <= plan.ahead
    assert "Europe/London" not in plan.behind | plan.ahead
    today = moment.date()
    assert plan.days[0] == {today.month * 100 + today.day}
    tomorrow = today + timedelta(days=1)
    assert plan.days[1] == {tomorrow.month * 100 + tomorrow.day}


@pytest.mark.parametrize(
    ("value", "cents"),
    [(100, 10_000), (100.5, 10_050), (0.29, 29), (19.99, 1_999), (0.125, 12.5)],
)
def test_money_thresholds_in_cents(value: float, cents: float) -> None:
    assert semantics.cents(value) == cents


@pytest.mark.parametrize(
    ("op", "days", "after", "until"),
    [
        ("gte", 30, None, NOW - timedelta(days=30)),
        ("gt", 30, None, NOW - timedelta(days=31)),
        ("lte", 30, NOW - timedelta(days=31), NOW),
        ("lt", 30, NOW - timedelta(days=30), NOW),
        ("eq", 0, NOW - timedelta(days=1), NOW),
    ],
)
def test_recency_bounds(op: str, days: int, after: datetime | None, until: datetime) -> None:
    assert semantics.recency_bounds(NOW, op, days) == (after, until)


@pytest.mark.parametrize(
    ("percent", "offset", "bounds"), [(10, 0, (0, 1000)), (50, 50, (5000, 10_000)), (0.01, 0, (0, 1))]
)
def test_sample_buckets(percent: float, offset: float, bounds: tuple[int, int]) -> None:
    assert semantics.sample_bounds(percent, offset) == bounds


@pytest.mark.parametrize(
    ("op", "right", "zero_passes"),
    [("lt", 2, True), ("lte", 0, True), ("eq", 0, True), ("gte", 1, False), ("gt", 0, False), ("eq", 1, False)],
)
def test_when_customers_without_events_pass(op: str, right: float, zero_passes: bool) -> None:
    assert _holds(op, 0, right) is zero_passes
