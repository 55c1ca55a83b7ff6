"""The web rendition: the page a personal URL (PURL) shows, from the same design as the e-mail.

Same content blocks, a page layout instead of an e-mail one (`layouts/web.html`): no tables for layout,
its own CSS, no tracking pixel. Compiled once per design variant and language like the e-mail.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Template
from markupsafe import Markup

from epistola.content.blocks import Codes, html_template, link_attributes, render_block
from epistola.content.brand import Brand
from epistola.content.design import Design, Variant
from epistola.content.email import document_markers, layout_template, link_markers, slot_source
from epistola.content.sandbox import Sandbox, template_errors
from epistola.errors import TemplateError


def compile_web(design: Design, variant: Variant, brand: Brand, lang: str) -> Template:
    label = f"{design.label} {variant.name}"
    body = slot_source(design, variant, "body")
    if not body:
        raise TemplateError(f"{label}: a web page needs a body")
    codes = Codes()
    slots: dict[str, Any] = {"document": design.layout == "statement", "offer": None}
    for name in ("body", "offer"):
        source = body if name == "body" else slot_source(design, variant, name)
        if source:
            block = render_block(source, codes, name=f"{label} {name}")
            slots[name] = Markup(link_attributes(block.html, codes, where=f"{label} {name}"))  # noqa: S704
    rt = {
        "title": codes.value("_subject"),
        **document_markers(codes, comment=True),
        **link_markers(codes, comment=True),
    }
    page = layout_template("web.html").render(
        brand=brand.for_locale(lang),
        slot=slots,
        rt={k: Markup(v) for k, v in rt.items()},  # noqa: S704
    )
    with template_errors(label):
        return Sandbox(autoescape=True, generated=True).from_string(html_template(page, codes))


class CompiledWeb:
    def __init__(self, design: Design, brand: Brand) -> None:
        self.design = design
        self.brand = brand
        self._pages: dict[tuple[str, str], Template] = {}
        self._titles: dict[tuple[str, str], Template | None] = {}

    def render(self, ctx: dict[str, Any], variant: Variant, lang: str) -> str:
        key = (variant.name, lang)
        if key not in self._pages:
            self._pages[key] = compile_web(self.design, variant, self.brand, lang)
            subject = slot_source(self.design, variant, "subject")
            self._titles[key] = Sandbox(autoescape=False).from_string(subject) if subject else None
        with template_errors(f"{self.design.label} {variant.name}"):
            title = self._titles[key]
            ctx["_subject"] = " ".join(title.render(ctx).split()) if title else self.brand.name
            return self._pages[key].render(ctx)
