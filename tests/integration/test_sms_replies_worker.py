"""SMS keyword confirmations sent by the delivery worker, on both engines, against a real SMSC: once each,
whether one worker runs, two run at once, or one was killed while handing a confirmation over."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from importlib import resources

import yaml
from consent_fixtures import add_customers
from sqlalchemy import select

from epistola.app import Epistola, create_worker
from epistola.audience.segments import save_segment
from epistola.campaigns.service import create_campaign, start_campaign
from epistola.consent.keys import Keyring
from epistola.consent.ledger import append_entries
from epistola.consent.model import ConsentEntry
from epistola.consent.replies import claim_next
from epistola.consent.sms_keywords import Inbound, handle_inbound
from epistola.consent.texts import SMS_REPLIES
from epistola.content.templates import approve, save_version
from epistola.delivery.smpp import SmppChannel
from epistola.delivery.smpp_sink import SmppPolicy, SmppSink
from epistola.delivery.worker import Worker
from epistola.store.schema import messages, sms_replies
from epistola.testing import FixedClock

ANNA, IVAN = "+48600100200", "+79161234567"


def texted(app: Epistola, key: str, phone: str, text: str) -> None:
    """An inbound SMS, as the webhook or an SMPP deliver_sm applies it."""
    with app.engine.begin() as conn:
        handle_inbound(
            conn,
            Keyring.from_settings(app.settings),
            Inbound(inbound_key=key, sender=phone, text=text),
            now=app.clock(),
        )


def worker(app: Epistola, smsc: SmppSink) -> Worker:
    channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret")
    return create_worker(app, channels={"sms": channel}, handle_signals=False)


def replies(app: Epistola) -> list[tuple[str, str | None]]:
    with app.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(sms_replies.c.state, sms_replies.c.recipient))]  # type: ignore[misc]


def birthday_sms_campaign(app: Epistola) -> dict[str, int]:
    """Anna (pl) and Ivan (ru) agreed to SMS marketing; a birthday SMS to each is queued. Phone -> customer."""
    now = app.clock()
    design = yaml.safe_load((resources.files("epistola.demo_content") / "birthday.yaml").read_text("utf-8"))
    with app.engine.begin() as conn:
        people = [("Anna", ANNA, "pl", "PL"), ("Ivan", IVAN, "ru", "RU")]
        ids = add_customers(
            conn,
            [
                {"first_name": n, "email": f"{n.lower()}@example.test", "phone": p, "locale": loc, "country": c}
                for n, p, loc, c in people
            ],
            now,
        )
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=cid,
                    channel="sms",
                    purpose="marketing",
                    status="granted",
                    source="test",
                    recorded_at=now - timedelta(days=1),
                )
                for cid in ids
            ],
        )
        save_segment(conn, name="everyone", definition={"field": "email", "exists": True}, now=now)
        save_version(conn, name="birthday", definition=design, now=now)
        approve(conn, name="birthday", version=None, by="test", now=now)
        create_campaign(
            conn, name="birthday-sms", segment="everyone", template="birthday", now=now, channel="sms", control_pct=0
        )
        start_campaign(conn, "birthday-sms", now=now)
    return {ANNA: ids[0], IVAN: ids[1]}


def test_a_worker_confirms_a_stop_once_though_marketing_to_the_number_is_now_refused(app: Epistola) -> None:
    customers = birthday_sms_campaign(app)
    texted(app, "acme:1", ANNA, "STOP")  # after the campaign started, before its messages went
    texted(app, "acme:1", ANNA, "STOP")  # the provider delivers the same message twice

    with SmppSink() as smsc:
        stats = asyncio.run(worker(app, smsc).run(until_idle=True))
        again = asyncio.run(worker(app, smsc).run(until_idle=True))
        received = [(m.destination, m.text) for m in smsc.received]

    assert stats.side_settled == 1 and again.side_settled == 0
    to_anna = [text for destination, text in received if destination == ANNA.lstrip("+")]
    assert to_anna == [SMS_REPLIES["pl"]["stop"]], "the confirmation, a service message, and no marketing"
    assert [d for d, _ in received].count(IVAN.lstrip("+")) == 1
    with app.engine.connect() as conn:
        outcome = {r.customer_id: r.state for r in conn.execute(select(messages.c.customer_id, messages.c.state))}
        reason = conn.execute(select(messages.c.error).where(messages.c.customer_id == customers[ANNA])).scalar_one()
    assert outcome == {customers[ANNA]: "suppressed", customers[IVAN]: "sent"}
    assert "sms" in reason
    assert replies(app) == [("sent", None)], "sent once, and the number is not kept"


def test_two_workers_at_once_send_each_confirmation_once(app: Epistola) -> None:
    numbers = [f"+4860020{i:04d}" for i in range(12)]
    for i, phone in enumerate(numbers):
        texted(app, f"acme:{i}", phone, ("STOP", "START", "HELP")[i % 3])

    async def both(smsc: SmppSink) -> None:
        await asyncio.gather(worker(app, smsc).run(until_idle=True), worker(app, smsc).run(until_idle=True))

    with SmppSink() as smsc:
        smsc.policy = SmppPolicy(throttle_once=(numbers[4].lstrip("+"),), receipts=False)
        asyncio.run(both(smsc))
        asyncio.run(worker(app, smsc).run(until_idle=True))  # in case the throttled one waits for another run
        received = Counter(m.destination for m in smsc.received)

    assert received == Counter(n.lstrip("+") for n in numbers), "every number exactly once"
    assert replies(app) == [("sent", None)] * 12


def test_a_confirmation_a_killed_worker_was_handing_over_is_never_resent(app: Epistola, clock: FixedClock) -> None:
    texted(app, "acme:k", ANNA, "STOP")
    texted(app, "acme:l", IVAN, "HELP")
    with app.engine.begin() as conn:  # a worker claims the first, then dies before recording anything
        claimed = claim_next(conn, after=0, now=clock())
    assert claimed is not None and claimed.recipient == ANNA

    with SmppSink() as smsc:
        asyncio.run(worker(app, smsc).run(until_idle=True))
        assert [m.destination for m in smsc.received] == [IVAN.lstrip("+")], "the other one goes"
        assert sorted(replies(app), key=str) == [("sending", ANNA), ("sent", None)], "within its lease: left alone"

        clock.advance(seconds=app.settings.lease_seconds + 1)
        stats = asyncio.run(worker(app, smsc).run(until_idle=True))
        assert len(smsc.received) == 1, "maybe handed over already: never sent again"
    assert stats.side_settled == 1
    assert sorted(replies(app), key=str) == [("sent", None), ("uncertain", None)], "and the number is gone"
