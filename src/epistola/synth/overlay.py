"""Third-party data: `postcode_overlay.csv`, demographics by postcode prefix, as a data vendor sells it
(ZIP3 in the US, the first three digits in Russia, the two-digit postal district in Poland).

It covers the whole country, not only the places where customers live, and big-city prefixes are
more urban and richer, so enrichment has something real to find.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from epistola.synth.model import Weighted
from epistola.synth.names import locales

COLUMNS = ("country", "postcode_prefix", "median_income_band", "urbanisation")
INCOME_BANDS = ("low", "lower_middle", "middle", "upper_middle", "high")
PREFIX_LENGTH = {"US": 3, "RU": 3, "PL": 2}
_RANGES = {"US": range(10, 1000), "RU": range(101, 695), "PL": range(0, 100)}

_URBAN = Weighted(("urban", "suburban"), (75, 25))
_ELSEWHERE = Weighted(("rural", "suburban", "urban"), (60, 30, 10))
_CITY_INCOME = Weighted(INCOME_BANDS, (5, 15, 35, 30, 15))
_OTHER_INCOME = Weighted(INCOME_BANDS, (20, 35, 30, 12, 3))


def _city_prefixes(country: str) -> set[str]:
    width = PREFIX_LENGTH[country]
    loc = next(loc for loc in locales().values() if loc.country == country)
    out = set()
    for city in loc.cities.items:
        for prefix in city.postcode_prefixes:
            if len(prefix) >= width:
                out.add(prefix[:width])
            else:
                out.update(prefix + str(i).zfill(width - len(prefix)) for i in range(10 ** (width - len(prefix))))
    return out


def write_postcode_overlay(path: Path, rng: random.Random) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for country in ("US", "RU", "PL"):
            cities = _city_prefixes(country)
            width = PREFIX_LENGTH[country]
            for n in _RANGES[country]:
                prefix = str(n).zfill(width)
                in_city = prefix in cities
                income = (_CITY_INCOME if in_city else _OTHER_INCOME).pick(rng)
                urban = (_URBAN if in_city else _ELSEWHERE).pick(rng)
                w.writerow((country, prefix, income, urban))
                rows += 1
    return rows
