"""Bounces and complaints from e-mail providers' webhooks, read into the same `Report`s as bounce mail.

One reader per provider, each a pure function from the posted JSON to reports: Amazon SES (through SNS),
SendGrid, Mailgun and Postmark. Each event's own id becomes the report uid, so a provider retrying a call
changes nothing. Authentication is in `check_key` / `check_mailgun`: Mailgun signs its calls with the
account's signing key; for the others the URL configured at the provider carries the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from epistola.errors import InputError, Problem
from epistola.feedback.bounces import Kind, classify, status_code
from epistola.feedback.reports import Report


def _uid(provider: str, *parts: object) -> str:
    return hashlib.sha256("\x1f".join([provider, *map(str, parts)]).encode()).hexdigest()[:40]


def _when(value: object) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _address(value: object) -> str | None:
    text = str(value or "").strip().strip("<>").lower()
    return text if "@" in text and len(text) <= 320 else None


def _report(provider: str, event_id: object, kind: Kind, address: object, **extra: Any) -> Report | None:
    found = _address(address)
    if found is None:
        return None
    diagnostic = extra.pop("diagnostic", None)
    return Report(
        kind=kind,
        address=found,
        diagnostic=str(diagnostic)[:1000] if diagnostic else None,
        report_uid=_uid(provider, event_id, found, kind),
        reporter=provider,
        **extra,
    )


# --- Amazon SES (SNS notifications) ----------------------------------------------------------------------


def read_ses(body: Mapping[str, Any]) -> list[Report]:
    """An SNS envelope (``Type: Notification``) around an SES notification, or the notification itself."""
    if body.get("Type") == "SubscriptionConfirmation":
        return []  # confirmed by an operator opening SubscribeURL: Epistola makes no outgoing calls
    note = body
    if body.get("Type") == "Notification":
        try:
            note = json.loads(str(body.get("Message") or "{}"))
        except json.JSONDecodeError:
            raise InputError(
                "the SNS message is not JSON", problems=[Problem(message="invalid", field="Message")]
            ) from None
    kind_of = str(note.get("notificationType") or note.get("eventType") or "")
    mail = note.get("mail") or {}
    original = (mail.get("commonHeaders") or {}).get("messageId") or _header(mail.get("headers"), "message-id")
    event_id = body.get("MessageId") or mail.get("messageId") or json.dumps(note, sort_keys=True)
    out: list[Report | None] = []
    if kind_of == "Bounce":
        bounce = note.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        for r in bounce.get("bouncedRecipients") or []:
            status = status_code(r.get("status")) or status_code(r.get("diagnosticCode"))
            kind: Kind = "hard" if permanent else "soft"
            if permanent and status:
                kind = classify(action="failed", status=status, diagnostic=r.get("diagnosticCode"))
            out.append(
                _report("ses", event_id, kind, r.get("emailAddress"), status=status,
                        diagnostic=r.get("diagnosticCode") or bounce.get("bounceSubType"),
                        original_message_id=original, occurred_at=_when(bounce.get("timestamp")))
            )  # fmt: skip
    elif kind_of == "Complaint":
        complaint = note.get("complaint") or {}
        for r in complaint.get("complainedRecipients") or []:
            out.append(
                _report("ses", event_id, "complaint", r.get("emailAddress"), original_message_id=original,
                        occurred_at=_when(complaint.get("timestamp")),
                        feedback_type=complaint.get("complaintFeedbackType") or "abuse")
            )  # fmt: skip
    elif kind_of == "Delivery":
        delivery = note.get("delivery") or {}
        for address in delivery.get("recipients") or []:
            out.append(
                _report("ses", event_id, "delivered", address, original_message_id=original,
                        occurred_at=_when(delivery.get("timestamp")))
            )  # fmt: skip
    return [r for r in out if r is not None]


def _header(headers: object, name: str) -> str | None:
    for item in headers if isinstance(headers, list) else []:
        if isinstance(item, Mapping) and str(item.get("name", "")).lower() == name:
            return str(item.get("value"))
    return None


# --- SendGrid (event webhook: a JSON array) ----------------------------------------------------------------


def read_sendgrid(body: Any) -> list[Report]:
    out: list[Report | None] = []
    for e in body if isinstance(body, list) else []:
        if not isinstance(e, Mapping):
            continue
        event = str(e.get("event") or "")
        event_id = e.get("sg_event_id") or json.dumps(e, sort_keys=True)
        common = {"original_message_id": e.get("smtp-id"), "occurred_at": _when(e.get("timestamp"))}
        if event == "bounce":
            status = status_code(str(e.get("status") or "")) or status_code(str(e.get("reason") or ""))
            kind: Kind = (
                "soft"
                if e.get("type") == "blocked"
                else classify(action="failed", status=status, diagnostic=e.get("reason"))
            )
            out.append(
                _report("sendgrid", event_id, kind, e.get("email"), status=status, diagnostic=e.get("reason"), **common)
            )
        elif event == "deferred":
            out.append(_report("sendgrid", event_id, "delayed", e.get("email"), diagnostic=e.get("response"), **common))
        elif event == "spamreport":
            out.append(_report("sendgrid", event_id, "complaint", e.get("email"), feedback_type="abuse", **common))
        elif event == "delivered":
            out.append(_report("sendgrid", event_id, "delivered", e.get("email"), **common))
    return [r for r in out if r is not None]


# --- Mailgun (webhooks with an HMAC signature) -------------------------------------------------------------


def check_mailgun(body: Mapping[str, Any], signing_key: bytes) -> bool:
    sig = body.get("signature") or {}
    if not isinstance(sig, Mapping):
        return False
    message = f"{sig.get('timestamp', '')}{sig.get('token', '')}".encode()
    expected = hmac.new(signing_key, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, str(sig.get("signature", "")))


def read_mailgun(body: Mapping[str, Any]) -> list[Report]:
    e = body.get("event-data") or {}
    if not isinstance(e, Mapping):
        return []
    event = str(e.get("event") or "")
    status_block = e.get("delivery-status") or {}
    headers = (e.get("message") or {}).get("headers") or {}
    common = {
        "original_message_id": headers.get("message-id"),
        "occurred_at": _when(e.get("timestamp")),
    }
    event_id = e.get("id") or json.dumps(e, sort_keys=True)
    diagnostic = status_block.get("description") or status_block.get("message")
    if event == "failed":
        status = status_code(str(status_block.get("enhanced-code") or "")) or status_code(str(diagnostic or ""))
        if e.get("severity") == "temporary":
            kind: Kind = "soft"
        else:
            code = str(status_block.get("code") or "")
            kind = classify(action="failed", status=status, diagnostic=f"{code} {diagnostic or ''}")
        report = _report("mailgun", event_id, kind, e.get("recipient"), status=status, diagnostic=diagnostic, **common)
    elif event == "complained":
        report = _report("mailgun", event_id, "complaint", e.get("recipient"), feedback_type="abuse", **common)
    elif event == "delivered":
        report = _report("mailgun", event_id, "delivered", e.get("recipient"), **common)
    else:
        report = None
    return [report] if report is not None else []


# --- Postmark ----------------------------------------------------------------------------------------------

_POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Unsubscribe", "AddressChange"})


def read_postmark(body: Mapping[str, Any]) -> list[Report]:
    record = str(body.get("RecordType") or "")
    event_id = body.get("ID") or json.dumps(body, sort_keys=True)
    common = {"occurred_at": _when(body.get("BouncedAt") or body.get("DeliveredAt"))}
    if record == "Bounce":
        kind: Kind = "hard" if body.get("Type") in _POSTMARK_HARD else "soft"
        if body.get("Type") == "SpamComplaint":
            kind = "complaint"
        report = _report("postmark", event_id, kind, body.get("Email"), diagnostic=body.get("Details"), **common)
    elif record == "SpamComplaint":
        report = _report("postmark", event_id, "complaint", body.get("Email"), feedback_type="abuse", **common)
    elif record == "Delivery":
        report = _report("postmark", event_id, "delivered", body.get("Recipient"), **common)
    else:
        report = None
    return [report] if report is not None else []


READERS: Mapping[str, Callable[[Any], list[Report]]] = {
    "ses": read_ses,
    "sendgrid": read_sendgrid,
    "mailgun": read_mailgun,
    "postmark": read_postmark,
}


def check_key(presented: str | None, secret: bytes) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), secret)


def providers() -> Iterable[str]:
    return READERS.keys()
