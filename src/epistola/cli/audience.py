"""`epistola segment …` and `epistola mart …`: build segments, count them live, profile and compare them,
freeze snapshots, propose micro-segments; build and refresh the analytical mart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml
from markupsafe import Markup, escape
from sqlalchemy import Connection

from epistola.app import Epistola
from epistola.audience.counts import SegmentCount, count_with_reach, overlap
from epistola.audience.engines import Audience, MartAudience, open_audience
from epistola.audience.language import parse_definition
from epistola.audience.profile import profile
from epistola.audience.segments import (
    delete_segment,
    get_segment,
    list_segments,
    save_segment,
    segment_loader,
    take_snapshot,
)
from epistola.cli.common import app_of, console, read_definition, table
from epistola.errors import InputError

if TYPE_CHECKING:  # DuckDB, Arrow and scikit-learn load only for the commands that need them
    from epistola.audience.mart import Mart, MartReport

segment_app = typer.Typer(
    help="Build segments, count them live, profile, compare and snapshot them.", no_args_is_help=True
)
mart_app = typer.Typer(
    help="The analytical mart that makes counts instant: build, refresh, status.", no_args_is_help=True
)

EngineOpt = typer.Option(None, "--engine", help="mart (default: EPISTOLA_AUDIENCE_ENGINE) or store (live SQL).")


@contextmanager
def _audience(app: Epistola, conn: Connection, engine: str | None) -> Iterator[Audience]:
    kind = engine or app.settings.audience_engine
    if kind not in ("mart", "store"):
        raise InputError(f"--engine must be mart or store, not {kind!r}")
    mart = _mart(app) if kind == "mart" else None
    try:
        yield open_audience(
            kind=kind,
            engine=app.engine,
            conn=conn,
            mart=mart,
            now=app.clock(),
            load=segment_loader(conn),
            max_age_s=app.settings.mart_max_age_s,
        )
    finally:
        if mart is not None:
            mart.close()


@contextmanager
def _mart_audience(app: Epistola, conn: Connection) -> Iterator[MartAudience]:
    with _audience(app, conn, "mart") as audience:
        assert isinstance(audience, MartAudience)  # noqa: S101 - "mart" always opens the mart
        yield audience


def _mart(app: Epistola) -> Mart:
    from epistola.audience.mart import Mart

    return Mart(app.settings.mart_path)


def _body(path: Path) -> dict[str, Any]:
    body = read_definition(path)
    if not isinstance(body, dict):
        raise InputError(f"{path} must hold a mapping (a segment definition)")
    definition = body.get("definition", body)
    if not isinstance(definition, dict):
        raise InputError(f"{path}: `definition` must be a mapping")
    return definition


def _say_count(name: str, c: SegmentCount) -> None:
    reach = ", ".join(f"{ch} {n:,}" for ch, n in c.reachable.items())
    console.print(f"[bold]{name}[/]: {c.total:,} customers")
    console.print(f"  reachable for {c.purpose}: {reach}; any channel {c.reachable_any:,}; none {c.unreachable:,}")
    console.print(f"  {c.freshness.describe()}; counted in {c.elapsed_ms:,.1f} ms")


@segment_app.command("save")
def segment_save(
    ctx: typer.Context,
    name: str,
    definition: Path = typer.Argument(..., help="YAML or JSON file (the definition, or a mapping with `definition`)."),
    description: str = typer.Option("", help="What the segment is for."),
    engine: str = EngineOpt,
) -> None:
    """Create or replace a segment from a definition file, and show its live count.

    Example: epistola segment save buyers examples/segments/business-clothes.yaml
    """
    app = app_of(ctx)
    body = _body(definition)
    with app.engine.begin() as conn:
        save_segment(conn, name=name, definition=body, description=description, now=app.clock(), actor="cli")
    with app.engine.connect() as conn, _audience(app, conn, engine) as audience:
        _say_count(name, count_with_reach(audience, parse_definition(body)))


@segment_app.command("count")
def segment_count(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="A saved segment."),
    file: Path = typer.Option(None, "--file", help="Count a definition file without saving it."),
    purpose: str = typer.Option("marketing", help="Consent purpose for the reach figures."),
    engine: str = EngineOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Count a segment now, with its reach per channel and the freshness of the figures.

    Example: epistola segment count buyers      or      epistola segment count --file draft.yaml
    """
    if (name is None) == (file is None):
        raise InputError("give a segment name or --file, not both", hint="epistola segment count buyers")
    app = app_of(ctx)
    with app.engine.connect() as conn, _audience(app, conn, engine) as audience:
        definition = _body(file) if file is not None else get_segment(conn, name).definition
        result = count_with_reach(audience, parse_definition(definition), purpose=purpose)
    if as_json:
        console.print_json(json.dumps(result.as_dict()))
    else:
        _say_count(name or str(file), result)


@segment_app.command("list")
def segment_list(ctx: typer.Context, engine: str = EngineOpt) -> None:
    """List segments with their current counts. Example: epistola segment list"""
    app = app_of(ctx)
    rows = []
    with app.engine.connect() as conn, _audience(app, conn, engine) as audience:
        for s in list_segments(conn):
            c = count_with_reach(audience, parse_definition(s.definition))
            rows.append([s.name, f"{c.total:,}", f"{c.reachable_any:,}", s.description])
        fresh = audience.freshness().describe()
    console.print(table("Segments", ["name", "count members", "count reachable", "description"], rows))
    console.print(fresh)


@segment_app.command("show")
def segment_show(ctx: typer.Context, name: str) -> None:
    """Print a segment's definition as YAML. Example: epistola segment show buyers"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        s = get_segment(conn, name)
    if s.description:
        console.print(f"# {s.description}")
    console.print(yaml.safe_dump(s.definition, allow_unicode=True, sort_keys=False).rstrip())


@segment_app.command("delete")
def segment_delete(ctx: typer.Context, name: str) -> None:
    """Delete a segment no campaign or other segment uses. Example: epistola segment delete old-buyers"""
    app = app_of(ctx)
    with app.engine.begin() as conn:
        delete_segment(conn, name, now=app.clock(), actor="cli")
    console.print(f"segment [bold]{name}[/] deleted")


def _write_html(path: Path, title: str, body: Markup, note: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<body style='font-family:system-ui,sans-serif;max-width:760px;margin:2em auto'>"
        f"<h1>{escape(title)}</h1><p>{escape(note)}</p>{body}</body>",
        encoding="utf-8",
    )
    console.print(f"chart: {path}")


@segment_app.command("overlap")
def segment_overlap(
    ctx: typer.Context,
    names: list[str] = typer.Argument(..., help="Two or more saved segments."),
    html: Path = typer.Option(None, help="Also write the overlap as an HTML chart here."),
    engine: str = EngineOpt,
) -> None:
    """How segments intersect: members in both, for every pair.

    Example: epistola segment overlap buyers new-cards birthday-week --html overlap.html
    """
    if len(names) < 2:
        raise InputError("name at least two segments to compare")
    app = app_of(ctx)
    with app.engine.connect() as conn, _audience(app, conn, engine) as audience:
        named = {n: parse_definition(get_segment(conn, n).definition) for n in names}
        result = overlap(audience, named)
    rows = [[n, *(f"{v:,}" for v in result.both[i])] for i, n in enumerate(result.names)]
    console.print(table("Members in both", ["segment", *result.names], rows))
    console.print(result.freshness.describe())
    if html:
        _write_html(html, "Segment overlap", result.chart(), result.freshness.describe())


@segment_app.command("profile")
def segment_profile(
    ctx: typer.Context,
    name: str,
    html: Path = typer.Option(None, help="Where to write the charts (default: OUTPUT_DIR/segments/NAME.html)."),
) -> None:
    """Who is in a segment: age, gender, regions, purchases and spend, as tables and SVG charts.

    Example: epistola segment profile buyers
    """
    app = app_of(ctx)
    with app.engine.connect() as conn, _mart_audience(app, conn) as audience:
        result = profile(audience, parse_definition(get_segment(conn, name).definition))
    for title, bars in (("Age", result.ages), ("Gender", result.genders), ("Regions", result.regions)):
        console.print(table(f"{name}: {title}", ["value", "count customers"], [[k, f"{v:,}"] for k, v in bars]))
    console.print(f"{result.size:,} customers; {result.freshness.describe()}")
    path = html or app.settings.output_dir / "segments" / f"{name}.html"
    _write_html(path, f"Segment {name}", result.charts(), f"{result.size:,} customers; {result.freshness.describe()}")


@segment_app.command("snapshot")
def segment_snapshot(ctx: typer.Context, name: str, engine: str = EngineOpt) -> None:
    """Freeze the segment's members now (a campaign step targets exactly them).

    Example: epistola segment snapshot buyers
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        segment = get_segment(conn, name)
        with _audience(app, conn, engine) as audience:
            members = audience.members(parse_definition(segment.definition))
            fresh = audience.freshness().describe()
        snap = take_snapshot(conn, segment, app.clock(), members=members, actor="cli")
    console.print(f"snapshot {snap.id} of [bold]{name}[/]: {snap.size:,} customers ({fresh})")


@segment_app.command("propose")
def segment_propose(
    ctx: typer.Context,
    within: str = typer.Option(None, help="Split this saved segment (default: every customer)."),
    clusters: int = typer.Option(0, help="How many micro-segments (0: choose automatically, 3-8)."),
    save: str = typer.Option(None, help="Save every proposal as a segment named PREFIX-1, PREFIX-2, …"),
    sample: int = typer.Option(20_000, help="Customers the clustering learns from."),
) -> None:
    """Propose micro-segments: clusters of similar customers, each described in words and as a segment
    definition you can save and edit.

    Example: epistola segment propose --within reachable --save micro
    """
    from epistola.audience.clusters import propose

    app = app_of(ctx)
    with app.engine.connect() as conn, _mart_audience(app, conn) as audience:
        if within:
            get_segment(conn, within)  # a clear error when it does not exist
        base = {"segment": within} if within else None
        result = propose(audience, base=base, clusters=clusters or None, sample=sample)
    for i, m in enumerate(result.segments, 1):
        console.print(f"\n[bold]{i}. {m.title}[/] — {m.count:,} customers ({m.share:.0%} of the base)")
        for line in m.highlights:
            console.print(f"   • {line}")
        console.print(f"   rule: {m.rule_text}  (precision {m.precision:.0%}, recall {m.recall:.0%})")
    console.print(f"\n{result.freshness.describe()}; learned from {result.sample_size:,} customers")
    if save:
        with app.engine.begin() as conn:
            for i, m in enumerate(result.segments, 1):
                save_segment(
                    conn, name=f"{save}-{i}", definition=m.definition, description=m.title, now=app.clock(), actor="cli"
                )
        console.print(f"saved as {save}-1 … {save}-{len(result.segments)}; edit with `epistola segment show`")


def _say_report(report: MartReport) -> None:
    console.print(
        f"mart {report.kind}: {report.customers:,} customers, {report.events:,} events, {report.consents:,} consent "
        f"states, {report.models} model(s) in {report.seconds:,.1f} s; as of {report.as_of:%Y-%m-%d %H:%M:%S} UTC"
    )


@mart_app.command("build")
def mart_build(ctx: typer.Context) -> None:
    """Build the mart from scratch from the operational store (then refresh keeps it fresh).

    Example: epistola mart build
    """
    app = app_of(ctx)
    mart = _mart(app)
    try:
        _say_report(mart.build(app.engine, app.clock()))
    finally:
        mart.close()
    console.print(f"mart: {app.settings.mart_path}")


@mart_app.command("refresh")
def mart_refresh(ctx: typer.Context) -> None:
    """Bring the mart up to date with what changed since its last build or refresh.

    Example: epistola mart refresh
    """
    app = app_of(ctx)
    mart = _mart(app)
    try:
        _say_report(mart.refresh(app.engine, app.clock()))
    finally:
        mart.close()


@mart_app.command("status")
def mart_status(ctx: typer.Context) -> None:
    """Where the mart is, what it holds and how fresh it is. Example: epistola mart status"""
    app = app_of(ctx)
    mart = _mart(app)
    try:
        if not mart.exists():
            console.print(f"no mart at {mart.path} yet; build it with `epistola mart build`")
            return
        meta = mart.meta()
        sizes = {t: mart.query(f"SELECT count(*) FROM {t}")[0][0] for t in ("customers", "events", "consents")}  # noqa: S608
        console.print(f"mart {mart.path}: {sizes['customers']:,} customers, {sizes['events']:,} events")
        console.print(f"built {meta.get('built_at', '?')}; {mart.freshness(app.clock()).describe()}")
        console.print(f"source: {meta.get('source', '?')}; checked at {datetime.now(UTC):%H:%M:%S} UTC")
    finally:
        mart.close()
