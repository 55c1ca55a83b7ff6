"""Campaigns on SMS, print and the inbox, end to end: the campaign service queues, `create_worker`'s composer
renders the design's own renditions with consent checked at send time, and real adapters deliver."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
import yaml
from sqlalchemy import insert, select

from epistola.app import Epistola, create_worker
from epistola.audience.segments import save_segment
from epistola.campaigns.channels import ByChannel, DesignLetterRenderer
from epistola.campaigns.service import create_campaign, start_campaign
from epistola.consent.ledger import append_entries
from epistola.consent.model import ConsentEntry
from epistola.content.templates import approve, save_version
from epistola.delivery.inbox import InboxChannel
from epistola.delivery.printing import PrintChannel
from epistola.delivery.smpp import SmppChannel
from epistola.delivery.smpp_sink import SmppSink
from epistola.store.schema import customers, inbox_items, messages

PEOPLE = [
    # first, last, locale, phone, street, postcode, city, country, consents
    ("Anna", "Kowalska", "pl", "+48600100200", "ul. Długa 5", "00-238", "Warszawa", "PL", ("sms", "post", "web")),
    ("Ivan", "Petrov", "ru", "+79161234567", "ул. Тверская, 7", "125009", "Москва", "RU", ("sms", "post", "web")),
    ("Bill", "Weingarten", "en", "+12025550123", "1102 Pratt St", "21202", "Baltimore", "US", ("post",)),
]


def setup(app: Epistola) -> list[int]:
    now = app.clock()
    birthday = yaml.safe_load((resources.files("epistola.demo_content") / "birthday.yaml").read_text("utf-8"))
    with app.engine.begin() as conn:
        ids = [
            conn.execute(
                insert(customers).values(
                    first_name=first,
                    last_name=last,
                    email=f"{first.lower()}@example.test",
                    locale=locale,
                    phone=phone,
                    street=street,
                    postcode=postcode,
                    city=city,
                    country=country,
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            for first, last, locale, phone, street, postcode, city, country, _ in PEOPLE
        ]
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=cid,
                    channel=channel,
                    purpose="marketing",
                    status="granted",
                    source="test",
                    recorded_at=now - timedelta(days=1),
                )
                for cid, person in zip(ids, PEOPLE, strict=True)
                for channel in person[-1]
            ]
            + [  # Bill said no to messages in the portal
                ConsentEntry(
                    customer_id=ids[2],
                    channel="web",
                    purpose="marketing",
                    status="withdrawn",
                    source="test",
                    recorded_at=now - timedelta(days=1),
                )
            ],
        )
        save_segment(conn, name="everyone", definition={"field": "email", "exists": True}, now=now)
        save_version(conn, name="birthday", definition=birthday, now=now)
        approve(conn, name="birthday", version=None, by="test", now=now)
        for channel in ("sms", "print", "inbox"):
            create_campaign(
                conn,
                name=f"birthday-{channel}",
                segment="everyone",
                template="birthday",
                now=now,
                channel=channel,
                control_pct=0,
            )
            start_campaign(conn, f"birthday-{channel}", now=now)
    return ids


def test_sms_print_and_inbox_campaigns_deliver_the_designs_renditions(app: Epistola, tmp_path: Path) -> None:
    ids = setup(app)
    with SmppSink() as smsc:
        channels = {
            "sms": SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret"),
            "print": PrintChannel(tmp_path / "print", renderer=DesignLetterRenderer(), clock=app.clock, processes=1),
            "inbox": InboxChannel(app.engine, clock=app.clock),
        }
        worker = create_worker(app, channels=channels, handle_signals=False)
        assert isinstance(worker.composer, ByChannel)
        asyncio.run(worker.run(until_idle=True))
        received = {m.destination: m.text for m in smsc.received}

    with app.engine.connect() as conn:
        outcome = {
            (row.channel, row.customer_id): (row.state, row.error)
            for row in conn.execute(
                select(messages.c.channel, messages.c.customer_id, messages.c.state, messages.c.error)
            )
        }
        inbox = {row.customer_id: row.subject for row in conn.execute(select(inbox_items))}

    anna, ivan, bill = ids
    # SMS: the variant in the customer's language, to those who agreed
    assert received["48600100200"].startswith("Wszystkiego najlepszego, Anna!")
    assert received["79161234567"].startswith("С днём рождения, Ivan!")
    assert outcome[("sms", bill)][0] == "suppressed" and "79161234567" in received and len(received) == 2
    # Inbox: the e-mail rendition's subject, kept for the portal
    assert inbox == {anna: "Wszystkiego najlepszego, Anna!", ivan: "С днём рождения, Ivan!"}
    assert outcome[("inbox", bill)][0] == "suppressed"
    # Print: everyone agreed to post; one batch per paper (US Letter for Baltimore), in postage order
    assert {outcome[("print", c)][0] for c in ids} == {"sent"}
    manifests = [p.read_text(encoding="utf-8") for p in sorted((tmp_path / "print").glob("*.csv"))]
    rows = [r for text in manifests for r in csv.DictReader(io.StringIO(text))]
    assert sorted(r["country"] for r in rows) == ["PL", "RU", "US"]
    assert len(list((tmp_path / "print").glob("*.pdf"))) == 2


@pytest.mark.parametrize("channel", ["fax", "push"])
def test_channels_without_an_adapter_are_refused_when_planned(app: Epistola, channel: str) -> None:
    from epistola.errors import InputError

    with app.engine.begin() as conn, pytest.raises(InputError, match="not available"):
        create_campaign(conn, name="x", segment="everyone", template="birthday", now=app.clock(), channel=channel)


def test_api_and_cli_plan_campaigns_on_other_channels(app: Epistola) -> None:
    from epistola import accounts
    from epistola.store.schema import campaign_steps, campaigns
    from epistola.testing.web import api_client

    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="everyone", definition={"field": "email", "exists": True}, now=now)
        save_version(conn, name="hello", subject="Hi", body="Hello {{ customer.first_name or 'there' }}", now=now)
        approve(conn, name="hello", version=None, by="test", now=now)
        key = accounts.create_key(conn, name="marketer", role="marketer", now=now)
    body = {"name": "by-api", "segment": "everyone", "template": "hello", "channel": "inbox"}
    created = api_client(app).post("/api/v1/campaigns", json=body, headers={"Authorization": f"Bearer {key}"})
    assert created.status_code == 201, created.text
    refused = api_client(app).post(
        "/api/v1/campaigns", json={**body, "name": "x", "channel": "fax"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert refused.status_code == 400 and refused.json()["ok"] is False  # validation errors are 400 here

    result = subprocess.run(  # a process of its own, as people run it (and it closes its own connections)
        [
            sys.executable,
            "-m",
            "epistola",
            "--database-url",
            app.settings.database_url,
            "campaign",
            "create",
            "by-cli",
            "--segment",
            "everyone",
            "--template",
            "hello",
            "--channel",
            "sms",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with app.engine.connect() as conn:
        steps = dict(
            conn.execute(
                select(campaigns.c.name, campaign_steps.c.channel).join(
                    campaign_steps, campaign_steps.c.campaign_id == campaigns.c.id
                )
            ).all()
        )
    assert steps == {"by-api": "inbox", "by-cli": "sms"}
