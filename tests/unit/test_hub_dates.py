"""The hub's date reading gives what datetime.strptime gives: the same moment, or a ValueError."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.hub.mapping import FieldSpec
from epistola.hub.normalize import CastError, _fixed_format, cast, strptime

FORMATS = ["%d.%m.%Y", "%d.%m.%Y %H:%M", "%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H.%M"]


def _outcome(parse: Callable[[str, str], datetime], text: str, fmt: str) -> object:
    try:
        return parse(text, fmt)
    except ValueError:
        return "ValueError"


@st.composite
def written_dates(draw: st.DrawFn, fmt: str) -> str:
    """Text in the shape of `fmt`: numbers in and out of range, one or two digits, odd separators."""
    out = []
    for part in fmt.replace("%", "\0%").split("\0"):
        if not part:
            continue
        if part.startswith("%"):
            width = 4 if part[1] == "Y" else 2
            number = draw(st.integers(0, 10**width - 1))
            digits = str(number) if draw(st.integers(0, 9)) == 0 else str(number).zfill(width)
            out.append(digits + draw(st.sampled_from(["", "", "", "", " ", "x", "0"])) + part[2:])
        else:
            out.append(part)
    text = "".join(out)
    if draw(st.integers(0, 9)) == 0:
        text = text.replace(" ", draw(st.sampled_from(["  ", "\t", "T", ""])))
    return text


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_fixed_width_dates_read_as_strptime_reads_them(data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(FORMATS))
    text = data.draw(st.one_of(written_dates(fmt), st.text(alphabet="0123456789./-: T", max_size=18)))
    assert _outcome(strptime, text, fmt) == _outcome(datetime.strptime, text, fmt)


@pytest.mark.parametrize(
    "text",
    ["29.02.2024", "29.02.2023", "31.04.2020", "00.01.2020", "01.13.2020", "01.01.0000", "1.1.2020", "01.01.2020x"],
)
def test_edge_dates_agree(text: str) -> None:
    assert _outcome(strptime, text, "%d.%m.%Y") == _outcome(datetime.strptime, text, "%d.%m.%Y")


def test_formats_it_cannot_read_safely_go_to_strptime() -> None:
    assert _fixed_format("%d.%m.%Y %H:%M") is not None
    for fmt in ("%Y%m%d", "%d %b %Y", "%d.%m.%y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y  %H", "%d.%m.%Y\t%H:%M", "%d%%%m"):
        assert _fixed_format(fmt) is None
    assert strptime("24 Feb 2023", "%d %b %Y") == datetime(2023, 2, 24)


def test_an_unreadable_moment_names_the_formats_as_the_mapping_lists_them() -> None:
    spec = FieldSpec.model_validate({"from": "t", "type": "datetime", "format": ["%d.%m.%Y %H:%M", "%Y-%m-%d"]})
    for _ in range(2):  # the second time from the cache of parsed moments
        with pytest.raises(CastError, match=re.escape("in the format ['%d.%m.%Y %H:%M', '%Y-%m-%d']")):
            cast("31.02.2020 10:00", spec)
    assert cast("09.11.2020 17:03", spec) == datetime(2020, 11, 9, 17, 3, tzinfo=UTC)
