"""The frequency a customer chose, as a pure rule: which marketing requests of a batch it has room for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from epistola.consent.gate import SendRequest, frequency_blocks

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def req(key: int, customer: int = 1, purpose: str = "marketing") -> SendRequest:
    return SendRequest(key=key, customer_id=customer, channel="email", purpose=purpose, country="PL", address=None)


@pytest.mark.parametrize(
    ("choice", "days_ago", "requests", "blocked"),
    [
        ("any", 0, [req(1), req(2)], []),  # no limit chosen
        ("weekly", None, [req(1)], []),  # nothing sent yet
        ("weekly", None, [req(2), req(1)], [2]),  # two in one batch: the earlier key goes
        ("weekly", 3, [req(1)], [1]),
        ("weekly", 8, [req(1)], []),
        ("monthly", 8, [req(1)], [1]),
        ("monthly", 31, [req(1), req(2)], [2]),
        ("weekly", 3, [req(1, purpose="service")], []),  # only marketing is limited
        ("weekly", 3, [req(1, customer=2)], []),  # someone else's choice
    ],
)
def test_frequency_blocks(choice: str, days_ago: int | None, requests: list[SendRequest], blocked: list[int]) -> None:
    last = {} if days_ago is None else {1: NOW - timedelta(days=days_ago)}
    found = frequency_blocks(requests, {1: choice}, last, NOW)
    assert sorted(found) == blocked
    assert all(reason.startswith(f"frequency preference {choice}:") for reason in found.values())
