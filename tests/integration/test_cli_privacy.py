"""`epistola privacy …` on both engines: the same operations as the API, audited as `cli`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consent_fixtures import add_customers
from sqlalchemy import select
from typer.testing import CliRunner

from epistola.app import Epistola
from epistola.audience.segments import save_segment
from epistola.cli import app as cli
from epistola.cli.common import CliState
from epistola.consent.ledger import append_entries, current_state, history
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import ConsentEntry
from epistola.errors import InputError
from epistola.store.schema import audit_log, customers

runner = CliRunner()
COMMANDS = [
    "export",
    "erase",
    "rectify",
    "consents",
    "consent",
    "suppress",
    "unsuppress",
    "check",
    "link",
    "policy",
    "verify-ledger",
    "sms-inbound",
    "mail-unsubscribe",
    "sms-replies",
]


def epistola(app: Epistola, *args: str, stdin: bytes | None = None, code: int = 0) -> str:
    state = CliState()
    try:
        result = runner.invoke(
            cli, ["--database-url", app.settings.database_url, "privacy", *args], obj=state, input=stdin
        )
    finally:
        if state.app is not None:
            state.app.close()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def customer(app: Epistola) -> int:
    now = app.clock()
    with app.engine.begin() as conn:
        (cid,) = add_customers(
            conn, [{"email": "ewa@example.pl", "phone": "+48601234567", "first_name": "Ewa", "country": "PL"}], now
        )
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=cid,
                    channel="email",
                    purpose="marketing",
                    status="granted",
                    source="web",
                    recorded_at=now - timedelta(days=1),
                    proof={"ip": "198.51.100.77"},
                )
            ],
        )
    return cid


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(cli, ["privacy", command, "--help"])
    assert result.exit_code == 0 and "Example: epistola privacy" in result.output


def test_consent_suppression_and_sms_commands(app: Epistola, customer: int) -> None:
    epistola(app, "consent", str(customer), "--channel", "sms", "--status", "granted", "--reference", "F-2291")
    shown = epistola(app, "consents", str(customer))
    assert "sms" in shown and "F-2291" in shown
    assert "not suppressed" in epistola(app, "check", "--email", "ewa@example.pl")
    assert "suppressed" in epistola(app, "suppress", "--email", "EWA@example.pl", "--scope", "email")
    assert "complaint" not in epistola(app, "check", "--email", "ewa@example.pl")
    assert "manual" in epistola(app, "check", "--email", "ewa@example.pl")
    epistola(app, "unsuppress", "--email", "ewa@example.pl", "--scope", "email")
    assert "keyword STOP applied to 1 customer(s)" in epistola(
        app, "sms-inbound", "--from", "+48601234567", "--text", "STOP", "--id", "1"
    )
    assert "handled before: nothing changed" in epistola(
        app, "sms-inbound", "--from", "+48601234567", "--text", "STOP", "--id", "1"
    )
    assert "ledger consistent" in epistola(app, "verify-ledger")
    assert "/preferences/" in epistola(app, "link", str(customer))
    assert "opt_in" in epistola(app, "policy")
    with pytest.raises(InputError, match="exactly one of --email or --phone"):
        epistola(app, "check")


def test_rectify_export_and_erase(app: Epistola, customer: int, tmp_path: Path) -> None:
    epistola(app, "rectify", str(customer), "--set", "last_name=Nowak", "--set", "city=Kraków")
    out = tmp_path / "export.json"
    epistola(app, "export", str(customer), "--out", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["customer"]["last_name"], data["customer"]["city"]) == ("Nowak", "Kraków")
    assert data["consents"]["history"][0]["proof"]["ip"] == "198.51.100.77"
    with pytest.raises(InputError, match="cannot be undone"):
        epistola(app, "erase", str(customer))
    with app.engine.begin() as conn:  # an audit row that names her: the erasure redacts it
        save_segment(conn, name="ewa", definition={"field": "email", "eq": "ewa@example.pl"}, now=app.clock())
    shown = epistola(app, "erase", str(customer), "--yes")
    assert f"Erased customer {customer}" in shown
    state = CliState()
    verified = runner.invoke(cli, ["--database-url", app.settings.database_url, "audit", "verify"], obj=state)
    assert state.app is not None
    state.app.close()
    assert verified.exit_code == 0 and "1 redacted by erasures" in verified.output
    with app.engine.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == customer)).mappings().one()
        actors = set(conn.execute(select(audit_log.c.actor).where(audit_log.c.action == "customer.erase")).scalars())
    assert (row["email"], row["last_name"], row["phone"]) == (None, None, None)
    assert actors == {"cli"}


def test_a_mail_to_the_list_unsubscribe_address_withdraws(app: Epistola, customer: int) -> None:
    mailto = PrivacyLinks.from_settings(app.settings).unsubscribe_mailto(customer, 12)
    address = mailto.removeprefix("mailto:").split("?")[0]
    mail = f"From: ewa@example.pl\r\nTo: {address.upper()}\r\nSubject: unsubscribe\r\n\r\n".encode()
    assert "unsubscribed" in epistola(app, "mail-unsubscribe", stdin=mail)
    assert "already" in epistola(app, "mail-unsubscribe", "--to", address)
    with app.engine.connect() as conn:
        later = datetime.now(UTC) + timedelta(minutes=1)  # the CLI runs on the real clock
        state = current_state(conn, [customer], channel="email", purpose="marketing", now=later)
        proof = history(conn, [customer])[-1].entry.proof
    assert state == {customer: "withdrawn"} and proof == {"kind": "mailto", "message_id": 12}
    forged = b"To: unsubscribe+" + b"a" * 53 + b"@epistola.example\r\n\r\n"
    assert "no valid unsubscribe address" in epistola(app, "mail-unsubscribe", stdin=forged, code=1)


def test_erase_says_how_many_source_record_keys_it_kept(app: Epistola) -> None:
    from hub_fixtures import run_cli

    crm = Path(__file__).parent.parent / "fixtures" / "sources" / "crm_intl.csv"
    assert run_cli(app, "import", str(crm), "--mapping", "crm_intl").exit_code == 0
    with app.engine.connect() as conn:
        bill = conn.execute(select(customers.c.id).where(customers.c.email == "bill.weingarten@gmail.com")).scalar_one()
    shown = epistola(app, "erase", str(bill), "--yes")
    assert "1 source record key(s) kept as keyed hashes" in shown
    assert "address(es) suppressed on every channel" in shown
