"""Readers turn a source (a CSV, JSON Lines or Excel file, or a SQL query) into numbered rows, or into
precise rejects.

A reader never stops at a bad row: it yields a `Rejected` naming the file, the row and the reason, and
goes on. It does stop, with a clear error, when the whole source cannot be read (wrong encoding,
missing columns, a query the database refuses), because then every row would be wrong.

Row numbers are what the person fixing the data looks for: the data row in a CSV (the header is row
0), the line in a JSON Lines file, the sheet row in Excel, the position in a query's result.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from epistola.errors import InputError, Problem
from epistola.hub import json_text
from epistola.hub.mapping import FormatSpec, SourceMapping


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    number: int  # 1-based data row (the header is row 0), or line number for JSON Lines
    values: dict[str, Any]


class ClosingRows(Iterator["Row | Rejected"]):
    """Rows that own an open resource (a file, a workbook, a query): closed when exhausted, when
    `close()` is called, or when dropped unread, so an import that fails early leaks nothing."""

    def __init__(self, rows: Iterator[Row | Rejected], close: Callable[[], None]) -> None:
        self._rows = rows
        self._close: Callable[[], None] | None = close

    def __iter__(self) -> ClosingRows:
        return self

    def __next__(self) -> Row | Rejected:
        try:
            return next(self._rows)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._close is not None:
            closer, self._close = self._close, None
            close_rows = getattr(self._rows, "close", None)
            if close_rows is not None:
                close_rows()
            closer()

    def __del__(self) -> None:
        self.close()


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejected:
    number: int
    reason: str
    raw: str
    field: str | None = None


def detect_encoding(path: Path, declared: str = "auto") -> str:
    """Declared encodings win; otherwise a BOM, then strict UTF-8, then cp1251 (Cyrillic exports)."""
    if declared != "auto":
        try:
            codecs.lookup(declared)
        except LookupError:
            raise InputError(f"unknown encoding {declared!r} declared for {path.name}") from None
        return declared
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a multibyte character cut by the 1 MiB window
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(head, cp_isolation=["cp1251", "cp1250", "latin_1"]).best()
    return best.encoding if best else "cp1251"


def read_records(path: Path | str | None, mapping: SourceMapping) -> Iterator[Row | Rejected]:
    """The rows of a customer source, whatever its format; raises `InputError` before the first row
    when the source as a whole cannot be read."""
    fmt = mapping.format
    if fmt.type == "sql":
        from epistola.hub.sql_source import read_query

        return read_query(fmt, mapping.source, mapping.columns())
    if fmt.type == "api":
        raise InputError(
            f"source {mapping.source!r} receives its records through the REST API, not from a file",
            hint=f"POST batches to /api/v1/sources/{mapping.source}/records, or change format.type in the mapping.",
        )
    if path is None:
        raise InputError(f"source {mapping.source!r} is a {fmt.type} file: give the file to import")
    return read_rows(Path(path), fmt, mapping.columns())


def read_rows(path: Path, fmt: FormatSpec, required: set[str]) -> Iterator[Row | Rejected]:
    """Rows of a CSV, JSON Lines or Excel file as dictionaries, checked against the mapping's columns.

    Opens the file and checks its header before returning, so a wrong encoding or a missing column
    fails here and not at the first `next()`.
    """
    if not path.exists():
        raise InputError(f"source file not found: {path}")
    if fmt.type == "xlsx":
        from epistola.hub.xlsx import xlsx_rows

        return xlsx_rows(path, fmt, required)
    encoding = detect_encoding(path, fmt.encoding)
    if fmt.type == "csv":
        return _csv_rows(path, fmt, encoding, required)
    return _jsonl_rows(path, encoding)


def check_source(path: Path, fmt: FormatSpec, required: set[str]) -> None:
    """Fail now, with a clear error, if the file is missing, unreadable or lacks a needed column."""
    rows = read_rows(path, fmt, required)
    try:
        next(rows, None)  # the first row proves the encoding too
    finally:
        close_rows(rows)


def close_rows(rows: object) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def count_rows(path: Path | str | None, mapping: SourceMapping | None = None) -> int:
    """Rows expected, for a progress bar: cheap even for a million rows; 0 when unknown."""
    if path is None or (mapping is not None and mapping.format.type not in ("csv", "jsonl")):
        return 0
    total = 0
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            total += chunk.count(b"\n")
    header = 1 if mapping is None or mapping.format.type == "csv" else 0
    return max(total - header, 0)


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    return path.open("r", encoding=encoding, errors="strict", newline="")


def _csv_rows(path: Path, fmt: FormatSpec, encoding: str, required: set[str]) -> Iterator[Row | Rejected]:
    fh = _open_text(path, encoding)
    try:
        try:
            reader = csv.reader(fh, delimiter=fmt.delimiter, quotechar=fmt.quotechar, strict=True)
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise _unreadable(path, encoding, exc) from None
        if not header:
            raise InputError(f"{path.name} is empty: expected a header row")
        header = [h.strip() for h in header]
        check_columns(path.name, header, required, hint=f"Check the delimiter ({fmt.delimiter!r}) and the mapping.")
    except BaseException:
        fh.close()
        raise
    return ClosingRows(_csv_body(path, fh, reader, header, fmt, encoding), fh.close)


def check_columns(name: str, header: list[str], required: set[str], *, hint: str = "Check the mapping.") -> None:
    """Every column the mapping reads must be in the header (dotted paths reach into JSON, unchecked)."""
    missing = sorted(c for c in required if "." not in c and c not in header)
    if missing:
        raise InputError(
            f"{name} lacks column(s) the mapping needs",
            hint=f"The header has: {', '.join(map(str, header))}. {hint}",
            problems=[Problem(message="column missing", file=name, row=0, field=c) for c in missing],
        )


def _csv_body(
    path: Path, fh: io.TextIOWrapper, reader: Any, header: list[str], fmt: FormatSpec, encoding: str
) -> Iterator[Row | Rejected]:
    with fh:
        width = len(header)
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise _unreadable(path, encoding, exc, row=number + 1) from None
            except csv.Error as exc:
                number += 1
                yield Rejected(number=number, reason=f"malformed CSV: {exc}", raw="")
                continue
            number += 1
            if not cells or cells == [""]:
                continue
            if len(cells) != width:
                raw = fmt.delimiter.join(cells)
                yield Rejected(number=number, reason=f"expected {width} fields, found {len(cells)}", raw=raw)
                continue
            yield Row(number=number, values=dict(zip(header, cells, strict=True)))


def _jsonl_rows(path: Path, encoding: str) -> Iterator[Row | Rejected]:
    fh = _open_text(path, encoding)
    return ClosingRows(_jsonl_body(path, fh, encoding), fh.close)


def _jsonl_body(path: Path, fh: io.TextIOWrapper, encoding: str) -> Iterator[Row | Rejected]:
    with fh:
        number = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:
                raise _unreadable(path, encoding, exc, row=number + 1) from None
            if not line:
                return
            number += 1
            text = line.strip()
            if not text:
                continue
            try:
                value = json_text.loads(text)
            except json.JSONDecodeError as exc:
                yield Rejected(number=number, reason=f"invalid JSON: {exc.msg} at column {exc.colno}", raw=text)
                continue
            if not isinstance(value, dict):
                yield Rejected(number=number, reason="expected a JSON object", raw=text)
                continue
            yield Row(number=number, values=value)


def _unreadable(path: Path, encoding: str, exc: Exception, *, row: int | None = None) -> InputError:
    """The file cannot be decoded: name the line (as an editor counts them) of the first bad byte."""
    reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
    line = _first_bad_line(path, encoding) if isinstance(exc, UnicodeDecodeError) else None
    where = f" at line {line}" if line is not None else ""
    return InputError(
        f"{path.name} cannot be read as {encoding}{where}: {reason}",
        hint="Declare the right encoding in the mapping (format.encoding), e.g. cp1251 or utf-8-sig.",
        problems=[Problem(message=f"not valid {encoding}: {reason}", file=str(path), row=line)],
    )


def _first_bad_line(path: Path, encoding: str) -> int | None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk.count(b"\n", 0, max(exc.start, 0))
            line += chunk.count(b"\n")
    return None


def lookup(values: dict[str, Any], column: str) -> Any:
    """A column, or a dotted path into nested JSON objects."""
    if column in values:
        return values[column]
    current: Any = values
    for part in column.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current
