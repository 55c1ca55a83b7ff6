"""What a long-running async worker needs around its loop: database work off the event loop, signals.

Kept apart from the worker's logic so that the loop reads as the delivery steps and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from epistola.errors import StorageError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def default_worker_id() -> str:
    """Host, process and a random suffix: unique across machines and restarts, readable in the table."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"


class Transactions:
    """Runs blocking database work in a thread, one transaction at a time, so sends keep flowing.

    One at a time, because a worker's own writes (a heartbeat, a group of outcomes) touching the same
    rows concurrently could deadlock each other on PostgreSQL. Lock conflicts with other workers
    (deadlock, serialisation failure, a busy SQLite file) are retried twice; all updates are guarded by
    state and lease, so running one again is harmless.
    """

    def __init__(self, engine: Engine, *, attempts: int = 3) -> None:
        self.engine = engine
        self.attempts = attempts
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, work: Callable[[Connection], T]) -> T:
        def transaction() -> T:
            with self.engine.begin() as conn:
                return work(conn)

        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # an asyncio lock belongs to one loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            attempt = 1
            while True:
                try:
                    return await asyncio.to_thread(transaction)
                except OperationalError as exc:
                    reason = type(exc.orig).__name__
                    if attempt >= self.attempts:
                        raise StorageError(f"the delivery worker's database work failed: {reason}") from exc
                    logger.warning("database busy (%s); trying again", reason)
                    await asyncio.sleep(0.2 * attempt)
                    attempt += 1


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, *, enabled: bool = True) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set `stop` instead of killing the process (main thread only).

    The previous handlers are put back on exit, so a test runner or an embedding app keeps its own.
    """
    installed: list[tuple[signal.Signals, Any]] = []
    loop = asyncio.get_running_loop()
    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append((sig, previous))
    try:
        yield
    finally:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)
