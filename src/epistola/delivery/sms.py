"""SMS, the pure part: splitting text into parts with concatenation headers, SMPP status meanings, receipts.

Kept apart from the SMPP and HTTP adapters so that both share it and so that it is a table test. GSM 03.38
is tried first (160 characters, 153 per part of a long message, extension characters such as € count
twice and are never split from their escape); anything else goes as UCS-2 (70, or 67 per part, never
splitting a surrogate pair). Parts of a long message carry an 8-bit concatenation UDH (RFC-free but
universal: IEI 0x00, reference, total, sequence) and `esm_class` 0x40.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import gsm0338  # type: ignore[import-untyped]  # noqa: F401  (registers the "gsm03.38" codec)

from epistola.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

GSM7, UCS2 = 0x00, 0x08  # SMPP data_coding
UDHI = 0x40  # esm_class: the short message starts with a user data header
MAX_PARTS = 255


@dataclass(frozen=True, kw_only=True)
class SmsParts:
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]  # each with its UDH when there is more than one

    @property
    def encoding(self) -> Literal["gsm7", "ucs2"]:
        return "gsm7" if self.data_coding == GSM7 else "ucs2"


def _chunks_gsm(encoded: bytes, size: int) -> list[bytes]:
    chunks, start = [], 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        if end < len(encoded) and encoded[end - 1] == 0x1B:  # never split an escape from its character
            end -= 1
        chunks.append(encoded[start:end])
        start = end
    return chunks


def _chunks_ucs2(encoded: bytes, size: int) -> list[bytes]:
    chunks, start = [], 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        if end < len(encoded) and 0xD8 <= encoded[end - 2] <= 0xDB:  # a high surrogate: keep the pair together
            end -= 2
        chunks.append(encoded[start:end])
        start = end
    return chunks


def split_sms(text: str, reference: int) -> SmsParts:
    """The parts to submit for `text`; `reference` (0–255 used) ties the parts of one message together."""
    if not text:
        raise PermanentDeliveryError("an SMS needs some text")
    try:
        encoded, coding, single, part = text.encode("gsm03.38"), GSM7, 160, 153
    except UnicodeError:
        encoded, coding, single, part = text.encode("utf-16-be"), UCS2, 140, 134
    if len(encoded) <= single:
        return SmsParts(data_coding=coding, esm_class=0, parts=(encoded,))
    chunks = _chunks_gsm(encoded, part) if coding == GSM7 else _chunks_ucs2(encoded, part)
    if len(chunks) > MAX_PARTS:
        raise PermanentDeliveryError(f"an SMS of {len(text)} characters needs more than {MAX_PARTS} parts")
    ref = reference % 256
    parts = tuple(bytes([0x05, 0x00, 0x03, ref, len(chunks), i]) + c for i, c in enumerate(chunks, start=1))
    return SmsParts(data_coding=coding, esm_class=UDHI, parts=parts)


def join_parts(parts: list[tuple[int, bytes]]) -> tuple[int, int, str]:
    """Reassemble received parts ``(data_coding, short_message)``: (reference, total, text). For test peers."""
    ordered: dict[int, bytes] = {}
    reference = total = 0
    coding = parts[0][0]
    for _, data in parts:
        if data[:3] == b"\x05\x00\x03":
            reference, total, seq = data[3], data[4], data[5]
            ordered[seq] = data[6:]
        else:
            ordered[1], total = data, 1
    body = b"".join(ordered[i] for i in sorted(ordered))
    text = body.decode("gsm03.38") if coding == GSM7 else body.decode("utf-16-be")
    return reference, total, text


# --- what a submit_sm_resp status means (SMPP 3.4 §5.1.3) --------------------------------------------------

_TRANSIENT = frozenset(
    {
        0x08,  # ESME_RSYSERR system error
        0x14,  # ESME_RMSGQFUL message queue full
        0x58,  # ESME_RTHROTTLED throttling error
        0x64,  # ESME_RX_T_APPN temporary application error
        0x04,  # ESME_RINVBNDSTS bound in the wrong state: our session's fault, not the message's
        0x0D,  # ESME_RBINDFAIL
        0x0E,  # ESME_RINVPASWD
        0x0F,  # ESME_RINVSYSID
        0xFE,  # ESME_RDELIVERYFAILURE (transient per many SMSCs)
    }
)


def classify_status(status: int) -> type[DeliveryError]:
    """Transient for throttling, full queues, system and session errors; permanent for everything else
    the SMSC refused about the message itself (bad destination, bad source, bad data)."""
    return TransientDeliveryError if status in _TRANSIENT else PermanentDeliveryError


# --- delivery receipts (SMPP 3.4 Appendix B) ------------------------------------------------------------

_RECEIPT = re.compile(rb"id:(?P<id>\S+).*?\bstat:(?P<stat>[A-Z]+)(?:.*?\berr:(?P<err>\w+))?", re.IGNORECASE | re.DOTALL)
DELIVERED_STATES = frozenset({"DELIVRD", "ACCEPTD"})
FAILED_STATES = frozenset({"UNDELIV", "EXPIRED", "DELETED", "REJECTD"})


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """What the SMSC said became of a message: `outcome` is delivered, bounced, or None (still en route)."""

    provider_id: str
    status: str
    error: str

    @property
    def outcome(self) -> Literal["delivered", "bounced"] | None:
        if self.status in DELIVERED_STATES:
            return "delivered"
        if self.status in FAILED_STATES:
            return "bounced"
        return None


def parse_receipt(short_message: bytes, receipted_message_id: bytes | None = None) -> Receipt | None:
    """A receipt from a deliver_sm's text (and its receipted_message_id TLV, which wins when present)."""
    match = _RECEIPT.search(short_message)
    if match is None:
        return None
    provider_id = (receipted_message_id or match.group("id")).decode("ascii", "replace").strip("\x00")
    return Receipt(
        provider_id=provider_id,
        status=match.group("stat").decode("ascii").upper(),
        error=(match.group("err") or b"").decode("ascii"),
    )


def receipt_text(provider_id: str, status: str, error: str = "000") -> bytes:
    """The Appendix B text an SMSC sends (used by the test SMSC)."""
    stamp = "2611020900"
    return (
        f"id:{provider_id} sub:001 dlvrd:{'001' if status == 'DELIVRD' else '000'} submit date:{stamp} "
        f"done date:{stamp} stat:{status} err:{error} text:"
    ).encode("ascii")


# --- mobile-originated messages (a customer's text arriving as deliver_sm) ------------------------------

_CHARSETS = {0x01: "ascii", 0x03: "latin-1", 0x06: "iso8859-5", 0x07: "iso8859-8"}


@dataclass(frozen=True, kw_only=True)
class MobileOriginated:
    """A text a customer sent to one of our numbers. `fingerprint` is the same for every redelivery of
    the same message (the SMSC sends it again when it missed our deliver_sm_resp) and is the only thing
    to dedupe on: SMPP 3.4 gives a mobile-originated message no id."""

    sender: str  # E.164 with "+" when the SMSC says it is international
    recipient: str  # our number (or short code) it was sent to
    text: str
    parts: int
    fingerprint: bytes


def decode_text(data_coding: int, data: bytes) -> str:
    """The text of a short message by its SMPP data_coding: GSM 03.38 (unpacked, one septet per octet)
    for the SMSC default, UCS-2 for 0x08, and the few 8-bit character sets SMPP names."""
    coding = data_coding & 0xFF
    general = 0x10 <= coding <= 0x3F  # GSM 03.38 general data coding: bits 3-2 name the alphabet
    if coding == UCS2 or (general and coding & 0x0C == 0x08):
        return data[: len(data) // 2 * 2].decode("utf-16-be", "replace")
    if coding in _CHARSETS:
        return data.decode(_CHARSETS[coding], "replace")
    if coding in (0x02, 0x04) or (coding >= 0xF0 and coding & 0x04) or (general and coding & 0x0C == 0x04):
        return data.decode("latin-1")
    try:
        return data.decode("gsm03.38")
    except UnicodeDecodeError:
        return data.decode("gsm03.38", "replace")


@dataclass(frozen=True, kw_only=True)
class Segment:
    """One part of a concatenated message: `reference` ties the parts of one message together."""

    reference: int
    total: int
    number: int


def split_udh(esm_class: int, data: bytes) -> tuple[Segment | None, bytes]:
    """(the concatenation header if any, the message body) of a short message that may start with a UDH."""
    if not esm_class & UDHI or not data:
        return None, data
    length = data[0]
    header, body = data[1 : 1 + length], data[1 + length :]
    segment, i = None, 0
    while i + 2 <= len(header):
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if iei == 0x00 and size == 3 and len(value) == 3:
            segment = Segment(reference=value[0], total=value[1], number=value[2])
        elif iei == 0x08 and size == 4 and len(value) == 4:
            segment = Segment(reference=value[0] << 8 | value[1], total=value[2], number=value[3])
        i += 2 + size
    if segment is not None and not 1 <= segment.number <= segment.total:
        segment = None
    return segment, body
