"""Markdown content blocks to HTML, plain text and Typst markup, all from one markdown-it parse.

Raw HTML in Markdown is disabled: authors write words, the locked layout owns the markup. The renderers
run once per template version on the Markdown with placeholders where the Jinja expressions were (see
`content.blocks`), so values never pass through Markdown at all: a customer called ``[x](http://evil)``
stays text. Link targets are handed to a `mark` callback in the text and Typst renderers (in HTML they are
found in ``href``), which is where tracking links are put in later.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

UrlMark = Callable[[str], str]


def parse(source: str) -> list[Token]:
    return _md.parse(source)


def to_html(tokens: list[Token]) -> str:
    return str(_md.renderer.render(tokens, _md.options, {}))


def walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for t in tokens:
        out.append(t)
        if t.children:
            out.extend(walk(t.children))
    return out


def link_targets(tokens: list[Token]) -> list[str]:
    """Every link target in order of appearance (after markdown-it's normalisation)."""
    return [str(t.attrGet("href")) for t in walk(tokens) if t.type == "link_open"]


# --- plain text ------------------------------------------------------------------------------------------


def _inline_text(token: Token, mark: UrlMark) -> str:
    parts: list[str] = []
    href_stack: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "link_open":
            href_stack.append(str(child.attrGet("href")))
        elif child.type == "link_close" and href_stack:
            parts.append(f" ({mark(href_stack.pop())})")
        elif child.type == "image":
            parts.append(child.content or "")
    return "".join(parts)


def to_text(tokens: list[Token], mark: UrlMark = str) -> str:
    """A readable text/plain alternative: paragraphs, headings, lists and links as 'text (url)'."""
    blocks: list[str] = []
    prefix: list[str] = []
    ordered: list[int] = []
    for t in tokens:
        if t.type == "bullet_list_open":
            prefix.append("- ")
        elif t.type == "ordered_list_open":
            prefix.append("#")
            ordered.append(0)
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            if prefix.pop() == "#":
                ordered.pop()
            if not prefix:
                blocks.append("")
        elif t.type == "list_item_open" and prefix and prefix[-1] == "#":
            ordered[-1] += 1
        elif t.type == "inline":
            text = _inline_text(t, mark)
            if prefix:
                marker = f"{ordered[-1]}. " if prefix[-1] == "#" else "- "
                indent = "  " * (len(prefix) - 1)
                blocks.append(indent + marker + text)
            else:
                blocks.append(textwrap.fill(text, 76, break_long_words=False, break_on_hyphens=False) + "\n")
        elif t.type == "hr":
            blocks.append("-" * 20 + "\n")
        elif t.type in ("fence", "code_block"):
            blocks.append(t.content)
    return "\n".join(blocks).strip() + "\n"


# --- Typst -----------------------------------------------------------------------------------------------

_TYPST_SPECIAL = frozenset("\\#*_`$<>@[]~'\"-/=+.:;,!?%&(){}|^")


def typst_escape(text: str) -> str:
    """Literal text in Typst markup: every punctuation mark escaped, so nothing becomes syntax."""
    return "".join("\\" + ch if ch in _TYPST_SPECIAL else ch for ch in text)


def typst_string(text: str) -> str:
    """A Typst string literal (for code positions such as a link target)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _inline_typst(token: Token, mark: UrlMark, *, show_urls: bool) -> str:
    out: list[str] = []
    href_stack: list[str] = []
    for child in token.children or []:
        kind = child.type
        if kind == "text":
            out.append(typst_escape(child.content))
        elif kind == "code_inline":
            out.append(f"#raw({typst_string(child.content)})")
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\\\n")
        elif kind == "strong_open":
            out.append("#strong[")
        elif kind == "em_open":
            out.append("#emph[")
        elif kind in ("strong_close", "em_close"):
            out.append("]")
        elif kind == "link_open":
            href = str(child.attrGet("href"))
            href_stack.append(href)
            out.append(f"#link({mark(href)})[")
        elif kind == "link_close" and href_stack:
            href = href_stack.pop()
            out.append("]")
            if show_urls:
                out.append(f"#text(size: 0.85em)[ (#{mark(href)})]")
        elif kind == "image":
            out.append(typst_escape(child.content or ""))
    return "".join(out)


def to_typst(tokens: list[Token], mark: UrlMark = typst_string, *, show_urls: bool = True) -> str:
    """Typst markup for a print rendition. On paper a link cannot be clicked, so its target is printed
    after it (`show_urls`); `mark` turns a target into a Typst string expression."""
    out: list[str] = []
    lists: list[str] = []
    for t in tokens:
        kind = t.type
        if kind == "heading_open":
            out.append("=" * int(t.tag[1]) + " ")
        elif kind in ("heading_close", "paragraph_close"):
            out.append("\n" if lists and t.hidden else "\n\n")
        elif kind == "bullet_list_open":
            lists.append("-")
        elif kind == "ordered_list_open":
            lists.append("+")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            out.append("\n")
        elif kind == "list_item_open":
            out.append("  " * (len(lists) - 1) + lists[-1] + " ")
        elif kind == "inline":
            out.append(_inline_typst(t, mark, show_urls=show_urls))
        elif kind == "blockquote_open":
            out.append("#quote(block: true)[")
        elif kind == "blockquote_close":
            out.append("]\n\n")
        elif kind == "hr":
            out.append("#line(length: 100%)\n\n")
        elif kind in ("fence", "code_block"):
            out.append(f"#raw({typst_string(t.content)}, block: true)\n\n")
    return "".join(out)
