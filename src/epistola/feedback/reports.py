"""Reading bounce and complaint mail: delivery status notifications (RFC 3464), feedback reports (ARF,
RFC 5965), and the plain-text bounces some systems still send, into one `Report` per recipient.

Pure: bytes in, records out. The original message (attached whole, or as its headers) gives the
Message-ID we set when sending (``<message id>.<random>@<our domain>``), which ties a report to its row in
`messages`; the store module then checks the recipient too, so a forged bounce cannot name any message.
"""

from __future__ import annotations

import email
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from epistola.feedback.bounces import Kind, classify, status_code

_ADDRESS = re.compile(r"<?([^\s<>;\"']+@[^\s<>;\"']+\.[A-Za-z0-9-]+)>?")
_OUR_MESSAGE_ID = re.compile(r"<?(\d{1,18})\.[0-9a-f]{8,64}@([^>\s]+)>?")


@dataclass(frozen=True, kw_only=True)
class Report:
    """One recipient's fate, or one complaint, as some mail system reported it."""

    kind: Kind
    address: str  # the original recipient, lower case
    status: str | None = None  # enhanced status code, e.g. 5.1.1
    diagnostic: str | None = None
    reporter: str | None = None  # reporting MTA, or the complaint feedback loop's user agent
    original_message_id: str | None = None  # the Message-ID of the message we sent
    occurred_at: datetime | None = None
    feedback_type: str | None = None  # ARF: abuse, fraud, virus, other, not-spam
    report_uid: str  # stable: the same report read twice gets the same uid

    @property
    def message_id(self) -> int | None:
        """Our `messages.id`, if the original Message-ID is one of ours (checked against the row later)."""
        found = _OUR_MESSAGE_ID.fullmatch(self.original_message_id or "")
        return int(found[1]) if found else None


def _uid(report_id: str | None, raw: bytes, *parts: str) -> str:
    base = report_id or hashlib.sha256(raw).hexdigest()
    return hashlib.sha256("\x1f".join([base, *parts]).encode()).hexdigest()[:40]


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _typed(value: object) -> str | None:
    """`rfc822; anna@example.com` -> `anna@example.com`; `dns; mx.example.net` -> `mx.example.net`."""
    text = _text(value)
    if text is None:
        return None
    return text.split(";", 1)[1].strip() if ";" in text else text


def _address(value: object) -> str | None:
    text = _typed(value)
    if not text:
        return None
    found = _ADDRESS.search(text)
    return found[1].lower().rstrip(".") if found else None


def _when(value: object) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _header_blocks(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
        decoded = part.get_payload(decode=True)
        text = decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else text
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser().parsestr(block + "\n") for block in blocks if block.strip()]


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found = inner[0].get("Message-ID")
                if found:
                    return str(found).strip()
        if ctype in ("text/rfc822-headers", "text/global-headers"):
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                found = BytesHeaderParser().parsebytes(raw).get("Message-ID")
                if found:
                    return str(found).strip()
    return None


def _dsn(msg: Message, part: Message, raw: bytes) -> list[Report]:
    blocks = _header_blocks(part)
    if not blocks:
        return []
    per_message, recipients = blocks[0], blocks[1:]
    if per_message.get("Final-Recipient") and not per_message.get("Reporting-MTA"):
        per_message, recipients = Message(), blocks  # some systems omit the per-message block
    reporter = _typed(per_message.get("Reporting-MTA"))
    arrived = _when(per_message.get("Arrival-Date"))
    original = _original_message_id(msg)
    report_id = _text(msg.get("Message-ID"))
    out = []
    for block in recipients:
        address = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if address is None:
            continue
        action = _text(block.get("Action"))
        diagnostic = _typed(block.get("Diagnostic-Code")) or _typed(block.get("X-Exim-Diagnostic"))
        status = status_code(_text(block.get("Status"))) or status_code(diagnostic)
        kind = classify(action=action, status=status, diagnostic=diagnostic)
        out.append(
            Report(
                kind=kind,
                address=address,
                status=status,
                diagnostic=diagnostic[:1000] if diagnostic else None,
                reporter=reporter,
                original_message_id=original,
                occurred_at=_when(block.get("Last-Attempt-Date")) or arrived or _when(msg.get("Date")),
                report_uid=_uid(report_id, raw, "dsn", address, action or ""),
            )
        )
    return out


def _arf(msg: Message, part: Message, raw: bytes) -> list[Report]:
    blocks = _header_blocks(part)
    if not blocks:
        return []
    fields = blocks[0]
    original = _original_message_id(msg)
    recipients = [_address(v) for v in fields.get_all("Original-Rcpt-To") or []]
    recipients = [r for r in recipients if r and not r.startswith("redacted@")]
    if not recipients:  # redacted by the feedback loop: the original's To is all that is left
        recipients = [_original_recipient(msg)]
    report_id = _text(msg.get("Message-ID"))
    feedback_type = (_text(fields.get("Feedback-Type")) or "abuse").lower()
    out = []
    for address in dict.fromkeys(r for r in recipients if r):
        out.append(
            Report(
                kind="complaint" if feedback_type != "not-spam" else "delivered",
                address=address,
                reporter=_text(fields.get("User-Agent")) or _text(fields.get("Reporting-MTA")),
                original_message_id=original,
                # when the customer complained (the report's date), not when the original arrived
                occurred_at=_when(msg.get("Date")) or _when(fields.get("Arrival-Date")),
                feedback_type=feedback_type,
                report_uid=_uid(report_id, raw, "arf", address),
            )
        )
    return out


def _original_recipient(msg: Message) -> str | None:
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            headers = payload[0] if isinstance(payload, list) and payload else None
            if headers is None:
                data = part.get_payload(decode=True)
                headers = BytesHeaderParser().parsebytes(data) if isinstance(data, bytes) else None
            if isinstance(headers, Message):
                pairs = getaddresses([str(v) for v in headers.get_all("To") or []])
                for _, address in pairs:
                    if "@" in address and "redacted" not in address.lower():
                        return address.lower()
    return None


# Plain-text bounces (qmail, Yahoo, old Exim): an address on its own line, then the remote server's words.
_TEXT_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status notification|failure|has failed)|mail delivery (?:failed|system)|"
    r"failure notice|returned mail|delivery problem|недоставлен|niedostarczon",
    re.IGNORECASE,
)
_QUOTE_START = re.compile(
    r"^(-+ ?Below this line[^\n]*|-+ ?Original message[^\n]*|--- The header of the original[^\n]*)$", re.M | re.I
)
_TEXT_RECIPIENT = re.compile(r"^\s*<?([^\s<>@]+@[^\s<>]+?)>?:?\s*$", re.MULTILINE)


def _text_bounce(msg: Message, raw: bytes) -> list[Report]:
    if not _TEXT_BOUNCE_SUBJECT.search(str(msg.get("Subject", ""))):
        return []
    body = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                body = data.decode(part.get_content_charset() or "utf-8", "replace")
                break
    parts = _QUOTE_START.split(body, maxsplit=1)
    body, quoted = (parts[0], parts[-1]) if len(parts) > 1 else (body, "")
    out = []
    report_id = _text(msg.get("Message-ID"))
    for found in _TEXT_RECIPIENT.finditer(body):
        address = found[1].lower()
        following = body[found.end() : found.end() + 600].strip().split("\n\n")[0]
        diagnostic = _text(following)
        out.append(
            Report(
                kind=classify(action="failed", status=status_code(diagnostic), diagnostic=diagnostic),
                address=address,
                status=status_code(diagnostic),
                diagnostic=diagnostic[:1000] if diagnostic else None,
                reporter=_address(msg.get("From")) or _text(msg.get("From")),
                original_message_id=_original_message_id(msg) or _quoted_message_id(quoted),
                occurred_at=_when(msg.get("Date")),
                report_uid=_uid(report_id, raw, "text", address),
            )
        )
    return out


def _quoted_message_id(quoted: str) -> str | None:
    """The Message-ID in the copy of the original that follows the bounce text."""
    found = re.search(r"^Message-ID:[ \t]*(<[^>\r\n]+>)", quoted, re.MULTILINE | re.IGNORECASE)
    return found[1] if found else None


def parse_report(raw: bytes) -> list[Report]:
    """Every report in one mail: per-recipient DSN results, complaints, or a plain-text bounce.

    Mail that is none of these (an auto-reply, a human answer) gives an empty list.
    """
    msg = email.message_from_bytes(raw)
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            return _dsn(msg, part, raw)
        if ctype == "message/feedback-report":
            return _arf(msg, part, raw)
    return _text_bounce(msg, raw)


def parse_reports(mails: Iterable[bytes]) -> list[Report]:
    return [report for raw in mails for report in parse_report(raw)]
