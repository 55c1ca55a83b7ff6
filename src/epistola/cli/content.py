"""Designs from the command line: save (validated), approve, list, show, preview one customer in every
channel, proof sets for approval, and shared snippets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from epistola.cli.common import app_of, console, read_definition, table
from epistola.content.design import SETTINGS, SLOTS
from epistola.content.documents import customer_row
from epistola.content.proofs import preview, proof_contexts, write_proofs
from epistola.content.renditions import CompiledDesign
from epistola.content.snippets import list_snippets, save_snippet
from epistola.content.templates import approve, get_version, list_templates, list_versions, save_version
from epistola.errors import InputError

template_app = typer.Typer(
    help="Designs: save (validated), approve, preview in every channel, proof sets, snippets.", no_args_is_help=True
)


def _design_file(path: Path) -> dict[str, Any]:
    body = read_definition(path)
    if not isinstance(body, dict) or not (set(body) & set(SLOTS)):
        raise InputError(
            f"{path} must be a mapping with the design's slots ({', '.join(SLOTS)}) and settings "
            f"({', '.join(SETTINGS)})",
            hint="See docs/content.md for the format; src/epistola/demo_content/*.yaml are examples.",
        )
    return body


@template_app.command("save")
def template_save(
    ctx: typer.Context,
    name: str,
    design: Path = typer.Argument(..., help="YAML or JSON design: slots (subject, body, sms, …), variants."),
    approve_now: bool = typer.Option(False, "--approve", help="Approve this version at once."),
) -> None:
    """Save a new version of a design. It is validated first: syntax, sandbox, unknown variables, missing
    fallbacks, malformed links, SMS length — each problem with its slot and line.

    Example: epistola template save autumn src/epistola/demo_content/new-collection.yaml --approve
    """
    app = app_of(ctx)
    definition = _design_file(design)
    with app.engine.begin() as conn:
        version = save_version(conn, name=name, definition=definition, now=app.clock(), actor="cli", file=str(design))
        if approve_now:
            version = approve(conn, name=name, version=version.version, by="cli", now=app.clock())
    channels = ", ".join(version.design().channels)
    console.print(f"template [bold]{name}[/] version {version.version} saved ({version.status}); channels: {channels}")


@template_app.command("import")
def template_import(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="A folder of design files; each file's name is the template's name."),
    approve_now: bool = typer.Option(False, "--approve", help="Approve every imported version."),
) -> None:
    """Save every design file in a folder, all or nothing (one transaction).

    Example: epistola template import designs/ --approve
    """
    files = sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml", ".json"))
    if not files:
        raise InputError(f"no .yaml, .yml or .json design files in {folder}")
    app = app_of(ctx)
    with app.engine.begin() as conn:
        for path in files:
            version = save_version(
                conn, name=path.stem, definition=_design_file(path), now=app.clock(), actor="cli", file=str(path)
            )
            if approve_now:
                version = approve(conn, name=path.stem, version=version.version, by="cli", now=app.clock())
            console.print(f"{path.name}: template [bold]{path.stem}[/] version {version.version} ({version.status})")


@template_app.command("approve")
def template_approve(ctx: typer.Context, name: str, version: int = typer.Option(None, help="Default: newest.")) -> None:
    """Approve a draft version so campaigns may send it. Example: epistola template approve autumn"""
    app = app_of(ctx)
    with app.engine.begin() as conn:
        v = approve(conn, name=name, version=version, by="cli", now=app.clock())
    console.print(f"template [bold]{name}[/] version {v.version} approved")


@template_app.command("list")
def template_list(ctx: typer.Context) -> None:
    """List designs and their newest versions. Example: epistola template list"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = [[t["name"], t["latest"], t["approved_at"] or "never", t["description"]] for t in list_templates(conn)]
    console.print(table("Templates", ["name", "latest version", "last approved", "description"], rows))


@template_app.command("show")
def template_show(ctx: typer.Context, name: str, version: int = typer.Option(None)) -> None:
    """Print a version's settings, slots and variants. Example: epistola template show autumn --version 2"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        v = get_version(conn, name, version)
        history = list_versions(conn, name)
    design = v.design()
    console.print(f"[bold]{name}[/] v{v.version} ({v.status}) · layout {design.layout} · channels {design.channels}")
    console.print(f"versions: {', '.join(f'{h.version} {h.status}' for h in history)}")
    for slot, source in design.slots.items():
        console.print(f"\n[bold]{slot}[/]\n{source}", markup=False)
    for variant in design.variants:
        console.print(
            f"\n[bold]variant {variant.name}[/] locale={sorted(variant.locales)} "
            f"segment={variant.segment} ab={variant.ab}"
        )
        for slot, source in variant.slots.items():
            console.print(f"[bold]{slot}[/]\n{source}", markup=False)


@template_app.command("preview")
def template_preview(
    ctx: typer.Context,
    name: str,
    customer: int = typer.Option(..., help="The customer to render for."),
    version: int = typer.Option(None, help="Default: newest."),
    variant: str = typer.Option(None, help="Force a variant (default: the one the customer gets)."),
    out: Path = typer.Option(None, help="Folder for the files (default: OUTPUT_DIR/previews/NAME-CUSTOMER)."),
) -> None:
    """Render a design for one customer in every channel and write the files: email.html, email.txt,
    sms.txt, web.html, letter.pdf and a PNG per letter page.

    Example: epistola template preview autumn --customer 42
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        v = get_version(conn, name, version)
        design = CompiledDesign(v.design())
        person = customer_row(conn, customer)
        context = proof_contexts(
            conn, [person], design, today=app.clock().date(), base_url=app.settings.public_base_url
        )[0]
    shown = preview(design, context, variant=variant, pictures_ppi=110)
    folder = out or app.settings.output_dir / "previews" / f"{name}-{customer}"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if shown.email:
        (folder / "email.html").write_text(shown.email.html, encoding="utf-8")
        (folder / "email.txt").write_text(f"Subject: {shown.email.subject}\n\n{shown.email.text}", encoding="utf-8")
        written += ["email.html", "email.txt"]
    if shown.sms:
        info = f"{shown.sms.encoding}, {shown.sms.units} units, {shown.sms.segments} segment(s)"
        (folder / "sms.txt").write_text(f"{shown.sms.text}\n\n[{info}]\n", encoding="utf-8")
        written.append("sms.txt")
    if shown.web:
        (folder / "web.html").write_text(shown.web, encoding="utf-8")
        written.append("web.html")
    if shown.letter:
        (folder / "letter.pdf").write_bytes(shown.letter.pdf)
        written.append("letter.pdf")
        for n, picture in enumerate(shown.letter.pictures, start=1):
            (folder / f"letter-{n}.png").write_bytes(picture)
            written.append(f"letter-{n}.png")
    console.print(f"{name} v{v.version}, variant {shown.variant}, language {shown.locale}: {', '.join(written)}")
    console.print(f"written to {folder}")


@template_app.command("proof")
def template_proof(
    ctx: typer.Context,
    name: str,
    sample: int = typer.Option(12, min=1, max=500, help="How many customers (spread over languages and genders)."),
    version: int = typer.Option(None, help="Default: newest."),
    out: Path = typer.Option(None, help="Folder (default: OUTPUT_DIR/proofs)."),
) -> None:
    """A proof set for approval: N customers in every channel, as one PDF (the letters) and one HTML page.
    Without customers in the database, Epistola's sample customers are used.

    Example: epistola template proof autumn --sample 20
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        v = get_version(conn, name, version)
        files = write_proofs(
            conn,
            CompiledDesign(v.design()),
            out or app.settings.output_dir / "proofs",
            stem=f"{name}-v{v.version}",
            sample=sample,
            today=app.clock().date(),
            base_url=app.settings.public_base_url,
        )
    for file in files:
        console.print(f"proof: {file}")


@template_app.command("snippet")
def template_snippet(
    ctx: typer.Context,
    name: str,
    source: Path = typer.Argument(..., help="A text file: Markdown with Jinja, like a slot."),
) -> None:
    """Save a new version of a shared snippet, included in designs with {% include "NAME" %}.

    Example: epistola template snippet signature designs/signature.md
    """
    app = app_of(ctx)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file not found: {source}") from None
    with app.engine.begin() as conn:
        saved = save_snippet(conn, name=name, body=text, now=app.clock(), actor="cli")
    console.print(f"snippet [bold]{name}[/] version {saved.version} saved; designs saved from now on include it")


@template_app.command("snippets")
def template_snippets(ctx: typer.Context) -> None:
    """List shared snippets (newest versions). Example: epistola template snippets"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = [[s.name, s.version, s.body.splitlines()[0][:60] if s.body else ""] for s in list_snippets(conn)]
    console.print(table("Snippets", ["name", "version", "first line"], rows))
