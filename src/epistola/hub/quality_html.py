"""The data quality report as one self-contained HTML page with inline SVG charts (no JavaScript, no CDN)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from epistola.charts import bar_chart, line_chart, stacked_bars
from epistola.hub.quality import CHECKS, QualityReport

_env = Environment(loader=PackageLoader("epistola.hub", "templates"), autoescape=select_autoescape(default=True))


def render_quality(report: QualityReport) -> str:
    completeness = {
        s.source: stacked_bars([(f.field, (f.valid, f.invalid, s.records - f.given)) for f in s.fields])
        for s in report.sources
    }
    conflicts = bar_chart([(c.field, c.customers) for c in report.conflicts if c.customers], width=640)
    points = [t for t in report.trend if t.kind != "events"][-40:]
    trend = line_chart(
        [str(t.import_id) for t in points],
        [
            ("rejected rows", [t.rejected for t in points]),
            ("unusable values", [t.invalid for t in points]),
            ("records changed", [t.changed for t in points]),
        ],
    )
    return _env.get_template("quality.html").render(
        r=report, checks=CHECKS, completeness=completeness, conflicts_chart=conflicts, trend_chart=trend
    )
