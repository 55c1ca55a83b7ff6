"""DKIM-signed campaign e-mail over real SMTP, verified with dkimpy; rate and concurrency limits in the worker."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_fixtures import TextComposer, seed_campaign, states
from sqlalchemy import Engine

from epistola.app import Epistola, create_worker
from epistola.campaigns.channels import ByChannel
from epistola.delivery import ProgressSnapshot, SmtpChannel, SmtpSink, Worker
from epistola.delivery.dkim import DkimSigner, SigningComposer, generate_key
from epistola.delivery.limits import Limiter, parse_concurrency, parse_rates
from epistola.delivery.ports import Envelope
from epistola.testing import FixedClock
from epistola.testing.dkim import verify_all


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as server:
        yield server


def test_every_message_arrives_signed_with_rsa_and_ed25519(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(engine, now=clock(), count=40)
    signer = DkimSigner(
        domain="epistola.test", keys=[("rsa1", generate_key("rsa")), ("ed1", generate_key("ed25519"))], clock=clock
    )
    channel = SmtpChannel(sink.host, sink.port, connections=4, timeout=5)
    worker = Worker(
        engine, SigningComposer(TextComposer(), signer), {"email": channel}, clock=clock, handle_signals=False
    )

    asyncio.run(worker.run(until_idle=True))

    assert sink.recipients() == Counter({r: 1 for r in seeded.recipients})
    records = dict(signer.dns_records())
    for received in sink.received:
        assert received.data.count(b"DKIM-Signature:") == 2
        assert verify_all(received.data, records) == [True, True]


def test_create_worker_signs_when_settings_name_a_key(app: Epistola, tmp_path: Path) -> None:
    key = tmp_path / "ed.key"
    key.write_bytes(generate_key("ed25519"))
    signed = Epistola(
        settings=app.settings.model_copy(update={"dkim_domain": "epistola.test", "dkim_keys": f"ed1={key}"}),
        engine=app.engine,
        clock=app.clock,
    )

    def email_composer(instance: Epistola) -> object:
        composer = create_worker(instance, handle_signals=False).composer
        assert isinstance(composer, ByChannel)
        return composer.composers["email"]

    assert isinstance(email_composer(signed), SigningComposer)
    assert not isinstance(email_composer(app), SigningComposer)


class CountingChannel:
    """A real SMTP channel that records the most hand-overs in flight at once, per recipient domain."""

    def __init__(self, inner: SmtpChannel) -> None:
        self.inner = inner
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def send(self, envelope: Envelope) -> str:
        domain = envelope.recipient.rpartition("@")[2]
        self.now[domain] += 1
        self.peak[domain] = max(self.peak[domain], self.now[domain])
        try:
            await asyncio.sleep(0.005)  # let other hand-overs start, if the limits allowed them
            return await self.inner.send(envelope)
        finally:
            self.now[domain] -= 1

    async def close(self) -> None:
        await self.inner.close()


def test_domain_concurrency_is_never_exceeded(engine: Engine, sink: SmtpSink, clock: FixedClock) -> None:
    seeded = seed_campaign(
        engine, now=clock(), count=120, recipient=lambda i: f"c{i}@{'slow' if i % 2 else 'fast'}.test"
    )
    channel = CountingChannel(SmtpChannel(sink.host, sink.port, connections=8, timeout=5))
    limiter = Limiter(rates=parse_rates("email=100000/s"), concurrency=parse_concurrency("@slow.test=1,@*=3"))
    worker = Worker(
        engine, TextComposer(), {"email": channel}, clock=clock, concurrency=8, limiter=limiter, handle_signals=False
    )

    asyncio.run(worker.run(until_idle=True))

    assert sink.recipients() == Counter({r: 1 for r in seeded.recipients})
    assert channel.peak["slow.test"] == 1 and 1 <= channel.peak["fast.test"] <= 3


def test_stop_while_waiting_for_the_rate_gives_messages_back_unsent(
    engine: Engine, sink: SmtpSink, clock: FixedClock
) -> None:
    seeded = seed_campaign(engine, now=clock(), count=6, recipient=lambda i: f"c{i}@slow.test")
    limiter = Limiter(rates=parse_rates("@slow.test=1/min"))
    channel = SmtpChannel(sink.host, sink.port, connections=4, timeout=5)
    worker = Worker(engine, TextComposer(), {"email": channel}, clock=clock, limiter=limiter, handle_signals=False)

    async def main() -> None:
        stop = asyncio.Event()

        def progress(snapshot: ProgressSnapshot) -> None:
            if snapshot.stats.sent >= 1:
                stop.set()

        await asyncio.wait_for(worker.run(stop=stop, on_progress=progress), timeout=30)

    asyncio.run(main())

    assert len(sink.received) == 1  # one token, one message; the rest waited for the next minute
    assert sorted(Counter(states(engine, seeded.step_id).values()).items()) == [("queued", 5), ("sent", 1)]
