"""The fast MIME writer round-trips through the standard library's parser for any text and any split of
the HTML into pieces, and keeps every line within 78 characters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from epistola.content.mime import MailParts, build_message, encode_header

CHARS = st.sampled_from([*"abc XYZ=.\t-_<>\"'&;:/?#€łжЖ😀\n", "  ", " \n", "=\n", "\r\n", "word "])
TEXT = st.lists(CHARS, max_size=300).map("".join)
PIECES = st.lists(st.one_of(TEXT, TEXT.map(Markup)), max_size=12)


def _parts(subject: str, text: str, pieces: list[str], name: str) -> MailParts:
    return MailParts(
        sender="Epistola Demo <news@epistola.example>",
        recipient="anna@example.pl",
        recipient_name=name or None,
        subject=subject,
        text=text,
        html="".join(pieces),
        html_pieces=tuple(pieces),
        message_id="1.a@epistola.example",
        date=datetime(2026, 3, 8, tzinfo=UTC),
    )


@settings(max_examples=150, deadline=None)
@given(
    subject=st.one_of(TEXT, st.lists(st.sampled_from(["Autumn ", "sale", "= ", "x" * 30]), max_size=30).map("".join)),
    text=TEXT,
    pieces=PIECES,
    name=st.sampled_from(["", "Anna Nowak", 'Dr. "X", Jr.', "Łucja Żak"]),
)
def test_any_message_round_trips(subject: str, text: str, pieces: list[str], name: str) -> None:
    data = build_message(_parts(subject, text, pieces, name))
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    msg = message_from_bytes(data, policy=policy.default)
    assert not msg.defects
    assert " ".join(str(msg["Subject"]).split()) == " ".join(subject.split())
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert html.replace("\r\n", "\n") == "".join(pieces).replace("\r\n", "\n")
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    assert plain.replace("\r\n", "\n") == text.replace("\r\n", "\n")
    if name:
        assert msg["To"].addresses[0].display_name == name


def test_long_non_ascii_subjects_are_split_between_characters() -> None:
    subject = "Уважаемая Анна Сергеевна, осенняя коллекция уже здесь — скидка 15 % 😀" * 2
    header = encode_header(subject)
    assert all(len(line) <= 70 for line in header.split("\r\n"))
    data = build_message(_parts(subject, "x", ["<p>x</p>"], ""))
    assert message_from_bytes(data, policy=policy.default)["Subject"] == subject


def test_list_unsubscribe_keeps_its_urls_readable_for_mailbox_providers() -> None:
    """RFC 8058: Gmail and Yahoo read the one-click URL from the raw header; an encoded word hides it."""
    token = "v1." + "A" * 120  # as long as a signed unsubscribe token
    value = f"<https://mail.example.com/unsubscribe/{token}>, <mailto:unsubscribe+{token}@mail.example.com>"
    parts = dataclasses.replace(
        _parts("Autumn", "x", ["<p>x</p>"], ""),
        headers={"List-Unsubscribe": value, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    data = build_message(parts)
    assert b"=?" not in data.split(b"\r\n\r\n", 1)[0]
    assert f"<https://mail.example.com/unsubscribe/{token}>,".encode() in data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data
    msg = message_from_bytes(data, policy=policy.default)
    assert " ".join(str(msg["List-Unsubscribe"]).split()) == value and not msg.defects
    with pytest.raises(ValueError, match="ASCII"):
        build_message(dataclasses.replace(parts, headers={"List-Unsubscribe": "<https://пример.рф/u>"}))


NAMES_WITH_BREAKS = ["Anna\nBcc: victim@example.org", "Anna\r\nX-Evil: 1", "Anna\rX-Evil: 1", "Анна\nX-Evil: 1"]


@pytest.mark.parametrize("name", NAMES_WITH_BREAKS)
def test_a_line_break_in_a_customer_name_cannot_add_a_header(name: str) -> None:
    data = build_message(_parts("Autumn", "x", ["<p>x</p>"], name))
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines)  # no bare line break left in a header
    assert not any(line.startswith((b"Bcc:", b"X-Evil:")) for line in lines)
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None and len(msg["To"].addresses) == 1


def test_an_address_with_a_line_break_is_refused() -> None:
    parts = dataclasses.replace(_parts("Autumn", "x", ["<p>x</p>"], ""), recipient="anna@example.pl\r\nBcc: x@y.z")
    with pytest.raises(ValueError, match="bare e-mail address"):
        build_message(parts)
