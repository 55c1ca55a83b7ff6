"""Excel (.xlsx) sources, read with openpyxl in read-only mode: rows stream, memory stays flat.

Cells keep their types (numbers, dates) until the mapping casts them; a whole number stored as a
float (``4.0``) is read as ``4``, which is what a spreadsheet user typed. Row numbers are the sheet's
own, as Excel shows them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from epistola.errors import InputError
from epistola.hub.mapping import FormatSpec
from epistola.hub.readers import ClosingRows, Rejected, Row, check_columns


def xlsx_rows(path: Path, fmt: FormatSpec, required: set[str]) -> Iterator[Row | Rejected]:
    """Open the workbook and check the header now; rows are read as the caller iterates."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(
            f"{path.name} is not an Excel .xlsx workbook: {exc}",
            hint="Save it as .xlsx (Excel 2007 or later), or declare the right format.type in the mapping.",
        ) from None
    try:
        if fmt.sheet is not None and fmt.sheet not in book.sheetnames:
            raise InputError(
                f"{path.name} has no sheet {fmt.sheet!r}", hint=f"Its sheets are: {', '.join(book.sheetnames)}."
            )
        sheet = book[fmt.sheet] if fmt.sheet is not None else book.worksheets[0]
        rows = sheet.iter_rows(min_row=fmt.header_row, values_only=True)
        header_cells = next(rows, None)
        if header_cells is None:
            raise InputError(f"{path.name} is empty: expected a header in row {fmt.header_row}")
        header = [str(c).strip() if c is not None else "" for c in header_cells]
        while header and not header[-1]:
            header.pop()
        check_columns(path.name, header, required)
    except BaseException:
        book.close()
        raise
    return ClosingRows(_body(book, rows, header, fmt.header_row), book.close)


def _body(book: Any, rows: Iterator[tuple[Any, ...]], header: list[str], header_row: int) -> Iterator[Row | Rejected]:
    width = len(header)
    try:
        for number, cells in enumerate(rows, start=header_row + 1):
            values = [_cell(c) for c in cells]
            if all(v is None for v in values):
                continue
            extra = [v for v in values[width:] if v is not None]
            if extra:
                raw = "\t".join("" if v is None else str(v) for v in values)
                yield Rejected(number=number, reason=f"expected {width} columns, found values beyond them", raw=raw)
                continue
            values += [None] * (width - len(values))
            yield Row(number=number, values={h: v for h, v in zip(header, values[:width], strict=True) if h})
    finally:
        book.close()


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, datetime) and (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date()
    return value
