"""Bounces and complaints from a Maildir, a real IMAP server and forged reports, on both databases."""

from __future__ import annotations

import mailbox
import re
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from delivery_fixtures import seed_campaign, states
from sqlalchemy import Engine, select, update

from epistola.app import Epistola
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.feedback.deliverability import (
    FeedbackPolicy,
    paused_domains,
    record_reports,
    resume_domain,
)
from epistola.feedback.mailboxes import ImapSource, MaildirSource, process_mailbox
from epistola.feedback.reports import parse_report
from epistola.feedback.suppress import ListSuppressor
from epistola.store.schema import feedback_reports, messages
from epistola.testing import FixedClock
from epistola.testing.imap import ImapServer

MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
SAMPLE_IDS = re.compile(rb"<(1[01]\d)\.([0-9a-f]{16})@epistola\.example>")
HARD = {
    "nobody@example.net",
    "gone@example.com",
    "bob@example.org",
    "j.doe@contoso.example",
    "no.such.person@gmail.com",
    "ghost.user@yahoo.com",
}
SOFT = {"later@example.com", "full.box@outlook.com", "quota.user@gmail.com"}
COMPLAINED = {"complainer@yahoo.com", "fed.up@hotmail.com", "user@example.com"}
DELAYED = {"slow@example.org", "carol@example.org"}
EXTRA = {"anna@example.pl", "full@example.net"}


class Suppressions:
    """The real suppression list (consent package), and a way to ask it about the addresses of a test."""

    def __init__(self, app: Epistola) -> None:
        self.engine = app.engine
        self.port = ListSuppressor(Keyring.from_settings(app.settings))
        self.keyring = self.port.keyring

    def addresses(self, reason: str, among: set[str] | None = None) -> set[str]:
        candidates = sorted(among or (HARD | SOFT | COMPLAINED | DELAYED | EXTRA))
        idents = {suppression.identifier("email", a): a for a in candidates}
        with self.engine.connect() as conn:
            found = suppression.lookup(conn, self.keyring, list(idents))
        return {idents[i] for i, rows in found.items() if any(r.reason == reason for r in rows)}


def sent_campaign(engine: Engine, now: datetime, recipients: list[str], name: str = "autumn") -> dict[str, int]:
    """One sent message per recipient; returns {recipient: message id}."""
    seeded = seed_campaign(engine, now=now, count=len(recipients), name=name, recipient=lambda i: recipients[i])
    with engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.step_id == seeded.step_id).values(state="sent", sent_at=now))
    return dict(zip(seeded.recipients, seeded.message_ids, strict=True))


def samples(ids: dict[str, int]) -> list[bytes]:
    """The fixture mails, their original Message-IDs pointing at the messages of this test's database."""
    out = []
    for path in sorted(MAIL.glob("*.eml")):
        raw = path.read_bytes()
        reports = parse_report(raw)
        if reports and reports[0].address in ids:
            real = ids[reports[0].address]
            raw = SAMPLE_IDS.sub(lambda m, real=real: f"<{real}.{m[2].decode()}@epistola.example>".encode(), raw)
        out.append(raw)
    return out


@pytest.fixture
def sent(app: Epistola, clock: FixedClock) -> dict[str, int]:
    everyone = sorted(HARD | SOFT | COMPLAINED | DELAYED)
    ids = sent_campaign(app.engine, clock.now - timedelta(hours=1), everyone)
    return ids


def check_outcome(app: Epistola, sent: dict[str, int], suppressed: Suppressions) -> None:
    by_id = states(app.engine)
    for address, message_id in sent.items():
        expected = "bounced" if address in HARD | SOFT else "sent"
        assert by_id[message_id] == expected, address
    assert suppressed.addresses("hard_bounce") == HARD, "hard bounces suppress at once; soft ones do not"
    assert suppressed.addresses("complaint") == COMPLAINED
    with app.engine.connect() as conn:
        rows = conn.execute(select(feedback_reports.c.address, feedback_reports.c.message_id)).all()
    assert {a for a, _ in rows} == HARD | SOFT | COMPLAINED | DELAYED
    tied = {a: message_id for a, message_id in rows}
    # Sendmail's report attaches the message sent to bob, so carol's line in it cannot be tied to hers
    assert tied.pop("carol@example.org") is None
    assert all(message_id == sent[a] for a, message_id in tied.items()), "every report is tied to its message"


def test_a_maildir_of_bounces_and_complaints(app: Epistola, sent: dict[str, int], tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    for raw in samples(sent):
        box.add(raw)
    suppressed = Suppressions(app)
    run = process_mailbox(app.engine, MaildirSource(tmp_path / "bounces"), suppressor=suppressed.port, clock=app.clock)
    assert run.mails == len(list(MAIL.glob("*.eml"))) and run.not_reports == 1  # the auto-reply
    check_outcome(app, sent, suppressed)
    assert all("S" in box.get_message(k).get_flags() for k in box.iterkeys()), "every mail is marked read"

    for raw in samples(sent):  # the same reports delivered again (a second copy) change nothing
        box.add(raw)
    again = process_mailbox(
        app.engine, MaildirSource(tmp_path / "bounces"), suppressor=suppressed.port, clock=app.clock
    )
    assert again.outcome.duplicates == again.outcome.reports > 0
    assert again.outcome.settled == 0


def test_a_bounce_mailbox_over_imap(app: Epistola, sent: dict[str, int]) -> None:
    suppressed = Suppressions(app)
    with ImapServer(user="bounces", password="pw") as server:
        for raw in samples(sent):
            server.add(raw)
        source = ImapSource(host="127.0.0.1", port=server.port, user="bounces", password="pw", security="none")
        try:
            run = process_mailbox(app.engine, source, suppressor=suppressed.port, clock=app.clock, batch=5)
        finally:
            source.close()
        assert server.seen() == [m.uid for m in server.mails], "marked read after they were stored"
    assert run.mails == len(list(MAIL.glob("*.eml")))
    check_outcome(app, sent, suppressed)


def test_a_forged_bounce_cannot_settle_someone_elses_message(app: Epistola, clock: FixedClock) -> None:
    ids = sent_campaign(app.engine, clock.now, ["anna@example.pl", "nobody@example.net"])
    raw = (MAIL / "postfix-user-unknown.eml").read_bytes()
    forged = raw.replace(b"<101.9f1c2e7a44b0d3e1@", f"<{ids['anna@example.pl']}.9f1c2e7a44b0d3e1@".encode())
    suppressed = Suppressions(app)
    with app.engine.begin() as conn:
        outcome = record_reports(
            conn, parse_report(forged), source="maildir", suppressor=suppressed.port, now=clock.now
        )
    assert outcome.matched == 0 and outcome.settled == 0 and outcome.untrusted == 1
    assert suppressed.addresses("hard_bounce") == set(), "a forged report suppresses nobody"
    assert states(app.engine)[ids["anna@example.pl"]] == "sent"
    assert states(app.engine)[ids["nobody@example.net"]] == "sent", "a wrong id is not guessed around either"


def soft_bounce(address: str, n: int) -> bytes:
    return (
        f"From: MAILER-DAEMON@mail.epistola.example\nSubject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <soft-{n}@mail.epistola.example>\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.epistola.example\n\n"
        f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: 4.2.2\n"
        f"Diagnostic-Code: smtp; 452 4.2.2 mailbox full\n\n--b--\n"
    ).encode()


def test_soft_bounces_suppress_after_the_threshold(app: Epistola, clock: FixedClock) -> None:
    sent_campaign(app.engine, clock.now, ["full@example.net"])
    suppressed = Suppressions(app)
    policy = FeedbackPolicy(soft_bounce_threshold=3, soft_bounce_window_days=30)
    for n in range(3):
        with app.engine.begin() as conn:
            record_reports(
                conn,
                parse_report(soft_bounce("full@example.net", n)),
                source="maildir",
                suppressor=suppressed.port,
                now=clock.now,
                policy=policy,
            )
        assert suppressed.addresses("hard_bounce") == ({"full@example.net"} if n == 2 else set()), n
        clock.advance(days=2)


def complaint(address: str, message_id: int, when: datetime) -> bytes:
    """Yahoo's feedback-loop report, about the message `message_id` sent to `address`, made at `when`."""
    raw = (MAIL / "yahoo-cfl-complaint.eml").read_bytes()
    raw = raw.replace(b"complainer@yahoo.com", address.encode())
    raw = raw.replace(b"<111.", f"<{message_id}.".encode()).replace(b"ARF.1793700900", f"ARF.{message_id}".encode())
    return raw.replace(b"Tue, 03 Nov 2026 10:15:00 +0000", format_datetime(when).encode())


def test_complaints_above_three_per_mille_pause_marketing_to_the_domain(app: Epistola, clock: FixedClock) -> None:
    # 1,000 messages sent to example.org last week
    ids = sent_campaign(app.engine, clock.now - timedelta(days=7), [f"p{i}@example.org" for i in range(1000)], "bulk2")
    suppressed = Suppressions(app)
    for n in range(4):
        with app.engine.begin() as conn:
            report = complaint(f"p{n}@example.org", ids[f"p{n}@example.org"], clock.now)
            outcome = record_reports(
                conn, parse_report(report), source="imap", suppressor=suppressed.port, now=clock.now
            )
        assert outcome.paused_domains == (["example.org"] if n == 3 else []), n  # 3 in 1,000 is not above 0.3 %
    with app.engine.begin() as conn:
        assert "complaint rate 0.40%" in paused_domains(conn)["example.org"]
        resume_domain(conn, "example.org", now=clock.now, actor="ops")
        assert paused_domains(conn) == {}
