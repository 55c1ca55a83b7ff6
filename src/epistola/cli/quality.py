"""Data quality and enrichment commands: `epistola quality`, `epistola enrich ...`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from epistola.cli.common import app_of, console, table
from epistola.hub.quality import CHECKS, QualityReport, quality_report


def quality(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON instead of tables."),
    html: Path = typer.Option(None, "--html", help="Also write the report, with charts, as an HTML page here."),
    source: str = typer.Option(None, "--source", "-s", help="Only show this source's fields."),
) -> None:
    """Data quality: completeness and validity per source and field, conflicts between sources,
    rejected rows with reasons, events tied to nobody, and the trend across imports.

    Examples:
      epistola quality
      epistola quality --html out/reports/quality.html
      epistola quality --json > quality.json
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        report = quality_report(conn, now=app.clock())
    if html is not None:
        from epistola.hub.quality_html import render_quality

        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_quality(report), encoding="utf-8")
    if as_json:
        print(json.dumps(report.as_dict(), default=str, ensure_ascii=False, indent=2))
        return
    print_quality(report, only=source)
    if html is not None:
        console.print(f"HTML report with charts: {html}")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_quality(report: QualityReport, *, only: str | None = None) -> None:
    console.print(table("Checks", ["check", "count found"], [[CHECKS[k], f"{v:,}"] for k, v in report.checks.items()]))
    for s in report.sources:
        if only and s.source != only:
            continue
        title = f"{s.source}: {s.records:,} records, {s.missing:,} missing, {s.linked:,} tied to customers"
        if s.duplicates:
            title += f", {s.duplicates:,} sharing a customer within the source"
        rows = [
            [
                f.field,
                f"{f.given:,}",
                _pct(f.completeness),
                f"{f.invalid:,}",
                _pct(f.validity),
                "; ".join(f"{r} ({n:,})" for r, n in list(f.reasons.items())[:2]),
            ]
            for f in s.fields
        ]
        console.print(table(title, ["field", "count given", "complete", "count unusable", "valid", "why"], rows))
    console.print(
        table(
            "Conflicts between sources (customers)",
            ["field", "count customers", "for example"],
            [[c.field, f"{c.customers:,}", ", ".join(map(str, c.examples[:5]))] for c in report.conflicts],
        )
    )
    for j in report.rejects:
        console.print(
            table(
                f"Rejected rows: {j.source} ({j.file}, import {j.import_id}): {j.total:,}",
                ["field", "reason", "count rows"],
                [[x["field"] or "—", x["reason"], f"{x['rows']:,}"] for x in j.reasons[:10]],
            )
        )
        for e in j.examples[:5]:
            console.print(f"  {e['file']}, row {e['row']}, field {e['field'] or '—'}: {e['reason']}")
    if report.events:
        console.print(
            table(
                "Events not tied to a customer",
                ["event source", "count not tied", "count orphans"],
                [[e.source, f"{e.unlinked:,}", f"{e.orphans:,}"] for e in report.events],
            )
        )
    console.print(
        table(
            "Latest imports",
            [
                "import",
                "source",
                "status",
                "count seen",
                "count new",
                "count changed",
                "count rejected",
                "count unusable",
            ],
            [
                [
                    f"{t.import_id} · {t.started_at:%Y-%m-%d %H:%M}",
                    t.source,
                    t.status,
                    f"{t.seen:,}",
                    f"{t.new:,}",
                    f"{t.changed:,}",
                    f"{t.rejected:,}",
                    f"{t.invalid:,}",
                ]
                for t in report.trend[-10:]
            ],
        )
    )


enrich_app = typer.Typer(help="Enrich profiles: third-party overlays, and modelled values for what is missing.")


@enrich_app.command("overlay")
def enrich_overlay(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV with country, postcode_prefix and attribute columns."),
    name: str = typer.Option("postcode_demographics", "--name", help="What to call this overlay."),
) -> None:
    """Load a postcode overlay (e.g. income band, urbanisation by postcode prefix) and apply it to every
    customer with a country and postcode.

    Example: epistola enrich overlay out/data/postcode_overlay.csv
    """
    from epistola.hub.enrich import apply_overlay, apply_profiles, load_overlay

    app = app_of(ctx)
    with app.engine.begin() as conn:
        rows = load_overlay(conn, path, name=name, now=app.clock(), actor="cli")
        report = apply_overlay(conn, name=name, now=app.clock(), actor="cli")
        apply_profiles(conn, now=app.clock())
    console.print(f"{name}: {rows:,} rows; {report.customers:,} customers enriched ({report.attributes:,} attributes)")


@enrich_app.command("model")
def enrich_model(
    ctx: typer.Context,
    field: list[str] = typer.Option(["gender", "age_band"], "--field", "-f", help="gender and/or age_band."),
    min_confidence: float = typer.Option(0.6, min=0.5, max=1.0, help="Keep only predictions at least this sure."),
) -> None:
    """Fill missing gender / age band from similar customers (stored as modelled, never over a stated value).

    Example: epistola enrich model --field gender --min-confidence 0.8
    """
    from epistola.hub.enrich import apply_profiles
    from epistola.hub.modelled import model_missing

    app = app_of(ctx)
    with app.engine.begin() as conn:
        reports = model_missing(conn, now=app.clock(), fields=tuple(field), min_confidence=min_confidence, actor="cli")
        apply_profiles(conn, now=app.clock())
    console.print(
        table(
            "Modelled values",
            ["field", "model", "count trained on", "accuracy (held out)", "baseline", "count scored", "count stored"],
            [
                [
                    r.field,
                    r.model,
                    f"{r.trained_on:,}",
                    _pct(r.holdout_accuracy),
                    _pct(r.baseline_accuracy),
                    f"{r.scored:,}",
                    f"{r.stored:,}",
                ]
                for r in reports
            ],
        )
    )
