"""Normalising batches of records, in this process or in a pool of worker processes, in order.

Normalisation is pure (a row and a mapping in, canonical values out) and costs most of an import's
time, so big imports spread it over the machine's cores. Batches come back in the order they were
sent, which keeps the importer's batches atomic and its row numbers true.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from epistola.hub import json_text
from epistola.hub.mapping import SourceMapping
from epistola.hub.normalize import Canonical, canonicalise

B = TypeVar("B")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class Normalised(NamedTuple):
    """One record's canonical values as stored (JSON text), its quality signature and its flags."""

    json: str
    quality: str  # 'email first_name !phone': the mapped fields given, '!' marking unusable ones
    invalid: dict[str, str]  # field -> reason, without the value
    filled: tuple[str, ...]  # mapped fields given with a usable value


@dataclass(slots=True)
class NormalisedBatch:
    """A batch's records normalised, column by column (`Normalised` one by one when iterated).

    Millions of records cross between processes: lists of strings pickle several times faster than
    as many small objects, and the batch's counts come ready, so the importer need not walk every
    record's fields again.
    """

    json: list[str] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)  # per record: field -> reason kind
    filled: list[tuple[str, ...]] = field(default_factory=list)
    # Over the whole batch: records with a usable value per field, unusable per field and reason.
    filled_counts: dict[str, int] = field(default_factory=dict)
    reason_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.json)

    def __getitem__(self, n: int) -> Normalised:
        return Normalised(self.json[n], self.quality[n], self.invalid[n], self.filled[n])

    def __iter__(self) -> Iterator[Normalised]:
        return map(Normalised, self.json, self.quality, self.invalid, self.filled)


def reason_kind(reason: str) -> str:
    """A reason without quoted values, so reasons can be counted without copying personal data."""
    return _QUOTED.sub("…", reason)


def quality_signature(canonical: Canonical) -> tuple[str, tuple[str, ...]]:
    """Which mapped fields the source filled, and which of them were unusable."""
    return _signature(tuple(canonical.given), tuple(canonical.invalid))


@lru_cache(maxsize=4096)
def _signature(given: tuple[str, ...], invalid: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """A few hundred combinations cover millions of records: each is worked out once."""
    tokens = [("!" + name) if name in invalid else name for name in given]
    tokens.extend("!" + name for name in invalid if name not in given)
    filled = tuple(name for name in given if name not in invalid)
    return " ".join(sorted(tokens)), filled


def normalise_rows(rows: Iterable[dict[str, Any]], mapping: SourceMapping, today: date) -> NormalisedBatch:
    out = NormalisedBatch()
    filled_counts: Counter[str] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    for row in rows:
        canonical = canonicalise(row, mapping, today=today)
        quality, filled = quality_signature(canonical)
        invalid = {k: reason_kind(v) for k, v in canonical.invalid.items()} if canonical.invalid else {}
        out.json.append(json_text.dumps(canonical.as_json()))
        out.quality.append(quality)
        out.invalid.append(invalid)
        out.filled.append(filled)
        filled_counts.update(filled)
        if invalid:
            reasons.update(invalid.items())
    out.filled_counts = dict(filled_counts)
    for (name, reason), n in reasons.items():
        out.reason_counts.setdefault(name, {})[reason] = n
    return out


_worker_state: dict[str, Any] = {}


def _init_worker(mapping_json: str, today: str) -> None:
    _worker_state["mapping"] = SourceMapping.model_validate_json(mapping_json)
    _worker_state["today"] = date.fromisoformat(today)


def _work(rows: list[dict[str, Any] | str]) -> NormalisedBatch:
    """In a worker: rows arrive as dicts, or as their JSON text (cheaper to send than a dict)."""
    decoded = [json_text.loads(r) if isinstance(r, str) else r for r in rows]
    return normalise_rows(decoded, _worker_state["mapping"], _worker_state["today"])


class CanonicalPool:
    """``with CanonicalPool(mapping, today=..., workers=2) as pool: for batch, result in pool.map(...)``.

    With one worker everything runs in this process. Otherwise a process pool normalises up to
    ``2 × workers`` batches ahead while the caller writes the finished ones.
    """

    def __init__(self, mapping: SourceMapping, *, today: date, workers: int = 1) -> None:
        self.mapping = mapping
        self.today = today
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> CanonicalPool:
        if self.workers > 1:
            # fork is fast and does not re-import the caller's main module; with other threads
            # running (a web server), forking is unsafe, so spawn instead.
            method = "fork" if threading.active_count() == 1 and _has_fork() else "spawn"
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
                initargs=(self.mapping.model_dump_json(by_alias=True), self.today.isoformat()),
            )
            if method == "fork":
                # Fork the workers now, while this is the only thread: the caller may start one of
                # its own next (the importer's reader), and a process forked beside it could inherit
                # a lock that thread held.
                self._executor.submit(int).result()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def map(
        self,
        batches: Iterable[B],
        rows_of: Callable[[B], list[dict[str, Any]]],
        texts_of: Callable[[B], list[str]] | None = None,
    ) -> Iterator[tuple[B, NormalisedBatch]]:
        """Each batch with the normalised form of its rows, in the order the batches came.

        `texts_of`, when given, returns the same rows as JSON text: what is sent to worker processes.
        """
        if self._executor is None:
            for batch in batches:
                yield batch, normalise_rows(rows_of(batch), self.mapping, self.today)
            return
        ahead: deque[tuple[B, Future[NormalisedBatch]]] = deque()
        for batch in batches:
            payload: list[Any] = texts_of(batch) if texts_of is not None else rows_of(batch)
            ahead.append((batch, self._executor.submit(_work, payload)))
            while len(ahead) > 2 * self.workers:
                done, future = ahead.popleft()
                yield done, future.result()
        while ahead:
            done, future = ahead.popleft()
            yield done, future.result()


def _has_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()
