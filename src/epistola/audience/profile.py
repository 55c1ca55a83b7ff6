"""A segment's profile from the mart: age bands, gender, regions, purchase frequency and spend in the
last year (per currency, on a log scale so roubles and euros both read), as numbers and as inline SVG."""

# ruff: noqa: S608 - values always travel as ? parameters; only compiled fragments are formatted in

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from markupsafe import Markup, escape

from epistola.audience import semantics
from epistola.audience.engines import MartAudience
from epistola.audience.freshness import Freshness
from epistola.audience.language import Condition
from epistola.charts import bar_chart

AGE_BANDS = ((18, "under 18"), (25, "18–24"), (35, "25–34"), (45, "35–44"), (55, "45–54"), (65, "55–64"))
SPEND_BANDS = ((1_000, "under 10"), (10_000, "10–100"), (100_000, "100–1,000"), (1_000_000, "1,000–10,000"))
FREQUENCY = "CASE WHEN n = 0 THEN '0' WHEN n = 1 THEN '1' WHEN n <= 3 THEN '2–3' WHEN n <= 9 THEN '4–9' ELSE '10+' END"
WINDOW_DAYS = 365
TOP_REGIONS = 10

Bars = list[tuple[str, int]]


@dataclass(frozen=True, kw_only=True)
class Profile:
    size: int
    ages: Bars
    genders: Bars
    regions: Bars
    purchases: Bars  # purchases in the last year, banded
    spend: dict[str, Bars]  # currency -> spend bands over the last year (buyers only)
    freshness: Freshness

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "ages": dict(self.ages),
            "genders": dict(self.genders),
            "regions": dict(self.regions),
            "purchases_last_year": dict(self.purchases),
            "spend_last_year": {cur: dict(bars) for cur, bars in self.spend.items()},
            "freshness": self.freshness.as_dict(),
            "freshness_text": self.freshness.describe(),
        }

    def charts(self) -> Markup:
        """Every dimension as a captioned bar chart."""
        parts = [
            ("Age", self.ages),
            ("Gender", self.genders),
            ("Regions", self.regions),
            (f"Purchases in the last {WINDOW_DAYS} days", self.purchases),
        ]
        parts += [(f"Spend in the last {WINDOW_DAYS} days ({cur})", bars) for cur, bars in self.spend.items()]
        html = "".join(
            f"<figure><figcaption>{escape(title)}</figcaption>{bar_chart([(k, float(v)) for k, v in bars])}</figure>"
            for title, bars in parts
        )
        return Markup(html)  # noqa: S704 - titles are escaped, charts escape their own labels


def profile(audience: MartAudience, condition: Condition) -> Profile:
    """Profile the members of `condition` (one query per dimension, all on the mart)."""
    where = audience.compiler.compile(condition)
    today = audience.now.date()
    moment = audience.compiler.moment
    seg = f"WITH seg AS (SELECT c.* FROM customers c WHERE {where.text}) "

    def bars(sql: str, params: list[Any]) -> Bars:
        return [(str(k), int(n)) for k, n in audience.mart.query(seg + sql, where.params + params)]

    age_cases, age_params = [], []
    for limit, label in AGE_BANDS:
        age_cases.append(f"WHEN birth_date > ? THEN '{label}'")
        age_params.append(semantics.born_after(today, limit - 1))
    range_cases = [f"WHEN (age_min + age_max) / 2 < {limit} THEN '{label}'" for limit, label in AGE_BANDS]
    age = (
        f"CASE WHEN birth_date IS NOT NULL THEN (CASE {' '.join(age_cases)} ELSE '65+' END) "
        f"WHEN age_min IS NOT NULL AND age_max IS NOT NULL THEN (CASE {' '.join(range_cases)} ELSE '65+' END) "
        "ELSE 'unknown' END"
    )
    ages = dict(bars(f"SELECT {age}, count(*) FROM seg GROUP BY 1", age_params))
    order = [label for _, label in AGE_BANDS] + ["65+", "unknown"]
    genders = bars("SELECT coalesce(gender, 'unknown'), count(*) FROM seg GROUP BY 1 ORDER BY 2 DESC, 1", [])
    regions = bars(
        "SELECT coalesce(country, '?') || ' · ' || coalesce(region, '?'), count(*) FROM seg GROUP BY 1 "
        f"ORDER BY 2 DESC, 1 LIMIT {TOP_REGIONS}",
        [],
    )
    since = moment - timedelta(days=WINDOW_DAYS)
    buys = (
        "SELECT customer_id, currency, count(*) AS n, sum(amount_cents) AS cents FROM events "
        "WHERE type = 'purchase' AND occurred_at >= ? AND occurred_at <= ? "
        "AND customer_id IN (SELECT id FROM seg) GROUP BY customer_id, currency"
    )
    purchases = dict(
        bars(
            f"SELECT {FREQUENCY}, count(*) FROM (SELECT s.id, coalesce(sum(b.n), 0) AS n FROM seg s "
            f"LEFT JOIN ({buys}) b ON b.customer_id = s.id GROUP BY s.id) GROUP BY 1",
            [since, moment],
        )
    )
    band = " ".join(f"WHEN cents < {limit} THEN '{label}'" for limit, label in SPEND_BANDS)
    spend: dict[str, Bars] = {}
    for currency, label, n in audience.mart.query(
        seg + f"SELECT coalesce(currency, '?'), CASE {band} ELSE '10,000+' END, count(*) FROM ({buys}) "
        "WHERE cents IS NOT NULL GROUP BY 1, 2 ORDER BY 1",
        [*where.params, since, moment],
    ):
        spend.setdefault(str(currency), []).append((str(label), int(n)))
    spend_order = [label for _, label in SPEND_BANDS] + ["10,000+"]
    return Profile(
        size=sum(ages.values()),
        ages=[(k, ages[k]) for k in order if k in ages],
        genders=genders,
        regions=regions,
        purchases=[(k, purchases[k]) for k in ("0", "1", "2–3", "4–9", "10+") if k in purchases],
        spend={cur: sorted(b, key=lambda kv: spend_order.index(kv[0])) for cur, b in spend.items()},
        freshness=audience.freshness(),
    )
