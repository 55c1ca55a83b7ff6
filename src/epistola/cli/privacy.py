"""Privacy commands: consent with proof, suppression lists, data-subject export, erasure and rectification.

The same operations as ``/api/v1/privacy``; the CLI is for whoever runs the installation, so it is audited
as ``cli``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

import typer

from epistola.cli.common import app_of, console, table
from epistola.consent import suppression
from epistola.consent.erasure import erase_customer
from epistola.consent.export import export_customer
from epistola.consent.keys import Keyring
from epistola.consent.ledger import history, ledger_rows, record_entries, standings
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import ConsentEntry, replay
from epistola.consent.policy import parse_policy
from epistola.consent.preferences import resolve, unsubscribe_by_mail
from epistola.consent.rectify import rectify
from epistola.consent.replies import ReplyRun
from epistola.consent.sms_keywords import Inbound, handle_inbound
from epistola.consent.subjects import person_ids
from epistola.errors import InputError, NotFound, Problem

privacy_app = typer.Typer(
    help="Consent with proof, suppression lists, data-subject requests (export, erasure, rectification).",
    no_args_is_help=True,
)
ACTOR = "cli"


def _address(email: str | None, phone: str | None) -> str:
    if (email is None) == (phone is None):
        raise InputError("give exactly one of --email or --phone", problems=[Problem(message="one", field="address")])
    if email is not None:
        return suppression.identifier("email", suppression.normalise_email(email))
    return suppression.identifier("phone", suppression.normalise_phone(phone or ""))


@privacy_app.command("export")
def export_cmd(
    ctx: typer.Context,
    customer: int = typer.Argument(..., help="Customer id."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON here instead of printing it."),
) -> None:
    """Everything stored about a person, as JSON (GDPR art. 15 and 20).

    Example: epistola privacy export 42 --out customer-42.json
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        data = export_customer(
            conn, customer, keyring=Keyring.from_settings(app.settings), now=app.clock(), actor=ACTOR, origin="cli"
        )
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"exported customer {data['customer']['id']} to {out}")


@privacy_app.command("erase")
def erase_cmd(
    ctx: typer.Context,
    customer: int = typer.Argument(..., help="Customer id."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: an erasure cannot be undone."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Scan every table afterwards (slower)."),
) -> None:
    """Erase a person from every table; only a keyed hash of their addresses stays, so they are never
    contacted again (GDPR art. 17).

    Example: epistola privacy erase 42 --yes
    """
    if not yes:
        raise InputError("an erasure cannot be undone", hint="Run again with --yes to confirm.")
    app = app_of(ctx)
    with app.engine.begin() as conn:
        report = erase_customer(
            conn,
            customer,
            keyring=Keyring.from_settings(app.settings),
            now=app.clock(),
            actor=ACTOR,
            origin="cli",
            verify=verify,
        )
    rows = [[t, n] for t, n in sorted(report.changed.items())]
    console.print(table(f"Erased customer {report.customer_id}", ["table", "count rows"], rows))
    console.print(f"{report.suppressed} address(es) suppressed on every channel (kept only as keyed hashes)")
    console.print(f"{report.record_keys} source record key(s) kept as keyed hashes, so re-imports skip them")


@privacy_app.command("rectify")
def rectify_cmd(
    ctx: typer.Context,
    customer: int = typer.Argument(..., help="Customer id."),
    changes: list[str] = typer.Option(..., "--set", help="field=value; repeat for several; empty value clears."),
) -> None:
    """Correct a customer's data (GDPR art. 16); the correction survives the next identity resolution.

    Example: epistola privacy rectify 42 --set last_name=Kowalska --set city=Kraków
    """
    parsed: dict[str, str] = {}
    for item in changes:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(
                f"--set {item!r} is not field=value", problems=[Problem(message="field=value", field="--set")]
            )
        parsed[name.strip()] = value
    app = app_of(ctx)
    with app.engine.begin() as conn:
        row = rectify(conn, customer, parsed, now=app.clock(), actor=ACTOR, origin="cli")
    console.print(f"customer {row['id']} corrected: {', '.join(sorted(parsed))}")


@privacy_app.command("consents")
def consents_cmd(ctx: typer.Context, customer: int = typer.Argument(..., help="Customer id.")) -> None:
    """The consent in force per channel and purpose, and the whole ledger with its proofs.

    Example: epistola privacy consents 42
    """
    app = app_of(ctx)
    now = app.clock()
    with app.engine.connect() as conn:
        ids = person_ids(conn, customer)
        in_force = standings(conn, ids, now=now)
        rows = history(conn, ids)
    console.print(
        table(
            f"Consent in force for customer {ids[0]}",
            ["channel", "purpose", "status", "expires"],
            [[ch, pu, s.status, s.expires_at or ""] for (_, ch, pu), s in sorted(in_force.items())],
        )
    )
    console.print(
        table(
            "Ledger",
            ["#", "recorded", "channel", "purpose", "status", "source", "proof"],
            [
                [
                    r.id,
                    r.entry.recorded_at,
                    r.entry.channel,
                    r.entry.purpose,
                    r.entry.status,
                    r.entry.source,
                    json.dumps(r.entry.proof, ensure_ascii=False),
                ]
                for r in rows
            ],
        )
    )


@privacy_app.command("consent")
def consent_cmd(
    ctx: typer.Context,
    customer: int = typer.Argument(..., help="Customer id."),
    channel: str = typer.Option(..., help="email, sms, post, phone, push or web"),
    status: str = typer.Option(..., help="granted, denied or withdrawn"),
    purpose: str = typer.Option("marketing", help="marketing, service or profiling"),
    source: str = typer.Option("cli", help="Where the customer said it (paper form, call centre, …)."),
    reference: str | None = typer.Option(None, help="Proof: a form id, call id or document number."),
    expires: datetime | None = typer.Option(None, help="When a grant lapses (ISO 8601 with a zone)."),
) -> None:
    """Record what a customer said about a channel, with its proof.

    Example: epistola privacy consent 42 --channel sms --status granted --source paper --reference F-2291
    """
    app = app_of(ctx)
    now = app.clock()
    with app.engine.begin() as conn:
        root = person_ids(conn, customer)[0]
        entry = ConsentEntry(
            customer_id=root,
            channel=channel,
            purpose=purpose,
            status=status,  # type: ignore[arg-type]  # checked by record_entries
            source=source,
            recorded_at=now,
            expires_at=expires,
            proof={"kind": "operator", **({"reference": reference} if reference else {})},
        )
        record_entries(conn, [entry], now=now, actor=ACTOR, origin="cli")
    console.print(f"customer {root}: {channel} {purpose} {status}")


@privacy_app.command("suppress")
def suppress_cmd(
    ctx: typer.Context,
    email: str | None = typer.Option(None, help="An e-mail address."),
    phone: str | None = typer.Option(None, help="A phone number in E.164 (+48601234567)."),
    scope: str = typer.Option("all", help="all, or one channel: email, sms, post, phone, push, web"),
    reason: str = typer.Option("manual", help="hard_bounce, complaint, legal or manual"),
) -> None:
    """Never contact an address again (on one channel or all); it is stored as a keyed hash only.

    Example: epistola privacy suppress --email someone@example.com --scope email --reason complaint
    """
    app = app_of(ctx)
    ident = _address(email, phone)
    with app.engine.begin() as conn:
        added = suppression.add(
            conn,
            Keyring.from_settings(app.settings),
            [ident],
            scope=scope,
            reason=reason,
            source="cli",
            now=app.clock(),
            actor=ACTOR,
            origin="cli",
        )
    console.print("suppressed" if added else "already suppressed")


@privacy_app.command("unsuppress")
def unsuppress_cmd(
    ctx: typer.Context,
    email: str | None = typer.Option(None, help="An e-mail address."),
    phone: str | None = typer.Option(None, help="A phone number in E.164."),
    scope: str = typer.Option("all", help="The scope to lift: all, email, sms, …"),
) -> None:
    """Lift a suppression (for example a hard bounce that was the provider's mistake).

    Example: epistola privacy unsuppress --email someone@example.com --scope email
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        suppression.remove(
            conn,
            Keyring.from_settings(app.settings),
            [_address(email, phone)],
            scope=scope,
            now=app.clock(),
            actor=ACTOR,
            origin="cli",
        )
    console.print("lifted")


@privacy_app.command("check")
def check_cmd(
    ctx: typer.Context,
    email: str | None = typer.Option(None, help="An e-mail address."),
    phone: str | None = typer.Option(None, help="A phone number in E.164."),
) -> None:
    """Is an address suppressed, where and why?

    Example: epistola privacy check --phone +48601234567
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        found = suppression.lookup(conn, Keyring.from_settings(app.settings), [_address(email, phone)])
    rows = [[s.scope, s.reason, s.created_at] for items in found.values() for s in items]
    if not rows:
        console.print("not suppressed")
        return
    console.print(table("Suppressed", ["scope", "reason", "since"], rows))


@privacy_app.command("link")
def link_cmd(ctx: typer.Context, customer: int = typer.Argument(..., help="Customer id.")) -> None:
    """The customer's preference-centre link, for support staff to send.

    Example: epistola privacy link 42
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        cid = resolve(conn, customer)
        if cid is None:
            person_ids(conn, customer)
            raise NotFound(f"customer {customer} was erased")
    typer.echo(PrivacyLinks.from_settings(app.settings).preferences_url(cid))


@privacy_app.command("policy")
def policy_cmd(ctx: typer.Context) -> None:
    """The consent policy in force: the defaults with EPISTOLA_CONSENT_POLICY laid over them.

    Example: epistola privacy policy
    """
    rules = parse_policy(app_of(ctx).settings.consent_policy).describe()
    console.print(table("Consent policy", ["channel", "purpose", "country", "requires"], [list(r) for r in rules]))


@privacy_app.command("verify-ledger")
def verify_ledger_cmd(ctx: typer.Context) -> None:
    """Replay the whole consent ledger and compare it with the state the store derives; exit 1 on any mismatch.

    Example: epistola privacy verify-ledger
    """
    app = app_of(ctx)
    now = app.clock()
    with app.engine.connect() as conn:
        rows = list(ledger_rows(conn))
        replayed = replay(rows, now)
        derived = {k: s.status for k, s in standings(conn, sorted({c for c, _, _ in replayed}), now=now).items()}
    bad = sorted(k for k in set(replayed) | set(derived) if replayed.get(k) != derived.get(k))
    if bad:
        console.print(f"[bold red]{len(bad)} states differ[/], first: {bad[0]}")
        raise typer.Exit(1)
    console.print(f"ledger consistent: {len(rows):,} entries, {len(replayed):,} states")


@privacy_app.command("sms-inbound")
def sms_inbound_cmd(
    ctx: typer.Context,
    sender: str = typer.Option(..., "--from", help="The customer's number."),
    text: str = typer.Option(..., help="What they sent."),
    message_id: str = typer.Option(..., "--id", help="The provider's id of the inbound message."),
    provider: str = typer.Option("cli", help="The provider's name."),
) -> None:
    """Handle an inbound SMS as the webhook would (STOP / START / HELP in en, ru, pl); for SMPP bridges and tests.

    Example: epistola privacy sms-inbound --from +48601234567 --text STOP --id smsc-123
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        handled = handle_inbound(
            conn,
            Keyring.from_settings(app.settings),
            Inbound(inbound_key=f"{provider}:{message_id}", sender=sender, text=text),
            now=app.clock(),
        )
    if handled.duplicate:
        console.print(f"message {message_id} from {provider} was handled before: nothing changed")
    elif handled.keyword:
        console.print(f"keyword {handled.keyword.upper()} applied to {len(handled.customers)} customer(s)")
    else:
        console.print(f"no keyword; kept as a reply from {len(handled.customers)} customer(s)")


@privacy_app.command("mail-unsubscribe")
def mail_unsubscribe_cmd(
    ctx: typer.Context,
    to: list[str] = typer.Option(None, "--to", help="Recipient address(es); default: read the mail from stdin."),
) -> None:
    """Handle a mail sent to the List-Unsubscribe mailto: address (unsubscribe+TOKEN@…); exits 1 if it
    carries no valid token. For a mail server's pipe, e.g. Postfix: ``unsubscribe: "|epistola privacy
    mail-unsubscribe"``.

    Example: epistola privacy mail-unsubscribe < message.eml
    """
    recipients = list(to or [])
    if not recipients:
        message = BytesParser(policy=default_policy).parse(sys.stdin.buffer, headersonly=True)
        for header in ("Delivered-To", "X-Original-To", "To", "Cc"):
            recipients += [address for _name, address in getaddresses(message.get_all(header) or [])]
    app = app_of(ctx)
    with app.engine.begin() as conn:
        done = unsubscribe_by_mail(
            conn, PrivacyLinks.from_settings(app.settings), recipients, now=app.clock(), proof={}
        )
    if done is None:
        console.print("no valid unsubscribe address in the message")
        raise typer.Exit(1)
    console.print("unsubscribed" if done else "was already unsubscribed")


@privacy_app.command("sms-replies")
def sms_replies_cmd(
    ctx: typer.Context,
    limit: int = typer.Option(1000, min=1, help="At most this many confirmations in one run."),
) -> None:
    """Send the queued STOP / START / HELP confirmations through the configured SMS provider, once each.

    Example: epistola privacy sms-replies
    """
    import asyncio

    from epistola.app import delivery_channels
    from epistola.consent.replies import send_pending

    app = app_of(ctx)
    channel = delivery_channels(app)["sms"]

    async def run() -> ReplyRun:
        try:
            return await send_pending(app.engine, channel, sender=app.settings.sms_sender, clock=app.clock, limit=limit)
        finally:
            await channel.close()

    done = asyncio.run(run())
    console.print(f"sent {done.sent}, failed {done.failed}, to retry {done.retry}, uncertain {done.uncertain}")
