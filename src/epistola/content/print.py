"""The print rendition: letters typeset by Typst, many to one PDF, with a per-letter page index.

One Typst compile per batch of letters (a compile costs a few milliseconds of set-up, a page well under
one), on A4 with the address in the DIN 5008 (form B) window or on US Letter with the address in a #10
window envelope, each letter numbering its own pages ("Page 1 of 2"). The body comes from the design's
`letter` slot, or its `body`, compiled to Typst once per variant (`content.blocks`); values go in as
Typst string literals, so a customer's name can never become Typst code. After compiling, the batch is
queried for where each letter starts and ends, which is the index a print shop needs to insert, fold
and post-sort.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Template

from epistola.content.blocks import Codes, render_block, typst_template
from epistola.content.brand import LABELS, Brand
from epistola.content.design import Design, Variant
from epistola.content.email import layout_template, slot_source
from epistola.content.l10n import LOCALES
from epistola.content.markdown import typst_string
from epistola.content.sandbox import Sandbox, template_errors
from epistola.errors import TemplateError

LETTER_COUNTRIES = frozenset({"US", "CA"})  # where US Letter paper and #10 envelopes are the norm
# The letter face is DejaVu Sans (Latin, Cyrillic, Polish) where the system has it, Typst's embedded
# Libertinus Serif otherwise. Only these folders are scanned: scanning every system font costs ~40 ms a
# compile and would make the output depend on whatever fonts a machine happens to have.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")


@dataclass(frozen=True, kw_only=True)
class Paper:
    """Page size, margins and the envelope window, all in Typst lengths relative to the margins."""

    name: str
    typst: str
    left: str
    right: str
    top: str
    bottom: str
    window_dx: str
    window_dy: str
    window_width: str
    window_height: str
    window_gap: str
    body_top: str
    brand_dy: str = "0mm"


PAPERS = {
    # DIN 5008 form B: address field 20 mm from the left, 45 mm from the top, 85 x 45 mm (a C5/6 or DL
    # window envelope); the text starts below the field.
    "a4": Paper(
        name="a4",
        typst="a4",
        left="25mm",
        right="20mm",
        top="20mm",
        bottom="22mm",
        window_dx="-5mm",
        window_dy="25mm",
        window_width="85mm",
        window_height="45mm",
        window_gap="9mm",
        body_top="80mm",
    ),
    # US #10 window envelope (window 4 1/2 x 1 1/8 in, 7/8 in from the left and 1/2 in from the bottom)
    # with the sheet folded in three: the address sits 2.35 in from the top of the sheet.
    "letter": Paper(
        name="letter",
        typst="us-letter",
        left="1in",
        right="0.75in",
        top="0.6in",
        bottom="0.7in",
        window_dx="-0.05in",
        window_dy="1.75in",
        window_width="3.9in",
        window_height="0.95in",
        window_gap="1.5mm",
        body_top="3.3in",
    ),
}


def paper_for(design_paper: str, country: object) -> str:
    """The paper a letter goes out on: the design's choice, or by the destination country (`auto`)."""
    if design_paper in PAPERS:
        return design_paper
    return "letter" if str(country or "").upper() in LETTER_COUNTRIES else "a4"


def _split_page_label(label: str) -> tuple[str, str, str]:
    before, rest = label.split("{page}", 1)
    between, after = rest.split("{pages}", 1)
    return before, between, after


_PREAMBLES: dict[tuple[str, str], str] = {}


def preamble(brand: Brand, paper: str) -> str:
    """The Typst preamble for one brand and paper: page set-up, the locked letter layout, per language."""
    key = (repr(brand), paper)
    if key not in _PREAMBLES:
        _PREAMBLES[key] = _preamble(brand, paper)
    return _PREAMBLES[key]


def _preamble(brand: Brand, paper: str) -> str:
    labels = {}
    for lang in LOCALES:
        before, between, after = _split_page_label(LABELS[lang]["page"])
        labels[lang] = {**LABELS[lang], "page_before": before, "page_between": between, "page_after": after}
    env_template = layout_template("letter.typ", autoescape=False)
    return env_template.render(
        brand=brand.for_locale("en"),
        paper=paper,
        papers=PAPERS,
        companies={lang: brand.company.get(lang, brand.company["en"]) for lang in LOCALES},
        labels=labels,
    )


def typst_value(value: Any) -> str:
    """A value in Typst markup: a string literal ended explicitly, so text after it stays text."""
    if value is None:
        return ""
    return "#" + typst_string(str(value)) + ";"


def compile_letter(design: Design, variant: Variant, lang: str) -> Template:
    """One letter call (`#letter(...)[body]`) as a Jinja template for a variant in a language."""
    label = f"{design.label} {variant.name}"
    source = slot_source(design, variant, "letter") or slot_source(design, variant, "body")
    if not source:
        raise TemplateError(f"{label}: a letter needs a body (or a letter slot)")
    codes = Codes()
    body = render_block(source, codes, name=f"{label} letter")
    parts = [
        "#letter(id: ",
        codes.raw("_typs(_id)"),
        f", lang: {typst_string(lang)}, address: (",
        codes.statement("for line in _address", comment=False),
        codes.raw("_typs(line)"),
        ", ",
        codes.statement("endfor", comment=False),
        "), date: ",
        codes.raw("_typs(today|date('long'))"),
    ]
    if design.layout == "statement":
        parts += [
            ", document: (number: ",
            codes.raw("_typs(document.number)"),
            ", period: ",
            codes.raw("_typs(document.period_start|date('medium') ~ ' – ' ~ document.period_end|date('medium'))"),
            ")",
        ]
    parts += [")[\n", body.typst, "\n"]
    if design.layout == "statement":
        parts += [
            f"#lines-table({typst_string(lang)}, (",
            codes.statement("for line in document.lines", comment=False),
            "(",
            codes.raw("_typs(line.date|date('medium'))"),
            ", ",
            codes.raw("_typs(line.description)"),
            ", ",
            codes.raw("_typs(line.amount|money(document.currency))"),
            "),",
            codes.statement("endfor", comment=False),
            "), ",
            codes.raw("_typs(document.total|money(document.currency))"),
            ")\n\n",
        ]
    offer = slot_source(design, variant, "offer")
    if offer:
        parts += [
            f"#offer-box({typst_string(lang)})[\n",
            render_block(offer, codes, name=f"{label} offer").typst,
            "]\n",
        ]
    parts.append("]\n")
    with template_errors(label):
        return Sandbox(autoescape=False, generated=True).from_string(typst_template("".join(parts), codes, where=label))


@dataclass(frozen=True, kw_only=True)
class LetterIndex:
    id: str  # the message (or customer) the letter is for
    first_page: int
    last_page: int

    @property
    def pages(self) -> int:
        return self.last_page - self.first_page + 1


@dataclass(frozen=True, kw_only=True)
class PrintFile:
    paper: str  # the file's paper; "mixed" when each letter has its own (proof sets)
    pdf: bytes
    index: tuple[LetterIndex, ...]
    pictures: tuple[bytes, ...] = ()  # PNG per page, when asked for (proofs, previews)

    @property
    def pages(self) -> int:
        return self.index[-1].last_page if self.index else 0


def typeset(
    letters: Sequence[str],
    *,
    brand: Brand,
    paper: str,
    papers: Sequence[str] | None = None,
    pictures_ppi: int | None = None,
) -> PrintFile:
    """Compile rendered letter calls into one PDF and read back where each letter starts and ends.

    `paper` is the file's paper; `papers`, one per letter, makes a file that mixes them (a proof set
    with US and European customers). `pictures_ppi` also renders every page as a PNG.
    """
    if paper not in PAPERS or any(p not in PAPERS for p in papers or ()):
        raise TemplateError(f"unknown paper; use {', '.join(PAPERS)}")
    if not letters:
        raise TemplateError("a print file needs at least one letter")
    if papers is not None and len(papers) != len(letters):
        raise TemplateError("give one paper per letter, or none")

    import typst  # imported here, not at module level: keeps CLI start-up fast

    # Labels are keyed by the position in the batch: the same customer may get two letters in one file.
    def numbered(n: int, letter: str) -> str:
        own = f"paper: {typst_string(papers[n])}, " if papers is not None else ""
        return letter.replace("#letter(", f'#letter(seq: "{n}", {own}', 1)

    source = preamble(brand, paper) + "\n" + "".join(numbered(n, letter) for n, letter in enumerate(letters))
    pictures: tuple[bytes, ...] = ()
    with tempfile.TemporaryDirectory(prefix="epistola-print-") as folder:
        path = Path(folder) / "batch.typ"
        path.write_text(source, encoding="utf-8")
        try:
            compiler = typst.Compiler(str(path), font_paths=_font_paths(), ignore_system_fonts=True)
            pdf = compiler.compile(format="pdf", pdf_tags=False)
            found = json.loads(compiler.query("<epistola-index>", field="value"))
            if pictures_ppi:
                pngs = compiler.compile(format="png", ppi=pictures_ppi)
                pictures = tuple(pngs) if isinstance(pngs, list) else (pngs,) if isinstance(pngs, bytes) else ()
        except typst.TypstError as exc:  # our own layout or a value Typst could not set
            raise TemplateError(f"the print file could not be typeset: {exc}") from None
    if not isinstance(pdf, bytes):
        raise TemplateError("Typst returned no PDF")
    index = tuple(LetterIndex(id=str(i["id"]), first_page=int(i["first"]), last_page=int(i["last"])) for i in found)
    return PrintFile(paper=paper if papers is None else "mixed", pdf=pdf, index=index, pictures=pictures)


def _font_paths() -> list[str]:
    return [folder for folder in FONT_DIRS if Path(folder).is_dir()]


class CompiledLetter:
    """The print rendition of one design: letters compiled per variant and language, typeset in batches."""

    def __init__(self, design: Design, brand: Brand) -> None:
        self.design = design
        self.brand = brand
        self._letters: dict[tuple[str, str], Template] = {}

    def render(self, ctx: dict[str, Any], variant: Variant, lang: str) -> str:
        """One letter's Typst call; `ctx` is prepared (`renditions.prepare`) and holds `_id`."""
        key = (variant.name, lang)
        if key not in self._letters:
            self._letters[key] = compile_letter(self.design, variant, lang)
        with template_errors(f"{self.design.label} {variant.name}"):
            return self._letters[key].render(ctx)
