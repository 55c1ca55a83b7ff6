from __future__ import annotations

import pytest

from epistola.identity.evaluate import pairwise_accuracy


def test_perfect_clustering() -> None:
    acc = pairwise_accuracy({1: "a", 2: "a", 3: "b"}, {1: "x", 2: "x", 3: "y"})
    assert (acc.precision, acc.recall, acc.f1, acc.people, acc.clusters) == (1.0, 1.0, 1.0, 2, 2)


def test_missed_and_wrong_merges() -> None:
    # truth: {1,2,3} {4}; found: {1,2} {3,4}
    acc = pairwise_accuracy({1: "a", 2: "a", 3: "b", 4: "b"}, {1: "x", 2: "x", 3: "x", 4: "y"})
    assert acc.precision == pytest.approx(1 / 2)  # (1,2) right, (3,4) wrong
    assert acc.recall == pytest.approx(1 / 3)  # of (1,2) (1,3) (2,3) only (1,2) found


def test_records_missing_from_either_side_are_not_scored() -> None:
    acc = pairwise_accuracy({1: "a", 2: "a", 9: "a"}, {1: "x", 2: "x", 8: "y"})
    assert acc.records == 2 and acc.precision == 1.0
