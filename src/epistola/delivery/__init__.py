"""Delivery: the outbox (the `messages` table is the queue), workers, channel adapters, a test sink.

The campaign side inserts `queued` rows and a `Composer` renders claimed ones; a `Worker` moves each
row to a final state exactly once, surviving crashes and restarts. See `states` for the life of a row.
"""

from epistola.delivery import outbox
from epistola.delivery.backoff import next_attempt_delay
from epistola.delivery.control import (
    campaign_progress,
    cancel_campaign,
    finish_campaigns_if_done,
    pause_campaign,
    resume_campaign,
)
from epistola.delivery.leases import RecoveryReport, extend_leases, recover_expired_leases
from epistola.delivery.outbox import Retry, RetryOutcome
from epistola.delivery.ports import Channel, ClaimedMessage, Composer, Envelope, Skip
from epistola.delivery.runtime import default_worker_id
from epistola.delivery.sink import ReceivedMessage, SinkPolicy, SmtpSink
from epistola.delivery.smtp import SmtpChannel
from epistola.delivery.states import (
    FINAL_STATES,
    LEASED_STATES,
    TRANSITIONS,
    MessageState,
    can_transition,
    require_transition,
)
from epistola.delivery.worker import ProgressSnapshot, Worker, WorkerStats

__all__ = [
    "FINAL_STATES",
    "LEASED_STATES",
    "TRANSITIONS",
    "Channel",
    "ClaimedMessage",
    "Composer",
    "Envelope",
    "MessageState",
    "ProgressSnapshot",
    "ReceivedMessage",
    "RecoveryReport",
    "Retry",
    "RetryOutcome",
    "SinkPolicy",
    "Skip",
    "SmtpChannel",
    "SmtpSink",
    "Worker",
    "WorkerStats",
    "campaign_progress",
    "can_transition",
    "cancel_campaign",
    "default_worker_id",
    "extend_leases",
    "finish_campaigns_if_done",
    "next_attempt_delay",
    "outbox",
    "pause_campaign",
    "recover_expired_leases",
    "require_transition",
    "resume_campaign",
]
