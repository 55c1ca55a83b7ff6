"""Operations: set up the database, list settings, serve the API, run workers, keys, audit, demo, bench."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import typer

from epistola import accounts, audit
from epistola.app import create_worker
from epistola.cli.common import app_of, console, progress_bar, state, table
from epistola.config import describe_settings
from epistola.store import current_revision, redact

keys_app = typer.Typer(help="API keys and their roles.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def init(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (safe to run again), and the bootstrap admin key if set.

    Example: EPISTOLA_DATABASE_URL=postgresql://postgres@localhost/epistola epistola init
    """
    app = app_of(ctx)
    key = app.settings.admin_api_key
    if key is not None:
        with app.engine.begin() as conn:
            accounts.ensure_admin_key(conn, key.get_secret_value(), app.clock())
    with app.engine.connect() as conn:
        revision = current_revision(app.engine) if conn else None
    console.print(f"database {redact(app.settings.database_url)} is at schema revision {revision}")


def settings_cmd() -> None:
    """Every setting, its environment variable and its default."""
    console.print(
        table(
            "Settings (environment variables or .env)",
            ["variable", "default", "meaning"],
            [list(r) for r in describe_settings()],
        )
    )


def serve(ctx: typer.Context) -> None:
    """Run the REST API, tracking links and pixel on EPISTOLA_API_HOST:EPISTOLA_API_PORT."""
    from epistola.web.app import serve as run

    app = app_of(ctx)
    console.print(f"Epistola API on http://{app.settings.api_host}:{app.settings.api_port} (docs at /docs)")
    run(app)


def worker(ctx: typer.Context) -> None:
    """Run one delivery worker until stopped (SIGTERM or Ctrl-C finish in-flight messages first).

    Run as many as you like, on as many machines as you like, against one PostgreSQL database.
    """
    app = app_of(ctx)
    w = create_worker(app)
    console.print(f"worker {w.worker_id} delivering through {app.settings.smtp_host}:{app.settings.smtp_port}")
    stats = asyncio.run(w.run())
    console.print(f"stopped: sent {stats.sent:,}, suppressed {stats.suppressed:,}, failed {stats.failed:,}")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str,
    role: str = typer.Option(..., help="admin, marketer, analyst, viewer or privacy"),
) -> None:
    """Create an API key; it is shown once. Example: epistola keys create ui --role marketer"""
    app = app_of(ctx)
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name=name, role=role, now=app.clock(), actor="cli", origin="cli")
    console.print(f"API key for [bold]{name}[/] ({role}), shown only now:\n{key}")


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List API keys (never their secrets)."""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = [[k.id, k.name, k.role, k.created_at, k.revoked_at or ""] for k in accounts.list_keys(conn)]
    console.print(table("API keys", ["id", "name", "role", "created", "revoked"], rows))


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: int) -> None:
    """Revoke a key by id."""
    app = app_of(ctx)
    with app.engine.begin() as conn:
        accounts.revoke_key(conn, key_id, now=app.clock(), actor="cli", origin="cli")
    console.print(f"key {key_id} revoked")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Recompute the audit log's hash chain; exit 1 and name the first altered row if it was tampered with."""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        report = audit.verify(conn)
    if report.ok:
        redacted = f", {report.redacted:,} redacted by erasures" if report.redacted else ""
        console.print(f"audit log intact: {report.rows:,} rows{redacted}")
        return
    console.print(f"[bold red]audit log altered[/] at row {report.first_broken_id}")
    raise typer.Exit(1)


def demo(
    ctx: typer.Context,
    customers: int = typer.Option(5_000, "--customers", "-n", min=100, help="Sample people to generate."),
    seed: int = typer.Option(42, help="Seed for data and simulated behaviour."),
) -> None:
    """The whole loop on the embedded default: generate, import, merge, send over SMTP, track, report."""
    from epistola.demo import run_demo

    settings = state(ctx).settings()
    result = run_demo(settings, customers=customers, seed=seed, progress=progress_bar, say=console.print)
    from epistola.cli.campaigns import print_report

    r, acc = result.imported.resolution, result.identity
    if r and acc:
        console.print(
            f"\nIdentity: {r.records:,} source records became {r.customers:,} customers; the generator made "
            f"{acc.people:,} people. Against its ground truth: precision {acc.precision:.3f}, recall "
            f"{acc.recall:.3f}, F1 {acc.f1:.3f} (probabilistic matching, model v{r.model_version}; "
            f"{r.review_pairs:,} uncertain pairs wait in `epistola identity review`)."
        )
    console.print(
        f"Audience {result.figures['audience']:,}: target {result.figures['target']:,}, "
        f"control {result.figures['control']:,}; {result.emails_received:,} e-mails received by the "
        f"SMTP server"
    )
    sim = result.simulated
    console.print(
        f"Simulated recipients: {sim['opened']:,} opened, {sim['clicked']:,} clicked, "
        f"{sim['scanner_visits']:,} scanner visits (not counted), {sim['purchases']:,} purchases"
    )
    print_report(result.report)
    console.print("\n[bold]What the demo produced[/]")
    console.print(f"  database:       {redact(result.database)}")
    console.print(f"  source files:   {result.data_dir}")
    console.print(f"  e-mails (.eml): {result.mail_dir}")
    console.print(f"  report (HTML):  {result.report_html}")
    if result.proofs_dir:
        console.print(f"  proofs:         {result.proofs_dir}   <- each design in every channel: e-mail, SMS, letter")
    console.print("Next: `epistola serve` for the API, `epistola customers show 1`, `epistola report <campaign>`.")


def bench(
    area: str = typer.Argument(None, help="One area (import, identity, segment, render, ...)."),
) -> None:
    """Run the benchmarks in benchmarks/ and append their figures to benchmarks/RESULTS.md."""
    runner = Path("benchmarks/run.py")
    if not runner.exists():
        console.print("benchmarks/ is in the source checkout; run this from the repository root")
        raise typer.Exit(2)
    raise typer.Exit(subprocess.call([sys.executable, str(runner), *([area] if area else [])]))  # noqa: S603
