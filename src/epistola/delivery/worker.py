"""The delivery worker: claim, compose, hand over, record, and nothing in between it could forget.

Safety comes from the order of commits, not from the worker's memory. A batch is claimed (`rendering`,
under a lease) and committed, then composed. Messages move to `sending` a small window at a time, each
commit recording the outcomes so far *and* the next window, always before anything of that window goes
to a provider. A worker killed at any point leaves rows that say exactly what is known: `rendering`
rows go to the next worker, the `sending` window becomes `uncertain` and is reported, never sent twice.
A heartbeat renews the lease while a slow batch is still being worked on.

Between batches the worker also empties its side queues (SMS keyword confirmations) through the same
channels and limits; they keep their own at-most-once bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import Connection, Engine

from epistola.clock import Clock, utcnow
from epistola.config import Settings
from epistola.delivery import control, leases, outbox
from epistola.delivery.composing import Composed, compose_batch
from epistola.delivery.limits import Limiter
from epistola.delivery.ports import Channel, ClaimedMessage, Composer, Envelope, Listener, SideQueue
from epistola.delivery.runtime import Transactions, default_worker_id, stop_on_signals
from epistola.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

_GROUP_MAX = 100  # outcomes per commit at most; a crash loses at most the group being written
_GROUP_WAIT_S = 0.05  # how long known outcomes may wait for more to share their commit
_FINISH_EVERY_S = 5.0  # how often a busy worker checks whether campaigns are done


@dataclass(frozen=True, kw_only=True)
class WorkerStats:
    """What one `Worker.run` did, counted per message."""

    batches: int = 0
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0
    uncertain: int = 0
    released: int = 0
    cancelled: int = 0
    recovered: int = 0  # rows of vanished workers this one took back (requeued or made uncertain)
    side_settled: int = 0  # side-queue messages (SMS keyword confirmations) that reached a final state
    finished_campaigns: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ProgressSnapshot:
    worker_id: str
    at: datetime
    in_flight: int  # messages being handed over right now
    stats: WorkerStats


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    message_id: int
    kind: Literal["sent", "retry", "failed", "uncertain", "unsent"]
    detail: str  # the provider id, or the error


class Worker:
    """Moves `queued` messages of running campaigns to a final state through `channels` (by name)."""

    def __init__(
        self,
        engine: Engine,
        composer: Composer,
        channels: Mapping[str, Channel],
        *,
        clock: Clock = utcnow,
        worker_id: str | None = None,
        batch_size: int = 200,
        lease: timedelta = timedelta(seconds=300),
        max_attempts: int = 5,
        concurrency: int = 4,
        idle_sleep_s: float = 1.0,
        handle_signals: bool = True,
        limiter: Limiter | None = None,
        side_queues: Sequence[SideQueue] = (),
    ) -> None:
        self.engine = engine
        self.composer = composer
        self.channels = dict(channels)
        self.clock = clock
        self.worker_id = (worker_id or default_worker_id())[:64]
        self.batch_size = max(1, batch_size)
        self.lease = lease
        self.max_attempts = max(1, max_attempts)
        self.concurrency = max(1, concurrency)
        self.idle_sleep_s = idle_sleep_s
        self.handle_signals = handle_signals
        self.limiter = limiter if limiter is not None and limiter.active else None
        self.side_queues = tuple(side_queues)
        self._counts: Counter[str] = Counter()
        self._finished: list[int] = []
        self._in_flight = 0
        self._db = Transactions(engine)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        composer: Composer,
        channels: Mapping[str, Channel],
        *,
        clock: Clock = utcnow,
        side_queues: Sequence[SideQueue] = (),
    ) -> Worker:
        return cls(
            engine,
            composer,
            channels,
            clock=clock,
            batch_size=settings.send_batch_size,
            lease=timedelta(seconds=settings.lease_seconds),
            max_attempts=settings.max_attempts,
            concurrency=settings.smtp_connections,
            limiter=Limiter.from_settings(settings),
            side_queues=side_queues,
        )

    @property
    def stats(self) -> WorkerStats:
        return WorkerStats(**self._counts, finished_campaigns=tuple(self._finished))

    # --- the loop -------------------------------------------------------------------------------------------

    async def run(
        self,
        stop: asyncio.Event | None = None,
        until_idle: bool = False,
        on_progress: Callable[[ProgressSnapshot], None] | None = None,
    ) -> WorkerStats:
        """Work until `stop` is set (or SIGTERM/SIGINT), or with `until_idle` until nothing is claimable.

        A stop lets the messages being handed over finish and gives the rest back. The channels are
        closed on return.
        """
        stop = stop if stop is not None else asyncio.Event()
        self._counts, self._finished, self._in_flight = Counter(), [], 0
        loop = asyncio.get_running_loop()
        heartbeat = asyncio.create_task(self._heartbeat())
        # A long-running worker keeps receiving channels (SMPP) connected between sends; a run until idle
        # only drains the outbox.
        listening = asyncio.Event()
        listeners = [] if until_idle else [asyncio.create_task(c.listen(listening)) for c in self._listeners()]
        last_finish = float("-inf")
        try:
            with stop_on_signals(stop, enabled=self.handle_signals):
                while not stop.is_set():
                    await self._recover()
                    batch = await self._db(
                        lambda c: outbox.claim(
                            c,
                            worker_id=self.worker_id,
                            limit=self.batch_size,
                            now=self.clock(),
                            lease=self.lease,
                            channels=list(self.channels),
                        )
                    )
                    if batch:
                        await self._process(batch, stop, on_progress)
                    side = await self._side_work(stop)
                    if len(batch) < self.batch_size or loop.time() - last_finish > _FINISH_EVERY_S:
                        await self._finish_campaigns()
                        last_finish = loop.time()
                    if not batch and not side:
                        if until_idle:
                            break
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.idle_sleep_s)
        finally:
            heartbeat.cancel()
            listening.set()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            for task in listeners:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 5)
            await self._close_channels()
        return self.stats

    def _listeners(self) -> list[Listener]:
        return [c for c in self.channels.values() if callable(getattr(c, "listen", None))]  # type: ignore[misc]

    async def _process(
        self,
        batch: Sequence[ClaimedMessage],
        stop: asyncio.Event,
        on_progress: Callable[[ProgressSnapshot], None] | None,
    ) -> None:
        """Compose a claimed batch, then hand it over a window at a time, recording outcomes as they come.

        Only a small window of messages (twice the concurrency) is `sending` at any moment, each moved
        there in the same commit that records earlier outcomes. A crash therefore leaves at most that
        window `uncertain`; the rest of the batch is still `rendering` and simply goes again.

        A commit costs about as much as composing a message, so outcomes are gathered until the window
        needs refilling (only `concurrency` hand-overs left, so the connections never wait for it) or for
        `_GROUP_WAIT_S` after the first one: a few large commits, not one per outcome.
        """
        self._counts["batches"] += 1
        self._counts["claimed"] += len(batch)
        claimed = {m.id: m for m in batch}
        composed: Composed | None = await asyncio.to_thread(compose_batch, self.composer, batch)
        pending = deque(composed.envelopes if composed else ())
        window = 2 * self.concurrency  # the spare half keeps connections busy while a commit runs
        outcomes: list[_Outcome] = []  # known, not yet recorded
        arrived = asyncio.Event()  # set once `flush_at` outcomes are known
        flush_at = 1
        slots = asyncio.Semaphore(self.concurrency)
        tasks: list[asyncio.Task[None]] = []
        group: list[_Outcome] = []
        give_back: list[int] = []
        in_flight = 0

        async def hand_over(envelope: Envelope) -> None:
            name = claimed[envelope.message_id].channel
            async with self._limited(name, envelope.recipient, stop) as allowed, slots:
                if stop.is_set() or not allowed:  # not handed over yet: safe to give back
                    outcome = _Outcome(message_id=envelope.message_id, kind="unsent", detail="")
                else:
                    self._in_flight += 1
                    try:
                        outcome = await self._send_one(envelope, self.channels[name])
                    finally:
                        self._in_flight -= 1
                outcomes.append(outcome)
                if len(outcomes) >= flush_at:
                    arrived.set()

        async def known(count: int) -> None:
            """Wait until `count` outcomes are known, or a while after the first one."""
            nonlocal flush_at
            if not outcomes:
                flush_at = 1
                arrived.clear()
                await arrived.wait()
            if len(outcomes) < count:
                flush_at = count
                arrived.clear()
                timer = asyncio.get_running_loop().call_later(_GROUP_WAIT_S, arrived.set)
                try:
                    await arrived.wait()
                finally:
                    timer.cancel()

        try:
            while True:
                if stop.is_set():
                    give_back.extend(e.message_id for e in pending)
                    pending.clear()
                want = [pending.popleft() for _ in range(min(window - in_flight, len(pending)))]
                moved, counts = await self._db(
                    functools.partial(
                        self._step,
                        composed=composed,
                        outcomes=group,
                        want=[e.message_id for e in want],
                        give_back=give_back,
                        claimed=claimed,
                    )
                )
                self._counts.update(counts)
                self._emit(on_progress)
                composed, give_back = None, []
                refused = {claimed[e.message_id].campaign_id for e in want if e.message_id not in moved}
                if refused:  # paused or cancelled since the claim: give back all of theirs, unsent
                    give_back = [e.message_id for e in pending if claimed[e.message_id].campaign_id in refused]
                    pending = deque(e for e in pending if claimed[e.message_id].campaign_id not in refused)
                for envelope in want:
                    if envelope.message_id in moved:
                        tasks.append(asyncio.create_task(hand_over(envelope)))
                        in_flight += 1
                group = []
                if in_flight == 0:
                    if pending or give_back:
                        continue
                    break
                await known(min(max(1, in_flight - self.concurrency) if pending else in_flight, _GROUP_MAX))
                group = outcomes[:_GROUP_MAX]
                del outcomes[:_GROUP_MAX]
                in_flight -= len(group)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _step(
        self,
        conn: Connection,
        *,
        composed: Composed | None,
        outcomes: Sequence[_Outcome],
        want: Sequence[int],
        give_back: Sequence[int],
        claimed: Mapping[int, ClaimedMessage],
    ) -> tuple[set[int], Counter[str]]:
        """One commit (in a thread): the composer's verdicts, outcomes so far, the next window to send.

        Returns the ids moved to `sending`, and what changed, for the loop to count.
        """
        now, me, counts = self.clock(), self.worker_id, Counter[str]()
        retries: list[outbox.Retry] = []
        if composed is not None:
            counts["suppressed"] += outbox.mark_suppressed(conn, worker_id=me, skips=composed.skips, now=now)
            counts["failed"] += outbox.mark_failed(conn, worker_id=me, failures=composed.failures, now=now)
            retries.extend(composed.retries)
        by_kind: dict[str, list[tuple[int, str]]] = {}
        for outcome in outcomes:
            by_kind.setdefault(outcome.kind, []).append((outcome.message_id, outcome.detail))
        retries.extend(
            outbox.Retry(message_id=i, attempt=claimed[i].attempts, error=error)
            for i, error in by_kind.get("retry", [])
        )
        unsent = [i for i, _ in by_kind.get("unsent", [])]
        counts["released"] += outbox.release_unsent(conn, worker_id=me, ids=unsent, now=now)
        result = outbox.mark_retry(conn, worker_id=me, retries=retries, now=now, max_attempts=self.max_attempts)
        counts.update(retried=len(result.requeued), failed=len(result.failed), cancelled=len(result.cancelled))
        counts["sent"] += outbox.mark_sent(conn, worker_id=me, results=by_kind.get("sent", []), now=now)
        counts["failed"] += outbox.mark_failed(conn, worker_id=me, failures=by_kind.get("failed", []), now=now)
        counts["uncertain"] += outbox.mark_uncertain(conn, worker_id=me, items=by_kind.get("uncertain", []), now=now)
        moved = set(outbox.mark_sending(conn, worker_id=me, ids=want, now=now, lease=self.lease))
        refused = [i for i in want if i not in moved]
        counts["released"] += outbox.release(conn, worker_id=me, ids=[*refused, *give_back], now=now)
        return moved, counts

    def _limited(
        self, channel: str, recipient: str, stop: asyncio.Event
    ) -> contextlib.AbstractAsyncContextManager[bool]:
        """The rate and concurrency limits for this hand-over (waits before a slot is taken)."""
        if self.limiter is None:
            return contextlib.nullcontext(True)
        return self.limiter.slot(channel, recipient, stop)

    @staticmethod
    async def _send_one(envelope: Envelope, channel: Channel) -> _Outcome:
        message_id = envelope.message_id
        try:
            return _Outcome(message_id=message_id, kind="sent", detail=await channel.send(envelope))
        except TransientDeliveryError as exc:
            return _Outcome(message_id=message_id, kind="retry", detail=str(exc))
        except PermanentDeliveryError as exc:
            return _Outcome(message_id=message_id, kind="failed", detail=str(exc))
        except UncertainDeliveryError as exc:
            logger.warning("message %s: outcome unknown (%s); it will not be resent", message_id, type(exc).__name__)
            return _Outcome(message_id=message_id, kind="uncertain", detail=str(exc))
        except Exception as exc:  # an adapter bug: nobody knows whether it was handed over
            logger.error("message %s: channel raised %s; recorded as uncertain", message_id, type(exc).__name__)
            return _Outcome(message_id=message_id, kind="uncertain", detail=f"{type(exc).__name__}: {exc}")

    async def _side_work(self, stop: asyncio.Event) -> int:
        """Hand over what the side queues hold, behind the same limits; returns how many were settled."""
        settled = 0
        for queue in self.side_queues:
            channel = self.channels.get(queue.channel)
            if channel is None or stop.is_set():
                continue

            async def send(envelope: Envelope, channel: Channel = channel, name: str = queue.channel) -> str:
                async with self._limited(name, envelope.recipient, stop) as allowed:
                    if not allowed:  # stopping: not handed over, so it simply waits for the next worker
                        raise TransientDeliveryError("the worker is stopping")
                    self._in_flight += 1
                    try:
                        return await channel.send(envelope)
                    finally:
                        self._in_flight -= 1

            try:
                settled += await queue.send_waiting(send, stop)
            except Exception as exc:  # the outbox work carries on; the next round tries again
                logger.warning("side queue on %s failed: %s", queue.channel, type(exc).__name__)
        self._counts["side_settled"] += settled
        return settled

    # --- housekeeping ---------------------------------------------------------------------------------------

    async def _recover(self) -> None:
        report = await self._db(
            lambda c: leases.recover_expired_leases(c, now=self.clock(), max_attempts=self.max_attempts)
        )
        if report.total:
            self._counts["recovered"] += len(report.requeued) + len(report.uncertain)
            logger.warning(
                "took back %d expired leases: %d requeued, %d uncertain (not resent: %s), %d failed",
                report.total,
                len(report.requeued),
                len(report.uncertain),
                list(report.uncertain[:20]),
                len(report.failed),
            )

    async def _finish_campaigns(self) -> None:
        done = await self._db(lambda c: control.finish_campaigns_if_done(c, now=self.clock(), origin=self.worker_id))
        self._finished.extend(done)
        for campaign_id in done:
            logger.info("campaign %s finished: every message reached a final state", campaign_id)

    async def _heartbeat(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._db(
                    lambda c: leases.extend_leases(c, worker_id=self.worker_id, now=self.clock(), lease=self.lease)
                )
            except Exception as exc:  # the next beat may succeed; the loop reports lasting trouble
                logger.warning("could not extend leases: %s", type(exc).__name__)

    def _emit(self, on_progress: Callable[[ProgressSnapshot], None] | None) -> None:
        if on_progress is None:
            return
        snapshot = ProgressSnapshot(
            worker_id=self.worker_id, at=self.clock(), in_flight=self._in_flight, stats=self.stats
        )
        try:
            on_progress(snapshot)
        except Exception:
            logger.exception("progress callback failed; delivery carries on")

    async def _close_channels(self) -> None:
        for name, channel in self.channels.items():
            try:
                await channel.close()
            except Exception as exc:
                logger.warning("closing channel %s failed: %s", name, type(exc).__name__)
