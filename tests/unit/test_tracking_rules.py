"""Tracking rules that need no database: tokens, trackable URLs, machine opens and clicks."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

import pytest

from epistola.feedback.tracking import (
    click_url,
    is_machine_agent,
    is_machine_click,
    is_trackable,
    is_well_formed,
    new_token,
    pixel_url,
)
from epistola.web.app import RedactTrackingTokens

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
OUTLOOK = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"


@pytest.mark.parametrize(
    ("agent", "machine"),
    [
        (FIREFOX, False),
        (IPHONE_MAIL, False),
        (OUTLOOK, False),
        ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", True),
        ("Barracuda Sentinel (EE)", True),
        ("Mimecast-URL-Protect/1.0", True),
        ("Proofpoint URL Defense", True),
        ("python-requests/2.32.3", True),
        ("curl/8.5.0", True),
        ("Wget/1.21", True),
        ("Go-http-client/1.1", True),
        ("Mozilla/5.0 (X11) HeadlessChrome/120.0 Safari/537.36", True),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
        ("", True),
        ("   ", True),
        (None, True),
    ],
)
def test_machine_agents(agent: str | None, machine: bool) -> None:
    assert is_machine_agent(agent) is machine


SENT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("agent", "sent_at", "after", "machine"),
    [
        (FIREFOX, SENT, timedelta(minutes=30), False),
        (FIREFOX, SENT, timedelta(seconds=10), False),
        (FIREFOX, SENT, timedelta(seconds=9), True),  # gateway scanners follow links on delivery
        (FIREFOX, SENT, timedelta(seconds=0), True),
        (FIREFOX, SENT, -timedelta(seconds=5), True),
        (FIREFOX, None, timedelta(0), True),  # not even recorded as sent yet
        ("curl/8.5.0", SENT, timedelta(days=2), True),
    ],
)
def test_machine_clicks(agent: str, sent_at: datetime | None, after: timedelta, machine: bool) -> None:
    assert is_machine_click(agent, sent_at=sent_at, now=SENT + after) is machine


@pytest.mark.parametrize(
    ("url", "trackable"),
    [
        ("https://shop.example/offer?id=7&utm_source=mail#top", True),
        ("http://shop.example", True),
        ("HTTPS://SHOP.EXAMPLE/x", True),
        ("javascript:alert(1)", False),
        ("mailto:help@shop.example", False),
        ("tel:+48123456789", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//shop.example/path", False),
        ("/relative/path", False),
        ("https://", False),
        ("https://shop.example/a b", False),
        ("https://shop.example/\nLocation: https://evil.example", False),
        ("https://[::1", False),
        ("", False),
    ],
)
def test_trackable_urls(url: str, trackable: bool) -> None:
    assert is_trackable(url) is trackable


def test_every_whitespace_character_but_the_space_is_unprintable() -> None:
    """What lets `is_trackable` test for whitespace with one `isprintable()` call."""
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and c.isprintable()] == [" "]
    assert not is_trackable("https://shop.example/a\u00a0b") and not is_trackable("https://shop.example/a\u2028b")


def test_tokens_carry_at_least_128_bits_and_are_well_formed() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert is_well_formed(token)
        assert len(token) * 6 >= 128


@pytest.mark.parametrize(
    "token", ["", "short", "a" * 21, "a" * 65, "abc/def" + "a" * 20, "a" * 23 + "\x00", "é" * 24, "~" * 24]
)
def test_malformed_tokens(token: str) -> None:
    assert not is_well_formed(token)


@pytest.mark.parametrize("base", ["https://mail.example", "https://mail.example/"])
def test_link_urls(base: str) -> None:
    assert click_url(base, "T0k") == "https://mail.example/t/c/T0k"
    assert pixel_url(base, "T0k") == "https://mail.example/t/o/T0k.gif"


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/t/c/AbCdEfGhIjKlMnOpQrStUvWx", "/t/c/…"),
        ("/t/o/AbCdEfGhIjKlMnOpQrStUvWx.gif?x=1", "/t/o/…?x=1"),
        ("/api/v1/keys", "/api/v1/keys"),
        ("/health", "/health"),
    ],
)
def test_access_log_hides_tracking_tokens(path: str, logged: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", path, "1.1", 200),
        None,
    )
    assert RedactTrackingTokens().filter(record)
    assert record.getMessage() == f'1.2.3.4:5 - "GET {logged} HTTP/1.1" 200'
