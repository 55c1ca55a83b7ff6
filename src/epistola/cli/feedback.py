"""Feedback commands: surveys, the bounce mailbox, complaint-paused domains, attribution."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from epistola.cli.common import app_of, console, table
from epistola.errors import ConfigError
from epistola.feedback.attribution import attribute, attribution_table
from epistola.feedback.deliverability import FeedbackPolicy, domain_table, recent_reports, resume_domain
from epistola.feedback.mailboxes import ImapSource, MaildirSource, MailSource, process_mailbox
from epistola.feedback.suppress import ListSuppressor
from epistola.feedback.survey_store import attach_survey, list_surveys, save_survey
from epistola.feedback.surveys import load_survey, pick

survey_app = typer.Typer(help="Surveys shown on personal pages (PURLs).", no_args_is_help=True)
bounces_app = typer.Typer(help="Bounces and complaints: the bounce mailbox and paused domains.", no_args_is_help=True)


@survey_app.command("save")
def survey_save(ctx: typer.Context, file: Path) -> None:
    """Validate a survey (YAML or JSON) and store it as a new version.

    Example: epistola survey save src/epistola/feedback/examples/life-changes.yaml
    """
    survey = load_survey(file)
    app = app_of(ctx)
    with app.engine.begin() as conn:
        stored = save_survey(conn, survey, now=app.clock(), actor="cli", origin="cli")
    console.print(
        f"survey [bold]{survey.name}[/] saved as version {stored.version} ({len(survey.questions)} questions)"
    )


@survey_app.command("attach")
def survey_attach(
    ctx: typer.Context,
    campaign: str,
    survey: str,
    step: int = typer.Option(1, help="Position of the campaign step whose recipients see it."),
) -> None:
    """Show a survey on the personal page of every recipient of a campaign step.

    Example: epistola survey attach birthday-2026 life-changes --step 1
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        attach_survey(conn, campaign=campaign, position=step, survey=survey, now=app.clock(), actor="cli", origin="cli")
    console.print(f"step {step} of {campaign} shows survey {survey}; its messages link to it as {{{{ links.purl }}}}")


@survey_app.command("list")
def survey_list(ctx: typer.Context) -> None:
    """Stored surveys. Example: epistola survey list"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = [
            [s.survey.name, s.version, len(s.survey.questions), pick(s.survey.title, "en")] for s in list_surveys(conn)
        ]
    console.print(table("Surveys", ["name", "version", "questions", "title"], rows))


def _sources(ctx: typer.Context, maildir: Path | None, imap: bool) -> list[MailSource]:
    settings = app_of(ctx).settings
    out: list[MailSource] = []
    folder = maildir or settings.bounce_maildir
    if folder is not None:
        out.append(MaildirSource(folder))
    if imap or (maildir is None and settings.bounce_imap_host):
        if not settings.bounce_imap_host or not settings.bounce_imap_user or settings.bounce_imap_password is None:
            raise ConfigError(
                "the bounce mailbox over IMAP is not configured",
                hint="Set EPISTOLA_BOUNCE_IMAP_HOST, EPISTOLA_BOUNCE_IMAP_USER and EPISTOLA_BOUNCE_IMAP_PASSWORD.",
            )
        out.append(
            ImapSource(
                host=settings.bounce_imap_host,
                port=settings.bounce_imap_port,
                user=settings.bounce_imap_user,
                password=settings.bounce_imap_password.get_secret_value(),
                folder=settings.bounce_imap_folder,
                security=settings.bounce_imap_security,
            )
        )
    if not out:
        raise ConfigError(
            "no bounce mailbox to read",
            hint="Pass --maildir PATH, or set EPISTOLA_BOUNCE_MAILDIR or EPISTOLA_BOUNCE_IMAP_HOST.",
        )
    return out


@bounces_app.command("read")
def bounces_read(
    ctx: typer.Context,
    maildir: Path | None = typer.Option(None, help="A Maildir to read (default: EPISTOLA_BOUNCE_MAILDIR)."),
    imap: bool = typer.Option(False, "--imap", help="Read the IMAP mailbox of the EPISTOLA_BOUNCE_IMAP_* settings."),
) -> None:
    """Read unread bounces and complaint reports, suppress, settle messages, pause domains.

    Example: epistola bounces read --maildir /var/mail/bounces
    """
    app = app_of(ctx)
    suppressor = ListSuppressor.from_settings(app.settings)
    policy = FeedbackPolicy.from_settings(app.settings)
    for source in _sources(ctx, maildir, imap):
        try:
            run = process_mailbox(app.engine, source, suppressor=suppressor, clock=app.clock, policy=policy)
        finally:
            source.close()
        o = run.outcome
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(o.by_kind.items())) or "none"
        console.print(
            f"{source.name}: {run.mails} mails ({run.not_reports} not reports), {o.reports - o.duplicates} new reports "
            f"({kinds}), {o.duplicates} seen before, {o.untrusted} not matching their message, "
            f"{o.settled} messages settled, {o.suppressed} addresses suppressed"
        )
        for domain in o.paused_domains:
            console.print(f"[bold red]marketing to {domain} is paused[/]: its complaint rate is too high")


@bounces_app.command("list")
def bounces_list(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, help="hard, soft, complaint, delayed or delivered"),
    limit: int = typer.Option(30, min=1, max=1000),
) -> None:
    """The latest reports. Example: epistola bounces list --kind complaint"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = [
            [r["occurred_at"], r["kind"], r["domain"], r["status"] or "", r["source"], r["message_id"] or ""]
            for r in recent_reports(conn, limit=limit, kind=kind)
        ]
    console.print(table("Bounce and complaint reports", ["when", "kind", "domain", "status", "from", "message"], rows))


@bounces_app.command("domains")
def bounces_domains(ctx: typer.Context, days: int = typer.Option(30, min=1, help="Days to count over.")) -> None:
    """Reports per recipient domain, and which domains are paused. Example: epistola bounces domains --days 7"""
    app = app_of(ctx)
    with app.engine.connect() as conn:
        found = domain_table(conn, since=app.clock() - timedelta(days=days))
    kinds = ["hard", "soft", "complaint", "delayed", "delivered"]
    rows = [[r["domain"], *(r.get(k, 0) for k in kinds), "PAUSED" if r["paused"] else ""] for r in found]
    console.print(table(f"Domains, last {days} days", ["domain", *kinds, "marketing"], rows))


@bounces_app.command("resume")
def bounces_resume(ctx: typer.Context, domain: str) -> None:
    """Resume marketing to a domain paused for complaints. Example: epistola bounces resume example.org"""
    app = app_of(ctx)
    with app.engine.begin() as conn:
        resume_domain(conn, domain, now=app.clock(), actor="cli")
    console.print(f"marketing to {domain} resumed")


def attribute_cmd(
    ctx: typer.Context,
    campaign: str | None = typer.Option(None, help="One campaign (default: every started one)."),
    event: str = typer.Option("purchase", help="Event type that counts as a conversion."),
    window: int | None = typer.Option(None, min=1, help="Response window in days (default: the campaign's)."),
) -> None:
    """Attribute conversions to campaign steps, for target and control groups alike, then show the table.

    Example: epistola attribute --campaign autumn-1
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        run = attribute(conn, now=app.clock(), campaign=campaign, event_type=event, window_days=window, actor="cli")
    console.print(
        f"{run.campaigns} campaigns, {run.examined} {event} events examined, {run.attributed} newly attributed"
    )
    if campaign is None:
        return
    with app.engine.connect() as conn:
        lines = attribution_table(conn, campaign)
    rows = []
    for line in lines:
        for grp, g in (("target", line.target), ("control", line.control)):
            revenue = " · ".join(f"{amount:,.2f} {cur}" for cur, amount in g.revenue.items()) or "—"
            lift = "" if grp == "control" or line.lift is None else f"{line.lift * 100:+.1f} %"
            rows.append([line.step, grp, g.members, g.converters, f"{g.rate * 100:.2f} %", revenue, lift])
    console.print(
        table(f"Attribution: {campaign}", ["step", "group", "members", "converters", "rate", "revenue", "lift"], rows)
    )
