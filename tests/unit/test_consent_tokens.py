"""Signed privacy links: unforgeable, bound to their kind and key version, and every bad token looks alike."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.consent import suppression
from epistola.consent.keys import Keyring, parse_previous_keys
from epistola.consent.links import PrivacyLinks
from epistola.consent.suppression import identifier
from epistola.consent.tokens import TOKEN_LENGTH, TokenKind, sign, verify
from epistola.content.mime import MailParts, build_message
from epistola.errors import InputError

RING = Keyring.single("k" * 40)


def test_round_trip() -> None:
    token = sign(RING, TokenKind.UNSUBSCRIBE, 42, 7)
    assert len(token) == TOKEN_LENGTH and token == token.lower()
    claims = verify(RING, TokenKind.UNSUBSCRIBE, token)
    assert claims is not None and (claims.customer_id, claims.message_id, claims.key_version) == (42, 7, 1)
    assert verify(RING, TokenKind.PREFERENCES, sign(RING, TokenKind.PREFERENCES, 42)) is not None


def test_a_token_is_only_good_for_its_kind_and_key() -> None:
    token = sign(RING, TokenKind.UNSUBSCRIBE, 42, 7)
    assert verify(RING, TokenKind.PREFERENCES, token) is None
    assert verify(Keyring.single("x" * 40), TokenKind.UNSUBSCRIBE, token) is None


def test_every_single_character_change_is_refused() -> None:
    token = sign(RING, TokenKind.PREFERENCES, 123456, 99)
    alphabet = string.ascii_lowercase + "234567"
    for i, original in enumerate(token):
        for ch in alphabet:
            if ch != original:
                assert verify(RING, TokenKind.PREFERENCES, token[:i] + ch + token[i + 1 :]) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.upper(),
        lambda t: t + "=",
        lambda t: t[:-1],
        lambda t: t + "a",
        lambda t: "",
        lambda t: "../" + t[3:],
        lambda t: t[:10] + "0" + t[11:],  # not in the base32 alphabet
    ],
)
def test_malformed_tokens_are_refused(mangle: object) -> None:
    token = sign(RING, TokenKind.UNSUBSCRIBE, 5)
    assert verify(RING, TokenKind.UNSUBSCRIBE, mangle(token)) is None  # type: ignore[operator]


@given(st.text(max_size=80))
def test_random_text_never_verifies(text: str) -> None:
    assert verify(RING, TokenKind.UNSUBSCRIBE, text) is None


def test_rotation_keeps_old_links_working_and_unknown_versions_fail() -> None:
    old = Keyring.single("old-secret-" * 4, version=1)
    token = sign(old, TokenKind.UNSUBSCRIBE, 9)
    rotated = Keyring(2, {2: b"new-secret-" * 4, 1: b"old-secret-" * 4})
    assert verify(rotated, TokenKind.UNSUBSCRIBE, token) is not None
    fresh = sign(rotated, TokenKind.UNSUBSCRIBE, 9)
    claims = verify(rotated, TokenKind.UNSUBSCRIBE, fresh)
    assert claims is not None and claims.key_version == 2
    assert verify(old, TokenKind.UNSUBSCRIBE, fresh) is None  # version 2 is unknown there
    assert rotated.versions == (2, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "pair 1 is not VERSION=SECRET"),
        ("1=a, two=b", "pair 2 is not VERSION=SECRET"),
        ("0=a", "version must be 1 to 255"),
        ("1=a,1=b", "version 1 is given twice"),
        ("1=", "pair 1 is not VERSION=SECRET"),
    ],
)
def test_previous_keys_syntax(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_previous_keys(text)


def test_previous_keys_parse() -> None:
    assert parse_previous_keys(" 1=alpha , 3=beta ") == {1: "alpha", 3: "beta"}
    assert parse_previous_keys(None) == {}


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("email", " Anna.Kowalska@Example.COM ", "email:anna.kowalska@example.com"),
        ("email", "anna@example.test", "email:anna@example.test"),  # special-use domains are hashed too
        ("phone", "+48 601 234 567", "phone:+48601234567"),
        ("phone", "+7 (916) 123-45-67", "phone:+79161234567"),
        ("phone", "7726", "phone:7726"),  # a short code
    ],
)
def test_identifiers_are_canonical(kind: str, value: str, expected: str) -> None:
    assert identifier(kind, value) == expected  # type: ignore[arg-type]


_CANONICAL = st.from_regex(suppression._CANONICAL_EMAIL, fullmatch=True)


@settings(max_examples=500)
@given(st.emails() | _CANONICAL | st.text(max_size=40))
def test_the_fast_email_identifier_hashes_what_the_library_would(value: str) -> None:
    # The forms the hub stores (normalised at import), and anything else, hash the same way with or without
    # email-validator: the suppressions added through it are found by the fast path at send time.
    try:
        stored = suppression.normalise_email(value)
    except InputError:
        stored = value
    for address in (stored, value):
        assert identifier("email", address) == suppression.validated_identifier("email", address)


def test_the_unsubscribe_url_and_address_carry_one_verifiable_token() -> None:
    links = PrivacyLinks(keyring=RING, base_url="https://mail.example.com/", mailbox="unsubscribe@example.com")
    header = links.email_headers(42, 7)["List-Unsubscribe"]
    assert header == f"<{links.unsubscribe_url(42, 7)}>, <{links.unsubscribe_mailto(42, 7)}>"
    token = links.token_from_address(header.partition("mailto:")[2].partition("?")[0])
    assert token is not None and verify(RING, TokenKind.UNSUBSCRIBE, token) is not None


def test_list_unsubscribe_headers_survive_mime() -> None:
    links = PrivacyLinks(keyring=RING, base_url="https://mail.example.com/", mailbox="unsubscribe@example.com")
    headers = links.email_headers(42, 7)
    data = build_message(
        MailParts(
            sender="Shop <news@example.com>",
            recipient="anna@example.com",
            recipient_name=None,
            subject="Hi",
            text="t",
            html="<p>t</p>",
            message_id="1@example.com",
            date=datetime(2026, 11, 2, tzinfo=UTC),
            headers=headers,
        )
    )
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (part.strip().strip("<>") for part in str(msg["List-Unsubscribe"]).split(","))
    assert https.startswith("https://mail.example.com/unsubscribe/")
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@example.com?subject=unsubscribe")
    token = https.rsplit("/", 1)[1]
    assert verify(RING, TokenKind.UNSUBSCRIBE, token) is not None
    address = mailto.removeprefix("mailto:").split("?")[0]
    assert links.token_from_address(address.upper()) == token  # mail servers may fold the case
    assert links.token_from_address("unsubscribe+nothing@example.com") is None
