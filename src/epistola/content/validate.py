"""Validation on save: a design version is stored only if every slot of every variant passes.

Static checks first, each with the slot and the line: syntax and sandbox escapes, unknown variables,
values that may be empty printed without a fallback, malformed links, constructs the compiler cannot
carry (statements inside link targets, control characters). Then the design is compiled and rendered in
every channel it has for the sample customers (`content.samples`), which is where an SMS longer than
the design allows is caught, with the customer it was too long for.
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

from jinja2 import TemplateSyntaxError

from epistola.content.blocks import check_source
from epistola.content.brand import Brand
from epistola.content.context import render_context, safe_url
from epistola.content.design import Design, Variant, expand_snippets
from epistola.content.renditions import CompiledDesign
from epistola.content.samples import SAMPLE_AGENT, SAMPLE_CAMPAIGN, SAMPLE_CUSTOMERS, SAMPLE_DOCUMENT, SAMPLE_LINKS
from epistola.content.sandbox import check_template, missing_fallbacks
from epistola.content.sms import URL
from epistola.errors import EpistolaError, Problem, TemplateError

MARKDOWN_SLOTS = frozenset({"body", "offer", "letter"})
_MD_LINK = re.compile(r"\]\(")
_JINJA_EXPR = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
_SAMPLE_DAY = date(2026, 3, 8)
# What a tracked link looks like in an SMS (base URL, /t/c/, a 24-character token): the SMS is measured
# with links as long as they will really be.
SAMPLE_SHORT_LINK = "https://epistola.example/t/c/" + "x" * 24


def _slot_path(variant: Variant | None, slot: str) -> str:
    return slot if variant is None else f"variants.{variant.name}.{slot}"


def link_problems(source: str, *, name: str) -> list[Problem]:
    """Markdown links whose target is not an absolute http(s), mailto: or tel: address, with the line."""
    problems: list[Problem] = []
    for number, line in enumerate(source.splitlines(), start=1):
        for match in _MD_LINK.finditer(line):
            rest = line[match.end() :]
            depth, end = 1, None
            for i, ch in enumerate(rest):
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        end = i
                        break
            if end is None:
                problems.append(Problem(message="link is not closed with ')'", file=name, row=number))
                continue
            written = rest[:end].strip()
            if written.startswith("{{") and _JINJA_EXPR.fullmatch(written):
                continue  # the whole target is a value (links.purl): checked when rendered
            target = _JINJA_EXPR.sub("x", written)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            elif " " in target:  # a title after the target: [x](url "title")
                target, _, title = target.partition(" ")
                if not title.strip().startswith(('"', "'", "(")):
                    problems.append(Problem(message=f"link target {written!r} contains a space", file=name, row=number))
                    continue
            try:
                safe_url(target)
            except TemplateError:
                problems.append(
                    Problem(
                        message=f"link target {written!r} is not an absolute http(s), mailto: or tel: address",
                        file=name,
                        row=number,
                    )
                )
    return problems


def _sms_link_problems(source: str, *, name: str) -> list[Problem]:
    problems = []
    for number, line in enumerate(source.splitlines(), start=1):
        for match in URL.finditer(_JINJA_EXPR.sub("x", line)):
            try:
                safe_url(match.group(0))
            except TemplateError:
                problems.append(Problem(message=f"malformed link {match.group(0)!r}", file=name, row=number))
        if re.search(r"(?<![/\w])www\.", line):
            problems.append(
                Problem(message="a link must start with https:// to be shortened and tracked", file=name, row=number)
            )
    return problems


def static_problems(design: Design) -> list[Problem]:
    problems: list[Problem] = []
    scopes: list[tuple[Variant | None, dict[str, str]]] = [(None, dict(design.slots.items()))]
    scopes += [(v, dict(v.slots.items())) for v in design.variants]
    for variant, slots in scopes:
        for slot, raw in slots.items():
            path = _slot_path(variant, slot)
            try:
                source = expand_snippets(raw, design.snippets, name=path)
            except EpistolaError as exc:
                problems.extend(exc.problems)
                continue
            for check in (check_source, check_template):
                if check is check_source and slot not in MARKDOWN_SLOTS:
                    continue
                try:
                    check(source, name=path)
                except EpistolaError as exc:
                    problems.extend(exc.problems or [Problem(message=exc.message, file=path)])
            try:
                problems.extend(missing_fallbacks(source, name=path))
            except TemplateSyntaxError:
                pass  # reported by check_template
            if slot in MARKDOWN_SLOTS:
                problems.extend(link_problems(source, name=path))
            elif slot == "sms":
                problems.extend(_sms_link_problems(source, name=path))
    return problems


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class _Balance(HTMLParser):
    """Every element closed in the order it was opened (what a condition inside a line can break)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.problem is None and tag not in _VOID:
            if not self.open or self.open[-1] != tag:
                self.problem = f"</{tag}> closes <{self.open[-1] if self.open else 'nothing'}>"
            else:
                self.open.pop()


def _well_formed(page: str, what: str) -> None:
    """Elements a condition opened and did not close (``**{% if %}a** b{% endif %}``) make a broken page."""
    checker = _Balance()
    checker.feed(page)
    checker.close()
    problem = checker.problem or (f"<{checker.open[-1]}> is never closed" if checker.open else None)
    if problem:
        raise TemplateError(
            f"the {what} is not well-formed HTML ({problem}); a condition inside a line must open and close "
            "inside the same paragraph, link or emphasis"
        )


def render_problems(design: Design, brand: Brand | None = None) -> list[Problem]:
    """Render every variant in every channel for the sample customers it applies to."""
    compiled = CompiledDesign(design, brand)
    problems: list[Problem] = []
    document = SAMPLE_DOCUMENT if design.layout == "statement" else None
    letters: list[str] = []
    for variant in design.all_variants():
        for person in SAMPLE_CUSTOMERS:
            if variant.locales and person["locale"] not in variant.locales:
                continue
            who = f"sample customer {person['id']} ({person['locale']}, {person['gender'] or 'no gender'})"
            ctx = render_context(
                person,
                today=_SAMPLE_DAY,
                campaign=SAMPLE_CAMPAIGN,
                message_id=person["id"],
                links=SAMPLE_LINKS,
                agent=SAMPLE_AGENT,
                document=document,
            )
            try:
                if "email" in design.channels:
                    _well_formed(compiled.email(ctx, variant=variant.name).html, f"e-mail for {who}")
                if "web" in design.channels:
                    _well_formed(compiled.web(ctx, variant=variant.name), f"web page for {who}")
                if "sms" in design.channels:
                    sms = compiled.sms(ctx, lambda _url: SAMPLE_SHORT_LINK, variant=variant.name)
                    if sms.segments > design.sms_max_segments:
                        problems.append(
                            Problem(
                                message=f"the SMS is {sms.segments} segments ({sms.units} {sms.encoding} units) "
                                f"for {who}; the design allows {design.sms_max_segments}",
                                file=_slot_path(None if variant.name == "default" else variant, "sms"),
                            )
                        )
                if "print" in design.channels:
                    letters.append(compiled.letter(ctx, variant=variant.name))
            except EpistolaError as exc:
                problems.append(Problem(message=f"{exc.message} (rendering for {who})", file=f"variant {variant.name}"))
    if letters and not problems:
        try:
            compiled.typeset(letters, paper="a4")
        except EpistolaError as exc:
            problems.append(Problem(message=exc.message, file="letter"))
    return problems


def validate_design(design: Design, brand: Brand | None = None) -> None:
    """Raise `TemplateError` listing every problem (slot, line, reason); return quietly if there is none."""
    problems = static_problems(design)
    if not problems:
        problems = render_problems(design, brand)
    if problems:
        raise TemplateError(f"design {design.label} was rejected", problems=problems)
