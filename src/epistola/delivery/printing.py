"""The print channel: letters become batch PDFs with a CSV manifest, sorted by country and postcode.

Handing a letter over means appending it to the channel's spool journal (one JSON line, in the
kernel's hands before `send` returns): that is the hand-over the outbox records as `sent`. Batches are
made when a journal holds `batch_size` letters and when the worker stops: letters are sorted by
country, postcode and message so the print shop gets postage-discount order, typeset by a
`BatchRenderer` (one Typst compile per batch, batches in parallel processes), and written as
``<batch>.pdf`` + ``<batch>.csv`` to the output folder, then handed to a command if one is configured.

Crash safety comes from names and renames. Batches are named after their journal and made the same
way every time, each written under a temporary name and renamed; the output files too; markers record
"written" and "handed". Whatever a crash leaves behind (a journal, a half-split journal, a batch not
typeset) is finished on the next flush under the same names, so a letter is never in two batches. The
command may run twice for one batch after a crash between running it and writing its marker; the
batch name is its idempotency key.
"""

from __future__ import annotations

import asyncio
import csv
import fcntl
import io
import json
import logging
import multiprocessing
import os
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from epistola.clock import Clock, utcnow
from epistola.config import Settings
from epistola.delivery.ports import Envelope
from epistola.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

MANIFEST_FIELDS = (
    "batch",
    "sequence",
    "message_id",
    "first_page",
    "pages",
    "name",
    "address",
    "postcode",
    "city",
    "country",
)


@dataclass(frozen=True, kw_only=True)
class Letter:
    """One letter as the print channel needs it: address fields to sort and list, and what to typeset.

    `source` is whatever the renderer understands (for the content rendition, a Typst `#letter(...)`
    call); `body` is plain text for the built-in renderer.
    """

    message_id: int
    name: str
    address: tuple[str, ...]  # street lines, without postcode, city and country
    postcode: str = ""
    city: str = ""
    country: str = ""  # ISO 3166 alpha-2
    paper: str = "a4"
    body: str = ""
    source: str = ""

    @classmethod
    def from_json(cls, message_id: int, data: bytes) -> Letter:
        try:
            raw = json.loads(data)
            return cls(
                message_id=message_id,
                name=str(raw["name"]),
                address=tuple(str(line) for line in raw.get("address") or ()),
                postcode=str(raw.get("postcode") or ""),
                city=str(raw.get("city") or ""),
                country=str(raw.get("country") or "").upper(),
                paper=str(raw.get("paper") or "a4"),
                body=str(raw.get("body") or ""),
                source=str(raw.get("source") or ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentDeliveryError(f"message {message_id}: not a letter ({type(exc).__name__}: {exc})") from None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode()

    def sort_key(self) -> tuple[str, str, int]:
        """Postage order: country, then postcode compared as the post office reads it (digits and letters)."""
        return (self.country, self.postcode.replace(" ", "").upper(), self.message_id)


@dataclass(frozen=True, kw_only=True)
class RenderedBatch:
    pdf: bytes
    first_pages: tuple[int, ...]  # per letter, in the order given; 1-based
    pages: int


class BatchRenderer(Protocol):
    """Typesets letters (already in print order, all on one paper) into one PDF. Must be picklable: batches
    are rendered in worker processes."""

    def render(self, letters: Sequence[Letter]) -> RenderedBatch: ...


def typst_string(value: str) -> str:
    """A Typst string literal: a customer's text is data, never markup."""
    cleaned = "".join(ch for ch in value if ch in "\n\t" or ord(ch) >= 32)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


_PREAMBLE = """#set document(title: "Epistola print batch")
#set page(paper: "{paper}", margin: (left: 25mm, right: 20mm, top: 20mm, bottom: 22mm))
#set text(size: 10pt, lang: "en")
#let letter(id, name, lines, body) = {{
  context [#metadata((id: id, page: here().page())) <epistola-letter>]
  let address = text(size: 9pt)[#name \\ #lines.join(linebreak())]
  place(top + left, dx: -5mm, dy: 25mm, block(width: 85mm, height: 45mm, address))
  v(80mm)
  par(justify: true, body)
  pagebreak(weak: true)
}}
"""


@dataclass(frozen=True)
class TypstLetterRenderer:
    """A plain window-envelope letter (DIN 5008 form B address field) with the `body` text.

    The built-in renderer for print campaigns until a design's own print rendition is plugged in
    (`content.print`), and what the tests and the benchmark use.
    """

    font_paths: tuple[str, ...] = field(default=())

    def render(self, letters: Sequence[Letter]) -> RenderedBatch:
        import tempfile

        import typst

        if not letters:
            raise ValueError("a batch needs at least one letter")
        paper = {"letter": "us-letter"}.get(letters[0].paper, "a4")
        parts = [_PREAMBLE.format(paper=paper)]
        for letter in letters:
            lines = [*letter.address, f"{letter.postcode} {letter.city}".strip(), letter.country]
            parts.append(
                f"#letter({letter.message_id}, {typst_string(letter.name)}, "
                f"({', '.join(typst_string(line) for line in lines if line)},), {typst_string(letter.body)})\n"
            )
        with tempfile.TemporaryDirectory(prefix="epistola-print-") as folder:
            path = Path(folder) / "batch.typ"
            path.write_text("".join(parts), encoding="utf-8")
            compiler = typst.Compiler(str(path), font_paths=list(self.font_paths), ignore_system_fonts=True)
            pdf = compiler.compile(format="pdf")
            found = json.loads(compiler.query("<epistola-letter>", field="value"))
        if not isinstance(pdf, bytes):
            raise RuntimeError("Typst returned no PDF")
        first_pages = tuple(int(item["page"]) for item in found)
        return RenderedBatch(pdf=pdf, first_pages=first_pages, pages=_page_count(pdf))


def _page_count(pdf: bytes) -> int:
    """Pages in a PDF we just made (its page tree's /Count); pypdf would parse the whole file."""
    import re

    counts = [int(m) for m in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)]
    counts += [int(m) for m in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf)]
    return max(counts, default=0)


def manifest(batch: str, letters: Sequence[Letter], rendered: RenderedBatch) -> bytes:
    """The CSV a print shop reads alongside the PDF: one row per letter, in the PDF's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MANIFEST_FIELDS)
    ends = [*rendered.first_pages[1:], rendered.pages + 1]
    for sequence, (letter, first, end) in enumerate(zip(letters, rendered.first_pages, ends, strict=True), start=1):
        writer.writerow(
            [
                batch,
                sequence,
                letter.message_id,
                first,
                end - first,
                letter.name,
                " / ".join(letter.address),
                letter.postcode,
                letter.city,
                letter.country,
            ]
        )
    return out.getvalue().encode("utf-8")


def _write_atomic(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write under a temporary name, then rename: a reader sees the whole file or none of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _render_batch(renderer: BatchRenderer, folder: str, batch: str, out_dir: str) -> tuple[str, int, int]:
    """Render one batch folder into `<out_dir>/<batch>.pdf` and `.csv`; runs in a worker process."""
    path = Path(folder)
    letters = read_letters(path / "letters.jsonl")
    rendered = renderer.render(letters)
    out = Path(out_dir)
    _write_atomic(out / f"{batch}.pdf", rendered.pdf)
    _write_atomic(out / f"{batch}.csv", manifest(batch, letters, rendered))
    (path / "written").touch()
    return batch, len(letters), rendered.pages


def read_letters(path: Path) -> list[Letter]:
    """The letters of a spool journal or a batch; a last line cut short by a crash is left out.

    Such a letter's `send` never returned, so its message is recorded `uncertain`, not `sent`.
    """
    letters = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError:
            logger.warning("%s: a letter cut short by a crash was left out", path.name)
            continue
        raw["address"] = tuple(raw.get("address") or ())
        letters.append(Letter(**raw))
    return letters


class PrintChannel:
    """`Channel` for postal mail: spools letters, makes batches on `flush()` (and when the worker stops).

    Each channel appends its letters to a journal of its own (``spool/<name>.open``, locked while it is
    written), one JSON line per letter, flushed to the operating system before `send` returns. A journal
    becomes batches when it holds `batch_size` letters, when the worker stops, and when any channel
    finds a journal nobody holds (its writer died). Batches are named after their journal, so making
    them again after a crash yields the same batches, never a second copy of a letter.
    """

    def __init__(
        self,
        folder: Path,
        *,
        renderer: BatchRenderer | None = None,
        batch_size: int = 5000,
        command: str | None = None,
        processes: int | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.folder = Path(folder)
        self.renderer = renderer or TypstLetterRenderer()
        self.batch_size = max(1, batch_size)
        self.command = command
        self.processes = processes or min(2, os.cpu_count() or 1)
        self.clock = clock
        self.spool = self.folder / "spool"
        self.batches = self.folder / "batches"
        self.finished: list[tuple[str, int, int]] = []  # (batch, letters, pages) written by this object
        self._journal: Any = None  # the open file
        self._journal_path: Path | None = None
        self._in_journal = 0
        self._flushing: asyncio.Lock | None = None
        self._executor: ProcessPoolExecutor | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock = utcnow, renderer: BatchRenderer | None = None
    ) -> PrintChannel:
        check_command(settings.print_command)
        return cls(
            settings.print_dir,
            renderer=renderer,
            batch_size=settings.print_batch_size,
            command=settings.print_command,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"PrintChannel({self.folder})"

    async def send(self, envelope: Envelope) -> str:
        letter = Letter.from_json(envelope.message_id, envelope.data)
        if not letter.name or not (letter.address or letter.city):
            raise PermanentDeliveryError(f"message {envelope.message_id}: a letter needs a name and an address")
        try:
            self._append(letter)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to the print spool {self.spool}: {exc.strerror}") from exc
        if self._in_journal >= self.batch_size:
            self._close_journal()
            asyncio.get_running_loop().create_task(self._flush_quietly())
        return f"print-{envelope.message_id}"

    def _append(self, letter: Letter) -> None:
        """One line, handed to the kernel before returning: it survives the process being killed (an
        operating-system crash in the next seconds could still lose it; fsync per letter costs ~20 ms)."""
        if self._journal is None:
            self.spool.mkdir(parents=True, exist_ok=True)
            name = f"{self.clock().strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
            self._journal_path = self.spool / f"{name}.open"
            self._journal = open(self._journal_path, "ab")
            fcntl.flock(self._journal.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._in_journal = 0
        self._journal.write(letter.to_json() + b"\n")
        self._journal.flush()
        self._in_journal += 1

    def _close_journal(self) -> None:
        """Close this channel's journal and mark it complete (``.jsonl``): ready to become batches."""
        if self._journal is None or self._journal_path is None:
            return
        self._journal.close()  # also releases the lock
        os.replace(self._journal_path, self._journal_path.with_suffix(".jsonl"))
        self._journal, self._journal_path, self._in_journal = None, None, 0

    async def close(self) -> None:
        """Batch everything spooled; a failure is logged and the letters stay spooled for the next flush."""
        self._close_journal()
        try:
            await self._flush_quietly()
        finally:
            executor, self._executor = self._executor, None
            if executor is not None:
                await asyncio.to_thread(executor.shutdown)

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            logger.error("print batches could not be made (%s); the letters stay spooled", exc)

    async def flush(self) -> list[tuple[str, int, int]]:
        """Turn complete and abandoned journals into batches and finish every batch; (batch, letters, pages)."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:
            return await asyncio.to_thread(self._flush)

    def _flush(self) -> list[tuple[str, int, int]]:
        self.batches.mkdir(parents=True, exist_ok=True)
        if self.spool.is_dir():
            for journal in sorted(self.spool.glob("*.jsonl")) + self._abandoned():
                self._claim_batches(journal)
        todo = []
        for path in sorted(p for p in self.batches.iterdir() if p.is_dir() and not (p / "handed").exists()):
            if (path / "letters.jsonl").exists():
                todo.append(path)
        done: list[tuple[str, int, int]] = []
        render = [p for p in todo if not (p / "written").exists()]
        if render and self.processes > 1:
            pool = self._pool()
            futures = [pool.submit(_render_batch, self.renderer, str(p), p.name, str(self.folder)) for p in render]
            done.extend(f.result() for f in futures)
        else:
            done.extend(_render_batch(self.renderer, str(p), p.name, str(self.folder)) for p in render)
        for path in todo:
            self._hand_over(path)
        self.finished.extend(done)
        return done

    def _pool(self) -> ProcessPoolExecutor:
        """Typesetting processes, started once and kept until `close` (each costs seconds of imports).

        Spawned, not forked: this runs in a thread of a process with an event loop and a database pool.
        """
        if self._executor is None:
            spawn = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(max_workers=self.processes, mp_context=spawn)
        return self._executor

    def _abandoned(self) -> list[Path]:
        """Open journals whose writer is gone (nobody holds their lock), other than our own."""
        found = []
        for path in sorted(self.spool.glob("*.open")):
            if path == self._journal_path:
                continue
            with open(path, "rb") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            found.append(path)
        return found

    def _claim_batches(self, journal: Path) -> None:
        """Split one journal into batch folders (per paper, postage order, `batch_size` each), then drop it.

        The names and contents depend only on the journal, so doing it again after a crash half-way
        rewrites the same batches; a batch already made is left alone.
        """
        self.batches.mkdir(parents=True, exist_ok=True)
        letters = sorted(read_letters(journal), key=Letter.sort_key)
        by_paper: dict[str, list[Letter]] = {}
        for letter in letters:
            by_paper.setdefault(letter.paper, []).append(letter)
        for paper, group in sorted(by_paper.items()):
            for number, start in enumerate(range(0, len(group), self.batch_size), start=1):
                name = f"print-{journal.stem}-{paper}-{number:03d}"
                target = self.batches / name
                if target.exists():
                    continue
                tmp = self.batches / f".{name}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                chunk = group[start : start + self.batch_size]
                _write_atomic(tmp / "letters.jsonl", b"".join(letter.to_json() + b"\n" for letter in chunk))
                os.replace(tmp, target)
        journal.unlink()

    def _hand_over(self, path: Path) -> None:
        if self.command:
            pdf, csv_file = self.folder / f"{path.name}.pdf", self.folder / f"{path.name}.csv"
            argv = [part.format(pdf=str(pdf), manifest=str(csv_file)) for part in shlex.split(self.command)]
            result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
            if result.returncode != 0:
                raise TransientDeliveryError(
                    f"EPISTOLA_PRINT_COMMAND failed for {path.name} ({result.returncode}): {result.stderr[-300:]}"
                )
        (path / "letters.jsonl").unlink(missing_ok=True)  # the letters are in the PDF: no second copy of addresses
        (path / "handed").touch()


def check_command(command: str | None) -> None:
    """Refuse a print command that cannot be split into arguments, before any letter is spooled."""
    if command is None:
        return
    try:
        shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"EPISTOLA_PRINT_COMMAND cannot be read: {exc}") from None
