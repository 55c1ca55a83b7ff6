"""The whole loop against real peers: sources -> customers -> segment -> design -> campaign -> SMTP
(aiosmtpd) -> tracking links through the API -> report."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from epistola.app import Epistola, create_worker
from epistola.audience.segments import save_segment
from epistola.campaigns.report import campaign_report
from epistola.campaigns.service import create_campaign, start_campaign
from epistola.consent.ledger import current_state
from epistola.content.templates import approve, save_version
from epistola.delivery.sink import SmtpSink
from epistola.delivery.smtp import SmtpChannel
from epistola.hub.pipeline import import_dataset
from epistola.store.schema import campaign_members, customers
from epistola.testing.web import api_client

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
DESIGN = """# Hello {{ customer.first_name or "there" }}

Our [autumn collection](https://shop.example/autumn?c={{ campaign.name }}) is in.
See [the stores](https://shop.example/stores) too.
"""


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


def test_campaign_reaches_exactly_the_consenting_target_group(app: Epistola, tmp_path: Path) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="everyone-with-email", definition={"field": "email", "exists": True}, now=now)
        save_version(
            conn,
            name="autumn",
            subject="{{ customer.first_name or 'Hi' }}, autumn is here",
            body=DESIGN,
            now=now,
        )
        approve(conn, name="autumn", version=None, by="test", now=now)
        create_campaign(
            conn, name="autumn-1", segment="everyone-with-email", template="autumn", control_pct=25, now=now
        )
        figures = start_campaign(conn, "autumn-1", now=now)
        groups = dict(conn.execute(select(campaign_members.c.customer_id, campaign_members.c.grp)).all())
        emails = dict(conn.execute(select(customers.c.id, customers.c.email)).all())
        consent = current_state(conn, groups, channel="email", purpose="marketing", now=now)
    assert figures["control"] >= 1 and figures["target"] >= 3

    with SmtpSink(tmp_path / "mail") as sink:
        channel = SmtpChannel(sink.host, sink.port, connections=2, timeout=10)
        stats = asyncio.run(create_worker(app, channels={"email": channel}, handle_signals=False).run(until_idle=True))

    expected = {emails[c] for c, g in groups.items() if g == "target" and consent.get(c) == "granted"}
    control = {emails[c] for c, g in groups.items() if g == "control"}
    received = [r for m in sink.received for r in m.rcpt_tos]
    assert sorted(received) == sorted(expected), "exactly the consenting target group, once each"
    assert not control & set(received)
    assert stats.suppressed == figures["target"] - len(expected)

    with api_client(app) as http:
        for item in sink.received:
            msg = message_from_bytes(item.data, policy=policy.default)
            assert msg.get_content_type() == "multipart/alternative"
            html = msg.get_body(preferencelist=("html",)).get_content()
            text = msg.get_body(preferencelist=("plain",)).get_content()
            assert "autumn collection" in html and "autumn collection" in text
            links = [w.strip("()") for w in text.split() if "/t/c/" in w]
            assert len(links) == 2
            targets = set()
            for link in links:
                response = http.get(
                    link.replace(app.settings.public_base_url, ""),
                    follow_redirects=False,
                    headers={"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605"},
                )
                assert response.status_code == 302
                targets.add(response.headers["location"])
            assert targets == {"https://shop.example/autumn?c=autumn-1", "https://shop.example/stores"}

    with app.engine.connect() as conn:
        report = campaign_report(conn, "autumn-1", now=app.clock())
    assert report.sent == len(expected)
    assert report.target.size == figures["target"] and report.control.size == figures["control"]


@pytest.mark.parametrize("control_pct", [0, 10, 50])
def test_control_share_is_exact_and_reproducible(control_pct: int) -> None:
    from epistola.campaigns.service import split_control

    members = list(range(1, 1001))
    target, control = split_control(7, 3, members, control_pct)
    assert len(control) == control_pct * 10
    assert set(target) | control == set(members) and not set(target) & control
    assert split_control(7, 3, members, control_pct)[1] == control
    assert control_pct == 0 or split_control(8, 3, members, control_pct)[1] != control


def test_every_change_in_the_loop_is_audited(app: Epistola) -> None:
    from epistola import audit
    from epistola.store.schema import audit_log

    import_dataset(app, FIXTURES, _NoBar)
    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="all", definition={"field": "email", "exists": True}, now=now, actor="ann")
        save_version(conn, name="t", subject="Hi", body="Hello", now=now, actor="ann")
        approve(conn, name="t", version=None, by="bob", now=now)
        create_campaign(conn, name="c", segment="all", template="t", now=now, actor="ann")
        start_campaign(conn, "c", now=now, actor="bob")
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.entity)).all()
        assert audit.verify(conn).ok
    seen = {(a, b, c) for a, b, c in rows}
    assert {
        ("ann", "create", "segment"),
        ("ann", "create", "template_version"),
        ("bob", "approve", "template_version"),
        ("ann", "create", "campaign"),
        ("bob", "start", "campaign"),
    } <= seen
    assert {("system", "import", "source"), ("system", "resolve", "customers"), ("system", "import", "events")} <= seen
