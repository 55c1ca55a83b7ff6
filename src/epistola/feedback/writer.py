"""Clicks and opens written in the background, in batches: the redirect never waits for a disk.

A click is answered as soon as its token is looked up; its `tracking_events` row goes into a buffer that
a thread writes every `interval` seconds (or sooner, when it fills) in one transaction. The cost is that a
process killed hard loses the clicks of its last interval (100 ms by default); a clean stop writes them.
With ``interval == 0`` nothing is buffered: each row is written before the answer goes out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from epistola.store.schema import tracking_events

log = logging.getLogger("epistola.feedback.writer")


class EventWriter:
    """A buffer of `tracking_events` rows and the thread that writes it."""

    def __init__(self, engine: Engine, *, interval: float, max_rows: int = 2000, max_pending: int = 200_000) -> None:
        self.engine = engine
        self.interval = interval
        self.max_rows = max_rows
        self.max_pending = max_pending  # beyond this (database down for long) rows are dropped, and counted
        self.dropped = 0
        self.written = 0
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def buffered(self) -> bool:
        return self.interval > 0

    def add(self, row: Mapping[str, Any]) -> None:
        """Queue one row (or write it now, when not buffering)."""
        if not self.buffered:
            with self.engine.begin() as conn:
                conn.execute(tracking_events.insert(), [dict(row)])
            self.written += 1
            return
        with self._lock:
            if len(self._rows) >= self.max_pending:
                self.dropped += 1
                return
            self._rows.append(dict(row))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tracking-writer", daemon=True)
                self._thread.start()
            if len(self._rows) >= self.max_rows:
                self._lock.notify()

    def _take(self) -> list[dict[str, Any]]:
        rows, self._rows = self._rows, []
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(tracking_events.insert(), rows)
        except SQLAlchemyError as exc:
            log.warning("could not write %d tracking events (%s); will retry", len(rows), type(exc).__name__)
            return False
        self.written += len(rows)
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._stop and len(self._rows) < self.max_rows:
                    self._lock.wait(self.interval)
                rows, stopping = self._take(), self._stop
            if rows and not self._write(rows):
                with self._lock:  # put them back in front, to be tried with the next batch
                    self._rows[:0] = rows[: max(0, self.max_pending - len(self._rows))]
                if stopping:
                    return
                self._lock_wait_after_error()
            if stopping:
                return

    def _lock_wait_after_error(self) -> None:
        with self._lock:
            self._lock.wait(max(self.interval, 1.0))

    def flush(self) -> None:
        """Write whatever is buffered now, in the caller's thread."""
        with self._lock:
            rows = self._take()
        if rows and not self._write(rows):
            with self._lock:
                self._rows[:0] = rows

    def close(self) -> None:
        """Stop the thread after it has written everything."""
        with self._lock:
            self._stop = True
            self._lock.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        self.flush()
