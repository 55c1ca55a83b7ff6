"""SMS over SMPP 3.4 against a real SMSC on a socket: concatenation, receipts, refusals, a lost connection."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
from delivery_fixtures import seed_campaign, states
from sqlalchemy import Engine

from epistola.delivery import Worker
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.delivery.receipts import ReceiptRecorder
from epistola.delivery.smpp import SmppChannel
from epistola.delivery.smpp_sink import SmppPolicy, SmppSink
from epistola.errors import TransientDeliveryError
from epistola.testing import FixedClock

LONG = "Zażółć gęślą jaźń — your autumn offer is ready. " * 4  # UCS-2, three parts


def phone(i: int) -> str:
    return f"+48600{i:06d}"


class SmsComposer:
    def compose(self, batch: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        return [
            Envelope(
                message_id=m.id,
                sender="Epistola",
                recipient=m.recipient or "",
                data=(LONG if m.customer_id % 5 == 0 else f"Hello {m.customer_id}, 10% off today only!").encode(),
            )
            for m in batch
        ]


@pytest.fixture
def smsc() -> Iterator[SmppSink]:
    with SmppSink() as sink:
        yield sink


def run(engine: Engine, smsc: SmppSink, clock: FixedClock, *, concurrency: int = 8) -> ReceiptRecorder:
    recorder = ReceiptRecorder(engine, channel="sms", clock=clock)
    channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="secret", on_receipt=recorder)
    worker = Worker(engine, SmsComposer(), {"sms": channel}, clock=clock, concurrency=concurrency, handle_signals=False)
    asyncio.run(worker.run(until_idle=True))
    return recorder


def test_every_phone_gets_one_whole_message_and_receipts_settle_them(
    engine: Engine, smsc: SmppSink, clock: FixedClock
) -> None:
    seeded = seed_campaign(engine, now=clock(), count=60, recipient=phone, channel="sms")
    smsc.policy = SmppPolicy(undeliverable=("48600000007",))

    recorder = run(engine, smsc, clock)

    received = smsc.received
    assert Counter(m.destination for m in received) == Counter({r.lstrip("+"): 1 for r in seeded.recipients})
    long_ones = [m for m in received if m.parts > 1]
    assert long_ones and all(m.text == LONG and m.parts == 3 for m in long_ones)
    assert smsc.binds == 1  # one session carried every message
    assert recorder.recorded == 60
    assert Counter(states(engine, seeded.step_id).values()) == Counter({"delivered": 59, "bounced": 1})


def test_refused_throttled_and_lost_submits(engine: Engine, smsc: SmppSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=12, recipient=phone, channel="sms")
    smsc.policy = SmppPolicy(
        reject=("48600000001",), throttle_once=("48600000002",), drop_after_submit=("48600000003",), receipts=False
    )

    # One at a time: a dropped connection makes every submit in flight on it uncertain, and the
    # responses to those that were answered may be lost with it (TCP reset), so keep them apart here.
    run(engine, smsc, clock, concurrency=1)
    clock.advance(hours=2)  # past the backoff of the throttled one
    run(engine, smsc, clock, concurrency=1)

    by_phone = dict(zip(seeded.recipients, seeded.message_ids, strict=True))
    final = states(engine, seeded.step_id)
    assert final[by_phone[phone(1)]] == "failed"  # invalid destination: never retried
    assert final[by_phone[phone(2)]] == "sent"  # throttled once, sent on the retry
    assert final[by_phone[phone(3)]] == "uncertain"  # the SMSC has it but never answered: not resent
    got = Counter(m.destination for m in smsc.received)
    assert got["48600000003"] == 1 and got["48600000002"] == 1 and got["48600000001"] == 0
    assert sum(got.values()) == 11


def test_wrong_credentials_are_a_temporary_problem_for_the_operator(smsc: SmppSink) -> None:
    channel = SmppChannel(smsc.host, smsc.port, system_id="epistola", password="wrong")
    envelope = Envelope(message_id=1, sender="Epistola", recipient="+48600000001", data=b"hi")

    async def main() -> None:
        try:
            await channel.send(envelope)
        finally:
            await channel.close()

    with pytest.raises(TransientDeliveryError, match="refused the bind"):
        asyncio.run(main())
    assert smsc.received == []
