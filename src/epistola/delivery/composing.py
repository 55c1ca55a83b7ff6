"""Calling the `Composer` so that one bad row holds up nobody but itself.

The composer renders a whole batch at once (fast: one query, one template compile). When that call
raises, each message is composed alone, and only the ones that still fail are set aside: for good when
the error says they can never be rendered, for a later attempt otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from epistola.delivery.outbox import Retry
from epistola.delivery.ports import ClaimedMessage, Composer, Envelope, Skip
from epistola.errors import InputError, PermanentDeliveryError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Composed:
    """A batch sorted by what happens next to each message."""

    envelopes: tuple[Envelope, ...] = ()  # to hand over
    skips: tuple[Skip, ...] = ()  # to record as suppressed
    retries: tuple[Retry, ...] = ()  # to try again later (temporary composer trouble, or no result)
    failures: tuple[tuple[int, str], ...] = ()  # (message id, error): can never be rendered


def compose_batch(composer: Composer, batch: Sequence[ClaimedMessage]) -> Composed:
    """Compose `batch`; falls back to one message at a time if the batch call raises."""
    results: list[Envelope | Skip] = []
    errors: dict[int, Exception] = {}
    try:
        results.extend(composer.compose(batch))
    except Exception as exc:
        # The exception text may quote customer data: log its type only.
        logger.warning("composer failed on a batch of %d (%s); composing one by one", len(batch), type(exc).__name__)
        for message in batch:
            try:
                results.extend(composer.compose([message]))
            except Exception as single:
                errors[message.id] = single
    claimed = {m.id for m in batch}
    envelopes: list[Envelope] = []
    skips: list[Skip] = []
    seen: set[int] = set()
    for result in results:
        if result.message_id not in claimed or result.message_id in seen:
            logger.warning("composer returned an unexpected result for message %s; ignored", result.message_id)
            continue
        seen.add(result.message_id)
        if isinstance(result, Envelope):
            envelopes.append(result)
        else:
            skips.append(result)
    retries: list[Retry] = []
    failures: list[tuple[int, str]] = []
    for message in batch:
        if message.id in seen:
            continue
        error = errors.get(message.id)
        if isinstance(error, PermanentDeliveryError | InputError):
            failures.append((message.id, f"cannot compose: {error}"))
        else:
            reason = f"{type(error).__name__}: {error}" if error else "the composer returned no result for it"
            retries.append(Retry(message_id=message.id, attempt=message.attempts, error=reason))
    return Composed(envelopes=tuple(envelopes), skips=tuple(skips), retries=tuple(retries), failures=tuple(failures))
