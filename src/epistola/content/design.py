"""A design: one set of words for every channel, in slots, with variants; the brand layout is not in it.

A design file (YAML) holds the editable slots at the top level and, optionally, variants that replace
some slots for a locale, a segment or an A/B key::

    description: Autumn collection
    layout: message            # message | statement (a table of transactions and an offer box)
    subject: "{{ customer.first_name or 'Hello' }}, the autumn collection is here"
    preheader: 15 % off until the end of the month
    body: |                    # Markdown + Jinja: e-mail, web page and letter
      # {{ greeting }}
      ...
    offer: |                   # Markdown: the offer box (statements carry their cross-sell here)
    sms: "{{ greeting }} 15 % off: https://shop.example/autumn"
    letter: |                  # optional: the letter's text when it differs from `body`
    sms_max_segments: 2
    paper: auto                # a4 | letter | auto (Letter for the US and Canada, A4 elsewhere)
    variants:
      - name: ru
        when: {locale: ru}     # locale (one or a list), segment, ab; all must match; first match wins
        subject: ...
        body: ...

Shared snippets are included with ``{% include "name" %}``; their text is copied into the version when it
is saved, so an approved version never changes under a running campaign.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from epistola.content.l10n import LOCALES, language
from epistola.content.sms import DEFAULT_MAX_SEGMENTS
from epistola.errors import InputError, Problem, TemplateError

SLOTS = ("subject", "preheader", "body", "offer", "sms", "letter")
LAYOUTS = ("message", "statement")
CHANNELS = ("email", "sms", "print", "web")
PAPERS = ("a4", "letter", "auto")
SETTINGS = ("description", "layout", "channels", "sms_max_segments", "paper", "variants", "snippets")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_INCLUDE = re.compile(r"\{%-?\s*include\s+([\"'])(?P<name>[^\"']*)\1\s*-?%\}")
MAX_INCLUDE_DEPTH = 3


@dataclass(frozen=True, kw_only=True)
class Slots:
    subject: str | None = None
    preheader: str | None = None
    body: str | None = None
    offer: str | None = None
    sms: str | None = None
    letter: str | None = None

    def over(self, base: Slots) -> Slots:
        """These slots where set, `base` elsewhere."""
        return Slots(**{f.name: getattr(self, f.name) or getattr(base, f.name) for f in fields(self)})

    def items(self) -> Iterable[tuple[str, str]]:
        return ((f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name))


@dataclass(frozen=True, kw_only=True)
class Variant:
    name: str
    locales: frozenset[str] = frozenset()
    segment: str | None = None
    ab: str | None = None
    slots: Slots = field(default_factory=Slots)

    def matches(self, *, locale: str, ab: str | None, segments: frozenset[str]) -> bool:
        return (
            (not self.locales or language(locale) in self.locales)
            and (self.segment is None or self.segment in segments)
            and (self.ab is None or self.ab == ab)
        )


@dataclass(frozen=True, kw_only=True)
class Design:
    name: str
    version: int
    description: str = ""
    layout: str = "message"
    channels: tuple[str, ...] = ("email", "web")
    sms_max_segments: int = DEFAULT_MAX_SEGMENTS
    paper: str = "auto"
    slots: Slots = field(default_factory=Slots)
    variants: tuple[Variant, ...] = ()
    snippets: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def segments_used(self) -> frozenset[str]:
        return frozenset(v.segment for v in self.variants if v.segment)

    def choose(self, *, locale: str, ab: str | None = None, segments: frozenset[str] = frozenset()) -> Variant:
        """The first variant that matches, or the default (named ``default``)."""
        for variant in self.variants:
            if variant.matches(locale=locale, ab=ab, segments=segments):
                return replace(variant, slots=variant.slots.over(self.slots))
        return Variant(name="default", slots=self.slots)

    def all_variants(self) -> list[Variant]:
        return [Variant(name="default", slots=self.slots)] + [
            replace(v, slots=v.slots.over(self.slots)) for v in self.variants
        ]

    def to_dict(self) -> dict[str, Any]:
        """The stored form: what `parse_design` reads back (snippets included, so it is self-contained)."""
        out: dict[str, Any] = {
            "description": self.description,
            "layout": self.layout,
            "channels": list(self.channels),
            "sms_max_segments": self.sms_max_segments,
            "paper": self.paper,
            **dict(self.slots.items()),
        }
        if self.variants:
            out["variants"] = [
                {
                    "name": v.name,
                    "when": {
                        k: val
                        for k, val in (
                            ("locale", sorted(v.locales) or None),
                            ("segment", v.segment),
                            ("ab", v.ab),
                        )
                        if val
                    },
                    **dict(v.slots.items()),
                }
                for v in self.variants
            ]
        if self.snippets:
            out["snippets"] = dict(self.snippets)
        return out


def _text(value: Any, path: str, problems: list[Problem], file: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(Problem(message="must be text", file=file, field=path))
        return None
    return str(value)


def _slots(data: Mapping[str, Any], path: str, problems: list[Problem], file: str) -> Slots:
    return Slots(**{slot: _text(data.get(slot), f"{path}{slot}", problems, file) for slot in SLOTS})


def _when(data: Any, path: str, problems: list[Problem], file: str) -> tuple[frozenset[str], str | None, str | None]:
    if not isinstance(data, Mapping) or not data:
        problems.append(
            Problem(message="must say when the variant applies: locale, segment or ab", file=file, field=path)
        )
        return frozenset(), None, None
    for key in sorted(set(data) - {"locale", "segment", "ab"}):
        problems.append(
            Problem(message="unknown condition; use locale, segment or ab", file=file, field=f"{path}.{key}")
        )
    raw = data.get("locale")
    wanted = [raw] if isinstance(raw, str) else list(raw or [])
    locales = frozenset(str(x).lower() for x in wanted)
    for bad in sorted(locales - set(LOCALES)):
        problems.append(
            Problem(message=f"unknown locale {bad!r}; use {', '.join(LOCALES)}", file=file, field=f"{path}.locale")
        )
    segment, ab = data.get("segment"), data.get("ab")
    return locales, (str(segment) if segment else None), (str(ab) if ab else None)


def parse_design(data: Any, *, name: str, version: int = 0, file: str | None = None) -> Design:
    """Read a design from its YAML/JSON mapping; every problem names its field (``variants[1].when``)."""
    where = file or f"design {name}"
    if not isinstance(data, Mapping):
        raise InputError(f"{where} must be a mapping of slots and settings")
    problems: list[Problem] = []
    for key in sorted(set(data) - set(SLOTS) - set(SETTINGS)):
        problems.append(Problem(message=f"unknown key; slots are {', '.join(SLOTS)}", file=where, field=str(key)))
    layout = str(data.get("layout") or "message")
    if layout not in LAYOUTS:
        problems.append(Problem(message=f"unknown layout; use {', '.join(LAYOUTS)}", file=where, field="layout"))
    paper = str(data.get("paper") or "auto").lower()
    if paper not in PAPERS:
        problems.append(Problem(message=f"unknown paper; use {', '.join(PAPERS)}", file=where, field="paper"))
    max_segments = data.get("sms_max_segments", DEFAULT_MAX_SEGMENTS)
    if not isinstance(max_segments, int) or isinstance(max_segments, bool) or not 1 <= max_segments <= 10:
        problems.append(Problem(message="must be a whole number from 1 to 10", file=where, field="sms_max_segments"))
        max_segments = DEFAULT_MAX_SEGMENTS
    slots = _slots(data, "", problems, where)
    variants: list[Variant] = []
    raw_variants = data.get("variants") or []
    if not isinstance(raw_variants, Sequence) or isinstance(raw_variants, str):
        problems.append(Problem(message="must be a list", file=where, field="variants"))
        raw_variants = []
    names: set[str] = set()
    for i, raw in enumerate(raw_variants):
        path = f"variants[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(Problem(message="must be a mapping", file=where, field=path))
            continue
        for key in sorted(set(raw) - set(SLOTS) - {"name", "when"}):
            problems.append(Problem(message="unknown key", file=where, field=f"{path}.{key}"))
        vname = str(raw.get("name") or f"variant-{i + 1}")
        if not _NAME.fullmatch(vname) or vname in names or vname == "default":
            problems.append(
                Problem(message="needs a unique name (letters, digits, -_.)", file=where, field=f"{path}.name")
            )
        names.add(vname)
        locales, segment, ab = _when(raw.get("when"), f"{path}.when", problems, where)
        variants.append(
            Variant(name=vname, locales=locales, segment=segment, ab=ab, slots=_slots(raw, f"{path}.", problems, where))
        )
    available = _available_channels(slots, layout)
    channels_raw = data.get("channels")
    if channels_raw is None:
        channels = available
    else:
        wanted = [channels_raw] if isinstance(channels_raw, str) else list(channels_raw)
        channels = tuple(str(c) for c in wanted)
        for channel in channels:
            if channel not in CHANNELS:
                problems.append(
                    Problem(
                        message=f"unknown channel {channel!r}; use {', '.join(CHANNELS)}", file=where, field="channels"
                    )
                )
            elif channel not in available:
                problems.append(
                    Problem(
                        message=f"channel {channel} needs the slots {_NEEDS[channel]}", file=where, field="channels"
                    )
                )
    snippets = data.get("snippets") or {}
    if not isinstance(snippets, Mapping):
        problems.append(Problem(message="must map snippet names to text", file=where, field="snippets"))
        snippets = {}
    if problems:
        raise InputError(f"{where} is not a valid design", problems=problems)
    return Design(
        name=name,
        version=version,
        description=str(data.get("description") or ""),
        layout=layout,
        channels=channels,
        sms_max_segments=max_segments,
        paper=paper,
        slots=slots,
        variants=tuple(variants),
        snippets={str(k): str(v) for k, v in snippets.items()},
    )


_NEEDS = {"email": "subject and body", "sms": "sms", "print": "body (or letter)", "web": "body"}


def _available_channels(slots: Slots, layout: str) -> tuple[str, ...]:
    del layout  # every layout renders every channel
    out = []
    if slots.subject and slots.body:
        out.append("email")
    if slots.sms:
        out.append("sms")
    if slots.body or slots.letter:
        out.append("print")
    if slots.body:
        out.append("web")
    return tuple(out)


def included_names(text: str) -> set[str]:
    """The snippets a text includes directly."""
    return {m.group("name") for m in _INCLUDE.finditer(text)}


def referenced_snippets(design: Design) -> set[str]:
    names: set[str] = set()
    for variant in design.all_variants():
        for _slot, source in variant.slots.items():
            names.update(included_names(source))
    return names


def expand_snippets(source: str, snippets: Mapping[str, str], *, name: str) -> str:
    """Replace ``{% include "x" %}`` by snippet x's text (snippets may include others, three levels deep)."""
    problems: list[Problem] = []

    def expand(text: str, depth: int, origin: str) -> str:
        def swap(match: re.Match[str]) -> str:
            snippet = match.group("name")
            line = text.count("\n", 0, match.start()) + 1
            if snippet not in snippets:
                problems.append(Problem(message=f"no snippet named {snippet!r}", file=origin, row=line))
                return ""
            if depth >= MAX_INCLUDE_DEPTH:
                problems.append(Problem(message="snippets nested too deep", file=origin, row=line))
                return ""
            return expand(snippets[snippet], depth + 1, f"snippet {snippet}").rstrip("\n")

        return _INCLUDE.sub(swap, text)

    out = expand(source, 0, name)
    if problems:
        raise TemplateError(f"{name}: snippets could not be included", problems=problems)
    return out
