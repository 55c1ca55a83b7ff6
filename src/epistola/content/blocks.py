"""Compile a Markdown + Jinja content block once, so rendering a customer's copy is string substitution.

Markdown is parsed once per template version, not once per message: every Jinja construct in the source
is swapped for an inert placeholder, the Markdown is rendered to HTML, plain text and Typst with the
placeholders in it, and the placeholders are then turned back into Jinja code for each target. The
result is three compiled Jinja templates whose per-customer work is a few substitutions into long
literal strings (tens of microseconds instead of hundreds).

Rules that follow from it (checked here, with the line):

- a statement alone on its line (``{% if … %}``, ``{% for … %}``) separates Markdown blocks: each block
  between such lines is rendered on its own, so a condition selects whole paragraphs, headings or lists;
- a statement inside a line (``…{% if customer.city %} in {{ customer.city }}{% endif %}…``) must open and
  close inside the same Markdown element, and may not sit inside a link target;
- a value is text in every target: HTML-escaped in HTML, a string literal in Typst, and never Markdown;
  inside a link target it is URL-encoded, unless it is the whole target (``[Open]({{ links.purl }})``).

The generated templates use control characters as delimiters, so nothing in mrml's CSS or in Markdown's
output can ever be mistaken for Jinja; authors cannot type them (`check_source` refuses control
characters).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError

from epistola.content import markdown
from epistola.content.sandbox import Sandbox
from epistola.errors import Problem, TemplateError

# Delimiters of generated templates (see `Sandbox(generated=True)`).
VAR_START, VAR_END = "\x02{", "}\x03"
BLOCK_START, BLOCK_END = "\x02%", "%\x03"
COMMENT_START, COMMENT_END = "\x02#", "#\x03"

_JINJA = re.compile(r"\{\{(?P<expr>.*?)\}\}|\{%(?P<stmt>.*?)%\}|\{#.*?#\}", re.S)
PLACEHOLDER = re.compile(r"Zq(\d+)qZ")
COMMENT_PLACEHOLDER = re.compile(r"<!--Zq(\d+)qZ-->")
_URL_MARK = re.compile("\x01(.*?)\x01", re.S)
_HREF = re.compile(r'(<a\s[^>]*?href|<img\s[^>]*?src)="([^"]*)"')
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORBIDDEN_STATEMENTS = re.compile(r"^\s*[-+]?\s*(raw|include|import|from|extends|block|macro|call)\b")


def placeholder(n: int) -> str:
    return f"Zq{n}qZ"


@dataclass(frozen=True, kw_only=True)
class Code:
    """One Jinja construct lifted out of a source: an expression or a statement, trusted or authored."""

    kind: str  # "expr" (a value: escaped for its target) | "raw" (trusted, output as is) | "stmt"
    inner: str  # the text between the delimiters, whitespace-control marks included
    line: int | None = None

    @property
    def expression(self) -> str:
        return self.inner.strip().strip("-+").strip()

    def left(self) -> str:
        return "-" if self.inner.lstrip().startswith("-") else ""

    def right(self) -> str:
        return "-" if self.inner.rstrip().endswith("-") else ""


@dataclass(kw_only=True)
class Codes:
    """The placeholders of one compilation and what each stands for."""

    items: list[Code] = field(default_factory=list)

    def add(self, code: Code) -> str:
        self.items.append(code)
        return placeholder(len(self.items) - 1)

    def value(self, expression: str) -> str:
        """A placeholder for a trusted expression written by Epistola (layouts), not by an author."""
        return self.add(Code(kind="expr", inner=f" {expression} "))

    def raw(self, expression: str) -> str:
        """A placeholder for a trusted expression whose result is already in the target's syntax."""
        return self.add(Code(kind="raw", inner=f" {expression} "))

    def statement(self, statement: str, *, comment: bool = True) -> str:
        """A placeholder for a trusted statement (layouts); an HTML comment unless `comment` is false."""
        mark = self.add(Code(kind="stmt", inner=f" {statement} "))
        return f"<!--{mark}-->" if comment else mark


def check_source(source: str, *, name: str) -> None:
    """Refuse what the compiler cannot carry through faithfully, naming the line."""
    problems: list[Problem] = []
    for number, line in enumerate(source.splitlines(), start=1):
        if _CONTROL.search(line):
            problems.append(Problem(message="control characters are not allowed", file=name, row=number))
        if "Zq" in line and PLACEHOLDER.search(line):
            problems.append(Problem(message="text of the form Zq<number>qZ is reserved", file=name, row=number))
    env = Sandbox(autoescape=False)
    for match in _JINJA.finditer(source):
        row = source.count("\n", 0, match.start()) + 1
        stmt = match.group("stmt")
        if stmt is not None and _FORBIDDEN_STATEMENTS.match(stmt):
            word = stmt.strip().strip("-+").split()[0]
            problems.append(Problem(message=f"{{% {word} %}} is not available in designs", file=name, row=row))
        expr = match.group("expr")
        if expr is not None:
            try:
                env.parse("{{" + expr + "}}")
            except TemplateSyntaxError:
                problems.append(
                    Problem(message=f"cannot read the expression {{{{{expr}}}}} on its own", file=name, row=row)
                )
    if problems:
        raise TemplateError(f"{name} was rejected", problems=problems)


@dataclass(frozen=True, kw_only=True)
class Segment:
    markdown: str | None = None  # Markdown with placeholders
    statements: tuple[int, ...] = ()  # codes of statements alone on their lines


def split(source: str, codes: Codes) -> list[Segment]:
    """Lift every Jinja construct into `codes`; split the Markdown at lines holding only statements."""
    parts: list[str] = []
    position = 0
    for match in _JINJA.finditer(source):
        parts.append(source[position : match.start()])
        row = source.count("\n", 0, match.start()) + 1
        if match.group("expr") is not None:
            parts.append(codes.add(Code(kind="expr", inner=match.group("expr"), line=row)))
        elif match.group("stmt") is not None:
            parts.append(codes.add(Code(kind="stmt", inner=match.group("stmt"), line=row)))
        position = match.end()
    parts.append(source[position:])
    segments: list[Segment] = []
    current: list[str] = []
    for line in "".join(parts).split("\n"):
        ids = [int(n) for n in PLACEHOLDER.findall(line)]
        if ids and not PLACEHOLDER.sub("", line).strip() and all(codes.items[i].kind == "stmt" for i in ids):
            segments.append(Segment(markdown="\n".join(current)))
            segments.append(Segment(statements=tuple(ids)))
            current = []
        else:
            current.append(line)
    segments.append(Segment(markdown="\n".join(current)))
    return segments


@dataclass(frozen=True, kw_only=True)
class Marked:
    """A block rendered once per target, placeholders still in; `codes` says what they stand for."""

    html: str
    text: str
    typst: str
    links: tuple[str, ...]  # link targets as written (placeholders in), for validation


def _url_mark(url: str) -> str:
    return "\x01" + url + "\x01"


def render_block(source: str, codes: Codes, *, name: str) -> Marked:
    """Markdown with Jinja -> marked HTML, text and Typst. Block statements become HTML comments in HTML."""
    check_source(source, name=name)
    html_parts: list[str] = []
    text_parts: list[str] = []
    typst_parts: list[str] = []
    links: list[str] = []
    for segment in split(source, codes):
        if segment.markdown is None:
            html_parts.extend(f"<!--{placeholder(i)}-->" for i in segment.statements)
            text_parts.extend(placeholder(i) for i in segment.statements)
            typst_parts.extend(placeholder(i) for i in segment.statements)
            continue
        if not segment.markdown.strip():
            continue
        tokens = markdown.parse(segment.markdown)
        links.extend(markdown.link_targets(tokens))
        html_parts.append(markdown.to_html(tokens))
        text_parts.append(markdown.to_text(tokens, _url_mark) + "\n")
        typst_parts.append(markdown.to_typst(tokens, _url_mark))
    return Marked(html="".join(html_parts), text="".join(text_parts), typst="".join(typst_parts), links=tuple(links))


# --- back to Jinja --------------------------------------------------------------------------------------


def _url_expression(url: str, codes: Codes, *, where: str) -> str:
    """A Jinja expression building a link target from literal parts and values (URL-encoded after the start)."""
    pieces: list[str] = []
    position = 0
    for match in PLACEHOLDER.finditer(url):
        code = codes.items[int(match.group(1))]
        if code.kind != "expr":
            raise TemplateError(
                "a condition cannot sit inside a link target; put the whole link inside the condition",
                problems=[Problem(message="condition inside a link target", file=where, row=code.line)],
            )
        if match.start() > position:
            pieces.append(json.dumps(url[position : match.start()]))
        expression = f"({code.expression})"
        pieces.append(f"({expression}|string)" if match.start() == 0 else f"({expression}|string|urlencode)")
        position = match.end()
    if position < len(url) or not pieces:
        pieces.append(json.dumps(url[position:]))
    return " ~ ".join(pieces)


def _statement(code: Code) -> str:
    return BLOCK_START + code.inner + BLOCK_END


def _value(code: Code, wrap: str) -> str:
    left, right = code.left(), code.right()
    return VAR_START + left + " " + wrap.format(f"({code.expression})") + " " + right + VAR_END


def _substitute(text: str, codes: Codes, wrap: str, *, comments: bool) -> str:
    def swap(match: re.Match[str]) -> str:
        code = codes.items[int(match.group(1))]
        if code.kind == "stmt":
            return _statement(code)
        return _value(code, "{}" if code.kind == "raw" else wrap)

    if comments:
        text = COMMENT_PLACEHOLDER.sub(swap, text)
    return PLACEHOLDER.sub(swap, text)


def link_attributes(html_text: str, codes: Codes, *, where: str) -> str:
    """Route every ``<a href>`` through ``_link`` (tracking) and every ``<img src>`` through ``_url``."""

    def swap(match: re.Match[str]) -> str:
        prefix, raw = match.group(1), html.unescape(match.group(2))
        helper = "_link" if prefix.startswith("<a") else "_url"
        expression = _url_expression(raw, codes, where=where)
        return f'{prefix}="' + codes.value(f"{helper}({expression})") + '"'

    return _HREF.sub(swap, html_text)


def html_template(marked_html: str, codes: Codes) -> str:
    """Final HTML (after layout, mrml and css-inline) -> Jinja source: values are autoescaped."""
    return _substitute(marked_html, codes, "{}", comments=True)


def text_template(marked_text: str, codes: Codes, *, where: str) -> str:
    text = _URL_MARK.sub(lambda m: codes.raw(f"_link({_url_expression(m.group(1), codes, where=where)})"), marked_text)
    return _substitute(text, codes, "{}", comments=False)


def typst_template(marked_typst: str, codes: Codes, *, where: str) -> str:
    """Values become Typst string literals (``#"…";``); link targets become quoted strings."""
    typst = _URL_MARK.sub(
        lambda m: codes.raw(f"_typs(_link({_url_expression(m.group(1), codes, where=where)}))"), marked_typst
    )
    return _substitute(typst, codes, "_typ{}", comments=False)
