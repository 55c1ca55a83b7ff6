"""The hub's JSON helpers write and read exactly what the standard library writes and reads."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.hub import json_text

SORTED = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")).encode
PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _reference_loads(text: str) -> tuple[str, Any]:
    try:
        return "ok", json.loads(text)
    except json.JSONDecodeError as exc:
        return "error", (exc.msg, exc.lineno, exc.colno)


def _loads(text: str) -> tuple[str, Any]:
    try:
        return "ok", json_text.loads(text)
    except json.JSONDecodeError as exc:
        return "error", (exc.msg, exc.lineno, exc.colno)


def test_every_code_point_is_written_alike() -> None:
    chars = [chr(cp) for cp in range(0x110000)]  # lone surrogates included: the fallback writes them
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        value = {c: c for c in chunk}
        assert json_text.dumps_sorted(value) == SORTED(value)
        assert json_text.dumps(value) == PLAIN(value)
        listed = [f"a{c}b" for c in chunk]
        assert json_text.dumps(listed) == PLAIN(listed)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=25
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=8))
def test_generated_records_are_written_and_read_alike(record: dict[str, Any]) -> None:
    assert json_text.dumps_sorted(record) == SORTED(record)
    assert json_text.dumps(record) == PLAIN(record)
    text = PLAIN(record)
    assert repr(_loads(text)) == repr(_reference_loads(text))  # repr: NaN is not equal to itself


@pytest.mark.parametrize(
    "value",
    [
        {"when": date(2024, 1, 2), "at": datetime(2024, 1, 2, 3, 4, 5)},  # default=str, not ISO with a 'T'
        {"amount": Decimal("1.10")},
        {"ratio": 1e-7, "big": 1e16},  # orjson would write 1e-7
        {"n": 2**64, "m": -(2**63) - 1, "ok": 2**64 - 1},
        {"nested": {"b": [1, 2.5, None], "a": True}},
        {"lone": "\ud800"},
        {1: "non-string key"},
    ],
)
def test_values_orjson_would_write_otherwise_go_to_the_standard_library(value: dict[Any, Any]) -> None:
    if 1 in value:
        assert json_text.dumps(value) == PLAIN(value)
        return
    assert json_text.dumps_sorted(value) == SORTED(value)
    if not any(isinstance(v, date | Decimal) for v in value.values()):
        assert json_text.dumps(value) == PLAIN(value)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1e400}',
        '{"a":NaN,"b":-Infinity}',
        '{"a":123456789012345678901234567890}',
        '{"a":-9223372036854775809}',
        '{"a":18446744073709551615}',
        '{"a":"\\ud800"}',
        '{"a":"\\ud83d\\ude00"}',
        '{"a":1,"b":2,"a":3}',
        '{"a":0.1,"b":-0.0,"c":2.2250738585072011e-308,"d":4.9e-325}',
        '{"a":1}x',
        '{"a":"\t"}',
        '{"a":01}',
        "\ufeff{}",
        "",
        "[1, 2",
        '  {"a" : [true, false, null] }  ',
    ],
)
def test_reading_gives_the_same_values_or_the_same_error(text: str) -> None:
    assert repr(_loads(text)) == repr(_reference_loads(text))
