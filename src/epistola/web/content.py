"""Design routes: save versions (validated), approve, read, preview one customer in every channel, proof
sets (PDF and HTML), shared snippets. Changing content needs `manage_content`; reading needs `read`."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from epistola.accounts import ApiKey, Permission
from epistola.content.documents import customer_row, sample_customers
from epistola.content.proofs import preview, proof_contexts, proof_set
from epistola.content.renditions import CompiledDesign
from epistola.content.samples import SAMPLE_CUSTOMERS
from epistola.content.snippets import list_snippets, save_snippet
from epistola.content.templates import (
    TemplateVersion,
    approve,
    get_version,
    list_templates,
    list_versions,
    save_version,
)
from epistola.errors import InputError
from epistola.web.deps import ConnDep, ReaderKey, get_app, require

router = APIRouter(prefix="/api/v1", tags=["content"])
ContentKey = Annotated[ApiKey, require(Permission.MANAGE_CONTENT)]


class VersionOut(BaseModel):
    id: int
    template: str
    version: int
    status: str
    channels: list[str]
    approved_by: str | None
    definition: dict[str, Any] = Field(description="The whole design: slots, variants, settings, snippets.")

    @classmethod
    def of(cls, v: TemplateVersion) -> VersionOut:
        return cls(
            id=v.id,
            template=v.template,
            version=v.version,
            status=v.status,
            channels=list(v.design().channels),
            approved_by=v.approved_by,
            definition=dict(v.definition),
        )


class TemplateOut(BaseModel):
    name: str
    description: str
    latest: int
    approved_at: datetime | None


@router.get("/templates", summary="Designs and their newest versions")
def templates_index(conn: ConnDep, key: ReaderKey) -> list[TemplateOut]:
    return [TemplateOut.model_validate(t) for t in list_templates(conn)]


@router.post("/templates/{name}/versions", status_code=201, summary="Save a new (draft) version of a design")
def create_version(
    name: str, definition: dict[str, Any], conn: ConnDep, key: ContentKey, request: Request
) -> VersionOut:
    """The body is the design (what a design file holds). It is validated before anything is stored;
    problems come back in `errors`, each with its slot (`file`) and line (`row`)."""
    saved = save_version(conn, name=name, definition=definition, now=get_app(request).clock(), actor=key.name)
    return VersionOut.of(saved)


@router.get("/templates/{name}/versions", summary="Every version of a design")
def versions_index(name: str, conn: ConnDep, key: ReaderKey) -> list[VersionOut]:
    return [VersionOut.of(v) for v in list_versions(conn, name)]


@router.get("/templates/{name}/versions/{version}", summary="One version of a design")
def version_detail(name: str, version: int, conn: ConnDep, key: ReaderKey) -> VersionOut:
    return VersionOut.of(get_version(conn, name, version))


@router.post("/templates/{name}/approve", summary="Approve a draft (the newest one unless `version` is given)")
def approve_version(
    name: str, conn: ConnDep, key: ContentKey, request: Request, version: int | None = None
) -> VersionOut:
    return VersionOut.of(approve(conn, name=name, version=version, by=key.name, now=get_app(request).clock()))


class PreviewIn(BaseModel):
    customer_id: int
    version: int | None = Field(None, description="Default: the newest version.")
    variant: str | None = Field(None, description="Force a variant (default: the one the customer gets).")


@router.post("/templates/{name}/preview", summary="Render a design for one customer in every channel")
def preview_design(name: str, body: PreviewIn, conn: ConnDep, key: ReaderKey, request: Request) -> dict[str, Any]:
    """E-mail (subject, HTML, text), SMS (text, encoding, segments), web page, and the letter as a PDF
    (base64) with its page count. Links are shown as written: previews track nothing."""
    version = get_version(conn, name, body.version)
    design = CompiledDesign(version.design())
    app = get_app(request)
    ctx = proof_contexts(
        conn,
        [customer_row(conn, body.customer_id)],
        design,
        today=app.clock().date(),
        base_url=app.settings.public_base_url,
    )[0]
    shown = preview(design, ctx, variant=body.variant)
    out: dict[str, Any] = {
        "template": name,
        "version": version.version,
        "variant": shown.variant,
        "locale": shown.locale,
        "channels": list(design.channels),
    }
    if shown.email:
        out["email"] = {"subject": shown.email.subject, "html": shown.email.html, "text": shown.email.text}
    if shown.sms:
        out["sms"] = {
            "text": shown.sms.text,
            "encoding": shown.sms.encoding,
            "units": shown.sms.units,
            "segments": shown.sms.segments,
        }
    if shown.web:
        out["web"] = {"html": shown.web}
    if shown.letter:
        out["letter"] = {
            "paper": shown.letter.paper,
            "pages": shown.letter.pages,
            "pdf_base64": base64.b64encode(shown.letter.pdf).decode("ascii"),
        }
    return out


def _proof(name: str, conn: Any, request: Request, sample: int, version: int | None) -> tuple[Any, TemplateVersion]:
    v = get_version(conn, name, version)
    people = sample_customers(conn, sample) or [dict(p) for p in SAMPLE_CUSTOMERS[:sample]]
    design = CompiledDesign(v.design())
    app = get_app(request)
    contexts = proof_contexts(conn, people, design, today=app.clock().date(), base_url=app.settings.public_base_url)
    return proof_set(design, contexts, title=f"Proof: {name} v{v.version}"), v


Sample = Annotated[int, Query(ge=1, le=200, description="How many customers, spread over languages and genders.")]


@router.get("/templates/{name}/proof.html", summary="A proof set: N customers in every channel on one page")
def proof_html(
    name: str, conn: ConnDep, key: ReaderKey, request: Request, sample: Sample = 12, version: int | None = None
) -> Response:
    proofs, _v = _proof(name, conn, request, sample, version)
    return Response(proofs.html, media_type="text/html; charset=utf-8")


@router.get("/templates/{name}/proof.pdf", summary="A proof set's letters in one PDF")
def proof_pdf(
    name: str, conn: ConnDep, key: ReaderKey, request: Request, sample: Sample = 12, version: int | None = None
) -> Response:
    proofs, v = _proof(name, conn, request, sample, version)
    if proofs.pdf is None:
        raise InputError(f"design {name!r} v{v.version} has no print rendition")
    headers = {"Content-Disposition": f'inline; filename="{name}-v{v.version}-proof.pdf"'}
    return Response(proofs.pdf, media_type="application/pdf", headers=headers)


class SnippetIn(BaseModel):
    body: str = Field(min_length=1, max_length=100_000, description="Markdown with Jinja, like a design slot.")


class SnippetOut(BaseModel):
    name: str
    version: int
    body: str


@router.post("/snippets/{name}", status_code=201, summary="Save a new version of a shared snippet")
def create_snippet(name: str, body: SnippetIn, conn: ConnDep, key: ContentKey, request: Request) -> SnippetOut:
    saved = save_snippet(conn, name=name, body=body.body, now=get_app(request).clock(), actor=key.name)
    return SnippetOut(name=saved.name, version=saved.version, body=saved.body)


@router.get("/snippets", summary="Shared snippets (newest versions)")
def snippets_index(conn: ConnDep, key: ReaderKey) -> list[SnippetOut]:
    return [SnippetOut(name=s.name, version=s.version, body=s.body) for s in list_snippets(conn)]
