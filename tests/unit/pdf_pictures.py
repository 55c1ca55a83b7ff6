"""Looking at print output in tests: PDF pages rendered by PDFium (pypdfium2), an engine other than the
Typst that wrote them, and written as PNG with zlib (no imaging library is needed for an RGB image)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (height, width, 3) array."""
    height, width, _channels = rgb.shape
    rows = np.empty((height, width * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "none" for every row
    rows[:, 1:] = rgb.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def page_pngs(pdf: bytes, *, scale: float = 1.0, pages: range | None = None) -> list[bytes]:
    """PNG pictures of a PDF's pages (all, or those in `pages`, 0-based) at `scale` x 72 dpi."""
    document = pdfium.PdfDocument(pdf)
    out: list[bytes] = []
    try:
        for number in pages if pages is not None else range(len(document)):
            page = document[number]
            bitmap = page.render(scale=scale, rev_byteorder=True)  # RGB(A) order, not PDFium's BGR
            pixels = bitmap.to_numpy()
            out.append(png(np.ascontiguousarray(pixels[:, :, :3])))
            page.close()
    finally:
        document.close()
    return out
