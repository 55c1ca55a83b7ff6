"""SMS renditions count like a handset: GSM-7 or UCS-2, units and segments, checked against the gsm0338
codec (the reference) and against the parts the delivery adapter really submits."""

from __future__ import annotations

import gsm0338  # type: ignore[import-untyped]  # noqa: F401  (registers the "gsm03.38" codec)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.content.sms import GSM7_BASIC, GSM7_EXTENSION, count, fold, shorten_links
from epistola.delivery.sms import split_sms

# Text an SMS really carries: mostly GSM-7, some extension characters, now and then a letter or an emoji
# that forces UCS-2. The escape character itself never appears in a message.
GSM = st.sampled_from([c for c in GSM7_BASIC if c != "\x1b"])
EXTENSION = st.sampled_from(list(GSM7_EXTENSION))
OTHER = st.sampled_from(list("ЖжЯяąęłńśźżЁ…’“😀🎂"))
TEXTS = st.lists(st.one_of(GSM, GSM, GSM, EXTENSION, OTHER), min_size=1, max_size=700).map("".join)
GSM_ONLY = st.lists(st.one_of(GSM, GSM, EXTENSION), min_size=1, max_size=700).map("".join)


def _reference(text: str) -> tuple[str, int]:
    try:
        return "gsm7", len(text.encode("gsm03.38"))
    except UnicodeError:
        return "ucs2", len(text.encode("utf-16-be")) // 2


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_encoding_units_and_segments_match_the_reference_codec(text: str) -> None:
    info = count(text)
    encoding, units = _reference(text)
    assert (info.encoding, info.units) == (encoding, units)
    assert info.segments == len(split_sms(text, reference=1).parts)


@settings(max_examples=200, deadline=None)
@given(GSM_ONLY)
def test_gsm_text_never_splits_an_escape_pair(text: str) -> None:
    info = count(text)
    assert info.encoding == "gsm7"
    septets = len(text.encode("gsm03.38"))
    assert info.segments == (1 if septets <= 160 else len(split_sms(text, reference=7).parts))
    assert info.segments >= (1 if septets <= 160 else -(-septets // 153))


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("€" * 80, "gsm7", 160, 1),
        ("€" * 81, "gsm7", 162, 2),
        ("a" * 152 + "€", "gsm7", 154, 1),
        ("a" * 152 + "€" + "a" * 8, "gsm7", 162, 2),
        ("Ж" * 70, "ucs2", 70, 1),
        ("Ж" * 71, "ucs2", 71, 2),
        ("Ж" * 134, "ucs2", 134, 2),
        ("Ж" * 135, "ucs2", 135, 3),
        ("😀" * 35, "ucs2", 70, 1),
        ("a" * 66 + "😀" + "a" * 4, "ucs2", 72, 2),
        ("Zażółć gęślą jaźń", "ucs2", 17, 1),
        ("Größe: ÄÖÜ äöü ß é", "gsm7", 18, 1),
    ],
)
def test_segment_table(text: str, encoding: str, units: int, segments: int) -> None:
    info = count(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_typographic_punctuation_is_folded_so_it_stays_gsm7() -> None:
    text = fold("It’s “autumn” – 15 % off…")
    assert text == 'It\'s "autumn" - 15 % off...' and count(text).encoding == "gsm7"


def test_links_are_shortened_and_reported() -> None:
    text, urls = shorten_links(
        "Sale: https://shop.example/autumn?c=a%201. See https://shop.example/stores!", lambda u: "https://t.ex/c/X"
    )
    assert text == "Sale: https://t.ex/c/X. See https://t.ex/c/X!"
    assert urls == ("https://shop.example/autumn?c=a%201", "https://shop.example/stores")
