"""Texts customers send over SMPP (deliver_sm that is no receipt), on both engines: a STOP opts out like
one through the webhook, the SMSC's redelivery of it changes nothing, and replies become events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from consent_fixtures import phone_suppressions, sms_customer, sms_state
from sqlalchemy import func, select

from epistola.app import Epistola
from epistola.consent.keys import Keyring
from epistola.consent.sms_keywords import pending_replies
from epistola.consent.texts import SMS_REPLIES
from epistola.delivery.ports import Envelope
from epistola.delivery.smpp import SmppChannel
from epistola.delivery.smpp_sink import SmppPolicy, SmppSink
from epistola.feedback.inbound import REPLY_EVENT, SmppInbound
from epistola.store.schema import consents, events
from epistola.testing import FixedClock

PHONE = "+48601234567"
SHORT_CODE = "4790"


@pytest.fixture
def smsc() -> Iterator[SmppSink]:
    with SmppSink() as sink:
        sink.policy = SmppPolicy(receipts=False)
        yield sink


def customer(app: Epistola, phone: str = PHONE, locale: str = "pl") -> int:
    return sms_customer(app, phone, locale)


def suppressed(app: Epistola, phone: str = PHONE) -> list[str]:
    return phone_suppressions(app, phone)


def ledger_rows(app: Epistola) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(consents)).scalar_one())


def texting(app: Epistola, smsc: SmppSink, *texts: str, wait: timedelta = timedelta()) -> list[list[int]]:
    """Bind a transceiver (by sending one message), then let the handset send `texts`, `wait` apart;
    the SMSC's deliver_sm_resp statuses for each."""
    inbound = SmppInbound(app.engine, Keyring.from_settings(app.settings), clock=app.clock)
    clock = app.clock
    assert isinstance(clock, FixedClock)

    async def main() -> list[list[int]]:
        channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret", on_inbound=inbound)
        try:
            await channel.send(Envelope(message_id=1, sender="Epistola", recipient="+48600000001", data=b"hi"))
            answers = []
            for text in texts:
                answers.append(await asyncio.to_thread(smsc.send_inbound, PHONE, SHORT_CODE, text))
                clock.advance(seconds=wait.total_seconds())
            return answers
        finally:
            await channel.close()

    return asyncio.run(main())


def test_stop_over_smpp_opts_out_once_however_often_the_smsc_delivers_it(app: Epistola, smsc: SmppSink) -> None:
    cid = customer(app)
    before = ledger_rows(app)

    # The SMSC delivers the same STOP again (it missed our answer), at once and 25 minutes later.
    answers = texting(app, smsc, "STOP", "STOP", "STOP", wait=timedelta(minutes=25))

    assert answers == [[0], [0], [0]]
    assert sms_state(app, cid) == "withdrawn"
    assert suppressed(app) == ["sms:keyword"]
    assert ledger_rows(app) == before + 1
    with app.engine.connect() as conn:
        (reply,) = pending_replies(conn)
    assert (reply.recipient, reply.body) == (PHONE, SMS_REPLIES["pl"]["stop"])


def test_stop_start_stop_over_smpp_counts_each_time(app: Epistola, smsc: SmppSink) -> None:
    cid = customer(app)

    texting(app, smsc, "STOP", "START", "STOP", "STOP", wait=timedelta(minutes=1))

    assert sms_state(app, cid) == "withdrawn"  # the last STOP is news even though the same text came before
    assert suppressed(app) == ["sms:keyword"]
    with app.engine.connect() as conn:
        assert [r.body for r in pending_replies(conn)] == [SMS_REPLIES["pl"][k] for k in ("stop", "start", "stop")]


def test_a_long_reply_in_ucs2_parts_is_one_event(app: Epistola, smsc: SmppSink) -> None:
    cid = customer(app, locale="ru")
    text = "Спасибо, а можно узнать подробнее про осеннее предложение и условия доставки в мой город? " * 2

    answers = texting(app, smsc, text, "Ok € 10", text)

    assert answers[0] == [0, 0, 0] and answers[1] == [0]
    with app.engine.connect() as conn:
        rows = conn.execute(select(events.c.customer_id, events.c.properties).where(events.c.type == REPLY_EVENT)).all()
    assert sorted(r.properties["text"] for r in rows) == sorted([text, "Ok € 10"])  # the redelivery is not kept
    assert {r.customer_id for r in rows} == {cid}
    assert sms_state(app, cid) == "granted"


def test_a_failure_to_store_asks_the_smsc_to_deliver_again(app: Epistola, smsc: SmppSink) -> None:
    async def broken(message: object) -> None:
        raise RuntimeError("the database is gone")

    async def main() -> list[int]:
        channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret", on_inbound=broken)
        try:
            await channel.send(Envelope(message_id=1, sender="Epistola", recipient="+48600000001", data=b"hi"))
            return await asyncio.to_thread(smsc.send_inbound, PHONE, SHORT_CODE, "STOP")
        finally:
            await channel.close()

    assert asyncio.run(main()) == [0x64]  # ESME_RX_T_APPN: a temporary failure on our side


def test_a_running_worker_with_nothing_to_send_stays_bound_and_hears_a_stop(app: Epistola, smsc: SmppSink) -> None:
    """Texts arrive whenever customers send them, not only while a campaign is going out."""
    from epistola.app import create_worker

    cid = customer(app)
    inbound = SmppInbound(app.engine, Keyring.from_settings(app.settings), clock=app.clock)
    channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret", on_inbound=inbound)
    worker = create_worker(app, channels={"sms": channel}, handle_signals=False)

    async def main() -> list[int]:
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            for _ in range(500):  # the worker binds on its own; nothing is queued
                if smsc.transceivers:
                    break
                await asyncio.sleep(0.01)
            return await asyncio.to_thread(smsc.send_inbound, PHONE, SHORT_CODE, "STOP")
        finally:
            stop.set()
            await running

    assert asyncio.run(main()) == [0]
    assert sms_state(app, cid) == "withdrawn" and suppressed(app) == ["sms:keyword"]
    assert smsc.transceivers == 0  # the worker unbound when it stopped


def test_listen_binds_again_after_the_smsc_drops_the_session(app: Epistola, caplog: pytest.LogCaptureFixture) -> None:
    with SmppSink() as first:
        host, port = first.host, first.port
    channel = SmppChannel(host, port, system_id="epistola", password="secret", timeout=1)

    async def main() -> int:
        stop = asyncio.Event()
        listening = asyncio.create_task(channel.listen(stop, keepalive_s=0.05, max_backoff_s=0.05))
        await asyncio.sleep(0.3)  # nobody listens on the port: the channel keeps trying
        with SmppSink(port=port) as second:
            for _ in range(300):
                if second.transceivers:
                    break
                await asyncio.sleep(0.01)
            bound = second.transceivers
            stop.set()
            await listening
            await channel.close()
        return bound

    with caplog.at_level(logging.WARNING, logger="epistola.delivery.smpp"):
        assert asyncio.run(main()) == 1
    said = [r.getMessage() for r in caplog.records if r.name == "epistola.delivery.smpp"]
    assert len(said) == 2 and "trying again" in said[0] and said[1].endswith("bound again"), said  # once per outage
