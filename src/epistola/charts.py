"""Small inline SVG charts for reports and the UI: no JavaScript, no CDN, readable offline."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#4f46e5", "#94a3b8", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b")


def bar_chart(
    items: Sequence[tuple[str, float]], *, unit: str = "", width: int = 640, bar: int = 26, decimals: int = 0
) -> Markup:
    """Horizontal bars, one per (label, value), labelled with their values."""
    if not items:
        return Markup('<p class="muted">No data yet.</p>')
    top = max((v for _, v in items), default=0) or 1
    label_w, gap = (200 if width >= 600 else 110), 10
    height = len(items) * (bar + gap) + gap
    rows = []
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar + gap)
        w = max(2.0, (width - label_w - 90) * value / top)
        rows.append(
            f'<text x="{label_w - 8}" y="{y + bar * 0.68:.1f}" text-anchor="end" font-size="13">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" rx="3" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar * 0.68:.1f}" font-size="13">'
            f"{value:,.{decimals}f}{escape(unit)}</text>"
        )
    return Markup(  # noqa: S704 - every label and value above went through escape()
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui,sans-serif">{"".join(rows)}</svg>'
    )


def matrix_chart(labels: Sequence[str], values: Sequence[Sequence[float]], *, cell: int = 64) -> Markup:
    """A labelled grid of numbers, shaded by size: segment overlaps (row i, column j = members of both)."""
    if not labels:
        return Markup('<p class="muted">No data yet.</p>')
    top = max((v for row in values for v in row), default=0) or 1
    label_w, head = 180, 28
    width, height = label_w + cell * len(labels), head + cell * len(labels)
    parts = []
    for j, label in enumerate(labels):
        x = label_w + j * cell + cell / 2
        parts.append(f'<text x="{x:.1f}" y="18" text-anchor="middle" font-size="12">{escape(label[:10])}</text>')
    for i, (label, row) in enumerate(zip(labels, values, strict=True)):
        y = head + i * cell
        parts.append(
            f'<text x="{label_w - 8}" y="{y + cell * 0.55:.1f}" text-anchor="end" font-size="13">{escape(label)}</text>'
        )
        for j, value in enumerate(row):
            shade = 0.08 + 0.8 * value / top
            parts.append(
                f'<rect x="{label_w + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="3" '
                f'fill="{PALETTE[0]}" fill-opacity="{shade:.2f}"/>'
                f'<text x="{label_w + j * cell + cell / 2 - 1:.1f}" y="{y + cell * 0.55:.1f}" text-anchor="middle" '
                f'font-size="12">{value:,.0f}</text>'
            )
    return Markup(  # noqa: S704 - every label went through escape(); values are numbers
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui,sans-serif">{"".join(parts)}</svg>'
    )


# --- hub: data quality charts ---------------------------------------------------------------------------

QUALITY_COLOURS = ("#10b981", "#ef4444", "#e2e8f0")  # usable, unusable, not given


def stacked_bars(
    items: Sequence[tuple[str, Sequence[float]]],
    *,
    legend: Sequence[str] = ("usable", "unusable", "not given"),
    colours: Sequence[str] = QUALITY_COLOURS,
    width: int = 640,
    bar: int = 18,
) -> Markup:
    """One horizontal 100 % bar per label, split into parts (e.g. usable / unusable / not given)."""
    if not items:
        return Markup('<p class="muted">No data yet.</p>')
    label_w, gap, legend_h = 200, 6, 22
    inner = width - label_w - 60
    height = legend_h + len(items) * (bar + gap) + gap
    parts = [
        f'<rect x="{label_w + i * 110}" y="4" width="12" height="12" fill="{colours[i % len(colours)]}"/>'
        f'<text x="{label_w + i * 110 + 16}" y="14" font-size="12">{escape(name)}</text>'
        for i, name in enumerate(legend)
    ]
    for row, (label, values) in enumerate(items):
        y = legend_h + gap + row * (bar + gap)
        total = sum(values) or 1
        x = float(label_w)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar * 0.75:.1f}" text-anchor="end" font-size="12">{escape(label)}</text>'
        )
        for i, value in enumerate(values):
            w = inner * value / total
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colours[i % len(colours)]}">'
                    f"<title>{escape(legend[i % len(legend)])}: {value:,.0f}</title></rect>"
                )
            x += w
        first = values[0] if values else 0
        parts.append(
            f'<text x="{label_w + inner + 6}" y="{y + bar * 0.75:.1f}" font-size="12">{100 * first / total:.1f}%</text>'
        )
    return Markup(  # noqa: S704 - every label went through escape(); values are numbers
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui,sans-serif">{"".join(parts)}</svg>'
    )


def line_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, width: int = 640, height: int = 220
) -> Markup:
    """Lines over a shared x axis (e.g. one point per import), with a legend and the last values."""
    if not labels or not series:
        return Markup('<p class="muted">No data yet.</p>')
    left, right, top_pad, bottom = 50, 20, 30, 40
    top = max((v for _, values in series for v in values), default=0) or 1
    step = (width - left - right) / max(len(labels) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{height - bottom - (height - bottom - top_pad) * v / top:.1f}"

    parts = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#cbd5e1"/>',
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" font-size="11">{top:,.0f}</text>',
        f'<text x="{left - 6}" y="{height - bottom + 4}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, label in enumerate(labels):
        if len(labels) <= 12 or i % max(len(labels) // 12, 1) == 0:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="10">'
                f"{escape(label)}</text>"
            )
    for n, (name, values) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(xy(i, v) for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.extend(
            f'<circle cx="{xy(i, v).split(",")[0]}" cy="{xy(i, v).split(",")[1]}" r="3" fill="{colour}"/>'
            for i, v in enumerate(values)
        )
        parts.append(
            f'<rect x="{left + n * 130}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + n * 130 + 16}" y="16" font-size="12">{escape(name)}</text>'
        )
    return Markup(  # noqa: S704 - every label went through escape(); values are numbers
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui,sans-serif">{"".join(parts)}</svg>'
    )
