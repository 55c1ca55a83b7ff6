"""Normalising in worker processes gives exactly what normalising in this process gives, in order."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from epistola.hub.canonical_pool import CanonicalPool, quality_signature, reason_kind
from epistola.hub.normalize import canonicalise
from epistola.hub.pipeline import source_mapping

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
TODAY = date(2026, 11, 1)


def test_the_pool_agrees_with_this_process_and_keeps_the_order() -> None:
    mapping = source_mapping("crm_intl")
    with (FIXTURES / "crm_intl.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    batches = [rows * 40, rows[::-1] * 40, [], rows]
    with CanonicalPool(mapping, today=TODAY, workers=1) as here:
        expected = [n for _, n in here.map(batches, lambda b: b)]
    with CanonicalPool(mapping, today=TODAY, workers=2) as pool:
        results = list(pool.map(batches, lambda b: b))
    assert [b for b, _ in results] == batches
    assert [n for _, n in results] == expected
    assert [len(n) for n in expected] == [len(b) for b in batches]


def test_signatures_mark_unusable_fields_and_reasons_drop_values() -> None:
    mapping = source_mapping("crm_intl")
    row = {"customer_no": "1", "first_name": "Ann", "email": "ann@@x.org", "phone": "", "country": "US"}
    canonical = canonicalise(row, mapping, today=TODAY)
    signature, filled = quality_signature(canonical)
    assert signature == "!email country first_name" and filled == ("first_name", "country")
    assert reason_kind("value '7' is not one of the recoded values ['1', '2']") == (
        "value … is not one of the recoded values […, …]"
    )
