"""Delivery receipts into the outbox: SMSC receipts (and any provider's callbacks) settle sent messages.

Receipts arrive on the event loop, as fast as messages go out, so they are buffered and written in
groups from a thread, never one transaction each and never blocking the loop. A receipt for a message
not yet recorded as sent (its `submit_sm_resp` and the receipt raced) is kept and tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine

from epistola.clock import Clock, utcnow
from epistola.delivery import outbox
from epistola.delivery.sms import Receipt

logger = logging.getLogger(__name__)

_FLUSH_S = 0.5
_GROUP = 500
_RETRIES = 3  # flushes a receipt waits for its message to be recorded as sent before it is dropped


class ReceiptRecorder:
    """Callable with a `Receipt`; `close()` writes what is left. One per channel and event loop."""

    def __init__(self, engine: Engine, *, channel: str, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.channel = channel
        self.clock = clock
        self.recorded = 0
        self._buffer: list[tuple[Receipt, int]] = []
        self._task: asyncio.Task[None] | None = None

    def __call__(self, receipt: Receipt) -> None:
        if receipt.outcome is None:  # an intermediate state (ENROUTE, ACCEPTD on some SMSCs): nothing to settle
            return
        self._buffer.append((receipt, 0))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        while self._buffer:
            await asyncio.sleep(_FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        pending, self._buffer = self._buffer, []
        for start in range(0, len(pending), _GROUP):
            group = pending[start : start + _GROUP]
            try:
                settled = await asyncio.to_thread(self._write, [r for r, _ in group])
            except Exception as exc:  # the database is busy or gone: keep them for the next flush
                logger.warning("recording %d delivery receipts failed (%s)", len(group), type(exc).__name__)
                self._buffer.extend(group)
                continue
            self.recorded += len(settled)
            self._buffer.extend(
                (r, tries + 1) for r, tries in group if r.provider_id not in settled and tries < _RETRIES
            )

    def _write(self, receipts: list[Receipt]) -> set[str]:
        """One transaction; returns the provider ids whose message was settled (or already final)."""
        settled: set[str] = set()
        with self.engine.begin() as conn:
            for receipt in receipts:
                detail = f"receipt {receipt.status} err:{receipt.error}"
                outcome = receipt.outcome or "delivered"
                if outbox.record_outcomes(
                    conn, channel=self.channel, outcomes=[(receipt.provider_id, outcome, detail)], now=self.clock()
                ):
                    settled.add(receipt.provider_id)
        return settled

    async def close(self) -> None:
        """Write what is buffered. A flush under way is awaited, not cancelled: its transaction runs in a
        thread that a cancel would not stop, and what it settled would go uncounted."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for _ in range(_RETRIES + 1):
            if not self._buffer:
                break
            await self.flush()
        self._buffer = []
