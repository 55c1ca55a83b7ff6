"""Which opens are people's: user agents, webmail proxies, and images fetched on arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from epistola.feedback.tracking import is_machine_open

SENT = datetime(2026, 11, 2, 9, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Thunderbird/128.0"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.mark.parametrize(
    ("agent", "sent_at", "after", "machine"),
    [
        (FIREFOX, SENT, timedelta(minutes=5), False),  # a person's mail client
        (GMAIL, SENT, timedelta(minutes=5), False),  # Gmail fetches when a person opens
        (FIREFOX, SENT, timedelta(seconds=2), True),  # fetched on arrival, whoever says they are
        (GMAIL, SENT, timedelta(seconds=2), True),
        (FIREFOX, None, timedelta(minutes=5), True),  # before the provider even accepted it
        ("Barracuda Sentinel (EE)", SENT, timedelta(hours=1), True),
        (None, SENT, timedelta(hours=1), True),
        (FIREFOX, SENT, timedelta(seconds=10), False),  # the window is half-open
    ],
)
def test_machine_opens(agent: str | None, sent_at: datetime | None, after: timedelta, machine: bool) -> None:
    assert is_machine_open(agent, sent_at=sent_at, now=SENT + after) is machine


def test_without_a_time_only_the_agent_decides() -> None:
    assert is_machine_open(GMAIL) is False and is_machine_open("curl/8.5") is True
