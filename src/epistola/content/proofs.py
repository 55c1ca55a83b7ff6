"""Previews and proof sets: a design rendered for real customers in every channel, for approval.

`preview` renders one customer in every channel the design has. `proof_set` renders N customers into one
PDF (every letter, typeset as the printer will get it) and one self-contained HTML file (each e-mail in
a sandboxed frame, its text version, the SMS with its encoding and segment count, the web page, and the
letter's pages as pictures), which is what a content approver signs off.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy import Connection

from epistola.content.context import render_context
from epistola.content.documents import sample_customers, statement_document
from epistola.content.email import RenderedEmail, layout_template
from epistola.content.print import PrintFile
from epistola.content.renditions import CompiledDesign
from epistola.content.samples import SAMPLE_AGENT, SAMPLE_CUSTOMERS, SAMPLE_DOCUMENT
from epistola.content.sms import RenderedSms

PROOF_PPI = 54  # letter pages in a proof page: readable, and a proof of 50 customers stays a few MB


@dataclass(frozen=True, kw_only=True)
class Preview:
    customer_id: int
    variant: str
    locale: str
    email: RenderedEmail | None = None
    sms: RenderedSms | None = None
    web: str | None = None
    letter: PrintFile | None = None


def preview(
    design: CompiledDesign, ctx: Mapping[str, Any], *, variant: str | None = None, pictures_ppi: int | None = None
) -> Preview:
    """One customer in every channel the design has (links as written: nothing is tracked); with
    `pictures_ppi`, the letter's pages as PNG too."""
    chosen, lang = design.variant(ctx, variant)
    channels = design.channels
    letter = None
    if "print" in channels:
        letter = design.typeset(
            [design.letter(ctx, variant=chosen.name)], paper=design.paper(ctx), pictures_ppi=pictures_ppi
        )
    return Preview(
        customer_id=int(ctx["customer"]["id"]),
        variant=chosen.name,
        locale=lang,
        email=design.email(ctx, variant=chosen.name) if "email" in channels else None,
        sms=design.sms(ctx, variant=chosen.name) if "sms" in channels else None,
        web=design.web(ctx, variant=chosen.name) if "web" in channels else None,
        letter=letter,
    )


@dataclass(frozen=True, kw_only=True)
class ProofSet:
    pdf: bytes | None  # every letter of the set, in order (None when the design has no print rendition)
    html: str  # one page with every channel of every customer
    customers: int


def proof_set(design: CompiledDesign, contexts: Sequence[Mapping[str, Any]], *, title: str) -> ProofSet:
    """Render `contexts` in every channel into one PDF and one HTML file."""
    letters: PrintFile | None = None
    pages: dict[str, list[str]] = {}
    if "print" in design.channels and contexts:
        # One file for the whole set: each letter on its own paper, every page also as a picture.
        papers = [design.paper(ctx) for ctx in contexts]
        calls = [design.letter(ctx) for ctx in contexts]
        letters = design.typeset(calls, paper=papers[0], papers=papers, pictures_ppi=PROOF_PPI)
        for entry in letters.index:
            pages[entry.id] = [
                "data:image/png;base64," + base64.b64encode(letters.pictures[n - 1]).decode("ascii")
                for n in range(entry.first_page, entry.last_page + 1)
            ]
    items: list[dict[str, Any]] = []
    for ctx in contexts:
        person = ctx["customer"]
        chosen, lang = design.variant(ctx)
        key = str(ctx.get("_id") or ctx["message"]["id"] or person["id"])
        items.append(
            {
                "id": person["id"],
                "name": person.get("full_name") or "—",
                "locale": lang,
                "gender": person.get("gender") or "—",
                "variant": chosen.name,
                "email": design.email(ctx) if "email" in design.channels else None,
                "sms": design.sms(ctx) if "sms" in design.channels else None,
                "web": design.web(ctx) if "web" in design.channels else None,
                "pages": pages.get(key, []),
            }
        )
    page = layout_template("proof.html").render(
        title=title,
        design=design.design,
        items=items,
        brand=design.brand.for_locale("en"),
        count=len(items),
        markup=Markup,
    )
    return ProofSet(pdf=letters.pdf if letters else None, html=page, customers=len(items))


def proof_contexts(
    conn: Connection, people: Sequence[Mapping[str, Any]], design: CompiledDesign, *, today: date, base_url: str
) -> list[dict[str, Any]]:
    """Render contexts for previews and proofs: stand-in links (nothing is tracked), the sample adviser,
    and for statements last month's purchases (the sample statement for sample customers)."""
    base = base_url.rstrip("/")
    end = today.replace(day=1) - timedelta(days=1)
    out = []
    for person in people:
        document = None
        if design.design.layout == "statement":
            sample = int(person["id"]) >= SAMPLE_CUSTOMERS[0]["id"]
            document = (
                SAMPLE_DOCUMENT if sample else statement_document(conn, dict(person), start=end.replace(day=1), end=end)
            )
        out.append(
            render_context(
                person,
                today=today,
                campaign={"id": 0, "name": "proof"},
                links={"purl": f"{base}/p/proof-{person['id']}", "preferences": f"{base}/preferences"},
                agent=SAMPLE_AGENT,
                document=document,
            )
        )
    return out


def write_proofs(
    conn: Connection, design: CompiledDesign, folder: Path, *, stem: str, sample: int, today: date, base_url: str
) -> list[Path]:
    """A proof set of `sample` customers from the store (the built-in samples when it has none) written
    as STEM.html and, when the design prints, STEM.pdf; returns the files."""
    people = sample_customers(conn, sample) or [dict(p) for p in SAMPLE_CUSTOMERS[:sample]]
    contexts = proof_contexts(conn, people, design, today=today, base_url=base_url)
    proofs = proof_set(design, contexts, title=f"Proof: {design.design.label}")
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / f"{stem}.html"]
    written[0].write_text(proofs.html, encoding="utf-8")
    if proofs.pdf:
        written.append(folder / f"{stem}.pdf")
        written[1].write_bytes(proofs.pdf)
    return written
