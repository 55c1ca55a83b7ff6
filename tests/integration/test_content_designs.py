"""Designs through the store, the API and the CLI, on SQLite and PostgreSQL: versions keep the whole
design, bad designs leave nothing behind, snippets are frozen into a version, previews and proof sets
come back in every channel, and only the content roles may change content."""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta
from email import message_from_bytes, policy
from importlib import resources
from pathlib import Path
from typing import Any

import html5lib
import pytest
import yaml
from consent_fixtures import add_customers, claimed, queue_campaign
from pypdf import PdfReader
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner, Result

from epistola import accounts
from epistola.app import Epistola
from epistola.audience.segments import save_segment
from epistola.campaigns.compose import EmailComposer
from epistola.consent.ledger import append_entries
from epistola.consent.model import ConsentEntry
from epistola.content.design import parse_design
from epistola.content.snippets import save_snippet
from epistola.content.templates import approve, get_version, save_version
from epistola.delivery.ports import Envelope
from epistola.errors import TemplateError
from epistola.store.schema import audit_log, campaign_members, customers, template_versions, templates
from epistola.testing.web import api_client


def _design(name: str) -> dict[str, Any]:
    text = resources.files("epistola.demo_content").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def _people(app: Epistola) -> list[int]:
    now = app.clock()
    rows = [
        {
            "first_name": "Анна",
            "last_name": "Иванова",
            "gender": "f",
            "locale": "ru",
            "country": "RU",
            "city": "Москва",
        },
        {"first_name": "Jan", "last_name": "Kowalski", "gender": "m", "locale": "pl", "country": "PL", "city": "Łódź"},
        {"first_name": "Ann", "last_name": "Lee", "gender": None, "locale": "en", "country": "US", "city": "Austin"},
    ]
    with app.engine.begin() as conn:
        for row in rows:
            conn.execute(
                insert(customers).values(
                    **row, birth_date=date(1980, 5, 1), attributes={}, created_at=now, updated_at=now
                )
            )
        return [int(i) for i in conn.execute(select(customers.c.id).order_by(customers.c.id)).scalars()]


def _key(app: Epistola, name: str, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=name, role=role, now=app.clock())}"}


def test_versions_keep_the_whole_design_and_bad_ones_leave_nothing(app: Epistola) -> None:
    now = app.clock()
    with app.engine.begin() as conn:
        saved = save_version(conn, name="autumn", definition=_design("new-collection"), now=now, actor="ann")
        assert get_version(conn, "autumn").design().choose(locale="ru").name == "ru"
        assert saved.design().channels == ("email", "sms", "print", "web")
    bad = {"subject": "Hi", "body": "Hello {{ customer.first_name }}\n\n[x](www.example.com)"}
    with pytest.raises(TemplateError) as caught, app.engine.begin() as conn:
        save_version(conn, name="broken", definition=bad, now=now, actor="ann")
    assert [(p.file, p.row) for p in caught.value.problems] == [("body", 1), ("body", 3)]
    with app.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(template_versions)).scalar_one() == 1
        assert conn.execute(select(templates.c.name)).scalars().all() == ["autumn"]
        actions = conn.execute(select(audit_log.c.actor, audit_log.c.entity)).all()
    assert ("ann", "template_version") in actions


def test_snippets_are_copied_into_the_version_that_includes_them(app: Epistola) -> None:
    now = app.clock()
    design = {"subject": "Hi", "body": "Hello\n\n{% include 'signature' %}"}
    with app.engine.begin() as conn:
        save_snippet(conn, name="signature", body="Kind regards,\nAnn from {{ brand.name }}", now=now, actor="ann")
        first = save_version(conn, name="note", definition=design, now=now)
        approve(conn, name="note", version=first.version, by="ann", now=now)
        save_snippet(conn, name="signature", body="Best wishes,\nBob", now=now, actor="bob")
        second = save_version(conn, name="note", definition=design, now=now)
        assert get_version(conn, "note", approved=True).design().snippets["signature"].startswith("Kind regards")
        assert second.design().snippets["signature"] == "Best wishes,\nBob"
        with pytest.raises(TemplateError, match="snippet"):
            save_version(conn, name="note", definition={"subject": "x", "body": "{% include 'nope' %}"}, now=now)


def test_designs_over_http_with_roles_preview_and_proofs(app: Epistola) -> None:
    ids = _people(app)
    marketer, viewer = _key(app, "mia", "marketer"), _key(app, "vic", "viewer")
    with api_client(app) as http:
        assert http.post("/api/v1/templates/bday/versions", json=_design("birthday"), headers=viewer).status_code == 403
        bad = http.post(
            "/api/v1/templates/bday/versions", json={"subject": "Hi", "body": "{{ nope }}"}, headers=marketer
        )
        assert bad.status_code == 400 and bad.json()["ok"] is False
        assert bad.json()["errors"][0]["file"] == "body" and bad.json()["errors"][0]["row"] == 1
        created = http.post("/api/v1/templates/bday/versions", json=_design("birthday"), headers=marketer)
        assert created.status_code == 201 and created.json()["status"] == "draft"
        approved = http.post("/api/v1/templates/bday/approve", headers=marketer)
        assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "mia"
        shown = http.post("/api/v1/templates/bday/preview", json={"customer_id": ids[0]}, headers=viewer).json()
        assert shown["variant"] == "ru" and "Уважаемая Анна!" in shown["email"]["text"]
        assert shown["sms"]["encoding"] == "ucs2" and shown["sms"]["segments"] >= 1
        html5lib.HTMLParser(strict=True).parse(shown["email"]["html"])
        letter = PdfReader(io.BytesIO(base64.b64decode(shown["letter"]["pdf_base64"])))
        assert "Иванова" in letter.pages[0].extract_text() and shown["letter"]["paper"] == "a4"
        us = http.post("/api/v1/templates/bday/preview", json={"customer_id": ids[2]}, headers=viewer).json()
        assert us["letter"]["paper"] == "letter" and "Dear Ann," in us["email"]["text"]
        pdf = http.get("/api/v1/templates/bday/proof.pdf?sample=3", headers=viewer)
        assert pdf.headers["content-type"] == "application/pdf" and len(PdfReader(io.BytesIO(pdf.content)).pages) == 3
        page = http.get("/api/v1/templates/bday/proof.html?sample=3", headers=viewer)
        html5lib.HTMLParser(strict=True).parse(page.text)
        assert "Szanowny Panie," in page.text and "Kowalski" in page.text
        assert http.post("/api/v1/snippets/sig", json={"body": "{{ evil.x }}"}, headers=marketer).status_code == 400


def _cli(app: Epistola, *args: str) -> Result:
    """The `epistola` CLI in this process, on the test's database (a subprocess would re-import everything)."""
    from epistola.cli import app as cli
    from epistola.cli.common import CliState

    options = ["--database-url", app.settings.database_url, "--output-dir", str(app.settings.output_dir)]
    state = CliState()
    try:
        return CliRunner().invoke(cli, [*options, *args], env={"COLUMNS": "200"}, obj=state)
    finally:
        if state.app is not None:
            state.app.close()


def test_cli_saves_previews_and_proofs(app: Epistola, tmp_path: Path) -> None:
    ids = _people(app)
    folder = tmp_path / "designs"
    folder.mkdir()
    for name in ("new-collection", "statement"):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(_design(name), allow_unicode=True), encoding="utf-8")
    out = _cli(app, "template", "import", str(folder), "--approve")
    assert out.exit_code == 0, out.output
    out = _cli(app, "template", "preview", "new-collection", "--customer", str(ids[1]))
    assert out.exit_code == 0, out.output
    written = app.settings.output_dir / "previews" / f"new-collection-{ids[1]}"
    assert "Szanowny Panie," in (written / "email.txt").read_text(encoding="utf-8")
    assert (written / "letter-1.png").read_bytes().startswith(b"\x89PNG")
    out = _cli(app, "template", "proof", "statement", "--sample", "3")
    assert out.exit_code == 0, out.output
    assert len(PdfReader(app.settings.output_dir / "proofs" / "statement-v1.pdf").pages) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("subject: Hi\nsms: 'x'\nbody: |\n  Fine\n\n  [shop](shop.example)\n", encoding="utf-8")
    out = _cli(app, "template", "save", "bad", str(bad))
    assert isinstance(out.exception, TemplateError)
    assert [(p.file, p.row) for p in out.exception.problems] == [("body", 3)]


def test_the_composer_sends_each_customer_their_variant(app: Epistola) -> None:
    """A/B keys come from the campaign member, segments from the segment's definition, at send time."""
    now = app.clock()
    design = {
        "subject": "Default",
        "body": "Hello",
        "variants": [
            {"name": "vip", "when": {"segment": "londoners"}, "subject": "VIP"},
            {"name": "b", "when": {"ab": "B"}, "subject": "Variant B"},
        ],
    }
    people = [{"email": f"p{n}@example.com", "city": city} for n, city in enumerate(["London", "Leeds", "York"])]
    with app.engine.begin() as conn:
        ids = add_customers(conn, people, now)
        save_segment(conn, name="londoners", definition={"field": "city", "eq": "London"}, now=now)
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=i,
                    channel="email",
                    purpose="marketing",
                    status="granted",
                    source="test",
                    recorded_at=now - timedelta(days=1),
                )
                for i in ids
            ],
        )
        queued = queue_campaign(conn, ids, now)
        stored = parse_design(design, name="v", version=1).to_dict()
        conn.execute(update(template_versions).values(definition=stored))
        conn.execute(
            insert(campaign_members),
            [
                {"campaign_id": queued.campaign_id, "customer_id": i, "grp": "target", "variant": v}
                for i, v in zip(ids, ["B", "B", "A"], strict=True)
            ],
        )
        rows = claimed(conn, queued)
    composer = EmailComposer(app.engine, clock=app.clock, sender=app.settings.mail_from, base_url="https://e.example")
    subjects = {}
    for result in composer.compose(rows):
        assert isinstance(result, Envelope), result
        subjects[result.recipient] = message_from_bytes(result.data, policy=policy.default)["Subject"]
    assert subjects == {"p0@example.com": "VIP", "p1@example.com": "Variant B", "p2@example.com": "Default"}
