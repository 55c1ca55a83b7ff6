"""Data-subject rights through the API, on both engines: export, erasure that leaves no identifier in any
table (scanned here independently of the code under test), rectification, and the roles that may do it."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from consent_fixtures import claimed, queue_campaign
from hub_fixtures import run_cli
from sqlalchemy import insert, select, update

from epistola import accounts, audit
from epistola.app import Epistola, create_worker
from epistola.audience.segments import save_segment
from epistola.consent.gate import ConsentGate, SendRequest
from epistola.consent.keys import Keyring
from epistola.consent.sms_keywords import Inbound, handle_inbound
from epistola.delivery.sink import SmtpSink
from epistola.delivery.smtp import SmtpChannel
from epistola.errors import Conflict
from epistola.hub.events import import_events
from epistola.hub.ingest import import_source
from epistola.hub.pipeline import event_mapping, import_dataset, source_mapping
from epistola.hub.quality import quality_report
from epistola.store.schema import (
    audit_log,
    customers,
    events,
    import_rejects,
    imports,
    metadata,
)
from epistola.testing.web import TestClient, api_client

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
EMAIL = "bill.weingarten@gmail.com"
# Everything that identifies Bill in the fixtures (two sources: the US CRM and web registrations).
NEEDLES = ("bill.weingarten@gmail.com", "weingarten", "203.0.113.7", "1102 w. pratt", "(410) 555-0134", "+14105550134")
DIGITS = "4105550134"


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


def mentions(value: Any) -> bool:
    if value is None:
        return False
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return any(n in text.casefold() for n in NEEDLES) or DIGITS in re.sub(r"\D", "", text)


def scan(app: Epistola) -> list[tuple[str, str]]:
    """(table, column) of every stored value that names Bill, in every table of the schema."""
    hits = []
    with app.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                hits.extend((table.name, column) for column, value in row.items() if mentions(value))
    return hits


def key(app: Epistola, name: str, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=name, role=role, now=app.clock())}"}


def bill(app: Epistola) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.execute(
                select(customers.c.id).where(customers.c.email == EMAIL, customers.c.merged_into.is_(None))
            ).scalar_one()
        )


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return api_client(app)


def leave_traces_everywhere(app: Epistola, cid: int, tmp_path: Path) -> None:
    """Everything a real installation would hold about Bill, in every kind of table."""
    now = app.clock()
    keyring = Keyring.from_settings(app.settings)
    with app.engine.begin() as conn:
        conn.execute(update(customers).where(customers.c.id == cid).values(phone="+14105550134"))
        save_segment(conn, name="just-bill", definition={"field": "email", "eq": EMAIL}, now=now, actor="ann")
        audit.record(
            conn,
            at=now,
            actor="customer",
            action="survey.answer",
            entity="customer",
            entity_id=cid,
            details={"changed": ["q1"]},
            origin="203.0.113.7",
        )
        import_id = conn.execute(select(imports.c.id).limit(1)).scalar_one()
        conn.execute(
            insert(import_rejects).values(
                import_id=import_id,
                row=9,
                field="email",
                reason="duplicate key",
                raw="U-0009,Mr,Bill,Weingarten,bill.weingarten@gmail.com,410.555.0134",
            )
        )
        conn.execute(
            insert(events).values(
                event_uid="web_events:E9",
                customer_id=None,
                type="page_view",
                occurred_at=now,
                properties={"_ident": {"email": EMAIL}},
                received_at=now,
            )
        )
        handle_inbound(conn, keyring, Inbound(inbound_key="acme:1", sender="+14105550134", text="STOP"), now=now)
        queued = queue_campaign(
            conn, [cid], now, body="Hello {{ customer.first_name }}, see [news](https://shop.example/n)"
        )
    with SmtpSink(tmp_path / "mail") as sink:
        channel = SmtpChannel(sink.host, sink.port, connections=1, timeout=10)
        asyncio.run(create_worker(app, channels={"email": channel}, handle_signals=False).run(until_idle=True))
        assert [r for m in sink.received for r in m.rcpt_tos] == [EMAIL]
    mid = queued.message_ids[cid]
    with app.engine.begin() as conn:
        if "feedback_reports" in metadata.tables:
            conn.execute(
                insert(metadata.tables["feedback_reports"]).values(
                    report_uid="r1",
                    kind="hard",
                    channel="email",
                    address=EMAIL,
                    domain="gmail.com",
                    message_id=mid,
                    diagnostic=f"550 5.1.1 <{EMAIL}>: no such user",
                    source="maildir",
                    occurred_at=now,
                    received_at=now,
                )
            )
        if "inbox_items" in metadata.tables:
            conn.execute(
                insert(metadata.tables["inbox_items"]).values(
                    message_id=mid, customer_id=cid, subject="Hello Bill Weingarten", body_text="x", created_at=now
                )
            )
        if "survey_responses" in metadata.tables:
            survey_id = conn.execute(
                insert(metadata.tables["surveys"]).values(
                    name="lca", version=1, definition={}, created_at=now, updated_at=now
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(metadata.tables["survey_responses"]).values(
                    survey_id=survey_id,
                    customer_id=cid,
                    message_id=mid,
                    survey_version=1,
                    answers={"name": "Bill Weingarten"},
                    revision=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        assert claimed(conn, queued)  # the message row is there, with its recipient


def test_export_then_erasure_leaves_no_identifier_in_any_table(
    app: Epistola, client: TestClient, tmp_path: Path
) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    cid = bill(app)
    leave_traces_everywhere(app, cid, tmp_path)
    assert {t for t, _ in scan(app)} >= {"customers", "source_records", "messages", "audit_log", "import_rejects"}
    dpo = key(app, "dpo", "privacy")

    exported = client.get(f"/api/v1/privacy/customers/{cid}/export", headers=dpo)
    assert exported.status_code == 200
    body = exported.json()
    assert body["customer"]["email"] == EMAIL and body["format"] == "epistola.export/1"
    assert {r["source"] for r in body["source_records"]} == {"crm_intl", "web"}
    assert body["consents"]["history"] and body["messages"][0]["recipient"] == EMAIL
    assert any(s["reason"] == "keyword" for s in body["suppressions"])
    assert "survey_responses" in body["other"] or "survey_responses" not in metadata.tables

    erased = client.post(
        f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True, "verify": True}, headers=dpo
    )
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["customer_id"] == cid and report["suppressed"] >= 2
    assert not mentions(erased.text)

    assert scan(app) == [], "an identifier survived the erasure"
    with app.engine.connect() as conn:
        chain = audit.verify(conn)
        others = set(conn.execute(select(customers.c.email).where(customers.c.email.is_not(None))).scalars())
    assert chain.ok and chain.redacted >= 2
    assert "susan.miller@yahoo.com" in others, "nobody else was touched"
    assert client.get(f"/api/v1/privacy/customers/{cid}/export", headers=dpo).status_code == 404
    again = client.post(f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True}, headers=dpo)
    assert again.status_code == 409


def test_an_erased_person_stays_erased_when_the_same_files_are_imported_again(
    app: Epistola, client: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    shutil.copytree(FIXTURES, folder)
    import_dataset(app, folder, _NoBar)
    cid = bill(app)
    dpo = key(app, "dpo", "privacy")
    erased = client.post(f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True}, headers=dpo)
    assert erased.is_success and erased.json()["record_keys"] == 2  # his CRM and web records
    crm = folder / "crm_intl.csv"  # the CRM still has him (and Susan moved); the web file too
    crm.write_text(crm.read_text(encoding="utf-8-sig").replace("55 Main St Apt 4B", "7 Oak St"), encoding="utf-8-sig")

    again = {r.source: r for r in import_dataset(app, folder, _NoBar).sources}
    assert again["crm_intl"].skipped == {"erased subject": 1}
    assert (again["crm_intl"].new, again["crm_intl"].changed, again["crm_intl"].unchanged) == (0, 1, 1)
    assert again["web"].skipped == {"erased subject": 1} and again["web"].new == 0
    assert all(not r.skipped for name, r in again.items() if name not in ("crm_intl", "web"))
    assert scan(app) == [], "the re-import brought an identifier back"
    with app.engine.connect() as conn:
        assert conn.execute(select(customers.c.id).where(customers.c.email == EMAIL)).first() is None
        streets = set(conn.execute(select(customers.c.street).where(customers.c.street.is_not(None))).scalars())
        quality = quality_report(conn, now=app.clock())
    assert "7 Oak Street" in streets, "the other rows update as usual"
    latest = {t.source: t for t in quality.trend}
    assert latest["crm_intl"].skipped == {"erased subject": 1} and latest["web"].skipped == {"erased subject": 1}
    assert not mentions(json.dumps(quality.as_dict(), default=str))

    # The command line and a batch sent to the API recognise him the same way (by key, e-mail or phone).
    output = run_cli(app, "import", str(crm), "--mapping", "crm_intl", "--no-resolve").output
    assert "skipped (not stored): 1 erased subject" in output and not mentions(output)
    analyst = key(app, "analyst", "analyst")
    posted = client.post(
        "/api/v1/sources/web/records",
        json={"records": [{"reg_id": "W-NEW", "full_name": "B. W.", "mobile": "+1 (410) 555-0134"}]},
        headers=analyst,
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["skipped"] == {"erased subject": 1} and posted.json()["new"] == 0
    assert scan(app) == []
    gate = ConsentGate.from_settings(app.settings)
    with app.engine.begin() as conn:
        queued = queue_campaign(conn, [cid], app.clock())
        batch = claimed(conn, queued)
        request = SendRequest(
            key=batch[0].id, customer_id=cid, channel="email", purpose="marketing", country="US", address=EMAIL
        )
        assert gate.check(conn, [request], app.clock()) == {batch[0].id: "customer erased (data-subject request)"}


def test_after_an_erasure_nothing_of_the_person_returns_through_rejects_or_unlinked_events(
    app: Epistola, client: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    shutil.copytree(FIXTURES, folder)
    import_dataset(app, folder, _NoBar)
    cid = bill(app)
    erased = client.post(
        f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True}, headers=key(app, "dpo", "privacy")
    )
    assert erased.is_success
    # Rows of his that fail the mapping: his key again (a duplicate), a row with a field too many naming him
    # by e-mail, one naming him only by his phone written nationally, and a line of broken JSON; one of
    # somebody else's, which is rejected as usual.
    crm = folder / "crm_intl.csv"
    text = crm.read_text(encoding="utf-8-sig")
    his = next(line for line in text.splitlines() if "Weingarten" in line)
    bad = [his, his.replace("U-0001", "U-0901") + ",x", "U-0902,,,,,(410) 555-0134,,,,,,,,", "U-0903,Ms,Zoe,x"]
    crm.write_text(text.rstrip("\n") + "\n" + "\n".join(bad) + "\n", encoding="utf-8-sig")
    zoe = len(text.rstrip("\n").splitlines()) - 1 + len(bad)  # her data row (the header is row 0)
    web = folder / "web_registrations.jsonl"
    broken = '{"reg_id": "W000901", "email": "Bill.Weingarten@gmail.com", "full_name": "Bill'
    web.write_text(web.read_text(encoding="utf-8") + broken + "\n", encoding="utf-8")
    # Events nobody can be tied to any more: by his web key, by his e-mail, and a malformed one of his;
    # one of a stranger is kept unlinked as usual.
    stamp = "2026-11-01T10:00:00Z"
    lines = [
        {"event_id": "B1", "reg_id": "W000001", "type": "page_view", "occurred_at": stamp, "properties": {}},
        {"event_id": "B2", "email": "BILL.WEINGARTEN@gmail.com", "type": "app_open", "occurred_at": stamp},
        {"event_id": "B3", "email": EMAIL, "type": "page_view", "occurred_at": "yesterday"},
        {"event_id": "S1", "email": "stranger@example.com", "type": "page_view", "occurred_at": stamp},
    ]
    events_file = folder / "web_events.jsonl"
    events_file.write_text(
        events_file.read_text(encoding="utf-8") + "".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8"
    )

    again = import_dataset(app, folder, _NoBar)
    sources = {r.source: r for r in again.sources}
    assert sources["crm_intl"].skipped == {"erased subject": 4}  # his row, and three rejects of his
    assert sources["crm_intl"].rejected == 1 and [p.row for p in sources["crm_intl"].problems] == [zoe]
    assert sources["web"].skipped == {"erased subject": 2} and sources["web"].rejected == 1  # the fixture's own
    web_events = next(e for e in again.events if e.source == "web_events")
    assert web_events.path == "bulk" and web_events.skipped == {"erased subject": 2}
    assert (web_events.unlinked, web_events.rejected) == (1, 1)  # the stranger; his malformed event (no raw)
    # The row-by-row path (and its rejects, which keep their raw text) does the same.
    rows = import_events(app.engine, events_file, event_mapping("web_events"), clock=app.clock, bulk=False,
                         keyring=Keyring.from_settings(app.settings))  # fmt: skip
    assert (rows.skipped, rows.rejected, rows.inserted) == ({"erased subject": 3}, 0, 0)
    assert scan(app) == [], "a reject or an event brought an identifier back"
    for written in (app.settings.output_dir / "rejects").glob("*.csv"):
        assert not mentions(written.read_text(encoding="utf-8")), written.name
    with app.engine.connect() as conn:
        kept = set(conn.execute(select(events.c.event_uid).where(events.c.event_uid.like("web_events:%"))).scalars())
        assert {"web_events:S1"} <= kept and not kept & {"web_events:B1", "web_events:B2", "web_events:B3"}
        stranger = conn.execute(select(import_rejects.c.raw).where(import_rejects.c.raw.like("%Zoe%"))).scalars()
        assert len(list(stranger)) == 1, "somebody else's reject is stored as usual, raw text and all"

    # The APIs: a mapped event batch, a batch of records with a malformed one, and app activity.
    analyst = key(app, "analyst", "analyst")
    batch = client.post(
        "/api/v1/events/web_events",
        json={"events": [lines[1] | {"event_id": "B4"}, [EMAIL, "not an object"], lines[3] | {"event_id": "S2"}]},
        headers=analyst,
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["skipped"] == {"erased subject": 2} and batch.json()["unlinked"] == 1
    assert batch.json()["rejected"] == 0 and batch.json()["rejects"] == []
    records = client.post(
        "/api/v1/sources/web/records",
        json={"records": [["W-X", "+1 410 555 0134"], {"reg_id": "W-Y", "full_name": "Ann Other"}]},
        headers=analyst,
    )
    assert records.status_code == 200, records.text
    assert records.json()["skipped"] == {"erased subject": 1} and records.json()["new"] == 1
    activity = client.post(
        "/api/v1/events",
        json={
            "source": "app",
            "events": [
                {"id": "A1", "type": "app_open", "occurred_at": stamp, "customer": {"email": EMAIL}},
                {"id": "A2", "type": "app_open", "occurred_at": stamp, "customer": {"source": "web", "key": "W000001"}},
                {"id": "A3", "type": "app_open", "occurred_at": stamp, "customer": {"id": cid}},
                {"id": "A4", "type": "app_open", "occurred_at": stamp, "customer": {"email": "someone@example.com"}},
            ],
        },
        headers=analyst,
    )
    assert activity.status_code == 200, activity.text
    assert (activity.json()["skipped"], activity.json()["inserted"], activity.json()["received"]) == (3, 1, 4)
    assert scan(app) == []
    with app.engine.connect() as conn:
        assert conn.execute(select(events.c.id).where(events.c.customer_id == cid)).first() is None


def test_without_the_secret_key_an_import_into_a_store_with_erasures_is_refused(
    app: Epistola, client: TestClient
) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    erased = client.post(
        f"/api/v1/privacy/customers/{bill(app)}/erasure", json={"confirm": True}, headers=key(app, "dpo", "privacy")
    )
    assert erased.is_success
    with pytest.raises(Conflict, match="erased people"):
        import_source(app.engine, FIXTURES / "crm_intl.csv", source_mapping("crm_intl"), clock=app.clock)


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("marketer", 403), ("analyst", 403), ("admin", 200)])
def test_only_admin_and_privacy_may_export_and_erase(app: Epistola, client: TestClient, role: str, status: int) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    cid = bill(app)
    headers = key(app, role, role)
    assert client.get(f"/api/v1/privacy/customers/{cid}/export", headers=headers).status_code == status
    erase = client.post(f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True}, headers=headers)
    assert erase.status_code == status
    with app.engine.connect() as conn:
        left = conn.execute(select(customers.c.email).where(customers.c.id == cid)).scalar()
        actions = set(conn.execute(select(audit_log.c.action).where(audit_log.c.actor == role)).scalars())
        origins = set(conn.execute(select(audit_log.c.origin).where(audit_log.c.actor == role)).scalars())
    assert (left is None) == (status == 200)
    assert ({"customer.export", "customer.erase"} <= actions) == (status == 200)
    assert origins <= {"api"}, "an API caller is audited by its key, never by its address"


def test_erasure_must_be_confirmed(app: Epistola, client: TestClient) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    response = client.post(f"/api/v1/privacy/customers/{bill(app)}/erasure", json={}, headers=key(app, "d", "privacy"))
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "confirm"


def test_rectification_survives_the_next_resolution_and_is_audited_without_values(
    app: Epistola, client: TestClient
) -> None:
    from epistola.identity.exact import resolve

    import_dataset(app, FIXTURES, _NoBar)
    cid = bill(app)
    dpo = key(app, "dpo", "privacy")
    bad = client.patch(f"/api/v1/privacy/customers/{cid}", json={"email": "not-an-address", "gender": "q"}, headers=dpo)
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"email", "gender"}
    unknown = client.patch(f"/api/v1/privacy/customers/{cid}", json={"shoe": 44}, headers=dpo)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "shoe"
    fixed = client.patch(
        f"/api/v1/privacy/customers/{cid}",
        json={"last_name": "Weingarten-Smith", "city": "Annapolis", "email": "Bill.W@Example.com"},
        headers=dpo,
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["last_name"], fixed.json()["email"]) == ("Weingarten-Smith", "bill.w@example.com")
    with app.engine.begin() as conn:
        resolve(conn, now=app.clock())
        row = conn.execute(select(customers).where(customers.c.id == cid)).mappings().one()
        details = conn.execute(select(audit_log.c.details).where(audit_log.c.action == "customer.rectify")).scalar_one()
    assert (row["last_name"], row["city"], row["email"]) == ("Weingarten-Smith", "Annapolis", "bill.w@example.com")
    assert details == {"fields": ["city", "email", "last_name"]}


def test_consents_through_the_api_with_proof_and_the_ledger_verifies(app: Epistola, client: TestClient) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    cid = bill(app)
    dpo = key(app, "dpo", "privacy")
    added = client.post(
        f"/api/v1/privacy/customers/{cid}/consents",
        json={
            "channel": "sms",
            "purpose": "marketing",
            "status": "granted",
            "source": "call-centre",
            "proof": {"kind": "phone", "reference": "call 881", "text_version": "2026-11"},
        },
        headers=dpo,
    )
    assert added.status_code == 201, added.text
    state = client.get(f"/api/v1/privacy/customers/{cid}/consents", headers=dpo).json()
    assert {
        "customer_id": cid,
        "channel": "sms",
        "purpose": "marketing",
        "status": "granted",
        "expires_at": None,
    } in state["in_force"]
    assert state["history"][-1]["proof"] == {"kind": "phone", "reference": "call 881", "text_version": "2026-11"}
    verified = client.get("/api/v1/privacy/consents/verify", headers=dpo).json()
    assert verified["consistent"] is True and verified["entries"] >= 1
    bad = client.post(
        f"/api/v1/privacy/customers/{cid}/consents", json={"channel": "fax", "purpose": "x", "status": "y"}, headers=dpo
    )
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"channel", "purpose", "status"}


def test_suppression_lists_through_the_api(app: Epistola, client: TestClient) -> None:
    dpo = key(app, "dpo", "privacy")
    address = {"email": "Someone@Example.com"}
    assert client.post("/api/v1/privacy/suppressions/check", json=address, headers=dpo).json()["suppressed"] is False
    added = client.post(
        "/api/v1/privacy/suppressions", json={**address, "scope": "email", "reason": "complaint"}, headers=dpo
    )
    assert added.status_code == 201 and added.json() == {"added": 1}
    checked = client.post("/api/v1/privacy/suppressions/check", json={"email": "someone@example.com"}, headers=dpo)
    assert [(e["scope"], e["reason"]) for e in checked.json()["entries"]] == [("email", "complaint")]
    with app.engine.connect() as conn:
        assert "someone" not in json.dumps(
            [list(r) for r in conn.execute(select(metadata.tables["suppressions"]))], default=str
        )
    assert client.post("/api/v1/privacy/suppressions/lift", json={**address, "scope": "email"}, headers=dpo).is_success
    missing = client.post("/api/v1/privacy/suppressions/lift", json={**address, "scope": "email"}, headers=dpo)
    assert missing.status_code == 404
    both = client.post(
        "/api/v1/privacy/suppressions", json={"email": "a@b.example", "phone": "+48601234567"}, headers=dpo
    )
    assert both.status_code == 400
    assert client.get("/api/v1/privacy/policy", headers=key(app, "v", "viewer")).json()["rules"]


def test_a_tampered_redaction_is_detected(app: Epistola, client: TestClient) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    cid = bill(app)
    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="just-bill", definition={"field": "email", "eq": EMAIL}, now=now, actor="ann")
        save_segment(conn, name="everyone", definition={"field": "email", "exists": True}, now=now, actor="ann")
    dpo = key(app, "dpo", "privacy")
    assert client.post(f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True}, headers=dpo).is_success
    with app.engine.begin() as conn:
        assert audit.verify(conn).ok
        victim = conn.execute(
            select(audit_log.c.id)
            .where(audit_log.c.action == "create", audit_log.c.entity == "segment")
            .order_by(audit_log.c.id.desc())
            .limit(1)
        ).scalar_one()
        # Someone "redacts" a row that no erasure listed, to hide what it said.
        audit.redact(conn, [victim], by="nobody")
        report = audit.verify(conn)
    assert not report.ok and report.first_broken_id == victim


def test_an_erasure_that_would_leave_something_behind_is_refused_and_changes_nothing(
    app: Epistola, client: TestClient
) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    cid = bill(app)
    with app.engine.begin() as conn:
        queued = queue_campaign(conn, [cid], app.clock())
        conn.execute(
            update(metadata.tables["campaigns"])
            .where(metadata.tables["campaigns"].c.id == queued.campaign_id)
            .values(objective=f"win back {EMAIL}")
        )
    dpo = key(app, "dpo", "privacy")
    refused = client.post(f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True}, headers=dpo)
    assert refused.status_code == 409
    assert {"field": "campaigns.objective", "message": f"row {queued.campaign_id}"} in refused.json()["errors"]
    assert EMAIL not in refused.text
    with app.engine.connect() as conn:
        assert conn.execute(select(customers.c.email).where(customers.c.id == cid)).scalar() == EMAIL
    skipped = client.post(
        f"/api/v1/privacy/customers/{cid}/erasure", json={"confirm": True, "verify": False}, headers=dpo
    )
    assert skipped.status_code == 200, "without the scan the erasure goes ahead (the objective stays)"
