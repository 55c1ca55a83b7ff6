"""Bounce and complaint samples of several real mail systems, parsed into reports (tests/fixtures/mail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from epistola.feedback.bounces import classify, status_code
from epistola.feedback.reports import parse_report

MAIL = Path(__file__).parent.parent / "fixtures" / "mail"

# file -> [(kind, address, status, our message id)]
EXPECTED = {
    "postfix-user-unknown.eml": [("hard", "nobody@example.net", "5.1.1", 101)],
    "postfix-delayed.eml": [("delayed", "slow@example.org", "4.4.1", 102)],
    "exim-no-such-user.eml": [("hard", "gone@example.com", "5.0.0", 103)],
    "exim-retry-timeout.eml": [("soft", "later@example.com", "4.0.0", 104)],
    "sendmail-user-unknown.eml": [
        ("hard", "bob@example.org", "5.1.1", 105),
        ("delayed", "carol@example.org", "4.2.0", 105),
    ],
    "exchange-recipient-not-found.eml": [("hard", "j.doe@contoso.example", "5.1.10", 106)],
    "outlook-mailbox-full.eml": [("soft", "full.box@outlook.com", "5.2.2", 107)],
    "gmail-no-such-account.eml": [("hard", "no.such.person@gmail.com", "5.1.1", 108)],
    "gmail-over-quota.eml": [("soft", "quota.user@gmail.com", "4.2.2", 109)],
    "yahoo-text-bounce.eml": [("hard", "ghost.user@yahoo.com", None, 110)],
    "yahoo-cfl-complaint.eml": [("complaint", "complainer@yahoo.com", None, 111)],
    "outlook-jmrp-complaint.eml": [("complaint", "fed.up@hotmail.com", None, 112)],
    "rfc5965-example.eml": [("complaint", "user@example.com", None, 113)],
    "auto-reply.eml": [],
}


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in MAIL.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_samples_parse_into_the_right_reports(name: str) -> None:
    reports = parse_report((MAIL / name).read_bytes())
    assert [(r.kind, r.address, r.status, r.message_id) for r in reports] == EXPECTED[name]
    for report in reports:
        assert len(report.report_uid) == 40
        if report.kind != "complaint":
            assert report.reporter, "the reporting system is named"


def test_a_report_read_twice_keeps_its_identity() -> None:
    raw = (MAIL / "postfix-user-unknown.eml").read_bytes()
    assert parse_report(raw)[0].report_uid == parse_report(raw)[0].report_uid
    other = parse_report((MAIL / "gmail-no-such-account.eml").read_bytes())[0]
    assert other.report_uid != parse_report(raw)[0].report_uid


def test_complaints_say_who_reported_and_what() -> None:
    (yahoo,) = parse_report((MAIL / "yahoo-cfl-complaint.eml").read_bytes())
    assert yahoo.reporter == "Yahoo!-Mail-Feedback/2.0" and yahoo.feedback_type == "abuse"
    (jmrp,) = parse_report((MAIL / "outlook-jmrp-complaint.eml").read_bytes())
    assert jmrp.reporter.startswith("Microsoft Junk Mail Reporting Program")
    assert jmrp.occurred_at is not None and jmrp.occurred_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("action", "status", "diagnostic", "kind"),
    [
        ("failed", "5.1.1", None, "hard"),
        ("failed", "5.1.2", "host not found", "hard"),
        ("failed", "5.1.10", None, "hard"),
        ("failed", "5.2.1", "mailbox disabled", "hard"),
        ("failed", "5.2.2", "mailbox full", "soft"),
        ("failed", "5.3.4", "message too big", "soft"),
        ("failed", "5.7.1", "blocked by policy: spam", "soft"),
        ("failed", "5.7.1", "Recipient address rejected: Access denied", "hard"),
        ("failed", "4.4.7", "expired", "soft"),
        ("failed", "5.0.0", "550 No Such User Here", "hard"),
        ("failed", "5.0.0", "552 over quota", "soft"),
        ("failed", "5.0.0", None, "hard"),
        ("failed", None, "550 user unknown", "hard"),
        ("failed", None, "421 try again later", "soft"),
        ("failed", None, None, "soft"),
        ("delayed", "4.4.1", None, "delayed"),
        ("delivered", "2.0.0", None, "delivered"),
        ("relayed", None, None, "delivered"),
        (None, "5.1.1", None, "hard"),
    ],
)
def test_classification(action: str | None, status: str | None, diagnostic: str | None, kind: str) -> None:
    assert classify(action=action, status=status, diagnostic=diagnostic) == kind


@pytest.mark.parametrize(
    ("text", "code"),
    [("550 5.1.1 <x@y>", "5.1.1"), ("smtp;550 5.1.10 RESOLVER", "5.1.10"), ("5.01.001", "5.1.1"), ("550", None)],
)
def test_status_codes(text: str, code: str | None) -> None:
    assert status_code(text) == code


def test_garbage_is_not_a_report() -> None:
    for raw in [b"", b"\x00\xff" * 50, b"Subject: hello\n\nhi", b"Content-Type: multipart/report\n\n--x--"]:
        assert parse_report(raw) == []
