"""JSON text of source records, written and read with orjson, exactly as the standard library would.

Every record is turned into JSON several times on its way in (the fingerprint and `data`, the trip to a
normalisation worker, `normalized`), and the standard library spends more time on that than on many of
the normalisers. orjson writes the same text for strings (every code point is escaped alike), whole
numbers, booleans, null, objects and arrays; it writes some floats differently (``1e-7`` for
``1e-07``), reads integers beyond 64 bits as floats and refuses NaN. So values of any other shape go
to the standard library, and so does whatever orjson refuses: the text, the values and the errors are
always the standard library's. `tests/unit/test_hub_json_text.py` compares both on every code point
and on generated values.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_SORTED = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")).encode
_PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_LOW, _HIGH = -(2**63), 2**64  # the integers orjson writes
_LONG_NUMBER = re.compile(r"[0-9]{19}")  # orjson reads integers beyond 64 bits as floats: leave them to json
_SCALARS = frozenset({str, bool, type(None)})  # written alike, whatever their value
_NESTED = frozenset({dict, list})
_WRITTEN_ALIKE = _SCALARS | {int, dict, list}  # ints only within 64 bits


def _plain(value: Any) -> bool:
    """Only str, int (64-bit), bool, None, and dicts and lists of them: what both write alike. (orjson
    refuses keys that are not strings, which sends those to the standard library too.)"""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list:
        items = value
    elif kind is int:
        return bool(_LOW <= value < _HIGH)
    else:
        return kind in _SCALARS
    kinds = set(map(type, items))
    if kinds <= _SCALARS:  # the usual record: strings, flags and nulls only
        return True
    if not kinds <= _WRITTEN_ALIKE:
        return False
    return all(_plain(item) for item in items if type(item) not in _SCALARS)


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is dict or kind is list:
        items = value.values() if kind is dict else value
        kinds = set(map(type, items))
        if float in kinds:
            return True
        return not kinds.isdisjoint(_NESTED) and any(_has_float(item) for item in items)
    return kind is float


def dumps_sorted(value: Any) -> str:
    """`json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))`."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # a lone surrogate, a key that is not a string: json decides
            pass
    return _SORTED(value)


def dumps(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, keys in their order."""
    if _plain(value):
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            pass
    return _PLAIN(value)


def loads(text: str) -> Any:
    """`json.loads(text)`: the same values, or the same `json.JSONDecodeError`."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, 1e400, lone surrogates, or not JSON: json decides
        return json.loads(text)
    # A float may be an integer beyond 64 bits that orjson read as a float.
    if _has_float(value) and _LONG_NUMBER.search(text) is not None:
        return json.loads(text)
    return value
