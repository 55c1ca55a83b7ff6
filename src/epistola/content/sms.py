"""The SMS rendition: plain text, GSM-7 or UCS-2, its segment count, and links shortened to tracking links.

An SMS is 140 bytes: 160 GSM-7 characters, or 70 UCS-2 code units. A longer message is split into
segments that each lose a header to concatenation: 153 and 67. Characters of the GSM-7 extension table
(``€ [ ] { } ^ ~ | \\`` and form feed) take two septets (an escape and the character), and a pair is never
split across segments; neither is a UTF-16 surrogate pair. One character outside GSM-7 (a Cyrillic
letter, a Polish ``ł``, an emoji) turns the whole message into UCS-2, so typographic quotes and dashes
that authors paste from word processors are first folded to their GSM-7 equivalents (`fold`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from epistola.content.sandbox import Sandbox, check_template, render_shared, template_errors

# 3GPP TS 23.038, the default alphabet (without the escape itself) and its extension table.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
SINGLE = {"gsm7": 160, "ucs2": 70}
CONCATENATED = {"gsm7": 153, "ucs2": 67}
DEFAULT_MAX_SEGMENTS = 3

Encoding = Literal["gsm7", "ucs2"]

_NOT_GSM7 = re.compile("[^" + re.escape(GSM7_BASIC + GSM7_EXTENSION) + "]")
_EXTENSION = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# Look-alikes that would force UCS-2 for no visible gain.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\t": " ",
    }
)
URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
# A link in the source, Jinja expressions included: values inside it are URL-encoded, like in Markdown links.
_SOURCE_URL = re.compile(r"https?://(?:[^\s{]|\{\{.*?\}\})+")
_EXPRESSION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)


@dataclass(frozen=True, kw_only=True)
class SmsCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    @property
    def limit(self) -> int:
        return SINGLE[self.encoding] if self.segments <= 1 else CONCATENATED[self.encoding] * self.segments


_FOLDABLE = re.compile("[" + "".join(chr(c) for c in _FOLD) + "]")


def fold(text: str) -> str:
    """Replace typographic punctuation by GSM-7 equivalents, so a curly quote does not halve the length."""
    return text.translate(_FOLD) if _FOLDABLE.search(text) else text


def encoding_of(text: str) -> Encoding:
    return "ucs2" if _NOT_GSM7.search(text) else "gsm7"


def _split(weights: list[int], capacity: int) -> int:
    segments, used = 1, 0
    for weight in weights:
        if used + weight > capacity:
            segments, used = segments + 1, 0
        used += weight
    return segments


def count(text: str) -> SmsCount:
    """Encoding, length in units and number of segments, exactly as a handset or SMSC would split it."""
    enc, units, segments = _measure(text)
    return SmsCount(encoding=enc, units=units, segments=segments)


def _measure(text: str) -> tuple[Encoding, int, int]:
    """`count` as a tuple: rendering needs the numbers, not another frozen record per message."""
    if _NOT_GSM7.search(text) is None:
        doubled = len(_EXTENSION.findall(text)) if _EXTENSION.search(text) else 0
        units = len(text) + doubled
        if units <= SINGLE["gsm7"]:
            return "gsm7", units, 1 if units else 0
        if not doubled:
            return "gsm7", units, -(-units // CONCATENATED["gsm7"])
        weights = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return "gsm7", units, _split(weights, CONCATENATED["gsm7"])
    astral = len(_ASTRAL.findall(text)) if _ASTRAL.search(text) else 0
    units = len(text) + astral
    if units <= SINGLE["ucs2"]:
        return "ucs2", units, 1
    if not astral:
        return "ucs2", units, -(-units // CONCATENATED["ucs2"])
    weights = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return "ucs2", units, _split(weights, CONCATENATED["ucs2"])


def shorten_links(text: str, link: Callable[[str], str]) -> tuple[str, tuple[str, ...]]:
    """Replace each http(s) URL by `link(url)` (a short tracking link); return the text and the URLs."""
    found: list[str] = []

    def swap(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return link(match.group(0))

    return URL.sub(swap, text), tuple(dict.fromkeys(found))


@dataclass(frozen=True, kw_only=True)
class RenderedSms:
    text: str
    encoding: Encoding
    units: int
    segments: int
    urls: tuple[str, ...]  # the original targets, before shortening


def _tidy(text: str) -> str:
    """One message, no stray blank lines or indentation left over from the template's layout."""
    text = fold(text).strip()
    if "\n" not in text and "  " not in text and "\r" not in text:
        return text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def _encode_values_in_links(source: str) -> str:
    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        return url[:1] + _EXPRESSION.sub(
            lambda m: "{{" + f"{m.group(1)} ({m.group(2)})|string|urlencode {m.group(3)}" + "}}", url[1:]
        )

    return _SOURCE_URL.sub(link, source)


class CompiledSms:
    """An SMS slot compiled once (Jinja in the sandbox), rendered per customer."""

    def __init__(self, source: str, *, name: str, filters: dict[str, Any] | None = None) -> None:
        check_template(source, name=name)
        env = Sandbox(autoescape=False)
        env.filters.update(filters or {})
        self._template = env.from_string(_encode_values_in_links(source))
        self._label = name

    def render(self, context: dict[str, Any], link: Callable[[str], str] | None = None) -> RenderedSms:
        with template_errors(self._label):
            text = _tidy(render_shared(self._template, context))
        urls: tuple[str, ...] = ()
        if link is not None:
            text, urls = shorten_links(text, link)
        else:
            urls = tuple(dict.fromkeys(URL.findall(text)))
        enc, units, segments = _measure(text)
        return RenderedSms(text=text, encoding=enc, units=units, segments=segments, urls=urls)
