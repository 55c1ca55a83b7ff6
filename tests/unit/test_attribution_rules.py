"""Which step a conversion belongs to: the latest one started before it, within the response window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from epistola.feedback.attribution import Step, assign

D0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
STEPS = [Step(id=1, position=1, starts=D0), Step(id=2, position=2, starts=D0 + timedelta(days=7))]


@pytest.mark.parametrize(
    ("after", "window_days", "step"),
    [
        (timedelta(hours=-1), 14, None),  # before the first step
        (timedelta(0), 14, 1),  # at the moment it starts
        (timedelta(days=3), 14, 1),
        (timedelta(days=7), 14, 2),  # the second step takes over from its start
        (timedelta(days=20), 14, 2),
        (timedelta(days=21), 14, None),  # the window is half-open
        (timedelta(days=5), 3, None),  # after step 1's short window, before step 2
        (timedelta(days=8), 3, 2),
    ],
)
def test_assign(after: timedelta, window_days: int, step: int | None) -> None:
    found = assign(STEPS, D0 + after, timedelta(days=window_days))
    assert (found.id if found else None) == step


def test_no_steps() -> None:
    assert assign([], D0, timedelta(days=14)) is None
