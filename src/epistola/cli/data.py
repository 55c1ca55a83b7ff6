"""Data commands: generate a sample base, import sources and events, resolve and inspect customers."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import func, select

from epistola.cli.common import app_of, console, progress_bar, table
from epistola.consent.keys import Keyring
from epistola.hub.events import import_events, link_events
from epistola.hub.ingest import ImportReport, import_source
from epistola.hub.mapping import EventMapping, SourceMapping, load_mapping
from epistola.hub.pipeline import import_dataset, shipped_mapping, shipped_mapping_names
from epistola.hub.store import source_summary
from epistola.identity.resolve import resolve
from epistola.store.schema import (
    customer_lineage,
    customers,
    modelled_values,
    profile_attributes,
    source_records,
    sources,
)

customers_app = typer.Typer(help="Resolve, count and inspect customers.", no_args_is_help=True)


def generate(
    ctx: typer.Context,
    customers_n: int = typer.Option(5_000, "--customers", "-n", min=10, help="Distinct people to generate."),
    seed: int = typer.Option(42, help="Same seed, same files."),
    out: Path = typer.Option(None, help="Folder for the files (default: OUTPUT_DIR/data)."),
    events_per_customer: float = typer.Option(12.0, help="Average purchases + web events per person."),
) -> None:
    """Generate a realistic synthetic customer base: CRM, web and loyalty sources with duplicates.

    Example: epistola generate --customers 100000 --seed 7
    """
    from epistola.synth import generate as run

    folder = out or Path(app_of(ctx).settings.output_dir) / "data"
    bars: dict[str, object] = {}
    with progress_bar("generate", customers_n) as update:

        def on_progress(stage: str, done: int, total: int) -> None:
            bars[stage] = done
            update(done, total)

        dataset = run(
            folder,
            customers=customers_n,
            seed=seed,
            events_per_customer=events_per_customer,
            progress=on_progress,
        )
    console.print(
        table(
            f"Generated {dataset.people:,} people in {folder}",
            ["file", "count rows"],
            [[p.name, dataset.records.get(k, "")] for k, p in dataset.files.items()],
        )
    )


def print_import(report: ImportReport) -> None:
    console.print(
        f"[bold]{report.source}[/]: {report.seen:,} records — {report.new:,} new, {report.changed:,} changed, "
        f"{report.unchanged:,} unchanged, {report.missing:,} no longer in the file, {report.rejected:,} rejected"
    )
    if report.skipped:
        skipped = ", ".join(f"{n:,} {why}" for why, n in sorted(report.skipped.items()))
        console.print(f"  skipped (not stored): {skipped}")
    if report.invalid:
        flagged = ", ".join(f"{k} {v:,}" for k, v in sorted(report.invalid.items()))
        console.print(f"  flagged invalid (kept raw, not used): {flagged}")
    for problem in report.problems[:5]:
        console.print(f"  [yellow]rejected[/] {problem}")
    if report.rejects_file:
        console.print(f"  all rejects: {report.rejects_file}")


def import_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(None, help="Source files to import.", show_default=False),
    mapping: str = typer.Option(None, "--mapping", "-m", help="Mapping YAML file, or the name of a shipped one."),
    dataset: Path = typer.Option(None, help="A folder written by `epistola generate`: import all of it."),
    no_resolve: bool = typer.Option(False, "--no-resolve", help="Do not merge records into customers yet."),
) -> None:
    """Import customer sources or events with a mapping; re-imports only write what changed.

    Examples:
      epistola import --dataset out/data
      epistola import crm.csv --mapping crm_ru
      epistola import members.xlsx --mapping my-members.yaml
      epistola import --mapping erp-clients.yaml        (format type sql: the mapping names the query)
      epistola import purchases.csv --mapping my-purchases.yaml
    """
    app = app_of(ctx)
    if dataset:
        result = import_dataset(app, dataset, progress_bar)
        for report in result.sources:
            print_import(report)
        if result.resolution:
            r = result.resolution
            console.print(
                f"[bold]identity[/]: {r.records:,} source records → {r.customers:,} customers "
                f"({r.created:,} new, {r.updated:,} updated)"
            )
        for ev in result.events:
            console.print(
                f"[bold]{ev.source}[/]: {ev.inserted:,} events new, {ev.duplicates:,} already known, "
                f"{ev.rejected:,} rejected, {ev.unlinked:,} not yet tied to a customer"
            )
        enrichment = getattr(result, "enrichment", None)
        if enrichment is not None:
            if enrichment.overlay is not None:
                o = enrichment.overlay
                console.print(f"[bold]overlay[/] {o.overlay}: {o.customers:,} customers enriched")
            for m in enrichment.models:
                console.print(
                    f"[bold]modelled {m.field}[/]: {m.stored:,} of {m.scored:,} customers without it "
                    f"(accuracy on held-out stated customers {m.holdout_accuracy:.0%}, "
                    f"baseline {m.baseline_accuracy:.0%})"
                )
        return
    if not mapping:
        raise typer.BadParameter("give FILES with --mapping, or --dataset FOLDER")
    loaded = shipped_mapping(mapping) if mapping in shipped_mapping_names() else load_mapping(Path(mapping))
    if not files and isinstance(loaded, SourceMapping) and loaded.format.type == "sql":
        with progress_bar(f"import {loaded.source} (sql)") as update:
            report = import_source(app.engine, None, loaded, clock=app.clock, progress=update,
                                   rejects_dir=app.settings.output_dir / "rejects",
                                   keyring=Keyring.from_settings(app.settings))  # fmt: skip
        print_import(report)
        files = []
    elif not files:
        raise typer.BadParameter("give FILES to import with this mapping (only sql sources need none)")
    for path in files:
        with progress_bar(f"import {path.name}") as update:
            if isinstance(loaded, EventMapping):
                ev = import_events(
                    app.engine,
                    path,
                    loaded,
                    clock=app.clock,
                    progress=update,
                    keyring=Keyring.from_settings(app.settings),
                )
                console.print(
                    f"[bold]{ev.source}[/]: {ev.inserted:,} new events, {ev.duplicates:,} already known, "
                    f"{ev.rejected:,} rejected"
                )
                if ev.skipped:
                    skipped = ", ".join(f"{n:,} {why}" for why, n in sorted(ev.skipped.items()))
                    console.print(f"  skipped (not stored): {skipped}")
                for problem in ev.problems[:5]:
                    console.print(f"  [yellow]rejected[/] {problem}")
                continue
            report = import_source(
                app.engine,
                path,
                loaded,
                clock=app.clock,
                progress=update,
                rejects_dir=app.settings.output_dir / "rejects",
                keyring=Keyring.from_settings(app.settings),
            )
        print_import(report)
    if not no_resolve and not isinstance(loaded, EventMapping):
        with app.engine.begin() as conn:
            r = resolve(conn, now=app.clock())
            linked = link_events(conn)
        console.print(f"identity: {r.records:,} source records → {r.customers:,} customers; {linked:,} events linked")


@customers_app.command("resolve")
def customers_resolve(ctx: typer.Context) -> None:
    """Merge source records into customers (probabilistic matching) and rebuild golden records.

    Example: epistola customers resolve   (see `epistola identity --help` for review, explain, unmerge)
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        r = resolve(conn, now=app.clock())
        linked = link_events(conn)
    console.print(
        f"{r.records:,} source records → {r.customers:,} customers ({r.created:,} new, {r.updated:,} "
        f"updated, {r.merged_away:,} merged away); {linked:,} events linked"
    )


@customers_app.command("count")
def customers_count(ctx: typer.Context) -> None:
    """How many customers, and how many source records per source."""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(customers).where(customers.c.merged_into.is_(None)))
        total = n.scalar_one()
        rows = source_summary(conn)
    console.print(f"{total:,} customers")
    console.print(
        table(
            "Sources",
            ["source", "kind", "trust", "count records", "count missing", "count linked"],
            [[r["name"], r["kind"], r["trust"], r["records"], r["missing"], r["linked"]] for r in rows],
        )
    )


@customers_app.command("show")
def customers_show(ctx: typer.Context, customer_id: int = typer.Argument(..., help="Customer id.")) -> None:
    """One customer's golden record, where each field came from, and the source records behind it.

    Example: epistola customers show 42
    """
    from epistola.errors import NotFound

    app = app_of(ctx)
    with app.engine.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == customer_id)).mappings().first()
        if row is None:
            raise NotFound(f"no customer {customer_id}")
        lineage = conn.execute(
            select(
                customer_lineage.c.field,
                sources.c.name,
                source_records.c.source_key,
                customer_lineage.c.observed_at,
            )
            .join(source_records, source_records.c.id == customer_lineage.c.source_record_id)
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(customer_lineage.c.customer_id == customer_id)
            .order_by(customer_lineage.c.field)
        ).all()
        records = conn.execute(
            select(sources.c.name, source_records.c.source_key, source_records.c.normalized)
            .join(sources, sources.c.id == source_records.c.source_id)
            .where(source_records.c.customer_id == customer_id)
        ).all()
        modelled = conn.execute(
            select(
                modelled_values.c.field, modelled_values.c.value, modelled_values.c.confidence, modelled_values.c.model
            )
            .where(modelled_values.c.customer_id == customer_id)
            .order_by(modelled_values.c.field)
        ).all()
        profile = conn.execute(
            select(
                profile_attributes.c.name,
                profile_attributes.c.value,
                profile_attributes.c.origin,
                profile_attributes.c.source,
            )
            .where(profile_attributes.c.customer_id == customer_id)
            .order_by(profile_attributes.c.name)
        ).all()
    fields = [[k, row[k]] for k in row.keys() if k not in ("attributes",) and row[k] is not None]
    console.print(table(f"Customer {customer_id}", ["field", "value"], fields))
    if profile:
        console.print(
            table(
                "Profile (overlays and answers)", ["attribute", "value", "origin", "from"], [list(p) for p in profile]
            )
        )
    if modelled:
        console.print(
            table(
                "Modelled, not stated (filled from similar customers)",
                ["field", "modelled value", "confidence", "model"],
                [[f, v, f"{c:.0%}", m] for f, v, c, m in modelled],
            )
        )
    console.print(table("Lineage", ["field", "source", "record", "observed"], [list(x) for x in lineage]))
    console.print(
        table(
            "Source records",
            ["source", "key", "invalid"],
            [[s, k, ", ".join(n.get("invalid", {})) or "—"] for s, k, n in records],
        )
    )
