"""Public system routes: health, the OpenAPI document and an offline page that lists the endpoints.

FastAPI's Swagger UI loads its JavaScript and CSS from a CDN, and Epistola must work with no network,
so `/docs` is a small page rendered on the server from the OpenAPI document instead.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from epistola import __version__
from epistola.errors import StorageError
from epistola.store import check_connection, current_revision, head_revision
from epistola.web.deps import AppDep, PublicRoute
from epistola.web.errors import error_response

router = APIRouter(route_class=PublicRoute, tags=["system"])


class Health(BaseModel):
    ok: bool
    version: str
    database: str
    schema_revision: str | None


@router.get(
    "/health",
    summary="Is this instance able to serve?",
    response_model=Health,
    responses={503: {"description": "The database is unreachable or its schema is not current"}},
)
def health(app: AppDep) -> Health | JSONResponse:
    try:
        check_connection(app.engine)
    except StorageError:
        return error_response(503, "the database is unreachable", [{"message": "unreachable", "field": "database"}])
    revision, head = current_revision(app.engine), head_revision()
    if revision != head:
        return error_response(
            503,
            "the database schema is not current. Run `epistola init`.",
            [{"message": f"at revision {revision}, expected {head}", "field": "database"}],
        )
    return Health(ok=True, version=__version__, database=app.engine.dialect.name, schema_revision=revision)


@router.get("/openapi.json", include_in_schema=False)
def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
h2 {{ margin-top: 2rem; border-bottom: 1px solid #ccc; }}
.op {{ margin: 1rem 0; }} code {{ background: #f4f4f4; padding: 0 .2rem; }}
.method {{ display: inline-block; min-width: 4.5rem; font-weight: bold; }}
.auth {{ color: #555; font-size: 90%; }} table {{ border-collapse: collapse; }}
td, th {{ text-align: left; padding: .1rem .8rem .1rem 0; vertical-align: top; }}
</style></head><body>
<h1>{title} <small>{version}</small></h1>
<p>Machine-readable description: <a href="/openapi.json">/openapi.json</a>.
Send an API key as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code>.
Errors always have the shape
<code>{{"ok": false, "error": "…", "errors": [{{"message": "…", "field": "…"}}], "status": 400}}</code>.</p>
{sections}
</body></html>
"""


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return f"list of {_schema_name(schema['items'])}"
    return str(schema.get("type", "object"))


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    e = html.escape
    auth = "API key required" if op.get("security") else "public"
    parts = [
        f'<div class="op"><span class="method">{e(method.upper())}</span> <code>{e(path)}</code>',
        f' <span class="auth">({auth})</span><br>{e(op.get("summary", ""))}',
    ]
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
            f"<td>{'required' if p.get('required') else 'optional'}</td>"
            f"<td>{e(_schema_name(p.get('schema', {})))}</td></tr>"
            for p in params
        )
        parts.append(f"<table>{rows}</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        parts.append(f"Body: <code>{e(_schema_name(body.get('schema', {})))}</code>")
    statuses = ", ".join(e(code) for code in op.get("responses", {}))
    parts.append(f"<br>Responses: {statuses}</div>")
    return "".join(parts)


def render_docs(openapi: dict[str, Any]) -> str:
    """An HTML page listing every operation of `openapi`, grouped by tag; no script, no remote asset."""
    by_tag: dict[str, list[str]] = {}
    for path, methods in openapi.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(method, path, op))
    sections = "".join(f"<h2>{html.escape(tag)}</h2>{''.join(ops)}" for tag, ops in sorted(by_tag.items()))
    info = openapi.get("info", {})
    return _PAGE.format(
        title=html.escape(info.get("title", "API")),
        version=html.escape(info.get("version", "")),
        sections=sections,
    )


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(render_docs(request.app.openapi()))
