"""Importing a customer source: every record kept, re-imports incremental, every batch atomic.

A record is identified by (source, source key) and fingerprinted by a hash of its content and the
mapping, so a re-import writes only what changed, marks what disappeared, and is harmless to repeat —
including after a crash mid-file, since each committed batch is simply found unchanged the next time.

Records of a person who was erased (GDPR art. 17) are skipped, not stored: the erasure keeps keyed
hashes of their source keys, e-mail addresses and phone numbers (`epistola.consent.suppression`), and a
new or changed record matching any of them is counted under ``skipped`` — nothing else about it is kept.
So is a row of theirs that fails the mapping: its raw text is not written to the rejects
(`epistola.hub.erased`).

Speed: the reader, the fingerprints and the database writes stay in this process; normalisation (the
costly part: phone numbers, e-mail syntax) runs in a pool of worker processes for big files, batch by
batch, in order. Records whose fingerprint is unchanged are never normalised again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, select

from epistola import audit
from epistola.clock import Clock
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.errors import Problem
from epistola.hub import json_text, store
from epistola.hub.canonical_pool import CanonicalPool, NormalisedBatch
from epistola.hub.erased import SKIPPED_ERASED, ErasedCheck
from epistola.hub.mapping import SourceMapping
from epistola.hub.readers import Rejected, Row, close_rows, count_rows, lookup, read_records
from epistola.store import wrap_db_errors
from epistola.store.schema import import_rejects

Progress = Callable[[int, int], None]  # (rows done, rows expected)
T = TypeVar("T")
POOL_THRESHOLD = 20_000  # rows; below this, starting worker processes costs more than it saves


@dataclass(kw_only=True)
class ImportReport:
    source: str
    file: str
    import_id: int = 0
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    missing: int = 0
    returned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> records neither stored nor merged
    invalid: dict[str, int] = field(default_factory=dict)  # field -> records with an unusable value
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> reason -> records
    filled: dict[str, int] = field(default_factory=dict)  # field -> written records with a usable value
    problems: list[Problem] = field(default_factory=list)  # the first rejects, for the screen
    rejects_file: Path | None = None

    def stats(self) -> dict[str, Any]:
        keys = (
            "seen",
            "new",
            "changed",
            "unchanged",
            "rejected",
            "missing",
            "returned",
            "skipped",
            "invalid",
            "filled",
            "reasons",
        )
        return {k: getattr(self, k) for k in keys}


def mapping_digest(mapping: SourceMapping) -> str:
    """Part of every fingerprint: a changed mapping re-normalises every record. Key order does not count
    (PostgreSQL's JSONB does not keep it for stored mappings)."""
    text = json.dumps(mapping.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_json(values: dict[str, Any]) -> str:
    """The stored form of a record as the source said it; also what its fingerprint is taken of."""
    return json_text.dumps_sorted(values)


def fingerprint(data_json: str, digest: str) -> str:
    return hashlib.sha256((digest + data_json).encode()).hexdigest()


@dataclass(slots=True)
class _Pending:
    """A new or changed record waiting for normalisation and its batch's commit."""

    key: str
    values: dict[str, Any]
    data: str
    content_hash: str
    prior_id: int | None


@dataclass(slots=True)
class _Batch:
    pending: list[_Pending] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    rows: int = 0  # rows read (kept, unchanged or rejected) for the progress bar


class SourceImport:
    """One import of one source: open it, feed it rows, write batches, finish it.

    The file importer below drives it batch by batch with a commit each; the REST API drives it with
    one batch inside its request transaction (`complete=False`: a partial batch never marks other
    records missing).
    """

    def __init__(
        self,
        mapping: SourceMapping,
        *,
        origin: str,
        now: datetime,
        keyring: Keyring | None = None,
        complete: bool = True,
        problem_limit: int = 50,
    ) -> None:
        self.mapping = mapping
        self.keyring = keyring
        self.erased: ErasedCheck | None = None  # set by `open` when the store holds erasures
        self.problem_limit = problem_limit
        self.origin = origin
        self.now = now
        self.complete = complete
        self.digest = mapping_digest(mapping)
        self.report = ImportReport(source=mapping.source, file=origin)
        self.source_id = 0
        self.known: dict[str, store.Known] = {}
        self.seen_at_row: dict[str, int] = {}

    def open(self, conn: Connection, *, keys: Iterable[str] | None = None) -> None:
        """Register the source and the import; load what is known (all of it, or only `keys`)."""
        self.source_id = store.ensure_source(
            conn,
            name=self.mapping.source,
            kind=self.mapping.format.type,
            description=self.mapping.description,
            trust=self.mapping.trust,
            mapping=self.mapping.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            now=self.now,
        )
        self.report.import_id = store.start_import(
            conn, source_id=self.source_id, file=self.origin, now=self.now, interrupt=self.complete
        )
        self.known = store.known_records(conn, self.source_id, keys=None if keys is None else list(keys))
        self.erased = ErasedCheck.open(conn, self.keyring)  # fails closed without the key

    def take(self, item: Row | Rejected, batch: _Batch) -> None:
        """Classify one row: rejected, unchanged (nothing to do) or pending (new or changed)."""
        batch.rows += 1
        if isinstance(item, Rejected):
            self.reject(batch, item.number, item.reason, item.raw, item.field)
            return
        key = lookup(item.values, self.mapping.key)
        key = None if key is None else str(key).strip()
        if not key:
            self.reject(batch, item.number, "the record has no key", _raw(item), self.mapping.key)
            return
        if key in self.seen_at_row:
            reason = f"duplicate key; first seen at row {self.seen_at_row[key]}"
            self.reject(batch, item.number, reason, _raw(item), self.mapping.key)
            return
        if len(key) > 200:
            self.reject(batch, item.number, "the key is longer than 200 characters", _raw(item), self.mapping.key)
            return
        self.seen_at_row[key] = item.number
        self.report.seen += 1
        data = record_json(item.values)
        content_hash = fingerprint(data, self.digest)
        prior = self.known.get(key)
        if prior is not None and prior.content_hash == content_hash:
            self.report.unchanged += 1
            if prior.missing:
                batch.returned.append(prior.id)
            return
        batch.pending.append(_Pending(key, item.values, data, content_hash, None if prior is None else prior.id))

    def reject(self, batch: _Batch, row: int, reason: str, raw: str, field_name: str | None) -> None:
        """Note a rejected row; `settle_rejects` counts and stores it when its batch is written."""
        batch.rejects.append({"row": row, "field": field_name, "reason": reason, "raw": raw[:2000]})

    def settle_rejects(self, conn: Connection, batch: _Batch) -> None:
        """Count and store the batch's rejects, but those naming an erased person only as skipped."""
        rejects = batch.rejects
        if self.erased is not None and rejects:
            rejects, theirs = self.erased.keep_rejects(
                conn, rejects, key_sources=[self.mapping.source], regions=self.mapping.phone_regions()
            )
            self._skip(theirs)
        store.settle_rejects(conn, self.report, rejects, origin=self.origin, problem_limit=self.problem_limit)

    def _skip(self, n: int) -> None:
        if n:
            self.report.skipped[SKIPPED_ERASED] = self.report.skipped.get(SKIPPED_ERASED, 0) + n

    def erased_records(self, conn: Connection, batch: _Batch, normalised: NormalisedBatch) -> set[int]:
        """Positions in the batch of records belonging to an erased person (by key, e-mail or phone)."""
        if self.erased is None or not batch.pending:
            return set()
        idents: list[list[str]] = []
        for pending, text in zip(batch.pending, normalised.json, strict=True):
            values = json.loads(text)
            own = [suppression.record_identifier(self.mapping.source, pending.key)]
            for kind in ("email", "phone"):
                value = values.get(kind)
                if isinstance(value, str) and value.strip():
                    own.append(suppression.identifier(kind, value))
            idents.append(own)
        return self.erased.matching(conn, idents)

    def write(self, conn: Connection, batch: _Batch, normalised: NormalisedBatch) -> None:
        """Store one batch: new records, changed records, returned records and the batch's rejects."""
        report = self.report
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        erased = self.erased_records(conn, batch, normalised)
        source_id = self.source_id
        rows = zip(batch.pending, normalised.json, normalised.quality, strict=True)
        for n, (pending, text, quality) in enumerate(rows):
            if n in erased:  # counted only: no value of theirs in the report, the rejects or the log
                self._skip(1)
                continue
            if pending.prior_id is None:
                inserts.append((source_id, pending.key, pending.content_hash, pending.data, text, quality))
            else:
                updates.append((pending.prior_id, pending.content_hash, pending.data, text, quality))
        report.new += len(inserts)
        report.changed += len(updates)
        self._count(normalised, erased)
        store.insert_records_fast(conn, inserts, import_id=report.import_id, now=self.now)
        store.update_records_fast(conn, updates, import_id=report.import_id, now=self.now)
        store.mark_present(conn, batch.returned)
        report.returned += len(batch.returned)
        self.settle_rejects(conn, batch)

    def _count(self, normalised: NormalisedBatch, erased: set[int]) -> None:
        """Add the batch's usable and unusable values to the report (in the order first seen)."""
        report = self.report
        if erased:  # the batch's own counts include the erased: count the others one by one
            filled: dict[str, int] = {}
            reasons: dict[str, dict[str, int]] = {}
            for n, (invalid, names) in enumerate(zip(normalised.invalid, normalised.filled, strict=True)):
                if n in erased:
                    continue
                for name, reason in invalid.items():
                    kinds = reasons.setdefault(name, {})
                    kinds[reason] = kinds.get(reason, 0) + 1
                for name in names:
                    filled[name] = filled.get(name, 0) + 1
        else:
            filled, reasons = normalised.filled_counts, normalised.reason_counts
        for name, kinds in reasons.items():
            report.invalid[name] = report.invalid.get(name, 0) + sum(kinds.values())
            known = report.reasons.setdefault(name, {})
            for reason, k in kinds.items():
                known[reason] = known.get(reason, 0) + k
        for name, k in filled.items():
            report.filled[name] = report.filled.get(name, 0) + k

    def close(self, conn: Connection, *, status: str, now: datetime, actor: str, origin: str | None = None) -> None:
        """Mark what disappeared (complete snapshots only), record the figures and the audit entry."""
        if status == "done" and self.complete:
            gone = [k.id for key, k in self.known.items() if key not in self.seen_at_row and not k.missing]
            store.mark_missing(conn, gone, self.now)
            self.report.missing = len(gone)
        store.finish_import(conn, self.report.import_id, status=status, stats=self.report.stats(), now=now)
        audit.record(
            conn,
            at=now,
            actor=actor,
            action="import",
            entity="source",
            entity_id=self.mapping.source,
            details={
                "import_id": self.report.import_id,
                "status": status,
                "file": Path(self.origin).name,
                **{k: v for k, v in self.report.stats().items() if k != "reasons"},
            },
            origin=origin,
        )


def import_source(
    engine: Engine,
    path: Path | str | None,
    mapping: SourceMapping,
    *,
    clock: Clock,
    batch_size: int = 5_000,
    rejects_dir: Path | None = None,
    progress: Progress | None = None,
    actor: str = "system",
    workers: int | None = None,
    keyring: Keyring | None = None,
) -> ImportReport:
    """Import one source (a file, or a SQL query's rows); returns what happened, row by row where it
    went wrong. Each batch commits on its own, so an interrupted import keeps what it finished.

    `keyring` recognises records of erased people (skipped); without it, an import into a store that
    holds erasures is refused.
    """
    origin = str(path) if path is not None else f"{mapping.format.type}:{mapping.source}"
    rows = read_records(path, mapping)  # fails fast on a wrong header, encoding or query
    expected = count_rows(path, mapping)
    job = SourceImport(mapping, origin=origin, now=clock(), keyring=keyring)
    with wrap_db_errors(f"importing {Path(origin).name}"), engine.begin() as conn:
        job.open(conn)
    n_workers = (workers if workers is not None else os.cpu_count() or 1) if expected >= POOL_THRESHOLD else 1
    status = "failed"
    done = 0
    batches: Iterator[_Batch] = _batches(job, rows, batch_size)
    try:
        with CanonicalPool(mapping, today=job.now.date(), workers=n_workers) as pool:
            if n_workers > 1 and mapping.format.type in ("csv", "jsonl"):
                # A thread reads and fingerprints the next batches while this one waits for the
                # database (files only: a SQL source's connection belongs to this thread). Started
                # after the pool has forked its workers.
                batches = _Ahead(batches, depth=2)
            for batch, normalised in pool.map(
                batches,
                lambda b: [p.values for p in b.pending],
                # Text rows travel to the workers as their JSON (cheaper than dicts); typed rows (Excel,
                # SQL dates) as they are, since JSON would turn a date into a string.
                (lambda b: [p.data for p in b.pending]) if mapping.format.type in ("csv", "jsonl") else None,
            ):
                with wrap_db_errors(f"importing {Path(origin).name}"), engine.begin() as conn:
                    job.write(conn, batch, normalised)
                done += batch.rows
                if progress:
                    progress(done, expected)
        status = "done"
    finally:
        if isinstance(batches, _Ahead):
            batches.close()  # before the file it reads is closed
        close_rows(rows)
        if job.report.import_id:
            with wrap_db_errors(f"importing {Path(origin).name}"), engine.begin() as conn:
                job.close(conn, status=status, now=clock(), actor=actor)
    if job.report.rejected and rejects_dir is not None:
        job.report.rejects_file = _write_rejects_file(engine, job.report, rejects_dir)
    return job.report


MAX_API_BATCH = 10_000


def import_record_batch(
    conn: Connection,
    mapping: SourceMapping,
    records: list[Any],
    *,
    now: datetime,
    actor: str,
    origin: str | None = None,
    keyring: Keyring | None = None,
) -> ImportReport:
    """One batch of records sent to the API, in the caller's transaction: all of it or none of it.

    Same rules as a file: a record that is not an object, has no key or repeats a key is rejected with
    its position in the batch (1-based); the others are stored. Records not in the batch are left alone.
    """
    job = SourceImport(mapping, origin="api", now=now, keyring=keyring, complete=False, problem_limit=MAX_API_BATCH)
    keys = [str(lookup(r, mapping.key)).strip() for r in records if isinstance(r, dict) and lookup(r, mapping.key)]
    job.open(conn, keys=keys)
    batch = _Batch()
    for number, record in enumerate(records, start=1):
        if isinstance(record, dict):
            job.take(Row(number=number, values=record), batch)
        else:
            job.take(Rejected(number=number, reason="expected a JSON object", raw=json.dumps(record)[:2000]), batch)
    with CanonicalPool(mapping, today=now.date()) as pool:
        for done, normalised in pool.map([batch], lambda b: [p.values for p in b.pending]):
            job.write(conn, done, normalised)
    job.close(conn, status="done", now=now, actor=actor, origin=origin)
    return job.report


def _batches(job: SourceImport, rows: Iterable[Row | Rejected], size: int) -> Iterator[_Batch]:
    batch = _Batch()
    for item in rows:
        job.take(item, batch)
        if len(batch.pending) >= size or batch.rows >= 8 * size:
            yield batch
            batch = _Batch()
    yield batch


class _Ahead(Iterator[T]):
    """The items of an iterator, produced by a thread up to `depth` ahead of the consumer.

    The importer's database writes release the GIL while they wait for SQLite or PostgreSQL; meanwhile
    this thread reads and fingerprints the next batch. An exception raised while producing an item is
    raised to the consumer in its place. `close` stops the thread (the consumer may stop early).
    """

    _END = object()

    def __init__(self, items: Iterator[T], *, depth: int) -> None:
        self._queue: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(items,), name="hub-reader", daemon=True)
        self._thread.start()

    def _produce(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put((None, exc))
            return
        self._put((self._END, None))

    def _put(self, message: tuple[Any, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self._stop.is_set():
            raise StopIteration
        item, exc = self._queue.get()
        if exc is not None:
            self._stop.set()
            raise exc
        if item is self._END:
            self._stop.set()
            raise StopIteration
        return cast(T, item)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _raw(item: Row) -> str:
    return json.dumps(item.values, ensure_ascii=False, default=str)


def _write_rejects_file(engine: Engine, report: ImportReport, folder: Path) -> Path:
    """All rejects of this import as CSV (file, row, field, reason, raw), for the person fixing the data."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"rejects-{report.source}-{report.import_id}.csv"
    with engine.connect() as conn, target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "field", "reason", "raw"])
        rows = conn.execute(
            select(import_rejects.c.row, import_rejects.c.field, import_rejects.c.reason, import_rejects.c.raw)
            .where(import_rejects.c.import_id == report.import_id)
            .order_by(import_rejects.c.id)
        )
        for row, field_name, reason, raw in rows:
            writer.writerow([Path(report.file).name, row, field_name or "", reason, raw])
    return target
