"""What a rejected row's raw text is searched for, when erased people must not come back through the rejects."""

from __future__ import annotations

import pytest

from epistola.hub.erased import event_identifiers, text_identifiers


@pytest.mark.parametrize(
    ("raw", "regions", "expected"),
    [
        ("U-1,Mr,Bill,bill@example.com,x", (), {"record:crm:U-1", "email:bill@example.com"}),
        ('{"id": "W-9", "mail": "Bill@Example.com"', (), {"email:bill@example.com"}),
        ('{"id": "W-9", "nested": {"k": "K-2"}}', (), {"record:crm:W-9", "record:crm:K-2"}),
        ("U-2,(410) 555-0134", ("US",), {"record:crm:U-2", "phone:+14105550134"}),
        ("U-2,(410) 555-0134", (), {"record:crm:U-2"}),  # a national number needs a region
        ("U-3;+48 601 234 567", (), {"record:crm:U-3", "phone:+48601234567"}),
        ('["W-X", "bill@example.com"]', (), {"record:crm:W-X", "email:bill@example.com"}),
    ],
)
def test_text_identifiers(raw: str, regions: tuple[str, ...], expected: set[str]) -> None:
    assert expected <= text_identifiers(raw, key_sources=["crm"], regions=regions)


def test_a_national_number_without_a_region_names_no_phone() -> None:
    assert not any(i.startswith("phone:") for i in text_identifiers("U-2,(410) 555-0134", key_sources=["crm"]))


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ({"source": "web", "key": "W1"}, {"record:web:W1"}),
        ({"email": "Bill@Example.com"}, {"email:bill@example.com"}),
        ({"source": "web", "key": "W1", "email": "b@example.com"}, {"record:web:W1", "email:b@example.com"}),
        ({}, set()),
        (None, set()),
    ],
)
def test_event_identifiers(ident: dict[str, str] | None, expected: set[str]) -> None:
    assert event_identifiers(ident) == expected
