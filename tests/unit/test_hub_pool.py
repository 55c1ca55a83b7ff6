"""Normalising in worker processes gives exactly what normalising in this process gives, in order."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from epistola.errors import InputError
from epistola.hub.canonical_pool import CanonicalPool, NormalisedBatch, normalise_rows, quality_signature, reason_kind
from epistola.hub.ingest import SourceImport, _Ahead
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


def _rows(name: str) -> list[dict[str, str]]:
    """The fixture's rows, and some with unusable values (reasons in two orders)."""
    with (FIXTURES / name).open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [
        {**rows[0], "customer_no": "x1", "email": "ann@@x.org", "country": "Atlantis"},
        {**rows[1], "customer_no": "x2", "phone": "12", "birth_date": "31/31/1990"},
        {**rows[2], "customer_no": "x3", "country": "Narnia", "email": "not an address"},
    ]
    return [*rows[:2], bad[1], *rows[2:], *bad]


def test_a_batch_counts_exactly_what_its_records_say_in_the_order_first_seen() -> None:
    mapping = source_mapping("crm_intl")
    batch = normalise_rows(_rows("crm_intl.csv") * 3, mapping, TODAY)
    filled: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {}
    for record in batch:  # one by one, as the importer counted before batches came with their counts
        for name in record.filled:
            filled[name] = filled.get(name, 0) + 1
        for name, reason in record.invalid.items():
            reasons.setdefault(name, {})[reason] = reasons.setdefault(name, {}).get(reason, 0) + 1
    assert reasons, "the fixture has unusable values"
    assert list(batch.filled_counts.items()) == list(filled.items())
    assert [(k, list(v.items())) for k, v in batch.reason_counts.items()] == [
        (k, list(v.items())) for k, v in reasons.items()
    ]


def test_the_report_leaves_out_erased_records_and_keeps_the_order_first_seen() -> None:
    mapping = source_mapping("crm_intl")
    rows = _rows("crm_intl.csv")
    erased = {0, 2, len(rows) - 1}  # the first record and two with unusable values

    def report(batch: NormalisedBatch, leave_out: set[int]) -> SourceImport:
        job = SourceImport(mapping, origin="t", now=datetime(2026, 11, 1, tzinfo=UTC))
        job._count(batch, leave_out)
        return job

    without = report(normalise_rows(rows, mapping, TODAY), erased)  # record by record, leaving them out
    others = report(normalise_rows([r for n, r in enumerate(rows) if n not in erased], mapping, TODAY), set())
    everyone = report(normalise_rows(rows, mapping, TODAY), set())
    assert without.report.stats() == others.report.stats() != everyone.report.stats()
    for name in ("filled", "invalid", "reasons"):
        assert list(getattr(without.report, name).items()) == list(getattr(others.report, name).items())


def test_reading_ahead_hands_over_every_item_and_the_producers_error_and_stops_when_closed() -> None:
    assert list(_Ahead(iter(range(1000)), depth=2)) == list(range(1000))

    def failing() -> Iterator[int]:
        yield 1
        raise InputError("the file cannot be read at line 2")

    ahead = _Ahead(failing(), depth=2)
    assert next(ahead) == 1
    with pytest.raises(InputError, match="line 2"):
        next(ahead)
    ahead.close()

    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    ahead = _Ahead(endless(), depth=2)
    assert next(ahead) == 0
    ahead.close()
    stopped_at = len(produced)
    assert stopped_at <= 5  # the queue holds two; the thread stopped instead of running on
    assert list(ahead) == []
