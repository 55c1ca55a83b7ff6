"""SMS splitting, SMPP statuses and receipts, as tables."""

from __future__ import annotations

import pytest

from epistola.delivery.sms import (
    GSM7,
    UCS2,
    UDHI,
    classify_status,
    join_parts,
    parse_receipt,
    receipt_text,
    split_sms,
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
