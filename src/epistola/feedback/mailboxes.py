"""Bounce mailboxes: read delivery reports from a Maildir or an IMAP folder, one adapter each.

A mail is marked as read (Maildir flag ``S``, IMAP ``\\Seen``) only after the transaction that recorded
its reports has committed; a crash in between reads it again, and the report uids make that harmless.
Mail that is no report (an auto-reply, a person writing back) is marked read too, and counted.
"""

from __future__ import annotations

import imaplib
import mailbox
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from sqlalchemy import Engine

from epistola.clock import Clock
from epistola.errors import ConfigError, StorageError
from epistola.feedback.deliverability import FeedbackPolicy, Outcome, Suppressor, record_reports
from epistola.feedback.reports import parse_report
from epistola.store import wrap_db_errors


@dataclass(frozen=True, kw_only=True)
class Mail:
    key: str
    raw: bytes


class MailSource(Protocol):
    name: str  # stored with each report: maildir | imap

    def fetch(self, limit: int) -> list[Mail]:
        """Up to `limit` unread mails."""

    def done(self, keys: Sequence[str]) -> None:
        """Mark these mails read."""

    def close(self) -> None: ...


class MaildirSource:
    """A Maildir folder (``new/``, ``cur/``, ``tmp/``) that an MTA delivers bounces to."""

    name = "maildir"

    def __init__(self, path: Path) -> None:
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise ConfigError(f"{path} is not a Maildir (it needs new/ and cur/ folders)")
        self.box = mailbox.Maildir(path, factory=None, create=False)

    def fetch(self, limit: int) -> list[Mail]:
        out: list[Mail] = []
        for key in sorted(self.box.iterkeys()):
            message = self.box.get_message(key)
            if "S" in message.get_flags():
                continue
            out.append(Mail(key=key, raw=self.box.get_bytes(key)))
            if len(out) >= limit:
                break
        return out

    def done(self, keys: Sequence[str]) -> None:
        for key in keys:
            message = self.box.get_message(key)
            message.set_subdir("cur")
            message.add_flag("S")
            self.box[key] = message

    def close(self) -> None:
        self.box.close()


Security = Literal["none", "starttls", "tls"]
_UID = re.compile(rb"UID (\d+)")


class ImapSource:
    """An IMAP folder, read with the standard library's client; only unread mail is fetched."""

    name = "imap"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        folder: str = "INBOX",
        security: Security = "tls",
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        context = ssl_context or ssl.create_default_context()
        try:
            if security == "tls":
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
            else:
                self.imap = imaplib.IMAP4(host, port, timeout=timeout)
                if security == "starttls":
                    self.imap.starttls(context)
            self.imap.login(user, password)
            status, _ = self.imap.select(self._quote(folder))
        except (OSError, imaplib.IMAP4.error) as exc:
            raise StorageError(
                f"cannot read the bounce mailbox at {host}:{port}: {type(exc).__name__}: {exc}",
                hint="Check EPISTOLA_BOUNCE_IMAP_* settings and that the server is reachable.",
            ) from None
        if status != "OK":
            raise StorageError(f"the IMAP folder {folder!r} cannot be opened")

    @staticmethod
    def _quote(folder: str) -> str:
        return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def fetch(self, limit: int) -> list[Mail]:
        try:
            status, data = self.imap.uid("SEARCH", "UNSEEN")
            if status != "OK":
                return []
            uids = (data[0] or b"").split()[:limit]
            out: list[Mail] = []
            for uid in uids:
                status, parts = self.imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                for part in parts:
                    if isinstance(part, tuple) and len(part) == 2:
                        out.append(Mail(key=uid.decode(), raw=bytes(part[1])))
            return out
        except (OSError, imaplib.IMAP4.error) as exc:
            raise StorageError(f"reading the bounce mailbox failed: {type(exc).__name__}") from None

    def done(self, keys: Sequence[str]) -> None:
        if keys:
            try:
                self.imap.uid("STORE", ",".join(keys), "+FLAGS", "(\\Seen)")
            except (OSError, imaplib.IMAP4.error) as exc:
                raise StorageError(f"marking bounces as read failed: {type(exc).__name__}") from None

    def close(self) -> None:
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


@dataclass(kw_only=True)
class MailboxRun:
    mails: int = 0
    not_reports: int = 0
    outcome: Outcome


def process_mailbox(
    engine: Engine,
    source: MailSource,
    *,
    suppressor: Suppressor,
    clock: Clock,
    policy: FeedbackPolicy | None = None,
    batch: int = 200,
    actor: str = "bounces",
    progress: Callable[[int], None] | None = None,
) -> MailboxRun:
    """Read every unread mail, a batch per transaction; mark each batch read once it is stored."""
    run = MailboxRun(outcome=Outcome())
    handled: set[str] = set()
    while True:
        mails = [m for m in source.fetch(batch) if m.key not in handled]
        if not mails:  # nothing unread, or a server that ignores our flags: stop rather than loop
            return run
        handled.update(m.key for m in mails)
        reports = []
        for mail in mails:
            found = parse_report(mail.raw)
            if not found:
                run.not_reports += 1
            reports.extend(found)
        with wrap_db_errors("recording bounce reports"), engine.begin() as conn:
            outcome = record_reports(
                conn, reports, source=source.name, suppressor=suppressor, now=clock(), actor=actor, policy=policy
            )
        source.done([m.key for m in mails])
        run.mails += len(mails)
        _merge(run.outcome, outcome)
        if progress:
            progress(run.mails)


def _merge(total: Outcome, part: Outcome) -> None:
    total.reports += part.reports
    total.duplicates += part.duplicates
    total.matched += part.matched
    total.untrusted += part.untrusted
    total.settled += part.settled
    total.suppressed += part.suppressed
    total.paused_domains.extend(part.paused_domains)
    for kind, count in part.by_kind.items():
        total.by_kind[kind] = total.by_kind.get(kind, 0) + count
