"""The e-mail rendition: responsive HTML from MJML (mrml) with CSS inlined (css-inline), a plain-text
alternative, and the subject — compiled once per design variant and language, rendered per customer.

Compiling puts the variant's compiled content blocks (`content.blocks`) into the locked brand layout
(`layouts/email.mjml`), runs mrml and css-inline once, and turns the result into one Jinja template whose
per-customer work is substituting a few values into long literal strings. That is what makes thousands of
personalised e-mails a second possible; a full MJML + CSS pass per message would cost milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import css_inline
import mrml
from jinja2 import Template
from markupsafe import Markup

from epistola.content.blocks import Codes, html_template, link_attributes, render_block, text_template
from epistola.content.brand import Brand
from epistola.content.design import Design, Variant, expand_snippets
from epistola.content.markdown import typst_string
from epistola.content.sandbox import Sandbox, check_template, render_shared, shared_context, template_errors
from epistola.errors import TemplateError

_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


@dataclass(frozen=True, kw_only=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    urls: tuple[str, ...]  # link targets before tracking, in order of first appearance
    html_pieces: tuple[str, ...] = ()  # `html` as rendered, piece by piece (`mime.qp_pieces` reuses them)


@functools.cache
def _layout_source(name: str) -> str:
    return resources.files("epistola.content").joinpath(f"layouts/{name}").read_text(encoding="utf-8")


def layout_template(name: str, *, autoescape: bool = True) -> Template:
    """A locked layout, rendered at compile time with the brand (trusted Jinja, sandboxed anyway)."""
    env = Sandbox(autoescape=autoescape)
    env.filters["ts"] = typst_string
    return env.from_string(_layout_source(name))


def slot_source(design: Design, variant: Variant, slot: str) -> str | None:
    source = getattr(variant.slots, slot)
    if not source:
        return None
    return expand_snippets(source, design.snippets, name=f"{design.label} {variant.name} {slot}")


def document_markers(codes: Codes, *, comment: bool) -> dict[str, str]:
    """Per-customer markers of the statement table, shared by the e-mail and web layouts."""
    return {
        "number": codes.value("document.number"),
        "period": codes.value("document.period_start|date('medium') ~ ' – ' ~ document.period_end|date('medium')"),
        "for_lines": codes.statement("for line in document.lines", comment=comment),
        "end_for": codes.statement("endfor", comment=comment),
        "line_date": codes.value("line.date|date('medium')"),
        "line_description": codes.value("line.description"),
        "line_amount": codes.value("line.amount|money(document.currency)"),
        "total": codes.value("document.total|money(document.currency)"),
    }


def link_markers(codes: Codes, *, comment: bool) -> dict[str, str]:
    return {
        "if_links": codes.statement("if links.preferences or links.unsubscribe or links.web", comment=comment),
        "if_preferences": codes.statement("if links.preferences", comment=comment),
        "if_unsubscribe": codes.statement("if links.unsubscribe", comment=comment),
        "if_web": codes.statement("if links.web", comment=comment),
        "if_pixel": codes.statement("if links.pixel", comment=comment),
        "end_if": codes.statement("endif", comment=comment),
        "preferences": codes.value("links.preferences"),
        "unsubscribe": codes.value("links.unsubscribe"),
        "web": codes.value("links.web"),
        "pixel": codes.value("links.pixel"),
    }


@dataclass(frozen=True, kw_only=True)
class EmailParts:
    subject: Template
    preheader: Template | None
    html: Template
    text: Template


def compile_email(design: Design, variant: Variant, brand: Brand, lang: str) -> EmailParts:
    """MJML -> HTML -> inlined CSS -> one Jinja template, for one variant in one language."""
    label = f"{design.label} {variant.name}"
    subject = slot_source(design, variant, "subject")
    body = slot_source(design, variant, "body")
    if not subject or not body:
        raise TemplateError(f"{label}: an e-mail needs a subject and a body")
    codes = Codes()
    blocks = {"body": render_block(body, codes, name=f"{label} body")}
    offer_source = slot_source(design, variant, "offer")
    if offer_source:
        blocks["offer"] = render_block(offer_source, codes, name=f"{label} offer")
    html_slots: dict[str, Any] = {"offer": None}
    html_slots |= {
        name: Markup(link_attributes(block.html, codes, where=f"{label} {name}"))  # noqa: S704 - markdown-it output
        for name, block in blocks.items()
    }
    preheader = slot_source(design, variant, "preheader")
    html_slots["document"] = design.layout == "statement"
    html_slots["preheader"] = bool(preheader)
    rt = {
        "subject": codes.value("_subject"),
        "preheader": codes.value("_preheader"),
        **document_markers(codes, comment=True),
        **link_markers(codes, comment=True),
    }
    mjml_source = layout_template("email.mjml").render(
        brand=brand.for_locale(lang),
        slot=html_slots,
        rt={k: Markup(v) for k, v in rt.items()},  # noqa: S704
    )
    try:
        output = mrml.to_html(mjml_source, render_options=mrml.RenderOptions(fonts={}))
    except Exception as exc:  # mrml raises its own error types for MJML it cannot read
        raise TemplateError(f"{label}: the e-mail layout could not be compiled: {exc}") from None
    html = _INLINER.inline(output.content)
    text = _text_source(codes, blocks, document=design.layout == "statement", where=label)
    generated_html = Sandbox(autoescape=True, generated=True)
    generated_text = Sandbox(autoescape=False, generated=True)
    check_template(subject, name=f"{label} subject")
    plain = Sandbox(autoescape=False)
    with template_errors(label):
        return EmailParts(
            subject=plain.from_string(subject),
            preheader=plain.from_string(preheader) if preheader else None,
            html=generated_html.from_string(html_template(html, codes)),
            text=generated_text.from_string(text),
        )


def _text_source(codes: Codes, blocks: Mapping[str, Any], *, document: bool, where: str) -> str:
    parts = [blocks["body"].text]
    if document:
        m = document_markers(codes, comment=False)
        parts.append(f"{m['for_lines']}{m['line_date']}  {m['line_description']}  {m['line_amount']}\n{m['end_for']}")
        parts.append(f"= {m['total']}\n\n")
    if "offer" in blocks:
        parts.append(blocks["offer"].text)
    links = link_markers(codes, comment=False)
    parts.append(
        f"\n--\n{codes.value('brand.legal')}\n"
        f"{links['if_preferences']}{codes.value('brand.labels.preferences')}: {links['preferences']}\n{links['end_if']}"
        f"{links['if_unsubscribe']}{codes.value('brand.labels.unsubscribe')}: {links['unsubscribe']}\n{links['end_if']}"
    )
    return text_template("".join(parts), codes, where=where)


class CompiledEmail:
    """The e-mail rendition of one design: variants compiled lazily per language, rendered per customer."""

    def __init__(self, design: Design, brand: Brand) -> None:
        self.design = design
        self.brand = brand
        self._parts: dict[tuple[str, str], EmailParts] = {}

    def parts(self, variant: Variant, lang: str) -> EmailParts:
        key = (variant.name, lang)
        if key not in self._parts:
            self._parts[key] = compile_email(self.design, variant, self.brand, lang)
        return self._parts[key]

    def render(self, ctx: dict[str, Any], variant: Variant, lang: str) -> RenderedEmail:
        """`ctx` is a prepared context (`renditions.prepare`): brand, links and the `_link` hook in it."""
        parts = self.parts(variant, lang)
        with template_errors(f"{self.design.label} {variant.name}"):
            subject = " ".join(render_shared(parts.subject, ctx).split())
            ctx["_subject"] = subject
            ctx["_preheader"] = " ".join(render_shared(parts.preheader, ctx).split()) if parts.preheader else ""
            pieces = tuple(parts.html.root_render_func(shared_context(parts.html, ctx)))
            text = render_shared(parts.text, ctx)
        tracked: Callable[[], tuple[str, ...]] | None = ctx.get("_urls")
        return RenderedEmail(
            subject=subject, html="".join(pieces), text=text, urls=tracked() if tracked else (), html_pieces=pieces
        )
