"""Campaigns, sending and reports (designs are in `cli.content`, segments in `cli.audience`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer

from epistola.app import create_worker
from epistola.campaigns.report import CampaignReport, campaign_report, money, write_report_html
from epistola.campaigns.service import change_status, create_campaign, list_campaigns, start_campaign
from epistola.cli.common import app_of, console, progress_bar, table
from epistola.delivery import control

campaign_app = typer.Typer(help="Plan, start, pause, resume and cancel campaigns.", no_args_is_help=True)


@campaign_app.command("create")
def campaign_create(
    ctx: typer.Context,
    name: str,
    segment: str = typer.Option(..., help="Audience segment."),
    template: str = typer.Option(..., help="Design; its newest approved version is used."),
    control_pct: float = typer.Option(10.0, "--control", help="Share held out as a control group, in %."),
    seed: int = typer.Option(0, help="Seed of the target/control split."),
    objective: str = typer.Option("", help="What the campaign is for."),
    window: int = typer.Option(14, help="Response window in days."),
    channel: str = typer.Option("email", help="email, sms, print, inbox or webhook."),
    topic: str | None = typer.Option(
        None,
        help="What the campaign is about, one of EPISTOLA_PREFERENCE_TOPICS (default news, offers, events, "
        "surveys): customers who unticked it in the preference centre get none of its marketing. "
        "None: every customer the consent rules allow.",
    ),
) -> None:
    """Plan a campaign.

    Example: epistola campaign create spring --segment buyers --template welcome --channel sms --topic offers
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        c = create_campaign(
            conn,
            name=name,
            segment=segment,
            template=template,
            control_pct=control_pct,
            seed=seed,
            objective=objective,
            response_window_days=window,
            channel=channel,
            topic=topic,
            topics=app.settings.topic_keys,
            now=app.clock(),
            actor="cli",
        )
    about = f" about {c.topic}" if c.topic else ""
    console.print(
        f"campaign [bold]{c.name}[/] (id {c.id}){about} planned; start it with `epistola campaign start {c.name}`"
    )


@campaign_app.command("start")
def campaign_start(ctx: typer.Context, name: str) -> None:
    """Freeze the audience, split off the control group and queue the messages."""
    app = app_of(ctx)
    with app.engine.begin() as conn:
        figures = start_campaign(conn, name, now=app.clock(), actor="cli")
    console.print(
        f"campaign [bold]{name}[/] running: audience {figures['audience']:,}, target {figures['target']:,}, "
        f"control {figures['control']:,}, {figures['queued']:,} messages queued"
    )
    console.print("Send with `epistola send` (in-process) or run `epistola worker` processes.")


def _control(ctx: typer.Context, name: str, verb: str) -> None:
    app = app_of(ctx)
    with app.engine.begin() as conn:
        cancelled = change_status(conn, name, verb, now=app.clock(), actor="cli")
    if verb == "cancel":
        console.print(f"{cancelled:,} queued messages cancelled")
    console.print(f"campaign [bold]{name}[/]: {verb}d")


@campaign_app.command("pause")
def campaign_pause(ctx: typer.Context, name: str) -> None:
    """Stop handing out messages; nothing is lost. Resume with `campaign resume`."""
    _control(ctx, name, "pause")


@campaign_app.command("resume")
def campaign_resume(ctx: typer.Context, name: str) -> None:
    """Carry on a paused campaign."""
    _control(ctx, name, "resume")


@campaign_app.command("cancel")
def campaign_cancel(ctx: typer.Context, name: str) -> None:
    """Cancel: queued messages become `cancelled`; in-flight ones finish."""
    _control(ctx, name, "cancel")


@campaign_app.command("list")
def campaign_list(ctx: typer.Context) -> None:
    """List campaigns with their status and delivery progress."""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = []
        for c in list_campaigns(conn):
            progress = control.campaign_progress(conn, c.id)
            rows.append(
                [
                    c.id,
                    c.name,
                    c.status,
                    c.topic or "—",
                    sum(progress.values()),
                    ", ".join(f"{k} {v}" for k, v in sorted(progress.items()) if v),
                ]
            )
    console.print(table("Campaigns", ["id", "name", "status", "topic", "count messages", "states"], rows))


def send(ctx: typer.Context) -> None:
    """Deliver every queued message now, in this process, then stop (the embedded default).

    For production, run `epistola worker` processes instead: any number, on any machines.
    """
    app = app_of(ctx)
    worker = create_worker(app)
    with progress_bar("send") as update:
        stats = asyncio.run(
            worker.run(
                until_idle=True,
                on_progress=lambda s: update(
                    s.stats.sent + s.stats.failed + s.stats.suppressed + s.stats.uncertain, s.stats.claimed
                ),
            )
        )
    console.print(
        f"sent {stats.sent:,}, suppressed {stats.suppressed:,}, failed {stats.failed:,}, "
        f"retry later {stats.retried:,}, uncertain {stats.uncertain:,}"
    )


def print_report(r: CampaignReport) -> None:
    console.print(
        table(
            f"Campaign {r.campaign} ({r.status})",
            ["measure", "target", "control"],
            [
                ["customers", r.target.size, r.control.size],
                ["sent", r.sent, "—"],
                ["opened (people, machines excluded)", r.opened, "—"],
                ["clicked (people, machines excluded)", r.clicked, "—"],
                ["responders (purchase in window)", r.target.responders, r.control.responders],
                ["response rate", f"{r.target.rate:.2%}", f"{r.control.rate:.2%}"],
                ["revenue", money(r.target.revenue), money(r.control.revenue)],
            ],
        )
    )
    lift = "n/a (no control responses)" if r.lift is None else f"{r.lift:+.1%}"
    p = "n/a" if r.p_value is None else f"{r.p_value:.3g}"
    console.print(
        f"lift over control: [bold]{lift}[/] ({r.uplift_points:+.2f} points, p = {p}); "
        f"incremental revenue {money(r.incremental_revenue)}"
    )
    console.print(f"delivery states: {', '.join(f'{k} {v:,}' for k, v in sorted(r.states.items()))}")


def report(
    ctx: typer.Context,
    name: str,
    html: Path = typer.Option(None, help="Where to write the HTML report (default: OUTPUT_DIR/reports/)."),
) -> None:
    """Results of a campaign: delivery, opens, clicks, response of target vs control, lift.

    Example: epistola report spring --html spring.html
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        r = campaign_report(conn, name, now=app.clock())
    print_report(r)
    path = html or app.settings.output_dir / "reports" / f"campaign-{r.campaign}.html"
    write_report_html(r, path, generated=datetime.now(UTC))
    console.print(f"HTML report: {path}")
