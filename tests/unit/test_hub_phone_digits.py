"""Reading a plainly written phone number from its digits alone gives what phonenumbers reads from the text.

`contacts.normalise_phone` hands phonenumbers '+' and the digits of numbers written with ASCII digits,
spaces, brackets, dashes and dots; these tests compare that with phonenumbers reading the text itself,
and `normalise_phone` with the plain implementation it replaced, on generated numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.hub.contacts import PERSONAL_TYPES, Unusable, _plain_digits, _written_like, normalise_phone

REGIONS = ["US", "RU", "PL", "GB", "DE", "KZ", "CA", "FR"]
REGION_LISTS = [[], ["US"], ["RU"], ["PL"], ["GB"], ["RU", "PL", "US"], ["US", "PL"], ["DE", "FR"], ["KZ", "RU"]]
_T = phonenumbers.PhoneNumberType
TYPES = [_T.FIXED_LINE, _T.MOBILE, _T.TOLL_FREE, _T.PREMIUM_RATE, _T.PAGER, _T.VOIP, _T.UAN, _T.SHARED_COST]
FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
]


def _reference(raw: str, regions: Iterable[str]) -> str:
    """normalise_phone as it was: phonenumbers always reads the text itself."""
    text = raw.strip()
    candidates = [None] if text.startswith("+") else [*dict.fromkeys(r for r in regions if r)]
    if not candidates:
        raise Unusable("a national number, and no country to read it in")
    valid: list[phonenumbers.PhoneNumber] = []
    tried: list[str] = []
    service = False
    for region in candidates:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        tried.append(region or "any region")
        kind = phonenumbers.number_type(number)
        if kind in PERSONAL_TYPES:
            valid.append(number)
        elif kind != _T.UNKNOWN:
            service = True
    if not tried:
        raise Unusable("not a phone number")
    if not valid and service:
        raise Unusable("a service number (pager, toll-free, premium rate), not a personal phone")
    if not valid:
        raise Unusable(f"not a valid phone number for {', '.join(tried)}")
    best = valid[0] if len(valid) == 1 else max(valid, key=lambda n: _written_like(text, n))
    return phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)


def _outcome(function: Callable[[str, list[str]], str], raw: str, regions: list[str]) -> str:
    try:
        return "ok " + function(raw, regions)
    except Unusable as exc:
        return "unusable " + str(exc)


def _parsed(text: str, region: str | None) -> object:
    """The number phonenumbers reads, or 'unread' (normalise_phone asks only whether it read one)."""
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "unread"


def _examples() -> list[str]:
    """Real numbers of several countries and kinds, written the ways phonenumbers writes them."""
    out: list[str] = []
    for region in REGIONS:
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                out.extend(phonenumbers.format_number(number, f) for f in FORMATS)
    return out


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """An example number, perhaps with a digit changed, dropped or added, punctuated another way."""
    text = draw(st.sampled_from(_examples()))
    chars = list(text)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(chars)))
        action = draw(st.sampled_from(["digit", "drop", "punct"]))
        if action == "digit":
            chars.insert(at, draw(st.sampled_from("0123456789")))
        elif action == "drop" and at < len(chars):
            del chars[at]
        else:
            chars.insert(at, draw(st.sampled_from(" ().-")))
    text = "".join(chars)
    if draw(st.booleans()):
        text = text.replace(" ", draw(st.sampled_from(["-", ".", " ", "  ", ""])))
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", "8 ", "00", "+", "(", " "])) + text
    return text


any_plain = st.text(alphabet="+0123456789 ().-", max_size=24)
region = st.sampled_from([None, *REGIONS])


@settings(max_examples=1500, deadline=None)
@given(st.one_of(written_numbers(), any_plain), region)
def test_phonenumbers_reads_the_digits_as_it_reads_the_text(text: str, region: str | None) -> None:
    assert _parsed(_plain_digits(text), region) == _parsed(text, region)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(written_numbers(), any_plain, st.text(max_size=20)), st.sampled_from(REGION_LISTS))
def test_normalise_phone_agrees_with_phonenumbers_reading_the_text(text: str, regions: list[str]) -> None:
    assert _outcome(normalise_phone, text, regions) == _outcome(_reference, text, regions)


def test_what_is_not_plainly_written_is_read_as_it_is() -> None:
    assert _plain_digits("+7 (926) 754-61-39") == "+79267546139"
    assert _plain_digits("(206) 704-7401") == "2067047401"
    for text in ("1-2", "+7 926 x123", "7+926", "tel:+1-206", "１２３４５", "(+7) 926", "9" * 251):
        assert _plain_digits(text) == text


def test_edge_cases_agree_with_the_plain_implementation() -> None:
    long_but_valid = "+7" + " " * 245 + "926 754 61 39"  # over 250 characters: phonenumbers refuses it
    for text, regions in [(long_but_valid, ["RU"]), ("1-2", ["US"]), ("12", ["US"]), ("+(7) 926 754-61-39", [])]:
        assert _outcome(normalise_phone, text, regions) == _outcome(_reference, text, regions)
