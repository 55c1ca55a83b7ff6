"""The `epistola` command line: the same operations as the API, for people and scripts."""

from __future__ import annotations

import sys

import typer

from epistola.cli import audience as audience_cli
from epistola.cli import campaigns, content, data, ops, quality
from epistola.cli import delivery as delivery_cli
from epistola.cli import feedback as feedback_cli
from epistola.cli import identity as identity_cli
from epistola.cli import privacy as privacy_cli
from epistola.cli.common import report_error, state
from epistola.config import describe_settings
from epistola.errors import EpistolaError


def _epilog() -> str:
    names = ", ".join(name for name, _default, _meaning in describe_settings())
    return f"Settings come from environment variables or a .env file (`epistola settings` explains each):\n\n{names}"


app = typer.Typer(
    name="epistola",
    help="Epistola — customer communications: one clean customer record, the right message in every channel.\n\n"
    "Start with `epistola demo`; see the README for the full tour.",
    epilog=_epilog(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: str = typer.Option(None, "--database-url", help="Overrides EPISTOLA_DATABASE_URL."),
    output_dir: str = typer.Option(None, "--output-dir", help="Overrides EPISTOLA_OUTPUT_DIR."),
) -> None:
    overrides = state(ctx).overrides
    if database_url:
        overrides["database_url"] = database_url
    if output_dir:
        overrides["output_dir"] = output_dir


app.command("init")(ops.init)
app.command("settings")(ops.settings_cmd)
app.command("generate")(data.generate)
app.command("import")(data.import_cmd)
app.command("quality")(quality.quality)
app.add_typer(quality.enrich_app, name="enrich")
app.add_typer(data.customers_app, name="customers")
app.add_typer(identity_cli.identity_app, name="identity")
app.add_typer(audience_cli.segment_app, name="segment")
app.add_typer(audience_cli.mart_app, name="mart")
app.add_typer(content.template_app, name="template")
app.add_typer(campaigns.campaign_app, name="campaign")
app.command("send")(campaigns.send)
app.command("report")(campaigns.report)
app.add_typer(feedback_cli.survey_app, name="survey")
app.add_typer(feedback_cli.bounces_app, name="bounces")
app.command("attribute")(feedback_cli.attribute_cmd)
app.command("serve")(ops.serve)
app.command("worker")(ops.worker)
app.command("dkim-key")(delivery_cli.dkim_key)
app.add_typer(ops.keys_app, name="keys")
app.add_typer(ops.audit_app, name="audit")
app.add_typer(privacy_cli.privacy_app, name="privacy")
app.command("demo")(ops.demo)
app.command("bench")(ops.bench)


def main() -> None:
    try:
        app()
    except EpistolaError as exc:
        sys.exit(report_error(exc))
