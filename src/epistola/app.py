"""The composition root: everything Epistola runs on is built here from `Settings`, and nowhere else.

Nothing connects at import time; `create_app` only builds objects, and the first query opens the first
connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from epistola.campaigns.channels import ByChannel, ChannelComposer, DesignLetterRenderer
from epistola.campaigns.compose import EmailComposer
from epistola.clock import Clock, utcnow
from epistola.config import Settings
from epistola.consent.gate import ConsentGate
from epistola.consent.keys import Keyring
from epistola.consent.links import PrivacyLinks
from epistola.consent.replies import KeywordReplies
from epistola.delivery.dkim import DkimSigner, SigningComposer
from epistola.delivery.inbox import InboxChannel
from epistola.delivery.ports import Channel, Composer
from epistola.delivery.printing import PrintChannel
from epistola.delivery.receipts import ReceiptRecorder
from epistola.delivery.smpp import SmppChannel
from epistola.delivery.sms_http import HttpSmsChannel
from epistola.delivery.smtp import SmtpChannel
from epistola.delivery.webhook import WebhookChannel
from epistola.delivery.worker import Worker
from epistola.feedback.inbound import SmppInbound
from epistola.store import check_connection, make_engine, upgrade


@dataclass(frozen=True, kw_only=True)
class Epistola:
    """One running instance: settings, the operational store and the clock everything shares."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default=utcnow)

    @property
    def secret(self) -> bytes:
        return self.settings.secret_key.get_secret_value().encode()

    def migrate(self) -> None:
        """Check the database is reachable, then bring its schema up to date."""
        check_connection(self.engine)
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def create_app(settings: Settings, *, clock: Clock = utcnow) -> Epistola:
    return Epistola(settings=settings, engine=make_engine(settings.database_url), clock=clock)


def delivery_channels(app: Epistola) -> dict[str, Channel]:
    """The channel adapters the settings describe. The webhook channel needs its secret; without it, webhook
    messages wait for a worker that has one."""
    settings = app.settings
    sms: Channel
    if settings.sms_provider == "http":
        sms = HttpSmsChannel.from_settings(settings)
    else:
        receipts = ReceiptRecorder(app.engine, channel="sms", clock=app.clock)
        inbound = SmppInbound(app.engine, Keyring.from_settings(settings), clock=app.clock)
        sms = SmppChannel.from_settings(settings, on_receipt=receipts, on_inbound=inbound)
    channels: dict[str, Channel] = {
        "email": SmtpChannel.from_settings(settings),
        "sms": sms,
        "print": PrintChannel.from_settings(settings, clock=app.clock, renderer=DesignLetterRenderer()),
        "inbox": InboxChannel(app.engine, clock=app.clock),
    }
    if settings.webhook_secret is not None:
        channels["webhook"] = WebhookChannel.from_settings(settings, clock=app.clock)
    return channels


def email_composer(app: Epistola, gate: ConsentGate | None = None) -> EmailComposer:
    """The e-mail composer of this instance: its sender, links and consent gate (unsigned)."""
    return EmailComposer(
        app.engine,
        clock=app.clock,
        sender=app.settings.mail_from,
        base_url=app.settings.public_base_url,
        gate=gate or ConsentGate.from_settings(app.settings),
        links=PrivacyLinks.from_settings(app.settings),
    )


def create_worker(
    app: Epistola, *, channels: Mapping[str, Channel] | None = None, handle_signals: bool = True
) -> Worker:
    """A delivery worker wired to this instance: a composer per channel, and the configured adapters.

    It also sends the SMS keyword confirmations through its SMS channel, when it has one.
    """
    gate = ConsentGate.from_settings(app.settings)
    email: Composer = email_composer(app, gate)
    signer = DkimSigner.from_settings(app.settings, clock=app.clock)
    if signer is not None:
        email = SigningComposer(email, signer)
    others = ChannelComposer(
        app.engine,
        clock=app.clock,
        base_url=app.settings.public_base_url,
        sms_sender=app.settings.sms_sender,
        gate=gate,
    )
    composer = ByChannel({"email": email, **dict.fromkeys(("sms", "print", "inbox", "webhook"), others)})
    if channels is None:
        channels = delivery_channels(app)
    replies = KeywordReplies(
        engine=app.engine,
        sender=app.settings.sms_sender,
        clock=app.clock,
        lease=timedelta(seconds=app.settings.lease_seconds),
    )
    side = [replies] if "sms" in channels else []
    worker = Worker.from_settings(app.settings, app.engine, composer, channels, clock=app.clock, side_queues=side)
    worker.handle_signals = handle_signals
    return worker
