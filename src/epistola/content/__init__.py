"""Content: one design rendered to every channel — e-mail, SMS, print, web page — with a locked brand.

The pure core is importable from here; the store side (`templates`, `snippets`, `documents`) and the
proof sets (`proofs`) are imported from their modules. See docs/content.md.
"""

from epistola.content.brand import Brand
from epistola.content.context import render_context
from epistola.content.design import Design, Variant, parse_design
from epistola.content.email import RenderedEmail
from epistola.content.print import PrintFile
from epistola.content.renditions import CompiledDesign
from epistola.content.sms import RenderedSms

__all__ = [
    "Brand",
    "CompiledDesign",
    "Design",
    "PrintFile",
    "RenderedEmail",
    "RenderedSms",
    "Variant",
    "parse_design",
    "render_context",
]
