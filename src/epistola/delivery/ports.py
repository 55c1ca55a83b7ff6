"""What delivery needs from the rest of Epistola, declared here and implemented elsewhere.

The campaign side inserts `queued` rows; a `Composer` turns claimed rows into ready-to-send bytes (or a
reasoned refusal); a `Channel` hands bytes to a provider. The worker only moves rows between states.
A `SideQueue` is anything else the worker hands over through its channels (SMS keyword confirmations).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio


@dataclass(frozen=True, kw_only=True)
class ClaimedMessage:
    """A `messages` row a worker holds under its lease. `attempts` counts this attempt."""

    id: int
    step_id: int
    campaign_id: int
    customer_id: int
    channel: str
    recipient: str | None
    attempts: int


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """Ready-to-send bytes for one message: what the provider gets, nothing more to render."""

    message_id: int
    sender: str
    recipient: str
    data: bytes

    def __repr__(self) -> str:  # the recipient and the content are personal data: keep them out of logs
        return f"Envelope(message_id={self.message_id}, bytes={len(self.data)})"


@dataclass(frozen=True, kw_only=True)
class Skip:
    """The composer decided this message must not go out (no consent, suppressed address)."""

    message_id: int
    reason: str


class Composer(Protocol):
    """Renders claimed messages. Return one result per message; a missing one is retried later.

    Raise `PermanentDeliveryError` or `InputError` (e.g. `TemplateError`) for a message that can never
    be rendered; any other exception is treated as temporary. When a call for a whole batch raises, the
    worker composes the messages one by one so that one bad row does not hold up the rest.
    """

    def compose(self, messages: Sequence[ClaimedMessage]) -> Sequence[Envelope | Skip]: ...


class Channel(Protocol):
    """One provider adapter per channel (e-mail, SMS, …); async because the work is network I/O.

    `send` returns the provider's id for the message, or raises `TransientDeliveryError` (retry later),
    `PermanentDeliveryError` (never retry) or `UncertainDeliveryError` (the provider may have it: never
    resend). Any other exception counts as uncertain, because nobody can say whether it was handed over.
    """

    async def send(self, envelope: Envelope) -> str: ...

    async def close(self) -> None: ...


class Listener(Protocol):
    """A channel that also receives (an SMPP session brings customers' texts and receipts): a running
    worker keeps it connected with `listen` until `stop` is set, even while it has nothing to send."""

    async def listen(self, stop: asyncio.Event) -> None: ...


Send = Callable[[Envelope], Awaitable[str]]


class SideQueue(Protocol):
    """Messages kept outside the outbox that a worker also hands over, through its channel `channel`.

    The queue keeps its own at-most-once bookkeeping. `send_waiting` gives each waiting message to
    `send` (the worker's channel, behind its rate limits) at most once per call, stops early when `stop`
    is set, and returns how many reached a final state: 0 means nothing to do now.
    """

    @property
    def channel(self) -> str: ...

    async def send_waiting(self, send: Send, stop: asyncio.Event) -> int: ...
