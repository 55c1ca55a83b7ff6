"""The life of one message, as a table of legal moves.

The `messages` table is the queue, so a message's state is the only record of how far it got. The
table below is what every update in `outbox` is checked against (at import time) and what the tests
walk through, so a new code path cannot invent a move nobody agreed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from epistola.errors import Conflict


class MessageState(StrEnum):
    """Where a message is. Stored as its value in `messages.state` (at most 12 characters)."""

    QUEUED = "queued"  # waiting for a worker; `next_attempt_at` says from when
    RENDERING = "rendering"  # claimed under a lease, not handed to any provider: safe to give back
    SENDING = "sending"  # handed, or about to be handed, to the provider: never given back blindly
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # feedback says it arrived
    BOUNCED = "bounced"  # feedback says it did not
    FAILED = "failed"  # refused for good, or out of attempts
    SUPPRESSED = "suppressed"  # blocked at send time (consent, suppression list); reason in `error`
    UNCERTAIN = "uncertain"  # the provider may or may not have it: reported, never resent
    CANCELLED = "cancelled"  # its campaign was cancelled before it was sent


Q, R, S = MessageState.QUEUED, MessageState.RENDERING, MessageState.SENDING

#: States a worker never touches again. A campaign is done when all its messages are in one.
FINAL_STATES: frozenset[MessageState] = frozenset(MessageState) - {Q, R, S}

#: States held under a worker's lease.
LEASED_STATES: frozenset[MessageState] = frozenset({R, S})

#: Every legal move. Anything not listed is refused.
TRANSITIONS: Mapping[MessageState, frozenset[MessageState]] = MappingProxyType(
    {
        # claimed by a worker; cancelled with its campaign
        Q: frozenset({R, MessageState.CANCELLED}),
        R: frozenset(
            {
                S,  # composed, about to be handed over
                Q,  # given back: pause, shutdown, expired lease, retry after a composer error
                MessageState.SUPPRESSED,  # the composer said no (consent, suppression list)
                MessageState.FAILED,  # the composer can never render it, or out of attempts
                MessageState.CANCELLED,  # given back while its campaign is cancelled
            }
        ),
        S: frozenset(
            {
                MessageState.SENT,
                Q,  # a definite temporary refusal (4xx), or never handed over before a stop
                MessageState.FAILED,  # a definite permanent refusal (5xx)
                MessageState.UNCERTAIN,  # no definite answer, or the worker vanished
                MessageState.CANCELLED,  # a temporary refusal while its campaign is cancelled
            }
        ),
        # feedback settles what happened after the hand-over; an uncertain one may be settled too
        MessageState.SENT: frozenset({MessageState.DELIVERED, MessageState.BOUNCED}),
        MessageState.UNCERTAIN: frozenset({MessageState.DELIVERED, MessageState.BOUNCED}),
        MessageState.DELIVERED: frozenset(),
        MessageState.BOUNCED: frozenset(),
        MessageState.FAILED: frozenset(),
        MessageState.SUPPRESSED: frozenset(),
        MessageState.CANCELLED: frozenset(),
    }
)


def can_transition(source: MessageState, target: MessageState) -> bool:
    return target in TRANSITIONS[source]


def require_transition(source: MessageState, target: MessageState) -> None:
    """Raise `Conflict` unless `source → target` is in the table."""
    if not can_transition(source, target):
        raise Conflict(f"a message cannot move from {source.value!r} to {target.value!r}")
