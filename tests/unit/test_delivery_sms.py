"""SMS splitting, SMPP statuses and receipts, as tables."""

from __future__ import annotations

import pytest

from epistola.delivery.sms import (
    GSM7,
    UCS2,
    UDHI,
    Segment,
    classify_status,
    decode_text,
    join_parts,
    parse_receipt,
    receipt_text,
    split_sms,
    split_udh,
)
from epistola.errors import PermanentDeliveryError, TransientDeliveryError


@pytest.mark.parametrize(
    ("text", "coding", "sizes"),
    [
        ("a" * 160, GSM7, [160]),  # one GSM-7 part holds 160 characters
        ("a" * 161, GSM7, [6 + 153, 6 + 8]),  # then 153 per part, after a 6-byte UDH
        ("€" * 80, GSM7, [160]),  # extension characters count twice
        ("€" * 81, GSM7, [6 + 152, 6 + 10]),  # … and an escape is never split from its character
        ("ż" * 70, UCS2, [140]),  # UCS-2: 70 characters
        ("ż" * 71, UCS2, [6 + 134, 6 + 8]),  # then 67 per part
        ("ż" * 66 + "😀" + "ż" * 3, UCS2, [6 + 132, 6 + 10]),  # a surrogate pair stays in one part
    ],
)
def test_split(text: str, coding: int, sizes: list[int]) -> None:
    parts = split_sms(text, reference=300)
    assert parts.data_coding == coding
    assert [len(p) for p in parts.parts] == sizes
    if len(sizes) > 1:
        assert parts.esm_class == UDHI
        assert [p[:6] for p in parts.parts] == [
            bytes([5, 0, 3, 300 % 256, len(sizes), i + 1]) for i in range(len(sizes))
        ]
    assert join_parts([(coding, p) for p in reversed(parts.parts)])[2] == text  # any arrival order


def test_empty_and_enormous_messages_are_refused() -> None:
    with pytest.raises(PermanentDeliveryError):
        split_sms("", reference=1)
    with pytest.raises(PermanentDeliveryError, match="more than 255 parts"):
        split_sms("ż" * 67 * 256, reference=1)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (0x58, TransientDeliveryError),
        (0x14, TransientDeliveryError),
        (0x08, TransientDeliveryError),
        (0x0B, PermanentDeliveryError),
        (0x0A, PermanentDeliveryError),
        (0x45, PermanentDeliveryError),
    ],
)
def test_statuses(status: int, kind: type) -> None:
    assert classify_status(status) is kind


@pytest.mark.parametrize(
    ("text", "tlv", "provider_id", "status", "outcome"),
    [
        (receipt_text("M1", "DELIVRD"), None, "M1", "DELIVRD", "delivered"),
        (receipt_text("M2", "UNDELIV", "001"), None, "M2", "UNDELIV", "bounced"),
        (
            b"id:7 sub:001 dlvrd:000 submit date:2611020900 done date:2611020901 stat:EXPIRED err:000",
            None,
            "7",
            "EXPIRED",
            "bounced",
        ),
        (b"id:0A1 stat:ENROUTE", b"0a1", "0a1", "ENROUTE", None),  # the TLV wins; en route settles nothing
    ],
)
def test_receipts(text: bytes, tlv: bytes | None, provider_id: str, status: str, outcome: str | None) -> None:
    receipt = parse_receipt(text, tlv)
    assert receipt is not None
    assert (receipt.provider_id, receipt.status, receipt.outcome) == (provider_id, status, outcome)


def test_text_that_is_not_a_receipt() -> None:
    assert parse_receipt(b"STOP") is None


@pytest.mark.parametrize(
    ("coding", "data", "text"),
    [
        (0x00, "STOP €".encode("gsm03.38"), "STOP €"),  # SMSC default: GSM 03.38, one septet per octet
        (0x00, b"\x00\x02\x1b\x65", "@$€"),  # '@' is 0x00, '$' 0x02, '€' the escape 0x1B 0x65
        (0x08, "СТОП".encode("utf-16-be"), "СТОП"),  # UCS-2
        (0x08, "СТОП".encode("utf-16-be") + b"\x04", "СТОП"),  # an odd byte is cut off, not an error
        (0x18, "Rezygnuję".encode("utf-16-be"), "Rezygnuję"),  # GSM DCS general group, UCS-2 alphabet
        (0x01, b"START", "START"),  # IA5
        (0x03, b"Zo\xeb", "Zoë"),  # Latin-1
        (0xF4, b"\xe9", "é"),  # 8-bit data class
        (0x00, b"\x80", "\ufffd"),  # not a septet: replaced, never an error
    ],
)
def test_inbound_text_is_decoded_by_data_coding(coding: int, data: bytes, text: str) -> None:
    assert decode_text(coding, data) == text


@pytest.mark.parametrize(
    ("esm_class", "data", "segment", "body"),
    [
        (0x00, b"\x05\x00\x03\x07\x02\x01hi", None, b"\x05\x00\x03\x07\x02\x01hi"),  # no UDHI: no header
        (UDHI, b"\x05\x00\x03\x07\x02\x01hi", Segment(reference=7, total=2, number=1), b"hi"),
        (UDHI, b"\x06\x08\x04\x01\x02\x03\x03yo", Segment(reference=258, total=3, number=3), b"yo"),  # 16-bit ref
        (UDHI, b"\x05\x00\x03\x07\x02\x05hi", None, b"hi"),  # part 5 of 2: no concatenation
        (UDHI, b"\x03\x24\x01\x01ok", None, b"ok"),  # another element (a national language shift)
    ],
)
def test_inbound_udh(esm_class: int, data: bytes, segment: Segment | None, body: bytes) -> None:
    assert split_udh(esm_class, data) == (segment, body)
